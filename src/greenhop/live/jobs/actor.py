"""The Ray actor that runs one training job on one site's node.

A :class:`TrainingActor` builds its trainer from a factory on the node it lands on and trains in a
background thread up to ``total_steps``, so a controller can ask for progress, pause, checkpoint or
stop it at any time; every one of those acts at a step boundary. It is started paused. Use it
through :class:`greenhop.live.jobs.driver.LiveJobs`, or build the Ray actor class with
:func:`remote_training_actor`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from greenhop.live._extras import import_ray
from greenhop.live.errors import LiveError
from greenhop.live.jobs.checkpoint import Checkpoint
from greenhop.live.jobs.chunks import digest
from greenhop.live.jobs.pacing import paced_get
from greenhop.live.jobs.trainer import TrainerFactory
from greenhop.live.jobs.transfer import CheckpointManifest, ChunkAssembler

_DEPOSIT_BATCH_BYTES = 64 * 2**20
"""Chunks handed to a store per call (they pass through the node's object store)."""


@dataclass(frozen=True)
class JobProgress:
    """Where a job stands. ``running`` is False while paused, finished, stopped, failed, or
    idle at ``run_until`` (the step it was asked to train to); ``error`` is the failed step's
    exception as text."""

    job_id: str
    site: str
    node_id: str
    steps_done: int
    total_steps: int
    running: bool
    run_until: int | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def finished(self) -> bool:
        """True once ``steps_done`` reached ``total_steps``."""
        return self.steps_done >= self.total_steps


@dataclass(frozen=True)
class RestoreReport:
    """What the destination measured: pulling and verifying, then parsing and loading (s);
    ``wire_duration_s`` and ``bytes_received``: the chunks that crossed the network."""

    node_id: str
    steps_done: int
    transfer_duration_s: float
    load_duration_s: float
    wire_duration_s: float = 0.0
    bytes_received: int = 0


@dataclass
class _Blob:
    """A checkpoint this actor made or restored, kept for its site's chunk store."""

    data: bytes
    lengths: tuple[int, ...]
    digests: tuple[str, ...]

    def chunks(self) -> list[memoryview]:
        out, offset, view = [], 0, memoryview(self.data)
        for n in self.lengths:
            out.append(view[offset : offset + n])
            offset += n
        return out


class TrainingActor:
    """One training job on one site; instantiate through Ray (see :func:`remote_training_actor`).

    Parameters: ``job_id``; ``site`` whose node this actor was placed on; ``make_trainer`` a
    :data:`~greenhop.live.jobs.trainer.TrainerFactory`; ``total_steps`` where training stops.
    """

    def __init__(
        self, job_id: str, site: str, make_trainer: TrainerFactory, total_steps: int
    ) -> None:
        self.job_id = job_id
        self.site = site
        ray = import_ray()
        # outside Ray (tests of the loop itself) there is no node
        self.node_id = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
        self._trainer = make_trainer()
        self._total_steps = total_steps
        self._steps_done = 0
        self._last_metrics: dict[str, float] = {}
        self._error: str | None = None
        self._paused = True
        self._run_until: int | None = None
        self._stopped = False
        self._outbox: tuple[Any, ...] = ()
        self._blob: _Blob | None = None
        self._cv = threading.Condition()  # guards the flags and counters above
        self._step_lock = threading.Lock()  # held during a step and while snapshotting
        self._thread = threading.Thread(target=self._loop, name=f"train-{job_id}", daemon=True)
        self._thread.start()

    # -- the training loop --------------------------------------------------------------------

    def _may_step(self) -> bool:
        if self._paused or self._stopped or self._error:
            return False
        until = self._total_steps if self._run_until is None else self._run_until
        return self._steps_done < min(until, self._total_steps)

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stopped or self._may_step())
                if self._stopped:
                    return
            with self._step_lock:
                with self._cv:
                    if not self._may_step():  # paused between the wait and the lock
                        continue
                try:
                    metrics = dict(self._trainer.step())
                except Exception as exc:  # reported through progress(); the job stops
                    with self._cv:
                        self._error = f"{type(exc).__name__}: {exc}"
                        self._cv.notify_all()
                    continue
                with self._cv:
                    self._steps_done += 1
                    self._last_metrics = metrics
                    self._cv.notify_all()

    # -- control ------------------------------------------------------------------------------

    def ping(self) -> str:
        """The node id, once the actor (and its trainer) is built."""
        return self.node_id

    def info(self) -> dict[str, Any]:
        """Job id, site, Ray node id and the worker process id."""
        return {
            "job_id": self.job_id,
            "site": self.site,
            "node_id": self.node_id,
            "pid": os.getpid(),
        }

    def progress(self) -> JobProgress:
        """Where the job stands now."""
        with self._cv:
            return JobProgress(
                job_id=self.job_id,
                site=self.site,
                node_id=self.node_id,
                steps_done=self._steps_done,
                total_steps=self._total_steps,
                running=self._may_step(),
                run_until=self._run_until,
                last_metrics=dict(self._last_metrics),
                error=self._error,
            )

    def resume(self, until: int | None = None) -> JobProgress:
        """Train (again) in the background until ``until`` steps are done (default: all
        ``total_steps``); the job then idles there until resumed with a later ``until``."""
        with self._cv:
            self._paused = False
            self._run_until = until
            self._cv.notify_all()
        return self.progress()

    def pause(self) -> JobProgress:
        """Stop at the next step boundary; returns once no step is running."""
        with self._cv:
            self._paused = True
        with self._step_lock:
            return self.progress()

    def wait(self, steps: int | None = None, timeout_s: float | None = None) -> JobProgress:
        """Block until ``steps`` are done (default ``total_steps``), the job failed or stopped, or
        ``timeout_s`` passed; raise LiveError if the job failed."""
        target = self._total_steps if steps is None else min(steps, self._total_steps)
        with self._cv:
            self._cv.wait_for(
                lambda: self._steps_done >= target or self._error is not None or self._stopped,
                timeout=timeout_s,
            )
            if self._error is not None:
                raise LiveError(
                    f"Job {self.job_id!r} failed at step {self._steps_done + 1}: {self._error}"
                )
        return self.progress()

    def stop(self) -> JobProgress:
        """Stop training for good (the actor can then be killed)."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        self._thread.join()
        return self.progress()

    # -- checkpoints --------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The job's checkpoint blob at the current step boundary, without pausing it."""
        with self._step_lock:
            with self._cv:
                steps = self._steps_done
            return Checkpoint.capture(self._trainer, steps_done=steps).to_bytes()

    def checkpoint(
        self, chunk_bytes: int, dest_store: Any = None, pin_key: str | None = None
    ) -> CheckpointManifest:
        """Pause at a step boundary and put the checkpoint into this node's object store in
        chunks cut at tensor boundaries; the job stays paused (resume it if the migration
        fails). With ``dest_store`` (the destination's chunk store), the chunks it holds are
        pinned there under ``pin_key`` and not put: their refs are None."""
        ray = import_ray()
        start = time.perf_counter()
        with self._cv:
            self._paused = True
        with self._step_lock:
            steps = self._steps_done
            blob = Checkpoint.capture(self._trainer, steps_done=steps).chunked(chunk_bytes)
        views = [blob.chunk(i) for i in range(len(blob.chunks))]
        digests, whole = _hash_chunks(views, blob.data)
        present = [False] * len(views)
        if dest_store is not None:
            present = _reserve(dest_store, pin_key, digests)
        refs = tuple(
            None if held else ray.put(np.frombuffer(v, dtype=np.uint8))
            for v, held in zip(views, present, strict=True)
        )
        self._outbox = refs  # keep the chunks alive until released
        lengths = tuple(c.length for c in blob.chunks)
        # kept for this site's chunk store (deposit) when there are stores, else dropped
        self._blob = _Blob(blob.data, lengths, digests) if dest_store is not None else None
        return CheckpointManifest(
            job_id=self.job_id,
            source_site=self.site,
            source_node_id=self.node_id,
            steps_done=steps,
            total_steps=self._total_steps,
            size_bytes=len(blob.data),
            sha256=whole,
            chunk_bytes=chunk_bytes,
            chunk_sha256=digests,
            chunk_refs=refs,
            checkpoint_duration_s=time.perf_counter() - start,
            chunk_lengths=lengths,
            chunk_immutable=tuple(c.immutable for c in blob.chunks),
        )

    def release_checkpoint(self) -> None:
        """Drop this actor's references to the chunks of its last checkpoint."""
        self._outbox = ()
        self._blob = None

    def restore(
        self, manifest: CheckpointManifest, window: int = 4, store: Any = None, pacer: Any = None
    ) -> RestoreReport:
        """Pull the checkpoint's chunks to this node, verify them (ChecksumError on mismatch,
        nothing loaded) and load it; the job stays paused until :meth:`resume`.

        Up to ``window`` chunks are pulled at once, so the link stays busy while a chunk that
        arrived is hashed and the next one is requested (memory: ``window`` chunks in flight).
        Chunks without a ref are taken from ``store``, this site's chunk store. With ``pacer``
        (a :class:`~greenhop.live.jobs.pacing.LinkPacer` actor) each pulled chunk waits for its
        share of the link's rate.
        """
        start = time.perf_counter()
        # ChecksumError: nothing parsed
        data, wire_s, received = assemble(manifest, window, store, pacer)
        pulled = time.perf_counter()
        checkpoint = Checkpoint.from_bytes(data)
        with self._cv:
            self._paused = True
        with self._step_lock:
            steps = checkpoint.restore(self._trainer)
            with self._cv:
                self._steps_done = steps
                self._total_steps = manifest.total_steps
                self._last_metrics = {}
        if store is not None:  # kept for this site's chunk store (deposit)
            self._blob = _Blob(data, manifest.lengths(), manifest.chunk_sha256)
        return RestoreReport(
            node_id=self.node_id,
            steps_done=steps,
            transfer_duration_s=pulled - start,
            load_duration_s=time.perf_counter() - pulled,
            wire_duration_s=wire_s if wire_s is not None else pulled - start,
            bytes_received=received,
        )

    def deposit(self, store: Any, pin_key: str | None = None) -> int:
        """Give this site's chunk store the chunks of the last checkpoint this actor made or
        restored that it lacks (pinned under ``pin_key``); return the bytes it kept."""
        blob, self._blob = self._blob, None
        if blob is None:
            return 0
        return _deposit(store, pin_key, blob.chunks(), blob.digests)

    def stage_immutable(
        self, chunk_bytes: int, store: Any, pin_key: str
    ) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Put the chunks of the job's frozen tensors into this site's chunk store, pinned
        under ``pin_key``, for a pre-stage; return their digests and sizes. The job pauses only
        while its frozen tensors are copied (it keeps its place)."""
        with self._step_lock:
            with self._cv:
                steps = self._steps_done
            chunks = Checkpoint.capture(self._trainer, steps_done=steps).immutable_chunks(
                chunk_bytes
            )
        digests = tuple(digest(c) for c in chunks)
        _deposit(store, pin_key, [memoryview(c) for c in chunks], digests)
        held = import_ray().get(store.reserve.remote(pin_key, list(digests)))
        if not all(held):
            missing = sum(len(c) for c, h in zip(chunks, held, strict=True) if not h)
            raise LiveError(
                f"The chunk store of site {self.site!r} cannot hold job {self.job_id!r}'s "
                f"immutable chunks ({missing} bytes do not fit beside what is pinned there); "
                "give the stores more capacity (chunk_store_bytes)."
            )
        return digests, tuple(len(c) for c in chunks)


def _hash_chunks(views: list[memoryview], data: bytes) -> tuple[tuple[str, ...], str]:
    """SHA-256 of each chunk and of the whole blob, the chunks in a second thread (hashlib
    releases the GIL on large buffers)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash") as pool:
        per_chunk = pool.submit(lambda: tuple(digest(v) for v in views))
        whole = hashlib.sha256(data).hexdigest()
        return per_chunk.result(), whole


