"""Checkpoints are exact: bytes and disk round trips, and a resumed trainer ends bit-identical
to an uninterrupted one. No Ray here; see test_live_migration.py for moves between nodes."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from greenhop.errors import InputError  # noqa: E402
from greenhop.live.errors import ChecksumError  # noqa: E402
from greenhop.live.jobs.checkpoint import Checkpoint, sha256_hex  # noqa: E402
from greenhop.live.jobs.examples import (  # noqa: E402
    CharTransformerTrainer,
    DigitsCNNTrainer,
)
from greenhop.live.jobs.trainer import Trainer  # noqa: E402
from greenhop.live.jobs.transfer import (  # noqa: E402
    CheckpointManifest,
    chunk_digests,
    join_verified,
    split_chunks,
)

EXAMPLES = {
    "digits-cnn": functools.partial(DigitsCNNTrainer, seed=3),
    "char-transformer": functools.partial(CharTransformerTrainer, seed=3),
}


def assert_same_state(a: Checkpoint, b: Checkpoint) -> None:
    ta, tb = a.tensors(), b.tensors()
    assert ta.keys() == tb.keys()
    for key in ta:
        assert ta[key].dtype == tb[key].dtype, key
        assert torch.equal(ta[key], tb[key]), key


def train(trainer: Trainer, steps: int) -> None:
    for _ in range(steps):
        trainer.step()


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_resumed_trainer_ends_identical_to_uninterrupted(name: str) -> None:
    make = EXAMPLES[name]
    reference = make()
    train(reference, 24)
    expected = Checkpoint.capture(reference, steps_done=24)

    first = make()
    train(first, 9)
    blob = Checkpoint.capture(first, steps_done=9).to_bytes()
    second = make()  # seeds the process-wide RNGs again; the checkpoint must put them back
    train(second, 3)
    assert Checkpoint.from_bytes(blob).restore(second) == 9
    train(second, 15)
    got = Checkpoint.capture(second, steps_done=24)

    assert_same_state(got, expected)
    assert got.to_bytes() == expected.to_bytes()


def test_disk_round_trip_is_exact_and_atomic(tmp_path) -> None:
    trainer = EXAMPLES["char-transformer"]()
    train(trainer, 5)
    checkpoint = Checkpoint.capture(trainer, steps_done=5)
    path = checkpoint.save(tmp_path / "job-1")
    assert path.name == "job-1.safetensors"
    sidecar = json.loads((tmp_path / "job-1.json").read_text())
    data = path.read_bytes()
    assert sidecar["sha256"] == sha256_hex(data) == checkpoint.sha256()
    assert sidecar["size_bytes"] == len(data)
    assert sidecar["steps_done"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job-1.json", "job-1.safetensors"]
    loaded = Checkpoint.load(tmp_path / "job-1")
    assert_same_state(loaded, checkpoint)
    assert loaded.to_bytes() == data


def test_corrupted_file_is_refused(tmp_path) -> None:
    trainer = EXAMPLES["digits-cnn"]()
    path = Checkpoint.capture(trainer, steps_done=0).save(tmp_path / "c")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="refused"):
        Checkpoint.load(tmp_path / "c")


def test_state_tree_round_trip_keeps_types() -> None:
    base = torch.arange(6, dtype=torch.float32)
    state = {
        "steps_done": 2,
        "rng": {},
        "trainer": {
            "int_keys": {0: torch.ones(2), 1: {"step": torch.tensor(3.0)}},
            "betas": (0.9, 0.999),
            "nonfinite": [math.inf, -math.inf],
            "none": None,
            "flag": True,
            "text": "x/y",
            "array": np.arange(5, dtype=np.uint32),
            "tied_a": base,
            "tied_b": base,  # same storage, as tied weights are
            "view": base[2:4],
            "big_int": 2**100,
        },
    }
    back = Checkpoint.from_bytes(Checkpoint(state).to_bytes()).state["trainer"]
    assert set(back["int_keys"]) == {0, 1}
    assert torch.equal(back["int_keys"][1]["step"], torch.tensor(3.0))
    assert back["betas"] == (0.9, 0.999) and isinstance(back["betas"], tuple)
    assert back["nonfinite"] == [math.inf, -math.inf]
    assert back["none"] is None and back["flag"] is True and back["text"] == "x/y"
    assert back["array"].dtype == np.uint32 and back["array"].tolist() == [0, 1, 2, 3, 4]
    assert torch.equal(back["tied_a"], base) and torch.equal(back["tied_b"], base)
    assert torch.equal(back["view"], base[2:4])
    assert back["big_int"] == 2**100


def test_unsupported_state_is_named() -> None:
    with pytest.raises(InputError, match="trainer/bad"):
        Checkpoint({"steps_done": 0, "rng": {}, "trainer": {"bad": object()}}).to_bytes()


def test_not_a_checkpoint_is_refused() -> None:
    from safetensors.torch import save

    with pytest.raises(InputError, match="Not a greenhop checkpoint"):
        Checkpoint.from_bytes(save({"x": torch.zeros(1)}))


def _manifest(data: bytes, chunks: list, refs: tuple = ()) -> CheckpointManifest:
    return CheckpointManifest(
        job_id="j",
        source_site="a",
        source_node_id="n",
        steps_done=0,
        total_steps=1,
        size_bytes=len(data),
        sha256=sha256_hex(data),
        chunk_bytes=10,
        chunk_sha256=chunk_digests(chunks),
        chunk_refs=refs or tuple(range(len(chunks))),
        checkpoint_duration_s=0.0,
    )


def test_chunks_join_back_and_a_flipped_bit_is_caught() -> None:
    data = bytes(range(256)) * 3
    chunks = split_chunks(data, 100)
    assert [len(c) for c in chunks] == [100] * 7 + [68]
    manifest = _manifest(data, chunks)
    assert join_verified(chunks, manifest) == data
    bad = [c.copy() for c in chunks]
    bad[3][17] ^= 0x40
    with pytest.raises(ChecksumError, match="Chunk 3 of 8"):
        join_verified(bad, manifest)
    with pytest.raises(ChecksumError, match="7 chunks, expected 8"):
        join_verified(chunks[:-1], manifest)
