"""The one checkpoint store (live.jobs.store) on real files: naming, rotation, verification,
pruning."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from greenhop.errors import InputError  # noqa: E402
from greenhop.live.errors import ChecksumError  # noqa: E402
from greenhop.live.jobs.checkpoint import Checkpoint  # noqa: E402
from greenhop.live.jobs.store import CheckpointStore  # noqa: E402


def checkpoint(steps: int) -> Checkpoint:
    gen = torch.Generator().manual_seed(steps)
    state = {"w": torch.randn(64, generator=gen), "step": steps}
    return Checkpoint({"steps_done": steps, "trainer": state})


def flip_one_bit(path: Path) -> None:
    blob = path.with_name(path.name + ".safetensors")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))


def test_keeps_the_newest_two_per_job_newest_first(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ck")
    for steps in (10, 20, 30):
        store.save("job-a", checkpoint(steps))
    store.save("job-b", checkpoint(5))
    assert [p.name for p in store.paths("job-a")] == ["job-a-00000030", "job-a-00000020"]
    assert [p.name for p in store.paths("job-b")] == ["job-b-00000005"]
    assert not (tmp_path / "ck" / "job-a-00000010.json").exists()
    assert store.latest("job-a").steps_done == 30


def test_a_corrupted_checkpoint_is_refused_and_the_previous_one_used(tmp_path: Path) -> None:
    refused: list[tuple[str, str]] = []
    store = CheckpointStore(tmp_path, on_refused=lambda job, exc: refused.append((job, str(exc))))
    store.save("j", checkpoint(1))
    newest = store.save("j", checkpoint(2))
    flip_one_bit(newest)
    assert store.latest("j").steps_done == 1
    assert refused and refused[0][0] == "j" and "corrupted" in refused[0][1]
    flip_one_bit(store.paths("j")[1])
    with pytest.raises(ChecksumError, match="Every saved checkpoint of job 'j'"):
        store.latest("j")
    with pytest.raises(InputError, match="no saved checkpoint"):
        store.latest("other")


def test_prune_keeps_only_what_is_named_and_a_blob_without_sidecar_is_not_listed(
    tmp_path: Path,
) -> None:
    store = CheckpointStore(tmp_path, keep=3)
    kept = store.save("a", checkpoint(1))
    store.save("a", checkpoint(2))
    store.save("b", checkpoint(3))
    store.prune([str(kept)])
    assert store.paths("a") == [kept] and store.paths("b") == []
    assert CheckpointStore.load(kept).steps_done == 1
    # a crash between the blob and its sidecar leaves a blob that is never read
    (tmp_path / "a-00000009.safetensors").write_bytes(b"torn")
    assert store.paths("a") == [kept]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least 1"):
        CheckpointStore(tmp_path, keep=0)
    with pytest.raises(InputError, match="cannot name a checkpoint file"):
        CheckpointStore(tmp_path).save("../x", checkpoint(1))