def _reserve(store: Any, pin_key: str | None, digests: tuple[str, ...]) -> list[bool]:
    """Which chunks ``store`` holds (pinned under ``pin_key``); none if the store is gone."""
    ray = import_ray()
    try:
        return list(ray.get(store.reserve.remote(pin_key, list(digests)), timeout=60))
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return [False] * len(digests)


def _deposit(
    store: Any, pin_key: str | None, chunks: list[memoryview], digests: tuple[str, ...]
) -> int:
    """Hand ``store`` the chunks it lacks, in batches; return the bytes it kept."""
    ray = import_ray()
    held = ray.get(store.contains.remote(list(digests)))
    kept, batch, batch_digests, size = 0, [], [], 0
    todo = [(c, d) for c, d, h in zip(chunks, digests, held, strict=True) if not h]
    for i, (chunk, d) in enumerate(todo):
        batch.append(np.frombuffer(chunk, dtype=np.uint8))
        batch_digests.append(d)
        size += len(chunk)
        if size >= _DEPOSIT_BATCH_BYTES or i == len(todo) - 1:
            kept += ray.get(store.add.remote(pin_key, batch, batch_digests))
            batch, batch_digests, size = [], [], 0
    return kept


def assemble(
    manifest: CheckpointManifest, window: int = 4, store: Any = None, pacer: Any = None
) -> tuple[bytes, float | None, int]:
    """The checkpoint blob of ``manifest``: chunks with a ref pulled to this node, ``window``
    at a time, each verified as it arrives; chunks without one from ``store``. Returns the
    blob (verified whole), the time the pulls took (None when every chunk was pulled: the
    whole transfer) and the bytes pulled."""
    ray = import_ray()
    assembler = ChunkAssembler(manifest)
    refs = list(manifest.chunk_refs)
    remote = [i for i, r in enumerate(refs) if r is not None]
    local = [i for i, r in enumerate(refs) if r is None]
    if local and store is None:
        raise LiveError(
            f"The manifest of job {manifest.job_id!r} leaves {len(local)} chunks to the "
            "destination's chunk store, but there is none."
        )
    window = max(1, window)
    received = 0
    start = time.perf_counter()
    wire_s = 0.0
    lengths = manifest.lengths()

    def pull(i: int) -> Any:
        if pacer is None:
            return ray.get(refs[i])
        return paced_get(refs[i], lengths[i], pacer)

    with ThreadPoolExecutor(max_workers=window, thread_name_prefix="pull") as pool:
        pending = deque((i, pool.submit(pull, i)) for i in remote[:window])
        nxt = len(pending)
        try:
            if local:  # from this node's store while the first pulls are under way
                chunks = ray.get(store.get.remote([manifest.chunk_sha256[i] for i in local]))
                for i, chunk in zip(local, chunks, strict=True):
                    assembler.put(i, chunk, verify=False)
                del chunks
            while pending:
                i, fut = pending.popleft()
                chunk = fut.result()
                if nxt < len(remote):
                    pending.append((remote[nxt], pool.submit(pull, remote[nxt])))
                    nxt += 1
                assembler.put(i, chunk)
                received += len(chunk)
                wire_s = time.perf_counter() - start
                del chunk
        finally:
            for _, fut in pending:
                fut.cancel()
    return assembler.finish(), (wire_s if local else None), received


def pull_verified(manifest: CheckpointManifest, window: int = 4) -> bytes:
    """Pull every chunk of ``manifest`` to this node, ``window`` at a time, verifying each as it
    arrives and then the whole blob."""
    return assemble(manifest, window)[0]


_REMOTE: Any = None


def remote_training_actor() -> Any:
    """The Ray actor class of :class:`TrainingActor` (threaded, so that progress and pause are
    served while a step runs)."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = import_ray().remote(max_concurrency=4)(TrainingActor)
    return _REMOTE
