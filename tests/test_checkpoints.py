"""Checkpoint sizes: catalog counts against real architectures, set-ups, measured state."""

from __future__ import annotations

import pytest

from greenhop import checkpoints as ck
from greenhop.errors import InputError, UnknownNameError


def test_size_is_params_times_bytes() -> None:
    assert ck.checkpoint_bytes("llama-2-7b", "mixed-adam") == 6_738_415_616 * 14
    assert ck.checkpoint_size_gb("llama-2-7b", "fp32-adam") == pytest.approx(80.86, rel=1e-3)
    assert ck.checkpoint_size_gb("resnet-50", "weights-only") == pytest.approx(0.0511, rel=1e-2)
    # LoRA r=16 on q,k,v,o of 32 layers of width 4096: 16.8M adapter parameters, 12 B each.
    assert ck.checkpoint_bytes("llama-2-7b", "lora") == 32 * 4 * 2 * 4096 * 16 * 12
    assert ck.checkpoint_size_gb("llama-2-7b", "lora", lora_rank=8) == pytest.approx(
        ck.checkpoint_size_gb("llama-2-7b", "lora") / 2
    )


def test_catalog_covers_the_required_models() -> None:
    for name in ("resnet-50", "bert-base", "gpt2-xl", "llama-2-7b", "llama-2-13b"):
        assert name in ck.CATALOG


def _gpt2_params(vocab: int, ctx: int, d: int, layers: int) -> int:
    # token + position embeddings, per layer: 2 LayerNorms, qkv and proj with biases, 4x MLP.
    per_layer = (
        2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    )
    return vocab * d + ctx * d + layers * per_layer + 2 * d


def _llama_params(vocab: int, d: int, layers: int, ffn: int, kv_dim: int) -> int:
    per_layer = 2 * d * d + 2 * d * kv_dim + 3 * d * ffn + 2 * d
    return 2 * vocab * d + layers * per_layer + d


def test_catalog_counts_match_the_published_architectures() -> None:
    assert ck.CATALOG["gpt2-xl"].params == _gpt2_params(50257, 1024, 1600, 48)
    assert ck.CATALOG["llama-2-7b"].params == _llama_params(32000, 4096, 32, 11008, 4096)
    assert ck.CATALOG["llama-2-13b"].params == _llama_params(32000, 5120, 40, 13824, 5120)
    assert ck.CATALOG["llama-2-70b"].params == _llama_params(32000, 8192, 80, 28672, 1024)


def test_catalog_counts_match_torch_modules_on_meta_device() -> None:
    """Build the architectures with torch on the meta device (no memory) and count."""
    torch = pytest.importorskip("torch")
    from torch import nn

    def llama(vocab: int, d: int, layers: int, ffn: int, kv: int) -> nn.Module:
        def block() -> nn.Module:
            return nn.ModuleDict(
                {
                    "q": nn.Linear(d, d, bias=False),
                    "k": nn.Linear(d, kv, bias=False),
                    "v": nn.Linear(d, kv, bias=False),
                    "o": nn.Linear(d, d, bias=False),
                    "gate": nn.Linear(d, ffn, bias=False),
                    "up": nn.Linear(d, ffn, bias=False),
                    "down": nn.Linear(ffn, d, bias=False),
                    "n1": nn.RMSNorm(d),
                    "n2": nn.RMSNorm(d),
                }
            )

        return nn.ModuleDict(
            {
                "embed": nn.Embedding(vocab, d),
                "layers": nn.ModuleList(block() for _ in range(layers)),
                "norm": nn.RMSNorm(d),
                "head": nn.Linear(d, vocab, bias=False),
            }
        )

    def gpt2(vocab: int, ctx: int, d: int, layers: int) -> nn.Module:
        def block() -> nn.Module:
            return nn.ModuleDict(
                {
                    "ln1": nn.LayerNorm(d),
                    "attn": nn.Linear(d, 3 * d),
                    "proj": nn.Linear(d, d),
                    "ln2": nn.LayerNorm(d),
                    "fc": nn.Linear(d, 4 * d),
                    "out": nn.Linear(4 * d, d),
                }
            )

        return nn.ModuleDict(
            {
                "wte": nn.Embedding(vocab, d),
                "wpe": nn.Embedding(ctx, d),
                "h": nn.ModuleList(block() for _ in range(layers)),
                "ln_f": nn.LayerNorm(d),
            }
        )

    def count(m: nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    with torch.device("meta"):
        assert count(gpt2(50257, 1024, 1600, 48)) == ck.CATALOG["gpt2-xl"].params
        assert count(llama(32000, 4096, 32, 11008, 4096)) == ck.CATALOG["llama-2-7b"].params
        assert count(llama(32000, 5120, 40, 13824, 5120)) == ck.CATALOG["llama-2-13b"].params


def test_measured_state_matches_the_formula() -> None:
    """A real model trained one step with Adam serialises to ~12 bytes per parameter."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 64)
    )
    opt = torch.optim.Adam(model.parameters())
    loss = model(torch.randn(8, 256)).pow(2).mean()
    loss.backward()
    opt.step()
    n = sum(p.numel() for p in model.parameters())
    measured = ck.measured_checkpoint_bytes(model, opt)
    assert measured >= n * 12
    assert measured == pytest.approx(n * 12, rel=0.02)  # container overhead only
    assert ck.measured_checkpoint_bytes(model) == pytest.approx(n * 4, rel=0.03)


def test_unknown_names_and_bad_values() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown model 'gpt-5'.*llama-2-7b"):
        ck.checkpoint_size_gb("gpt-5", "mixed-adam")
    with pytest.raises(UnknownNameError, match="unknown set-up 'fp8'"):
        ck.checkpoint_size_gb("bert-base", "fp8")
    with pytest.raises(InputError, match="width and depth"):
        ck.checkpoint_size_gb("resnet-50", "lora")
    with pytest.raises(InputError, match="rank"):
        ck.checkpoint_size_gb("bert-base", "lora", lora_rank=0)
    assert ck.checkpoint_size_gb("LLaMA-2-7B", " Mixed-Adam ") == ck.checkpoint_size_gb(
        "llama-2-7b", "mixed-adam"
    )
