"""Content-addressed checkpoints without Ray: how a checkpoint is cut (at tensor boundaries,
frozen tensors apart), what a trainer's frozen tensors make immutable, the per-site chunk store's
eviction rule (least recently used, never a pinned chunk) and the destination's assembly from
stored and received chunks. The moves between Ray nodes: test_live_chunks_cluster.py and, on a
shaped WAN, test_live_chunks_wan.py."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from greenhop.errors import InputError  # noqa: E402
from greenhop.live.errors import ChecksumError  # noqa: E402
from greenhop.live.jobs.checkpoint import Checkpoint  # noqa: E402
from greenhop.live.jobs.chunks import (  # noqa: E402
    ChunkMissingError,
    ChunkSpec,
    ChunkStore,
    Pacer,
    digest,
    plan_chunks,
)
from greenhop.live.jobs.examples import DigitsCNNTrainer, FrozenBaseTrainer  # noqa: E402
from greenhop.live.jobs.factory import TrainerError, TrainerSource  # noqa: E402
from greenhop.live.jobs.transfer import CheckpointManifest, ChunkAssembler  # noqa: E402

CHUNK = 256 * 1024
make_frozen = functools.partial(FrozenBaseTrainer, seed=4, base_mb=2.0, dim=64, hidden=64)


def digests(blob) -> list[str]:  # type: ignore[no-untyped-def]
    return [digest(blob.chunk(i)) for i in range(len(blob.chunks))]


def test_plan_cuts_at_tensor_boundaries_and_never_mixes_frozen_and_other_tensors() -> None:
    # (bytes, frozen) in data order, chunks of at most 10 bytes
    sizes = [(3, True), (4, True), (25, True), (2, True), (6, False), (5, False), (10, False)]
    plan = plan_chunks(sizes, 10, start=100)
    assert plan == [
        ChunkSpec(100, 7, True),  # two small frozen tensors packed
        ChunkSpec(107, 10, True),  # a large one cut every 10 bytes from its own start
        ChunkSpec(117, 10, True),
        ChunkSpec(127, 5, True),
        ChunkSpec(132, 2, True),  # the next small one does not join the large one's tail
        ChunkSpec(134, 6, False),  # nor does a trainable tensor join a frozen chunk
        ChunkSpec(140, 5, False),  # 6 + 5 > 10
        ChunkSpec(145, 10, False),
    ]
    assert sum(c.length for c in plan) == sum(n for n, _ in sizes)
    with pytest.raises(InputError, match="chunk_bytes must be >= 1"):
        plan_chunks(sizes, 0)


def test_an_unchanged_tensor_gives_unchanged_chunks_whatever_changed_around_it() -> None:
    big = torch.arange(100_000, dtype=torch.float32)  # 400 kB: two chunks of its own

    def state(x: float) -> dict:  # type: ignore[type-arg]
        return {"steps_done": int(x), "rng": {}, "trainer": {
            "a": torch.full((10,), x), "big": big, "z": torch.full((3_000,), x)}}  # fmt: skip

    one = Checkpoint(state(1.0)).chunked(CHUNK)
    two = Checkpoint(state(2.0)).chunked(CHUNK)
    assert len(one.data) == len(two.data) and one.data != two.data
    shared = set(digests(one)) & set(digests(two))
    big_bytes = big.numpy().tobytes()
    assert {digest(big_bytes[:CHUNK]), digest(big_bytes[CHUNK:])} <= shared
    # the blob is still one safetensors file that loads back to the same bytes
    assert Checkpoint.from_bytes(two.data).to_bytes() == two.data


def test_frozen_tensors_are_the_immutable_chunks_and_survive_training() -> None:
    trainer = make_frozen()
    assert trainer.frozen_keys() == ["model/embed.weight"]
    for _ in range(3):
        trainer.step()
    before = Checkpoint.capture(trainer, steps_done=3)
    assert before.frozen == {"trainer/model/embed.weight"}
    blob = before.chunked(CHUNK)
    table = trainer.embed.weight.detach().numpy().tobytes()
    # the frozen table comes first, right after the header, in chunks of its own
    assert blob.chunks[0].offset == 0 and not blob.chunks[0].immutable
    immutable = [c for c in blob.chunks if c.immutable]
    assert blob.immutable_bytes == len(table) == sum(c.length for c in immutable)
    assert b"".join(blob.chunk(i) for i, c in enumerate(blob.chunks) if c.immutable) == table
    # the immutable chunks alone, without serialising the rest, are the same chunks
    assert [digest(c) for c in before.immutable_chunks(CHUNK)] == [
        d for d, c in zip(digests(blob), blob.chunks, strict=True) if c.immutable
    ]
    for _ in range(2):
        trainer.step()
    after = Checkpoint.capture(trainer, steps_done=5).chunked(CHUNK)
    old = set(digests(blob))
    changed = [c for d, c in zip(digests(after), after.chunks, strict=True) if d not in old]
    assert changed and not any(c.immutable for c in changed)  # only mutable chunks changed
    assert {d for d, c in zip(digests(after), after.chunks, strict=True) if c.immutable} == {
        d for d, c in zip(digests(blob), blob.chunks, strict=True) if c.immutable
    }
    # the frozen set travels in the header and the blob round-trips exactly
    back = Checkpoint.from_bytes(after.data)
    assert back.frozen == {"trainer/model/embed.weight"} and back.to_bytes() == after.data


def test_a_trainer_without_frozen_tensors_has_no_immutable_part() -> None:
    blob = Checkpoint.capture(DigitsCNNTrainer(seed=1), steps_done=0).chunked(16 * 1024)
    assert blob.immutable_bytes == 0 and len(blob.chunks) > 1


def test_a_frozen_key_that_names_no_tensor_is_refused_with_its_name() -> None:
    trainer = make_frozen()
    trainer.frozen_keys = lambda: ["model/embed.wieght"]  # type: ignore[method-assign]
    with pytest.raises(InputError, match=r"'trainer/model/embed.wieght'.*model/embed.weight"):
        Checkpoint.capture(trainer, steps_done=0).to_bytes()
    # the check before a run says so, naming the job
    source = TrainerSource(path="test_live_chunks:_misnamed", job="lora")
    with pytest.raises(TrainerError, match=r"job 'lora'.*embed\.wieght"):
        source.check()


def _misnamed() -> FrozenBaseTrainer:
    trainer = make_frozen()
    trainer.frozen_keys = lambda: ["model/embed.wieght"]  # type: ignore[method-assign]
    return trainer


def _chunks(*sizes: int) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(sum(sizes))
    chunks = [rng.integers(0, 256, n, dtype=np.uint8) for n in sizes]
    return chunks, [digest(c) for c in chunks]


def test_store_evicts_least_recently_used_and_never_a_pinned_chunk() -> None:
    store = ChunkStore("x", capacity_bytes=300)
    (a, b, c, d), (da, db, dc, dd) = _chunks(100, 100, 100, 100)
    assert store.add(None, [a, b, c], [da, db, dc]) == 300
    store.get([da])  # a is used: b is now the least recently used
    assert store.add(None, [d], [dd]) == 100
    assert store.contains([da, db, dc, dd]) == [True, False, True, True]
    # pinned chunks stay: with a, c and d pinned, nothing can make room for b
    assert store.reserve("move-1", [da, db, dc, dd]) == [True, False, True, True]
    assert store.add(None, [b], [db]) == 0
    assert store.contains([db]) == [False]
    stats = store.stats()
    assert (stats.used_bytes, stats.pinned_bytes, stats.not_kept_bytes) == (300, 300, 100)
    assert (stats.evicted_chunks, stats.evicted_bytes) == (1, 100)
    # released, they are evictable again, least recently used first
    store.release("move-1")
    assert store.add("move-2", [b], [db]) == 100
    assert store.contains([da, db, dc, dd]) == [False, True, True, True]
    with pytest.raises(ChunkMissingError, match="site 'x' does not hold chunk"):
        store.get([da])
    # a chunk larger than the store is never kept, and nothing is evicted for it
    (huge,), (dh,) = _chunks(301)
    assert store.add(None, [huge], [dh]) == 0 and store.contains([db, dc, dd]) == [True] * 3


def test_store_keeps_a_chunk_only_under_its_own_sha256() -> None:
    store = ChunkStore("x", capacity_bytes=1000)
    (a, _), (da, db) = _chunks(10, 20)
    with pytest.raises(ChecksumError, match="not its name"):
        store.add(None, [a], [db])
    assert store.contains([da, db]) == [False, False]
    a.flags.writeable = True
    store.add(None, [a], [da])
    a[0] ^= 1  # the sender's buffer changes afterwards: the store kept its own copy
    assert digest(store.get([da])[0]) == da


def _manifest(chunks: list[np.ndarray], refs: tuple) -> CheckpointManifest:  # type: ignore[type-arg]
    data = b"".join(c.tobytes() for c in chunks)
    return CheckpointManifest(
        job_id="j",
        source_site="a",
        source_node_id="n",
        steps_done=0,
        total_steps=1,
        size_bytes=len(data),
        sha256=digest(data),
        chunk_bytes=100,
        chunk_sha256=tuple(digest(c) for c in chunks),
        chunk_refs=refs,
        checkpoint_duration_s=0.0,
        chunk_lengths=tuple(len(c) for c in chunks),
        chunk_immutable=(True, True, False),
    )


def test_assembly_from_stored_and_received_chunks_is_verified_whole() -> None:
    chunks, _ = _chunks(100, 100, 40)
    m = _manifest(chunks, (None, None, "ref"))
    assert (m.immutable_bytes, m.bytes_to_send, m.chunks_to_send) == (200, 40, 1)
    good = ChunkAssembler(m)
    good.put(2, chunks[2])  # a received chunk first: the whole hash waits for chunks 0 and 1
    good.put(0, chunks[0], verify=False)
    good.put(1, chunks[1], verify=False)
    assert good.finish() == b"".join(c.tobytes() for c in chunks)
    # a stored chunk that went bad is caught by the whole SHA-256 and named
    bad = ChunkAssembler(m)
    rotten = chunks[1].copy()
    rotten[5] ^= 0x10
    for i, c in enumerate([chunks[0], rotten, chunks[2]]):
        bad.put(i, c, verify=i == 2)
    with pytest.raises(ChecksumError, match="Chunk 1 of 3"):
        bad.finish()
    with pytest.raises(ChecksumError, match="Chunk 2 of 3"):
        ChunkAssembler(m).put(2, chunks[1][:40])
    with pytest.raises(ChecksumError, match="lacks chunk 1 of 3"):
        part = ChunkAssembler(m)
        part.put(0, chunks[0], verify=False)
        part.finish()


def test_pacer_spreads_sends_to_the_rate_and_does_not_count_pauses() -> None:
    pacer = Pacer(1000.0)
    assert pacer.delay_s() == 0.0
    pacer.sent = 500
    assert 0.45 < pacer.delay_s() <= 0.5
    pacer.paused_s = 1.0  # time spent waiting for a migration moves the schedule on
    assert 1.45 < pacer.delay_s() <= 1.5
    pacer.start -= 2.0
    assert pacer.delay_s() == 0.0
    with pytest.raises(InputError, match="rate must be > 0"):
        Pacer(0.0)
    assert time.monotonic() > pacer.start


def test_prestage_and_store_stats_need_chunk_stores() -> None:
    from greenhop.live.jobs.driver import LiveJobs

    jobs = LiveJobs({})
    with pytest.raises(InputError, match="Pre-staging needs chunk stores"):
        jobs.prestage("job", "b", 1e6)
    with pytest.raises(InputError, match="no chunk stores"):
        jobs.store_stats("b")
    with pytest.raises(InputError, match="chunk_store_bytes must be >= 0"):
        LiveJobs({}, chunk_store_bytes=-1)


def test_migrations_go_first_pre_stages_wait_at_a_chunk_boundary() -> None:
    import threading

    from greenhop.live.jobs.driver import _Gate

    gate, cancelled = _Gate(), threading.Event()
    assert gate.enter(cancelled) is not None  # no migration: a chunk may start at once
    waited: list[float | None] = []
    with gate.migration():
        idle = threading.Event()
        watcher = threading.Thread(target=lambda: (gate.wait_idle(), idle.set()))
        watcher.start()
        assert not idle.wait(0.3)  # the migration waits for the chunk in flight
        gate.leave()
        assert idle.wait(5)
        # a pre-stage's next chunk waits until the migration ends
        later = threading.Thread(target=lambda: waited.append(gate.enter(cancelled)))
        later.start()
        time.sleep(0.3)
        assert not waited
    later.join(5)
    assert waited and waited[0] is not None and waited[0] >= 0.25
    gate.leave()
    with gate.migration():  # a pre-stage cancelled while it waits starts nothing
        cancelled.set()
        assert gate.enter(cancelled) is None
