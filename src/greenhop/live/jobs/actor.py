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

from greenhop.live._extras import import_ray
from greenhop.live.errors import LiveError
from greenhop.live.jobs.checkpoint import Checkpoint
from greenhop.live.jobs.trainer import TrainerFactory
from greenhop.live.jobs.transfer import (
    CheckpointManifest,
    ChunkVerifier,
    chunk_digests,
    split_chunks,
)


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
    """What the destination measured: pulling and verifying, then parsing and loading (s)."""

    node_id: str
    steps_done: int
    transfer_duration_s: float
    load_duration_s: float


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

    def checkpoint(self, chunk_bytes: int) -> CheckpointManifest:
        """Pause at a step boundary and put the checkpoint into this node's object store in
        chunks; the job stays paused (resume it if the migration fails)."""
        ray = import_ray()
        start = time.perf_counter()
        with self._cv:
            self._paused = True
        with self._step_lock:
            steps = self._steps_done
            data = Checkpoint.capture(self._trainer, steps_done=steps).to_bytes()
        chunks = split_chunks(data, chunk_bytes)
        digests = chunk_digests(chunks)
        refs = tuple(ray.put(c) for c in chunks)
        self._outbox = refs  # keep the chunks alive until released

        return CheckpointManifest(
            job_id=self.job_id,
            source_site=self.site,
            source_node_id=self.node_id,
            steps_done=steps,
            total_steps=self._total_steps,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            chunk_bytes=chunk_bytes,
            chunk_sha256=digests,
            chunk_refs=refs,
            checkpoint_duration_s=time.perf_counter() - start,
        )

    def release_checkpoint(self) -> None:
        """Drop this actor's references to the chunks of its last checkpoint."""
        self._outbox = ()

    def restore(self, manifest: CheckpointManifest, window: int = 4) -> RestoreReport:
        """Pull the checkpoint's chunks to this node, verify them (ChecksumError on mismatch,
        nothing loaded) and load it; the job stays paused until :meth:`resume`.

        Up to ``window`` chunks are pulled at once, so the link stays busy while a chunk that
        arrived is hashed and the next one is requested (memory: ``window`` chunks in flight).
        """
        start = time.perf_counter()
        data = pull_verified(manifest, window)  # ChecksumError before anything is parsed
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
        return RestoreReport(
            node_id=self.node_id,
            steps_done=steps,
            transfer_duration_s=pulled - start,
            load_duration_s=time.perf_counter() - pulled,
        )


def pull_verified(manifest: CheckpointManifest, window: int = 4) -> bytes:
    """Pull every chunk of ``manifest`` to this node, ``window`` at a time, verifying each as it
    arrives and then the whole blob (:class:`~greenhop.live.jobs.transfer.ChunkVerifier`)."""
    ray = import_ray()
    verifier = ChunkVerifier(manifest)
    refs = list(manifest.chunk_refs)
    window = max(1, window)
    with ThreadPoolExecutor(max_workers=window, thread_name_prefix="pull") as pool:
        pending = deque(pool.submit(ray.get, ref) for ref in refs[:window])
        nxt = len(pending)
        try:
            while pending:
                chunk = pending.popleft().result()
                if nxt < len(refs):
                    pending.append(pool.submit(ray.get, refs[nxt]))
                    nxt += 1
                verifier.add(chunk)
                del chunk
        finally:
            for fut in pending:
                fut.cancel()
    return verifier.finish()


_REMOTE: Any = None


def remote_training_actor() -> Any:
    """The Ray actor class of :class:`TrainingActor` (threaded, so that progress and pause are
    served while a step runs)."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = import_ray().remote(max_concurrency=4)(TrainingActor)
    return _REMOTE
