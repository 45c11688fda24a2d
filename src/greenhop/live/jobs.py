"""Training jobs on the live cluster: start one at a site, migrate it, follow it, stop it.

:class:`LiveJobs` is what a controller drives: ``start(job, site)``, ``migrate(job_id, dest)``
(returns a :class:`~greenhop.live.transfer.TransferResult`), ``progress(job_id)`` and
``stop(job_id)``. A migration starts the destination actor first (outside the job's downtime),
then pauses the source at a step boundary, sends its checkpoint in verified chunks, restores it
at the destination and resumes there; only then is the source actor killed. If anything fails
on the way (a corrupted chunk, a dead destination) the destination actor is killed and the job
resumes at its source.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from greenhop.errors import InputError, UnknownNameError
from greenhop.live._extras import import_ray
from greenhop.live.actor import JobProgress, RestoreReport, remote_training_actor
from greenhop.live.checkpoint import Checkpoint
from greenhop.live.cluster import SiteNode, site_resource
from greenhop.live.errors import ChecksumError, MigrationError
from greenhop.live.trainer import TrainerFactory
from greenhop.live.transfer import (
    DEFAULT_CHUNK_BYTES,
    CheckpointManifest,
    TransferResult,
    chunk_digests,
    split_chunks,
)


@dataclass(frozen=True)
class LiveJob:
    """A training job to run on the cluster.

    ``make_trainer`` builds the :class:`~greenhop.live.trainer.Trainer` on the site's node;
    ``total_steps`` is where it stops; ``site_share`` is the amount of the site's
    ``site:<name>`` resource its actor holds (a fraction of one GPU slot by default, so that
    placement, not capacity, is what the resource enforces; give 1.0 to hold a whole slot).
    """

    job_id: str
    make_trainer: TrainerFactory
    total_steps: int
    site_share: float = 0.01

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise InputError(
                f"Job {self.job_id!r} has total_steps={self.total_steps}; it needs >= 1."
            )
        if not self.site_share > 0:
            raise InputError(f"Job {self.job_id!r} has site_share={self.site_share}; it needs > 0.")


@dataclass
class _Running:
    job: LiveJob
    site: str
    actor: Any


class LiveJobs:
    """The training jobs on one cluster, by job id.

    Parameters
    ----------
    sites:
        site -> :class:`~greenhop.live.cluster.SiteNode`, e.g. ``LocalCluster(...).sites`` or
        ``attach(address).sites``.
    chunk_bytes:
        Chunk size of checkpoint transfers (see :mod:`greenhop.live.transfer`).
    call_timeout_s:
        Longest wait for one actor call (start, checkpoint, restore).
    """

    def __init__(
        self,
        sites: Mapping[str, SiteNode],
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        call_timeout_s: float = 600.0,
    ) -> None:
        if chunk_bytes < 1:
            raise InputError(f"chunk_bytes must be >= 1, got {chunk_bytes}.")
        self.sites = dict(sites)
        self.chunk_bytes = chunk_bytes
        self.call_timeout_s = call_timeout_s
        self._jobs: dict[str, _Running] = {}

    # -- what a controller calls --------------------------------------------------------------

    def start(
        self,
        job: LiveJob,
        site: str,
        *,
        run: bool = True,
        until: int | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> JobProgress:
        """Place ``job`` on ``site`` and (if ``run``) start training, up to ``until`` steps
        (default: all); returns once the trainer is built. With ``checkpoint``, the job first
        restores it (sent from this process in verified chunks) and continues from there."""
        if job.job_id in self._jobs:
            raise InputError(
                f"Job {job.job_id!r} is already running at {self._jobs[job.job_id].site!r}."
            )
        actor = self._spawn(job, site)
        if checkpoint is not None:
            try:
                self._get(actor.restore.remote(self._driver_manifest(job, checkpoint)))
            except BaseException:
                import_ray().kill(actor)
                raise
        self._jobs[job.job_id] = _Running(job, site, actor)
        return self._get(actor.resume.remote(until) if run else actor.progress.remote())

    def migrate(self, job_id: str, dest: str) -> TransferResult:
        """Move a job to ``dest`` (see the module docstring); return what the move measured.

        Raises ChecksumError if the checkpoint arrived corrupted, MigrationError for any other
        failure; in both cases the job continues at its source, as it was.
        """
        running = self._running(job_id)
        if dest == running.site:
            raise InputError(f"Job {job_id!r} is already at site {dest!r}.")
        ray = import_ray()
        src = running.actor
        before: JobProgress = self._get(src.progress.remote())
        t0 = time.perf_counter()
        dst = self._spawn(running.job, dest)
        actor_start_s = time.perf_counter() - t0
        paused_at = time.perf_counter()
        try:
            manifest: CheckpointManifest = self._get(src.checkpoint.remote(self.chunk_bytes))
            report: RestoreReport = self._get(dst.restore.remote(self._in_transit(manifest)))
            if before.running:
                self._get(dst.resume.remote(before.run_until))
        except BaseException as exc:
            ray.kill(dst)
            self._get(src.release_checkpoint.remote())
            if before.running:
                self._get(src.resume.remote(before.run_until))
            cause = _cause(exc)
            if isinstance(cause, ChecksumError):
                raise cause from None
            if isinstance(exc, Exception):
                raise MigrationError(
                    f"Migrating job {job_id!r} from {running.site!r} to {dest!r} failed; it "
                    f"continues at {running.site!r}: {cause}"
                ) from exc
            raise
        resumed_at = time.perf_counter()
        self._jobs[job_id] = _Running(running.job, dest, dst)
        ray.kill(src)
        return TransferResult(
            job_id=job_id,
            source_site=running.site,
            dest_site=dest,
            source_node_id=manifest.source_node_id,
            dest_node_id=report.node_id,
            steps_done=report.steps_done,
            size_bytes=manifest.size_bytes,
            n_chunks=manifest.n_chunks,
            sha256=manifest.sha256,
            actor_start_duration_s=actor_start_s,
            checkpoint_duration_s=manifest.checkpoint_duration_s,
            transfer_duration_s=report.transfer_duration_s,
            load_duration_s=report.load_duration_s,
            downtime_s=resumed_at - paused_at,
        )

    def progress(self, job_id: str) -> JobProgress:
        """Where the job stands now."""
        return self._get(self._running(job_id).actor.progress.remote())

    def stop(self, job_id: str) -> JobProgress:
        """Stop the job at a step boundary, kill its actor and forget it; return its last
        progress."""
        running = self._running(job_id)
        try:
            final = self._get(running.actor.stop.remote())
        finally:
            import_ray().kill(running.actor)
            del self._jobs[job_id]
        return final

    # -- more control ---------------------------------------------------------------------------

    def site_of(self, job_id: str) -> str:
        """The site the job runs at."""
        return self._running(job_id).site

    def job_ids(self) -> list[str]:
        """Ids of the jobs started and not stopped."""
        return list(self._jobs)

    def wait(
        self, job_id: str, steps: int | None = None, timeout_s: float | None = None
    ) -> JobProgress:
        """Block until the job has done ``steps`` (default: all), failed, or ``timeout_s``
        passed."""
        return self._get(self._running(job_id).actor.wait.remote(steps, timeout_s), timeout_s=None)

    def pause(self, job_id: str) -> JobProgress:
        """Pause the job at its next step boundary."""
        return self._get(self._running(job_id).actor.pause.remote())

    def resume(self, job_id: str, until: int | None = None) -> JobProgress:
        """Resume a paused job, up to ``until`` steps (default: all)."""
        return self._get(self._running(job_id).actor.resume.remote(until))

    def snapshot(self, job_id: str) -> Checkpoint:
        """The job's checkpoint at its current step boundary (it keeps running)."""
        return Checkpoint.from_bytes(self._get(self._running(job_id).actor.snapshot.remote()))

    def actor_info(self, job_id: str) -> dict[str, Any]:
        """The job actor's site, Ray node id and process id."""
        return dict(self._get(self._running(job_id).actor.info.remote()))

    def stop_all(self) -> None:
        """Stop every job."""
        for job_id in list(self._jobs):
            self.stop(job_id)

    # -- internals ------------------------------------------------------------------------------

    def _driver_manifest(self, job: LiveJob, checkpoint: Checkpoint) -> CheckpointManifest:
        """A checkpoint held by this process, put into the object store in chunks."""
        ray = import_ray()
        data = checkpoint.to_bytes()
        chunks = split_chunks(data, self.chunk_bytes)
        return CheckpointManifest(
            job_id=job.job_id,
            source_site="driver",
            source_node_id=ray.get_runtime_context().get_node_id(),
            steps_done=checkpoint.steps_done,
            total_steps=job.total_steps,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            chunk_bytes=self.chunk_bytes,
            chunk_sha256=chunk_digests(chunks),
            chunk_refs=tuple(ray.put(c) for c in chunks),
            checkpoint_duration_s=0.0,
        )

    def _in_transit(self, manifest: CheckpointManifest) -> CheckpointManifest:
        """The manifest on its way from source to destination; a hook for fault-injection tests."""
        return manifest

    def _spawn(self, job: LiveJob, site: str) -> Any:
        if site not in self.sites:
            raise UnknownNameError(
                f"Site {site!r} is not in the cluster; its sites are {sorted(self.sites)}."
            )
        actor = (
            remote_training_actor()
            .options(num_cpus=0, resources={site_resource(site): job.site_share})
            .remote(job.job_id, site, job.make_trainer, job.total_steps)
        )
        try:
            node_id = self._get(actor.ping.remote())
        except BaseException:
            import_ray().kill(actor)
            raise
        if node_id != self.sites[site].node_id:
            import_ray().kill(actor)
            raise MigrationError(
                f"Job {job.job_id!r} for site {site!r} landed on node {node_id[:12]}, not on the "
                f"site's node {self.sites[site].node_id[:12]}."
            )
        return actor

    def _running(self, job_id: str) -> _Running:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise UnknownNameError(
                f"No job {job_id!r}; running jobs: {sorted(self._jobs)}."
            ) from None

    def _get(self, ref: Any, timeout_s: float | None = -1.0) -> Any:
        ray = import_ray()
        timeout = self.call_timeout_s if timeout_s == -1.0 else timeout_s
        try:
            return ray.get(ref, timeout=timeout)
        except ray.exceptions.RayTaskError as exc:
            cause = _cause(exc)
            if isinstance(cause, Exception) and cause is not exc:
                raise cause from exc
            raise


def _cause(exc: BaseException) -> BaseException:
    """The exception raised inside an actor, unwrapped from Ray's RayTaskError."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
