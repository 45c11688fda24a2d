"""Real training jobs on a real 3-node Ray cluster (one node per site), moved between sites.

A job moved a -> b -> c -> a ends with exactly the same weights, optimizer, scheduler, RNG and
data state as a job that never moved; a corrupted chunk is refused and the job stays home.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator

import numpy as np
import pytest

ray = pytest.importorskip("ray")
torch = pytest.importorskip("torch")

from greenhop.errors import InputError, UnknownNameError  # noqa: E402
from greenhop.live.cluster.local import LocalCluster  # noqa: E402
from greenhop.live.errors import ChecksumError  # noqa: E402
from greenhop.live.jobs.checkpoint import Checkpoint  # noqa: E402
from greenhop.live.jobs.driver import LiveJob, LiveJobs  # noqa: E402
from greenhop.live.jobs.examples import CharTransformerTrainer, DigitsCNNTrainer  # noqa: E402
from greenhop.live.jobs.transfer import CheckpointManifest  # noqa: E402

pytestmark = pytest.mark.live

CHUNK_BYTES = 16 * 1024  # small chunks, so that even these tiny checkpoints travel in several

# (factory, total steps); the CNN's 60 steps cross an epoch boundary (57 batches per epoch)
EXAMPLES: dict[str, tuple[Callable[[], object], int]] = {
    "digits-cnn": (functools.partial(DigitsCNNTrainer, seed=11), 60),
    "char-transformer": (functools.partial(CharTransformerTrainer, seed=11), 40),
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster({"a": 2, "b": 2, "c": 2}, object_store_mb=100) as c:
        yield c


@pytest.fixture(scope="module")
def jobs(cluster: LocalCluster) -> Iterator[LiveJobs]:
    live = LiveJobs(cluster.sites, chunk_bytes=CHUNK_BYTES)
    yield live
    live.stop_all()


@pytest.fixture(scope="module")
def reference() -> Callable[[str], Checkpoint]:
    """The final checkpoint of an uninterrupted run, per example, computed once in this process
    (so the moved job is also checked against a run in another process)."""
    done: dict[str, Checkpoint] = {}

    def get(name: str) -> Checkpoint:
        if name not in done:
            make, steps = EXAMPLES[name]
            trainer = make()
            for _ in range(steps):
                trainer.step()  # type: ignore[attr-defined]
            done[name] = Checkpoint.capture(trainer, steps_done=steps)  # type: ignore[arg-type]
        return done[name]

    return get


def assert_identical(got: Checkpoint, expected: Checkpoint) -> None:
    tg, te = got.tensors(), expected.tensors()
    assert tg.keys() == te.keys()
    assert any(k.startswith("trainer/optimizer/") for k in tg)
    for key in te:
        assert tg[key].dtype == te[key].dtype, key
        assert torch.equal(tg[key], te[key]), key
    # and the JSON part (steps done, RNG states, data position), through the bytes
    assert got.to_bytes() == expected.to_bytes()


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_job_moved_three_times_ends_identical_to_uninterrupted(
    name: str, jobs: LiveJobs, cluster: LocalCluster, reference: Callable[[str], Checkpoint]
) -> None:
    expected = reference(name)
    make, steps = EXAMPLES[name]
    job_id = f"{name}-moved"
    quarter = steps // 4
    jobs.start(LiveJob(job_id, make, steps), "a", until=quarter)  # type: ignore[arg-type]
    assert jobs.actor_info(job_id)["node_id"] == cluster.sites["a"].node_id
    results = []
    for leg, dest in enumerate(["b", "c", "a"], start=1):
        jobs.wait(job_id, leg * quarter)
        result = jobs.migrate(job_id, dest)
        results.append(result)
        assert result.dest_site == dest
        assert result.steps_done == leg * quarter
        assert result.dest_node_id == cluster.sites[dest].node_id
        assert jobs.site_of(job_id) == dest
        assert jobs.actor_info(job_id)["node_id"] == cluster.sites[dest].node_id
        jobs.resume(job_id, (leg + 1) * quarter if leg < 3 else None)
    final = jobs.wait(job_id)
    assert final.steps_done == steps and final.error is None
    assert_identical(jobs.snapshot(job_id), expected)
    jobs.stop(job_id)

    first = results[0]
    assert [r.source_site for r in results] == ["a", "b", "c"]
    # chunks are cut at tensor boundaries (at most CHUNK_BYTES each), so there are at least
    # as many as fixed cuts would give; without chunk stores every one is sent
    assert first.n_chunks >= -(-first.size_bytes // CHUNK_BYTES) > 1
    assert all(r.bytes_sent == r.size_bytes and r.n_chunks_sent == r.n_chunks for r in results)
    assert len(first.sha256) == 64
    for r in results:
        assert r.bandwidth_gbps > 0 and np.isfinite(r.bandwidth_gbps)
        assert r.downtime_s >= r.checkpoint_duration_s + r.transfer_duration_s + r.load_duration_s


class CorruptingJobs(LiveJobs):
    """Flips one bit of one chunk on its way to the destination."""

    def _in_transit(self, manifest: CheckpointManifest) -> CheckpointManifest:
        refs = list(manifest.chunk_refs)
        chunk = np.array(ray.get(refs[1]))
        chunk[100] ^= 0x01
        refs[1] = ray.put(chunk)
        return CheckpointManifest(**{**manifest.__dict__, "chunk_refs": tuple(refs)})


def test_corrupted_chunk_is_refused_and_the_job_stays_at_its_source(
    cluster: LocalCluster, reference: Callable[[str], Checkpoint]
) -> None:
    expected = reference("digits-cnn")
    make, steps = EXAMPLES["digits-cnn"]
    corrupting = CorruptingJobs(cluster.sites, chunk_bytes=CHUNK_BYTES)
    try:
        corrupting.start(LiveJob("corrupted", make, steps), "a", until=20)  # type: ignore[arg-type]
        corrupting.wait("corrupted", 20)
        with pytest.raises(ChecksumError, match="Chunk 1 of"):
            corrupting.migrate("corrupted", "b")
        assert corrupting.site_of("corrupted") == "a"
        assert corrupting.actor_info("corrupted")["node_id"] == cluster.sites["a"].node_id
        assert corrupting.progress("corrupted").steps_done == 20
        corrupting.resume("corrupted")
        assert corrupting.wait("corrupted").steps_done == steps
        assert_identical(corrupting.snapshot("corrupted"), expected)
    finally:
        corrupting.stop_all()


def test_bad_requests_are_named(jobs: LiveJobs) -> None:
    make, steps = EXAMPLES["char-transformer"]
    with pytest.raises(UnknownNameError, match="Site 'z' is not in the cluster"):
        jobs.start(LiveJob("nowhere", make, steps), "z")  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match="No job 'ghost'"):
        jobs.migrate("ghost", "a")
    with pytest.raises(InputError, match="total_steps=0"):
        LiveJob("empty", make, 0)  # type: ignore[arg-type]


def test_snapshots_are_taken_at_once_and_handed_on_one_at_a_time(jobs: LiveJobs) -> None:
    """snapshot_each (the controller's periodic checkpoints of every running job): each job's
    checkpoint at its own step, in the order asked, and none kept by the driver once the
    caller has dropped it, so the checkpoints of many jobs never sit in memory together."""
    make, steps = EXAMPLES["digits-cnn"]
    names = [f"snap-{i}" for i in range(3)]
    for i, (name, site) in enumerate(zip(names, "abc", strict=True)):
        jobs.start(LiveJob(name, make, steps), site, until=2 + i)  # type: ignore[arg-type]
    try:
        for i, name in enumerate(names):
            assert jobs.wait(name, 2 + i).steps_done == 2 + i
        handed: list[tuple[str, int]] = []
        dropped: list[weakref.ref[Checkpoint]] = []
        for name, ckpt in jobs.snapshot_each(reversed(names)):
            # every checkpoint handed on before this one is gone
            assert all(ref() is None for ref in dropped), len(dropped)
            handed.append((name, ckpt.steps_done))
            dropped.append(weakref.ref(ckpt))
            del ckpt
        assert handed == [("snap-2", 4), ("snap-1", 3), ("snap-0", 2)]
    finally:
        for name in names:
            jobs.stop(name)
