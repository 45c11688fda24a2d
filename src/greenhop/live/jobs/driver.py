"""Training jobs on the live cluster: start one at a site, migrate it, follow it, stop it.

:class:`LiveJobs` is what a controller drives: ``start(job, site)``, ``migrate(job_id, dest)``
(returns a :class:`~greenhop.live.jobs.transfer.TransferResult`), ``progress(job_id)`` and
``stop(job_id)``. A migration starts the destination actor first (outside the job's downtime),
then pauses the source at a step boundary, sends its checkpoint in verified chunks, restores it
at the destination and resumes there; only then is the source actor killed. If anything fails
on the way (a corrupted chunk, a dead destination) the destination actor is killed and the job
resumes at its source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from greenhop.errors import InputError, UnknownNameError
from greenhop.live._extras import import_ray
from greenhop.live.cluster.local import SiteNode, site_resource
from greenhop.live.errors import ChecksumError, MigrationError
from greenhop.live.jobs.actor import JobProgress, RestoreReport, remote_training_actor
from greenhop.live.jobs.checkpoint import Checkpoint
from greenhop.live.jobs.store import CheckpointStore
from greenhop.live.jobs.trainer import TrainerFactory
from greenhop.live.jobs.transfer import (
    DEFAULT_CHUNK_BYTES,
    CheckpointManifest,
    TransferResult,
    chunk_digests,
    split_chunks,
)

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveJob:
    """A training job to run on the cluster.

    ``make_trainer`` builds the :class:`~greenhop.live.jobs.trainer.Trainer` on the site's node;
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


ACTOR_NAME_PREFIX = "greenhop-job/"
"""Training actors are named ``greenhop-job/<job>/<site>/<random>``: the cluster's named actors
(``ray.util.list_named_actors(all_namespaces=True)``) show which job runs where."""


@dataclass(frozen=True)
class MigrationEvent:
    """One failed migration attempt (or a refused checkpoint) and what was done about it."""

    job_id: str
    source_site: str
    dest_site: str
    attempt: int
    error: str | None
    outcome: str


class JobLostError(MigrationError):
    """A job's site died with it and no good saved checkpoint was left to restore it from."""


class _AttemptFailed(MigrationError):
    """One attempt failed; ``dest_died`` if the destination actor died with it."""

    def __init__(self, message: str, dest_died: bool) -> None:
        super().__init__(message)
        self.dest_died = dest_died


