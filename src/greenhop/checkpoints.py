"""Checkpoint size from a model description, or measured from a real model's state.

A training checkpoint holds what is needed to resume exactly: the weights in the precision the
optimizer updates, and the optimizer's state. Its size is the parameter count times the bytes
each parameter takes under a training set-up (:data:`SETUPS`). Gradients are not saved: they are
recomputed by the next step.

Parameter counts in :data:`CATALOG` are the exact counts of the reference implementations
(the numbers Hugging Face and torchvision report for the published architectures), with the
rounded figure the publication gives in ``published``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from greenhop.errors import InputError, UnknownNameError


@dataclass(frozen=True)
class TrainingSetup:
    """How many bytes of checkpoint each trainable (or saved) parameter costs."""

    name: str
    description: str
    bytes_per_param: float
    #: LoRA saves adapters only; their count depends on the model's width and depth.
    adapters_only: bool = False


SETUPS: dict[str, TrainingSetup] = {
    s.name: s
    for s in (
        TrainingSetup(
            "fp32-adam",
            "fp32 weights (4 B) + Adam first and second moments in fp32 (8 B)",
            12.0,
        ),
        TrainingSetup(
            "mixed-adam",
            "bf16 weights (2 B) + fp32 master weights (4 B) + Adam moments in fp32 (8 B), "
            "the layout of mixed-precision training (Micikevicius et al. 2018; ZeRO, 2020)",
            14.0,
        ),
        TrainingSetup(
            "lora",
            "LoRA adapters only (Hu et al. 2021): rank-r A and B matrices on the four attention "
            "projections of every layer, fp32 weights + Adam moments (12 B); the frozen base "
            "model is not moved",
            12.0,
            adapters_only=True,
        ),
        TrainingSetup("weights-only", "bf16 weights only (2 B), e.g. for inference", 2.0),
    )
}

#: Default LoRA rank and how many projection matrices per layer carry adapters (q, k, v, o).
LORA_RANK = 16
LORA_MATRICES_PER_LAYER = 4


@dataclass(frozen=True)
class ModelSpec:
    """A well-known model: exact parameter count and, for transformers, width and depth."""

    name: str
    params: int
    published: str
    source: str
    d_model: int | None = None
    n_layers: int | None = None

    def lora_params(self, rank: int = LORA_RANK) -> int:
        """Trainable parameters of LoRA adapters of ``rank`` on the attention projections.

        Counts ``rank x (d_model + d_model)`` per projection; for grouped-query attention
        (Llama-2-70B) the narrower key and value projections make the true count a little smaller.
        """
        if self.d_model is None or self.n_layers is None:
            raise InputError(
                f"setup 'lora' needs a transformer's width and depth; model {self.name!r} "
                "has none (use fp32-adam, mixed-adam or weights-only)"
            )
        return self.n_layers * LORA_MATRICES_PER_LAYER * 2 * self.d_model * rank


CATALOG: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "resnet-50",
            25_557_032,
            "25.6M",
            "He et al. 2016, 'Deep Residual Learning'; count of torchvision's resnet50",
        ),
        ModelSpec(
            "bert-base",
            109_482_240,
            "110M",
            "Devlin et al. 2019, 'BERT'; count of bert-base-uncased",
            d_model=768,
            n_layers=12,
        ),
        ModelSpec(
            "gpt2-xl",
            1_557_611_200,
            "1.5B (1542M)",
            "Radford et al. 2019, 'Language Models are Unsupervised Multitask Learners'; "
            "count of gpt2-xl with its 50257-token vocabulary and 1024 positions",
            d_model=1600,
            n_layers=48,
        ),
        ModelSpec(
            "llama-2-7b",
            6_738_415_616,
            "7B",
            "Touvron et al. 2023, 'Llama 2'; count of Llama-2-7b",
            d_model=4096,
            n_layers=32,
        ),
        ModelSpec(
            "llama-2-13b",
            13_015_864_320,
            "13B",
            "Touvron et al. 2023, 'Llama 2'; count of Llama-2-13b",
            d_model=5120,
            n_layers=40,
        ),
        ModelSpec(
            "llama-2-70b",
            68_976_648_192,
            "70B",
            "Touvron et al. 2023, 'Llama 2'; count of Llama-2-70b",
            d_model=8192,
            n_layers=80,
        ),
    )
}


def model_spec(model: str) -> ModelSpec:
    """The catalog entry for ``model`` (case-insensitive); UnknownNameError lists the names."""
    key = model.strip().lower()
    if key not in CATALOG:
        raise UnknownNameError(f"unknown model {model!r}; known models: {', '.join(CATALOG)}")
    return CATALOG[key]


def training_setup(setup: str) -> TrainingSetup:
    """The set-up named ``setup``; UnknownNameError lists the names."""
    key = setup.strip().lower()
    if key not in SETUPS:
        raise UnknownNameError(f"unknown set-up {setup!r}; known set-ups: {', '.join(SETUPS)}")
    return SETUPS[key]


def checkpoint_bytes(model: str, setup: str, *, lora_rank: int = LORA_RANK) -> int:
    """Checkpoint size in bytes of ``model`` (catalog name) trained under ``setup``."""
    spec = model_spec(model)
    ts = training_setup(setup)
    if lora_rank <= 0:
        raise InputError(f"LoRA rank must be > 0, got {lora_rank}")
    n = spec.lora_params(lora_rank) if ts.adapters_only else spec.params
    return round(n * ts.bytes_per_param)


def checkpoint_size_gb(model: str, setup: str, *, lora_rank: int = LORA_RANK) -> float:
    """Checkpoint size in GB (1e9 bytes) of ``model`` trained under ``setup``."""
    return checkpoint_bytes(model, setup, lora_rank=lora_rank) / 1e9


def params_size_gb(params: int, setup: str) -> float:
    """Checkpoint size in GB of a model with ``params`` parameters under ``setup``."""
    if params <= 0:
        raise InputError(f"parameter count must be > 0, got {params}")
    ts = training_setup(setup)
    if ts.adapters_only:
        raise InputError("setup 'lora' needs a catalog model (its width and depth), not a count")
    return params * ts.bytes_per_param / 1e9


def measured_checkpoint_bytes(model: Any, optimizer: Any | None = None) -> int:
    """Exact size in bytes of a real torch model's (and optimizer's) state, by serialising it.

    The state dicts are written with ``torch.save`` to memory, the way a checkpoint is written
    to disk, so the figure includes the container's small overhead.
    """
    from greenhop.errors import require_extra

    require_extra("torch")
    import torch

    state: dict[str, Any] = {"model": model.state_dict()}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getbuffer().nbytes


# -- immutable and mutable parts of a checkpoint ---------------------------------------------------

#: Transformer layers trained by default in a frozen-base fine-tuning (the top ones).
TRAINABLE_TOP_LAYERS = 2


@dataclass(frozen=True)
class SetupParts:
    """How a set-up's checkpoint splits into an immutable part (tensors training never
    changes: frozen base weights, embeddings) and a mutable part (trainable weights, optimizer
    state), in bytes per frozen and per trainable parameter.

    A site that already holds the immutable part (the job was there before, or it was
    pre-staged there) needs only the mutable part to resume the job.
    """

    name: str
    description: str
    frozen_bytes_per_param: float
    trainable_bytes_per_param: float
    source: str


PARTS: dict[str, SetupParts] = {
    p.name: p
    for p in (
        SetupParts(
            "fp32-adam",
            "full training: every parameter trainable, fp32 weights + Adam moments (12 B); "
            "nothing is immutable",
            0.0,
            12.0,
            "Kingma and Ba 2015, 'Adam'; the weights and two moments of every parameter",
        ),
        SetupParts(
            "mixed-adam",
            "full mixed-precision training: bf16 weights + fp32 master weights + Adam moments "
            "(14 B per parameter); nothing is immutable",
            0.0,
            14.0,
            "Micikevicius et al. 2018, 'Mixed Precision Training'; Rajbhandari et al. 2020, "
            "'ZeRO' (2 + 4 + 8 bytes per parameter)",
        ),
        SetupParts(
            "weights-only",
            "bf16 weights only (2 B), updated by the job: all mutable",
            0.0,
            2.0,
            "a bf16 weight is 2 bytes",
        ),
        SetupParts(
            "lora",
            "LoRA: the frozen base model in bf16 (2 B per parameter, immutable) under rank-r "
            "adapters on the four attention projections of every layer, trained in fp32 with "
            "Adam (12 B per adapter parameter, mutable)",
            2.0,
            12.0,
            "Hu et al. 2021, 'LoRA: Low-Rank Adaptation of Large Language Models' (base frozen, "
            "adapters on the attention projections); Dettmers et al. 2023, 'QLoRA' (a 7B base "
            "in 16 bits is about 13.5 GB)",
        ),
        SetupParts(
            "frozen-base",
            "fine-tuning of the top layers: the lower layers and embeddings frozen in bf16 "
            "(2 B, immutable), the top transformer layers trained in mixed precision with Adam "
            "(14 B, mutable); a layer counted as 12 d_model^2 parameters",
            2.0,
            14.0,
            "Howard and Ruder 2018, 'ULMFiT' (training the top layers first); Lee et al. 2019, "
            "'What Would Elsa Do? Freezing Layers During Transformer Fine-Tuning' (top layers "
            "alone recover most of the quality); Kaplan et al. 2020, 'Scaling Laws for Neural "
            "Language Models' (12 n_layer d_model^2 non-embedding parameters)",
        ),
    )
}


def setup_parts(setup: str) -> SetupParts:
    """The immutable/mutable split of ``setup``; UnknownNameError lists the names."""
    key = setup.strip().lower()
    if key not in PARTS:
        raise UnknownNameError(f"unknown set-up {setup!r}; known set-ups: {', '.join(PARTS)}")
    return PARTS[key]


def trainable_params(
    model: str,
    setup: str,
    *,
    lora_rank: int = LORA_RANK,
    trainable_layers: int = TRAINABLE_TOP_LAYERS,
) -> int:
    """Parameters the job trains under ``setup`` (the others are frozen; LoRA's adapters are
    added to the model's own parameters, which are all frozen)."""
    spec = model_spec(model)
    parts = setup_parts(setup)
    if lora_rank <= 0:
        raise InputError(f"LoRA rank must be > 0, got {lora_rank}")
    if parts.name == "lora":
        return spec.lora_params(lora_rank)
    if parts.name == "frozen-base":
        if spec.d_model is None or spec.n_layers is None:
            raise InputError(
                f"setup 'frozen-base' needs a transformer's width and depth; model "
                f"{spec.name!r} has none"
            )
        if not 1 <= trainable_layers <= spec.n_layers:
            raise InputError(
                f"trainable_layers must be 1..{spec.n_layers} for {spec.name!r}, got "
                f"{trainable_layers}"
            )
        return min(spec.params, trainable_layers * 12 * spec.d_model**2)
    return spec.params


def checkpoint_parts_bytes(
    model: str,
    setup: str,
    *,
    lora_rank: int = LORA_RANK,
    trainable_layers: int = TRAINABLE_TOP_LAYERS,
) -> tuple[int, int]:
    """(immutable, mutable) bytes of the whole checkpoint of ``model`` under ``setup``.

    For ``lora`` the mutable part equals :func:`checkpoint_bytes` (the adapters, what that
    set-up moves) and the immutable part is the frozen base; for full training the immutable
    part is 0 and the mutable part equals :func:`checkpoint_bytes`.
    """
    spec = model_spec(model)
    parts = setup_parts(setup)
    trained = trainable_params(model, setup, lora_rank=lora_rank, trainable_layers=trainable_layers)
    frozen = spec.params if parts.name == "lora" else spec.params - trained
    if parts.frozen_bytes_per_param == 0:
        frozen = 0
    return (
        round(frozen * parts.frozen_bytes_per_param),
        round(trained * parts.trainable_bytes_per_param),
    )


def checkpoint_parts_gb(
    model: str,
    setup: str,
    *,
    lora_rank: int = LORA_RANK,
    trainable_layers: int = TRAINABLE_TOP_LAYERS,
) -> tuple[float, float]:
    """(immutable, mutable) GB (1e9 bytes) of the checkpoint of ``model`` under ``setup``; e.g.
    ``checkpoint_parts_gb("llama-2-7b", "lora")`` is about (13.48, 0.20): a LoRA job whose
    base already lies at the destination moves 0.2 GB, not 13.7."""
    immutable, mutable = checkpoint_parts_bytes(
        model, setup, lora_rank=lora_rank, trainable_layers=trainable_layers
    )
    return immutable / 1e9, mutable / 1e9
