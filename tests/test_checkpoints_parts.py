"""The checkpoint catalog's immutable and mutable parts (greenhop.checkpoints): which bytes of a
set-up's checkpoint training never changes, so that a site holding them needs only the rest."""

from __future__ import annotations

import pytest

from greenhop.checkpoints import (
    CATALOG,
    PARTS,
    SETUPS,
    checkpoint_bytes,
    checkpoint_parts_bytes,
    checkpoint_parts_gb,
    model_spec,
    setup_parts,
    trainable_params,
)
from greenhop.errors import InputError, UnknownNameError


def test_lora_on_a_7b_model_is_a_13_5_gb_frozen_base_and_a_small_mutable_part() -> None:
    immutable_gb, mutable_gb = checkpoint_parts_gb("llama-2-7b", "lora")
    assert immutable_gb == pytest.approx(2 * 6_738_415_616 / 1e9)  # the 13.5 GB, bf16
    assert round(immutable_gb, 1) == 13.5
    # rank-16 adapters on q, k, v, o of 32 layers of width 4096, fp32 + Adam
    assert mutable_gb == pytest.approx(32 * 4 * 2 * 4096 * 16 * 12 / 1e9)
    assert mutable_gb < 1.0 and immutable_gb / mutable_gb > 60  # two orders of magnitude
    # the mutable part is what the 'lora' set-up has always moved
    assert round(mutable_gb * 1e9) == checkpoint_bytes("llama-2-7b", "lora")
    assert checkpoint_parts_gb("llama-2-7b", "lora", lora_rank=8)[1] == pytest.approx(
        mutable_gb / 2
    )


@pytest.mark.parametrize("setup", ["fp32-adam", "mixed-adam", "weights-only"])
def test_full_training_is_all_mutable_and_matches_the_checkpoint_size(setup: str) -> None:
    for model in CATALOG:
        assert checkpoint_parts_bytes(model, setup) == (0, checkpoint_bytes(model, setup))


def test_frozen_base_fine_tuning_trains_the_top_layers() -> None:
    spec = model_spec("llama-2-7b")
    layer = 12 * spec.d_model**2  # type: ignore[operator]
    assert trainable_params("llama-2-7b", "frozen-base") == 2 * layer
    immutable, mutable = checkpoint_parts_bytes("llama-2-7b", "frozen-base", trainable_layers=4)
    assert mutable == 4 * layer * 14
    assert immutable == (spec.params - 4 * layer) * 2
    # more trainable layers: more mutable, less immutable
    one = checkpoint_parts_bytes("llama-2-7b", "frozen-base", trainable_layers=1)
    assert one[1] < mutable and one[0] > immutable


def test_every_catalog_set_up_has_parts_with_a_source() -> None:
    assert set(SETUPS) <= set(PARTS)
    for parts in PARTS.values():
        assert parts.source and parts.description
    assert setup_parts(" LoRA ").name == "lora"


def test_bad_requests_are_named() -> None:
    with pytest.raises(UnknownNameError, match="known set-ups: fp32-adam"):
        setup_parts("qlora")
    with pytest.raises(InputError, match="'frozen-base' needs a transformer"):
        checkpoint_parts_gb("resnet-50", "frozen-base")
    with pytest.raises(InputError, match="'lora' needs a transformer"):
        checkpoint_parts_gb("resnet-50", "lora")
    with pytest.raises(InputError, match=r"trainable_layers must be 1\.\.32"):
        checkpoint_parts_gb("llama-2-7b", "frozen-base", trainable_layers=33)
    with pytest.raises(InputError, match="LoRA rank must be > 0"):
        checkpoint_parts_gb("llama-2-7b", "lora", lora_rank=0)
