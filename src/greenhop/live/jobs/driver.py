"""Training jobs on the live cluster: start one at a site, migrate it, follow it, stop it.

:class:`LiveJobs` is what a controller drives: ``start(job, site)``, ``migrate(job_id, dest)``
(returns a :class:`~greenhop.live.jobs.transfer.TransferResult`), ``progress(job_id)`` and
``stop(job_id)``. A migration starts the destination actor first (outside the job's downtime),
then pauses the source at a step boundary, sends its checkpoint in verified chunks, restores it
at the destination and resumes there; only then is the source actor killed. If anything fails
on the way (a corrupted chunk, a dead destination) the destination actor is killed and the job
resumes at its source.

With chunk stores (``LiveJobs(..., chunk_store_bytes=...)``, :mod:`~greenhop.live.jobs.chunks`)
a checkpoint is content-addressed: each site keeps the chunks of the checkpoints that left or
reached it, and a migration sends only the chunks the destination's store lacks (a job that
returns, or whose frozen tensors were pre-staged with :meth:`LiveJobs.prestage`, sends only its
mutable part). Without, every chunk is sent, as a link measurement wants.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from greenhop.errors import InputError, UnknownNameError
from greenhop.live._extras import import_ray
from greenhop.live.cluster.local import SiteNode, site_resource
from greenhop.live.errors import ChecksumError, MigrationError
from greenhop.live.jobs.actor import JobProgress, RestoreReport, remote_training_actor
from greenhop.live.jobs.checkpoint import Checkpoint
from greenhop.live.jobs.chunks import Pacer, PrestageResult, StoreStats, chunk_store, digest
from greenhop.live.jobs.pacing import link_key, link_pacer, link_rate_gbps
from greenhop.live.jobs.store import CheckpointStore
from greenhop.live.jobs.trainer import TrainerFactory
from greenhop.live.jobs.transfer import (
    DEFAULT_CHUNK_BYTES,
    CheckpointManifest,
    TransferResult,
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


class _Gate:
    """Migrations before pre-stages: while a migration runs, no pre-stage starts a chunk, and
    the migration waits for the chunks already in flight before it pauses its job."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._migrating = 0
        self._active = 0

    @contextlib.contextmanager
    def migration(self) -> Iterator[None]:
        with self._cv:
            self._migrating += 1
        try:
            yield
        finally:
            with self._cv:
                self._migrating -= 1
                self._cv.notify_all()

    def wait_idle(self) -> None:
        """Block until no pre-stage chunk is in flight."""
        with self._cv:
            self._cv.wait_for(lambda: self._active == 0)

    def enter(self, cancelled: threading.Event) -> float | None:
        """Wait until no migration runs; count a chunk in flight. Returns the seconds waited,
        None if cancelled meanwhile."""
        start = time.monotonic()
        with self._cv:
            while self._migrating and not cancelled.is_set():
                self._cv.wait(0.2)
            if cancelled.is_set():
                return None
            self._active += 1
        return time.monotonic() - start

    def leave(self) -> None:
        with self._cv:
            self._active -= 1
            self._cv.notify_all()


