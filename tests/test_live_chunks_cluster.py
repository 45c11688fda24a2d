"""Content-addressed migrations on a real 2-node Ray cluster (one node per site), with a real
training job whose checkpoint is mostly frozen (:class:`FrozenBaseTrainer`: an 8 MB frozen
embedding table under a small trainable classifier).

The job's immutable chunks are pre-staged at b, slowly, and the job moves to b before the
pre-stage is done: the move supersedes it and sends exactly what the pre-stage had not copied.
Back at a, the move sends only chunks that are not immutable: a's chunk store kept the job's
chunks after the job's actor there was killed. The job ends bit-identical to an uninterrupted
run, and restarts at b from that checkpoint held by the driver. On a shaped WAN, with bytes
counted on the link: test_live_chunks_wan.py.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")
torch = pytest.importorskip("torch")

from greenhop.live.cluster.local import LocalCluster  # noqa: E402
from greenhop.live.jobs.checkpoint import Checkpoint  # noqa: E402
from greenhop.live.jobs.driver import LiveJob, LiveJobs  # noqa: E402
from greenhop.live.jobs.examples import FrozenBaseTrainer  # noqa: E402

pytestmark = pytest.mark.live

CHUNK_BYTES = 1 * 2**20
STEPS = 20
make = functools.partial(FrozenBaseTrainer, seed=9, base_mb=8.0, dim=64, hidden=256)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster({"a": 1, "b": 1}, object_store_mb=100) as c:
        yield c


def test_a_prestaged_or_returning_job_sends_only_what_the_site_lacks(
    cluster: LocalCluster,
) -> None:
    jobs = LiveJobs(cluster.sites, chunk_bytes=CHUNK_BYTES, chunk_store_bytes=50 * 10**6)
    try:
        jobs.start(LiveJob("lora", make, STEPS), "a", until=5)
        jobs.wait("lora", 5)
        # 8 MB at 1 MB/s: the move comes once 2 MB are there, long before the end
        prestage = jobs.start_prestage("lora", "b", 1e6)
        deadline = time.monotonic() + 60
        while prestage.bytes_sent < 2 * CHUNK_BYTES and time.monotonic() < deadline:
            time.sleep(0.1)
        there = jobs.migrate("lora", "b")
        staged = prestage.result(timeout_s=60)
        assert not staged.completed and staged.reason and "superseded" in staged.reason
        assert staged.error is None and staged.present_bytes == 0
        assert 0 < staged.bytes_sent < staged.immutable_bytes == there.immutable_bytes
        assert there.bytes_sent == there.size_bytes - staged.bytes_sent
        assert there.n_chunks_sent == there.n_chunks - staged.chunks_sent
        assert there.immutable_bytes >= 8e6 and there.mutable_bytes < there.size_bytes / 10

        jobs.resume("lora", 12)
        jobs.wait("lora", 12)
        back = jobs.migrate("lora", "a")
        assert 0 < back.bytes_sent <= back.mutable_bytes
        assert back.n_chunks_sent < back.n_chunks
        assert back.bandwidth_gbps > 0  # measured on the bytes that crossed
        for site in ("a", "b"):
            stats = jobs.store_stats(site)
            assert stats.used_bytes >= there.immutable_bytes and stats.pinned_bytes == 0

        jobs.resume("lora")
        assert jobs.wait("lora").steps_done == STEPS
        got = jobs.snapshot("lora")
        # a start from a checkpoint held by the driver (a restart) goes through b's store too
        jobs.stop("lora")
        restarted = jobs.start(LiveJob("lora", make, STEPS), "b", run=False, checkpoint=got)
        assert restarted.steps_done == STEPS
        assert jobs.snapshot("lora").to_bytes() == got.to_bytes()
        assert jobs.store_stats("b").pinned_bytes == 0
    finally:
        jobs.stop_all()
    reference = make()
    for _ in range(STEPS):
        reference.step()
    assert got.to_bytes() == Checkpoint.capture(reference, steps_done=STEPS).to_bytes()