class _SourceLost(Exception):
    """The source actor died during a migration; ``dst`` is the started destination actor."""

    def __init__(self, dst: Any) -> None:
        super().__init__("the source actor died")
        self.dst = dst


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
        site -> :class:`~greenhop.live.cluster.local.SiteNode`, e.g. ``LocalCluster(...).sites`` or
        ``attach(address).sites``.
    chunk_bytes:
        Chunk size of checkpoint transfers (see :mod:`greenhop.live.jobs.transfer`).
    call_timeout_s:
        Longest wait for one actor call (start, checkpoint, restore).
    pull_window:
        Chunks the destination pulls at once (the link stays busy while one is verified).
    max_attempts, retry_backoff_s:
        The retry rule: a failed transfer is tried up to ``max_attempts`` times in all, waiting
        ``retry_backoff_s``, then twice that, ... between attempts (see :meth:`migrate`).
    transfer_timeout_s:
        Longest transfer (pull, verify, load) before an attempt is abandoned (default
        ``call_timeout_s``); give it from the link's bandwidth estimate.
    actor_start_timeout_s:
        Longest wait for a destination actor to start (a dead node never starts one).
    store:
        The :class:`~greenhop.live.jobs.store.CheckpointStore` where :meth:`save_checkpoint` keeps
        each job's last good checkpoints, off the sites: a job whose source dies in a migration
        resumes from the newest one that verifies. A controller gives its own
        (:meth:`use_store`).
    """

    def __init__(
        self,
        sites: Mapping[str, SiteNode],
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        call_timeout_s: float = 600.0,
        pull_window: int = 4,
        max_attempts: int = 3,
        retry_backoff_s: float = 2.0,
        transfer_timeout_s: float | None = None,
        actor_start_timeout_s: float = 120.0,
        store: CheckpointStore | None = None,
    ) -> None:
        if chunk_bytes < 1:
            raise InputError(f"chunk_bytes must be >= 1, got {chunk_bytes}.")
        self.sites = dict(sites)
        self.chunk_bytes = chunk_bytes
        self.call_timeout_s = call_timeout_s
        self.pull_window = pull_window
        if max_attempts < 1:
            raise InputError(f"max_attempts must be >= 1, got {max_attempts}.")
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.transfer_timeout_s = transfer_timeout_s
        self.actor_start_timeout_s = actor_start_timeout_s
        self.events: list[MigrationEvent] = []
        self._jobs: dict[str, _Running] = {}
        self.store: CheckpointStore | None = None
        if store is not None:
            self.use_store(store)

    def use_store(self, store: CheckpointStore) -> None:
        """Keep saved checkpoints in ``store``; corrupted ones it refuses are reported in
        :attr:`events`."""
        if store.on_refused is None:
            store.on_refused = lambda job_id, exc: self._report(
                job_id, "checkpoint store", "", 0, exc, "refused"
            )
        self.store = store

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
                manifest = self._driver_manifest(job, checkpoint)
                self._get(actor.restore.remote(manifest, self.pull_window))
            except BaseException:
                import_ray().kill(actor)
                raise
        self._jobs[job.job_id] = _Running(job, site, actor)
        return self._get(actor.resume.remote(until) if run else actor.progress.remote())

    def migrate(self, job_id: str, dest: str) -> TransferResult:
        """Move a job to ``dest`` (see the module docstring); return what the move measured.

        Failures follow the retry rule of ``docs/reliability.md``: a transfer that fails or
        times out while both sites live is retried up to ``max_attempts`` times in all, after
        ``retry_backoff_s``, then twice that, ...; a checksum mismatch (ChecksumError) and a
        dead destination node are not retried. In all those cases the job continues at its
        source, as it was, and MigrationError (or ChecksumError) is raised. If the source
        itself died, the job is restored at ``dest`` from its last checkpoint saved with
        :meth:`save_checkpoint` (``recovered_from_disk`` in the result); without one it is
        lost and JobLostError is raised. Every failed attempt is appended to :attr:`events`.
        """
        running = self._running(job_id)
        if dest == running.site:
            raise InputError(f"Job {job_id!r} is already at site {dest!r}.")
        if dest not in self.sites:
            raise UnknownNameError(
                f"Site {dest!r} is not in the cluster; its sites are {sorted(self.sites)}."
            )
        attempt = 0
        while True:
            attempt += 1
            try:
                result = self._migrate_once(running, dest)
                return dataclasses.replace(result, attempts=attempt)
            except _SourceLost as lost:
                return self._recover_at(running, dest, lost.dst, attempt)
            except ChecksumError as exc:
                self._report(job_id, running.site, dest, attempt, exc, "refused, not retried")
                raise
            except MigrationError as exc:
                dest_gone = isinstance(exc, _AttemptFailed) and exc.dest_died
                retry = attempt < self.max_attempts and not (
                    dest_gone and self._node_gone(dest, wait_s=60.0)
                )
                self._report(
                    job_id, running.site, dest, attempt, exc, "retrying" if retry else "gave up"
                )
                if not retry:
                    raise MigrationError(
                        f"Migrating job {job_id!r} from {running.site!r} to {dest!r} failed "
                        f"after {attempt} attempt(s); it continues at {running.site!r}: {exc}"
                    ) from exc
                time.sleep(self.retry_backoff_s * 2 ** (attempt - 1))

    def _migrate_once(self, running: _Running, dest: str) -> TransferResult:
        """One attempt; on failure the job is back at its source, running as before (or
        _SourceLost if the source is gone)."""
        ray = import_ray()
        job_id = running.job.job_id
        src = running.actor
        before: JobProgress = self._get(src.progress.remote())
        t0 = time.perf_counter()
        try:
            dst = self._spawn(running.job, dest, timeout_s=self.actor_start_timeout_s)
        except BaseException as exc:
            if isinstance(exc, Exception):
                raise MigrationError(f"the destination actor did not start: {exc}") from exc
            raise
        actor_start_s = time.perf_counter() - t0
        paused_at = time.perf_counter()
        try:
            manifest: CheckpointManifest = self._get(src.checkpoint.remote(self.chunk_bytes))
            report: RestoreReport = self._get(
                dst.restore.remote(self._in_transit(manifest), self.pull_window),
                timeout_s=self.transfer_timeout_s or self.call_timeout_s,
            )
            if before.running:
                self._get(dst.resume.remote(before.run_until))
        except BaseException as exc:
            if not self._actor_alive(src):
                raise _SourceLost(dst) from exc
            dest_died = not self._actor_alive(dst)
            ray.kill(dst)
            self._get(src.release_checkpoint.remote())
            if before.running:
                self._get(src.resume.remote(before.run_until))
            cause = _cause(exc)
            if isinstance(cause, ChecksumError):
                raise cause from None
            if isinstance(exc, Exception):
                raise _AttemptFailed(f"{type(cause).__name__}: {cause}", dest_died) from exc
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

    def _recover_at(self, running: _Running, dest: str, dst: Any, attempt: int) -> TransferResult:
        """The source died during a migration: restore the job at ``dest`` (actor ``dst``) from
        its last saved checkpoint, or forget it (JobLostError) if there is none."""
        job_id = running.job.job_id
        ray = import_ray()
        self._report(job_id, running.site, dest, attempt, None, "source died; recovering")
        try:
            result = self._restore_saved(running.job, dest, dst, source_site=running.site)
        except BaseException as exc:
            ray.kill(dst)
            del self._jobs[job_id]
            self._report(job_id, running.site, dest, attempt, exc, "lost")
            if isinstance(exc, Exception):
                raise JobLostError(
                    f"Job {job_id!r} died with its source site {running.site!r} during a "
                    f"migration to {dest!r} and could not be restored from a saved checkpoint "
                    f"({exc}); call save_checkpoint() regularly to keep one."
                ) from exc
            raise
        return dataclasses.replace(result, attempts=attempt, recovered_from_disk=True)

    # -- the last good checkpoint, kept off the sites -------------------------------------------

    def _store(self) -> CheckpointStore:
        if self.store is None:
            raise InputError("This LiveJobs has no checkpoint store; pass store= to keep one.")
        return self.store

    def save_checkpoint(self, job_id: str) -> int:
        """Fetch the job's checkpoint at its current step boundary (it keeps running) to this
        process and save it in the store; return its steps done. This copy survives the site's
        node."""
        data: bytes = self._get(self._running(job_id).actor.snapshot.remote())
        checkpoint = Checkpoint.from_bytes(data)
        self._store().save(job_id, checkpoint)
        return checkpoint.steps_done

    def load_saved(self, job_id: str) -> Checkpoint:
        """The job's newest saved checkpoint that verifies (see
        :meth:`~greenhop.live.jobs.store.CheckpointStore.latest`)."""
        return self._store().latest(job_id)

    def recover(self, job_id: str, site: str, *, run: bool = True) -> TransferResult:
        """Restart a job whose actor is gone at ``site`` from its last saved checkpoint (a
        site that died with the job on it); if ``run``, it resumes training."""
        running = self._running(job_id)
        if self._actor_alive(running.actor):
            raise InputError(f"Job {job_id!r} is alive at {running.site!r}; migrate it instead.")
        dst = self._spawn(running.job, site, timeout_s=self.actor_start_timeout_s)
        try:
            result = self._restore_saved(running.job, site, dst, source_site=running.site)
        except BaseException:
            import_ray().kill(dst)
            raise
        if run:
            self._get(dst.resume.remote(None))
        return dataclasses.replace(result, recovered_from_disk=True)

    def _restore_saved(
        self, job: LiveJob, dest: str, dst: Any, *, source_site: str
    ) -> TransferResult:
        paused_at = time.perf_counter()
        checkpoint = self.load_saved(job.job_id)  # verified against its SHA-256
        manifest = self._driver_manifest(job, checkpoint)
        report: RestoreReport = self._get(
            dst.restore.remote(self._in_transit(manifest), self.pull_window)
        )
        self._jobs[job.job_id] = _Running(job, dest, dst)
        return TransferResult(
            job_id=job.job_id,
            source_site=source_site,
            dest_site=dest,
            source_node_id=manifest.source_node_id,
            dest_node_id=report.node_id,
            steps_done=report.steps_done,
            size_bytes=manifest.size_bytes,
            n_chunks=manifest.n_chunks,
            sha256=manifest.sha256,
            actor_start_duration_s=0.0,
            checkpoint_duration_s=0.0,
            transfer_duration_s=report.transfer_duration_s,
            load_duration_s=report.load_duration_s,
            downtime_s=time.perf_counter() - paused_at,
        )

    # -- failure bookkeeping --------------------------------------------------------------------

    def _report(
        self,
        job_id: str,
        source: str,
        dest: str,
        attempt: int,
        exc: BaseException | None,
        outcome: str,
    ) -> None:
        event = MigrationEvent(
            job_id=job_id,
            source_site=source,
            dest_site=dest,
            attempt=attempt,
            error=None if exc is None else f"{type(exc).__name__}: {exc}",
            outcome=outcome,
        )
        self.events.append(event)
        _log.warning("%s", event)

    def _actor_alive(self, actor: Any) -> bool:
        ray = import_ray()
        try:
            ray.get(actor.ping.remote(), timeout=30.0)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return False
        return True

    def _node_gone(self, site: str, wait_s: float) -> bool:
        """True once the cluster marks ``site``'s node dead; waits up to ``wait_s`` for that
        (a killed node is declared dead after a few missed health checks)."""
        ray = import_ray()
        node_id = self.sites[site].node_id
        deadline = time.monotonic() + wait_s
        while True:
            alive = any(n.get("NodeID") == node_id and n.get("Alive") for n in ray.nodes())
            if not alive:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)

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

    def _spawn(self, job: LiveJob, site: str, timeout_s: float | None = -1.0) -> Any:
        if site not in self.sites:
            raise UnknownNameError(
                f"Site {site!r} is not in the cluster; its sites are {sorted(self.sites)}."
            )
        actor = (
            remote_training_actor()
            .options(
                num_cpus=0,
                resources={site_resource(site): job.site_share},
                name=f"{ACTOR_NAME_PREFIX}{job.job_id}/{site}/{secrets.token_hex(4)}",
            )
            .remote(job.job_id, site, job.make_trainer, job.total_steps)
        )
        try:
            node_id = self._get(actor.ping.remote(), timeout_s=timeout_s)
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