class Prestage:
    """A pre-stage under way (:meth:`LiveJobs.start_prestage`): copies a job's immutable chunks
    from its site's chunk store to another site's, one chunk at a time, paced to
    ``rate_bytes_per_s`` on average and paused while any migration runs."""

    def __init__(
        self,
        jobs: LiveJobs,
        job_id: str,
        source: str,
        dest: str,
        rate_bytes_per_s: float,
    ) -> None:
        self.job_id, self.source_site, self.dest_site = job_id, source, dest
        self.rate_bytes_per_s = float(rate_bytes_per_s)
        self._jobs = jobs
        self._pacer = Pacer(rate_bytes_per_s)
        self._cancelled = threading.Event()
        self._reason: str | None = None
        self._result: PrestageResult | None = None
        self._done = threading.Event()
        self._key = f"{job_id}/prestage/{dest}/{secrets.token_hex(4)}"
        self._thread = threading.Thread(target=self._run, name=f"prestage-{job_id}", daemon=True)

    def start(self, digests: tuple[str, ...], lengths: tuple[int, ...]) -> Prestage:
        self._digests, self._lengths = digests, lengths
        self._thread.start()
        return self

    @property
    def bytes_sent(self) -> int:
        """Bytes copied so far."""
        return self._pacer.sent

    def done(self) -> bool:
        """True once it completed, was cancelled or failed."""
        return self._done.is_set()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop after the chunk in flight (the chunks already copied stay)."""
        if not self._cancelled.is_set():
            self._reason = reason
            self._cancelled.set()

    def result(self, timeout_s: float | None = None) -> PrestageResult:
        """Wait for the end; TimeoutError after ``timeout_s``."""
        if not self._done.wait(timeout_s):
            raise TimeoutError(f"The pre-stage of job {self.job_id!r} to {self.dest_site!r} "
                               f"is still under way after {timeout_s} s.")  # fmt: skip
        assert self._result is not None
        return self._result

    def _run(self) -> None:
        jobs, ray = self._jobs, import_ray()
        start = time.monotonic()
        sent = n_sent = present_bytes = 0
        error: str | None = None
        src = dst = None
        try:
            src, dst = jobs._chunk_store(self.source_site), jobs._chunk_store(self.dest_site)
            held = ray.get(dst.reserve.remote(self._key, list(self._digests)))
            present_bytes = sum(n for n, h in zip(self._lengths, held, strict=True) if h)
            for d, n, h in zip(self._digests, self._lengths, held, strict=True):
                if h:
                    continue
                if self._cancelled.wait(self._pacer.delay_s()):
                    break
                waited = jobs._gate.enter(self._cancelled)
                if waited is None:
                    break
                try:
                    self._pacer.paused_s += waited
                    ray.get(dst.fetch.remote(self._key, src, [d]))
                finally:
                    jobs._gate.leave()
                sent += n
                n_sent += 1
                self._pacer.sent += n
        except Exception as exc:  # reported in the result
            error = f"{type(exc).__name__}: {exc}"
        finally:
            for store in (src, dst):
                if store is not None:
                    with contextlib.suppress(Exception):
                        ray.get(store.release.remote(self._key), timeout=30)
            self._result = PrestageResult(
                job_id=self.job_id,
                source_site=self.source_site,
                dest_site=self.dest_site,
                rate_bytes_per_s=self.rate_bytes_per_s,
                immutable_bytes=sum(self._lengths),
                n_chunks=len(self._digests),
                present_bytes=present_bytes,
                bytes_sent=sent,
                chunks_sent=n_sent,
                duration_s=time.monotonic() - start,
                paused_s=self._pacer.paused_s,
                completed=error is None and not self._cancelled.is_set(),
                reason=self._reason if self._cancelled.is_set() else None,
                error=error,
            )
            self._done.set()


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
    chunk_store_bytes:
        Capacity of each site's chunk store (:mod:`greenhop.live.jobs.chunks`), bytes of the
        site node's memory; None (the default): no stores, every migration sends every chunk.
        With stores, a migration sends only the chunks the destination lacks, and
        :meth:`prestage` can copy a job's immutable chunks ahead of time. Give at least the
        immutable bytes of the jobs that may come to a site.
    link_gbps:
        Emulate the links' rates (:mod:`greenhop.live.jobs.pacing`): one rate in Gbit/s for every
        link, or a mapping ``{(site_a, site_b): Gbit/s}`` (links left out are not paced). The
        transfers of migrations that cross one link at the same time share its rate. None (the
        default): not paced, the network sets the rate (shaped links, a real WAN).
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
        chunk_store_bytes: int | None = None,
        link_gbps: float | Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        if chunk_store_bytes is not None and chunk_store_bytes < 0:
            raise InputError(f"chunk_store_bytes must be >= 0, got {chunk_store_bytes}.")
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
        self.chunk_store_bytes = chunk_store_bytes
        self._stores: dict[str, Any] = {}
        self._stores_lock = threading.Lock()
        self._gate = _Gate()
        self._prestages: list[Prestage] = []
        self.link_gbps = link_gbps
        self._pacers: dict[tuple[str, str], Any] = {}
        self._pacers_lock = threading.Lock()
        for site in self.sites if chunk_store_bytes is not None else ():
            self._chunk_store(site)  # their processes start now, in the background
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
            key = _pin_key(job.job_id, "start")
            store = self._chunk_store(site)
            try:
                manifest = self._driver_manifest(job, checkpoint, store, key)
                self._get(actor.restore.remote(manifest, self.pull_window, store))
            except BaseException:
                import_ray().kill(actor)
                self._release(store, key)
                raise
            self._settle(actor, store, key)
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
        _SourceLost if the source is gone). Pre-stages wait while it runs."""
        for p in self._prestages:  # the move sends what a pre-stage there has not copied yet
            if p.job_id == running.job.job_id and p.dest_site == dest:
                p.cancel("superseded by the job's migration there")
        with self._gate.migration():
            return self._migrate_gated(running, dest)

    def _migrate_gated(self, running: _Running, dest: str) -> TransferResult:
        ray = import_ray()
        job_id = running.job.job_id
        src = running.actor
        before: JobProgress = self._get(src.progress.remote())
        t0 = time.perf_counter()
        src_store, dst_store = self._chunk_store(running.site), self._chunk_store(dest)
        try:
            dst = self._spawn(running.job, dest, timeout_s=self.actor_start_timeout_s)
        except BaseException as exc:
            if isinstance(exc, Exception):
                raise MigrationError(f"the destination actor did not start: {exc}") from exc
            raise
        actor_start_s = time.perf_counter() - t0
        self._gate.wait_idle()  # no pre-stage chunk shares the link from here
        key = _pin_key(job_id, "move")
        paused_at = time.perf_counter()
        try:
            manifest: CheckpointManifest = self._get(
                src.checkpoint.remote(self.chunk_bytes, dst_store, key)
            )
            report: RestoreReport = self._get(
                dst.restore.remote(
                    self._in_transit(manifest),
                    self.pull_window,
                    dst_store,
                    self._pacer(running.site, dest),
                ),
                timeout_s=self.transfer_timeout_s or self.call_timeout_s,
            )
            if before.running:
                self._get(dst.resume.remote(before.run_until))
        except BaseException as exc:
            self._release(dst_store, key)
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
        # both sites keep the checkpoint's chunks (outside the downtime), then the source goes
        self._settle(src, src_store, key, dst, dst_store)
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
            bytes_sent=manifest.bytes_to_send,
            n_chunks_sent=manifest.chunks_to_send,
            immutable_bytes=manifest.immutable_bytes,
            wire_duration_s=report.wire_duration_s,
        )

    # -- emulated link rates ---------------------------------------------------------------------

    def _pacer(self, a: str, b: str) -> Any:
        """The pacer of link ``a``–``b`` (None when the link is not paced)."""
        rate = link_rate_gbps(self.link_gbps, a, b)
        if rate is None:
            return None
        key = link_key(a, b)
        with self._pacers_lock:
            if key not in self._pacers:
                self._pacers[key] = link_pacer(a, b, rate * 1e9 / 8.0)
            return self._pacers[key]

    def link_stats(self) -> dict[tuple[str, str], dict[str, float]]:
        """Per paced link: bytes reserved on it, seconds it was busy, its rate (bytes/s)."""
        with self._pacers_lock:
            pacers = dict(self._pacers)
        return {k: self._get(p.stats.remote()) for k, p in pacers.items()}

    # -- chunk stores and pre-staging -------------------------------------------------------------

    def _chunk_store(self, site: str) -> Any:
        """The chunk store of ``site`` (made again if it was forgotten), or None without
        stores."""
        if self.chunk_store_bytes is None:
            return None
        with self._stores_lock:
            handle = self._stores.get(site)
            if handle is None:
                node = self.sites[site]
                handle = chunk_store(site, node.node_id, self.chunk_store_bytes)
                self._stores[site] = handle
            return handle

    def _forget_store(self, site: str, handle: Any) -> None:
        with self._stores_lock:
            if self._stores.get(site) is handle:
                del self._stores[site]

    def _release(self, store: Any, key: str) -> None:
        if store is not None:
            with contextlib.suppress(Exception):
                self._get(store.release.remote(key), timeout_s=30)

    def _settle(self, actor: Any, store: Any, key: str, *more: Any) -> None:
        """Each (actor, store) pair: the store keeps the chunks of the actor's last checkpoint;
        then the move's pins are released. A store that fails is forgotten (a new one is made
        on next use): stores are caches, a move never fails for them."""
        pairs = [(actor, store), *zip(more[::2], more[1::2], strict=True)]
        calls = [(s, a.deposit.remote(s, key)) for a, s in pairs if s is not None]
        for s, ref in calls:
            try:
                self._get(ref)
            except Exception as exc:
                _log.warning("a chunk store could not keep a checkpoint's chunks: %s", exc)
                for site, handle in list(self._stores.items()):
                    if handle is s:  # the next use finds it again, or makes a new one
                        self._forget_store(site, handle)
            self._release(s, key)

    def store_stats(self, site: str) -> StoreStats:
        """What ``site``'s chunk store holds (InputError without stores)."""
        store = self._chunk_store(site)
        if store is None:
            raise InputError("This LiveJobs has no chunk stores; pass chunk_store_bytes=.")
        return self._get(store.stats.remote())

    def start_prestage(self, job_id: str, site: str, rate_bytes_per_s: float) -> Prestage:
        """Start copying ``job_id``'s immutable chunks (its frozen tensors) to ``site``'s chunk
        store, in the background, paced to ``rate_bytes_per_s`` on average; returns at once
        with a :class:`Prestage` (``done()``, ``result()``, ``cancel()``).

        The chunks come from the job's own site: the job pauses only while its frozen tensors
        are copied into its site's store; then chunk after chunk crosses from store to store.
        No chunk starts while a migration runs, and a migration waits for the one in flight
        before it pauses its job, so a pre-stage never shares the link with a migration's
        downtime; a migration of the job to ``site`` supersedes it (the move sends the rest).
        """
        if self.chunk_store_bytes is None:
            raise InputError(
                "Pre-staging needs chunk stores: LiveJobs(..., chunk_store_bytes=<bytes>)."
            )
        running = self._running(job_id)
        if site not in self.sites:
            raise UnknownNameError(
                f"Site {site!r} is not in the cluster; its sites are {sorted(self.sites)}."
            )
        if site == running.site:
            raise InputError(f"Job {job_id!r} runs at {site!r}; pre-stage it elsewhere.")
        prestage = Prestage(self, job_id, running.site, site, rate_bytes_per_s)
        src_store = self._chunk_store(running.site)
        digests, lengths = self._get(
            running.actor.stage_immutable.remote(self.chunk_bytes, src_store, prestage._key)
        )
        self._prestages = [p for p in self._prestages if not p.done()] + [prestage]
        return prestage.start(digests, lengths)

    def prestage(
        self,
        job_id: str,
        site: str,
        rate_bytes_per_s: float,
        *,
        timeout_s: float | None = None,
    ) -> PrestageResult:
        """Copy ``job_id``'s immutable chunks to ``site``'s chunk store ahead of a migration,
        paced to ``rate_bytes_per_s``, and return what it did (:class:`PrestageResult`:
        ``bytes_sent`` crossed the network, ``duration_s`` it took). Blocks until done; use
        :meth:`start_prestage` to go on meanwhile."""
        return self.start_prestage(job_id, site, rate_bytes_per_s).result(timeout_s)

    def prestages(self) -> list[Prestage]:
        """Pre-stages started and not yet done."""
        return [p for p in self._prestages if not p.done()]

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
        store, key = self._chunk_store(dest), _pin_key(job.job_id, "recover")
        try:
            manifest = self._driver_manifest(job, checkpoint, store, key)
            report: RestoreReport = self._get(
                dst.restore.remote(self._in_transit(manifest), self.pull_window, store)
            )
        except BaseException:
            self._release(store, key)
            raise
        self._settle(dst, store, key)
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
            bytes_sent=manifest.bytes_to_send,
            n_chunks_sent=manifest.chunks_to_send,
            immutable_bytes=manifest.immutable_bytes,
            wire_duration_s=report.wire_duration_s,
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

    # -- many jobs at once: every call is sent before the first answer is awaited, so the
    # actors work at once and a controller's tick costs one round trip, not one per job -------

    def resume_many(self, until: Mapping[str, int | None]) -> dict[str, JobProgress]:
        """:meth:`resume` each job up to its ``until`` steps, all at once."""
        refs = {j: self._running(j).actor.resume.remote(u) for j, u in until.items()}
        return {j: self._get(ref) for j, ref in refs.items()}

    def wait_many(
        self, steps: Mapping[str, int | None], timeout_s: float | None = None
    ) -> dict[str, JobProgress]:
        """:meth:`wait` for each job to have done its ``steps``, all at once (each waits up to
        ``timeout_s``)."""
        refs = {j: self._running(j).actor.wait.remote(n, timeout_s) for j, n in steps.items()}
        return {j: self._get(ref, timeout_s=None) for j, ref in refs.items()}

    def progress_many(self, job_ids: Iterable[str]) -> dict[str, JobProgress]:
        """:meth:`progress` of each job, all at once."""
        refs = {j: self._running(j).actor.progress.remote() for j in job_ids}
        return {j: self._get(ref) for j, ref in refs.items()}

    def snapshot_each(self, job_ids: Iterable[str]) -> Iterator[tuple[str, Checkpoint]]:
        """:meth:`snapshot` of each job, as ``(job_id, checkpoint)`` in the order asked.

        Every call is sent at once (the actors snapshot together, at their own step
        boundaries); each checkpoint is fetched only when the caller asks for the next pair,
        and this process keeps no reference to one it has handed on: a caller that drops each
        checkpoint before asking for the next holds one at a time, not one per job (the others
        wait in the object store, each freed there once fetched)."""
        refs = {j: self._running(j).actor.snapshot.remote() for j in job_ids}
        for j in list(refs):
            ckpt = Checkpoint.from_bytes(self._get(refs.pop(j)))
            yield j, ckpt
            del ckpt

    def actor_info(self, job_id: str) -> dict[str, Any]:
        """The job actor's site, Ray node id and process id."""
        return dict(self._get(self._running(job_id).actor.info.remote()))

    def stop_all(self) -> None:
        """Stop every job (and every pre-stage under way)."""
        for p in self.prestages():
            p.cancel("stopped")
        for job_id in list(self._jobs):
            self.stop(job_id)
        for p in self._prestages:
            with contextlib.suppress(TimeoutError):
                p.result(timeout_s=30)

    # -- internals ------------------------------------------------------------------------------

    def _driver_manifest(
        self, job: LiveJob, checkpoint: Checkpoint, store: Any = None, key: str = ""
    ) -> CheckpointManifest:
        """A checkpoint held by this process, put into the object store in chunks (those the
        destination's ``store`` holds are pinned there under ``key`` and not put)."""
        import hashlib

        import numpy as np

        ray = import_ray()
        blob = checkpoint.chunked(self.chunk_bytes)
        views = [blob.chunk(i) for i in range(len(blob.chunks))]
        digests = tuple(digest(v) for v in views)
        held = [False] * len(views)
        if store is not None:
            with contextlib.suppress(ray.exceptions.RayActorError):
                held = list(self._get(store.reserve.remote(key, list(digests))))
        return CheckpointManifest(
            job_id=job.job_id,
            source_site="driver",
            source_node_id=ray.get_runtime_context().get_node_id(),
            steps_done=checkpoint.steps_done,
            total_steps=job.total_steps,
            size_bytes=len(blob.data),
            sha256=hashlib.sha256(blob.data).hexdigest(),
            chunk_bytes=self.chunk_bytes,
            chunk_sha256=digests,
            chunk_refs=tuple(
                None if h else ray.put(np.frombuffer(v, dtype=np.uint8))
                for v, h in zip(views, held, strict=True)
            ),
            checkpoint_duration_s=0.0,
            chunk_lengths=tuple(c.length for c in blob.chunks),
            chunk_immutable=tuple(c.immutable for c in blob.chunks),
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


def _pin_key(job_id: str, what: str) -> str:
    """A key of its own for the pins of one move (or start, recovery) in the chunk stores."""
    return f"{job_id}/{what}/{secrets.token_hex(4)}"


def _cause(exc: BaseException) -> BaseException:
    """The exception raised inside an actor, unwrapped from Ray's RayTaskError."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
