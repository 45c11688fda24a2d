"""The live controller: the world of :mod:`greenhop.world` on a wall clock, with real jobs.

:class:`Controller` implements :class:`~greenhop.world.loop.World`, and the simulator's loop
(:func:`~greenhop.world.loop.run_steps`) drives it. Every tick (one step of the scenario,
``step_s`` seconds of trace time):

1. the jobs whose arrival has come join the queue (:func:`~greenhop.world.rules.arrival_steps`);
2. the policy sees the :class:`~greenhop.policies.base.View` the simulator builds
   (:func:`~greenhop.world.view.make_view`): each site's surplus now, the forecast as known
   then, the links' bandwidth estimates (:class:`~greenhop.live.control.links.LinkEstimates`, fed by
   every measured transfer), the jobs' states and progress, the batteries' state of charge; its
   ``Start``, ``Migrate``, ``Pause`` and ``Resume`` are checked by the world's rules
   (:func:`~greenhop.world.rules.refusal`) and carried out through ``LiveJobs``; each migration
   is committed to the state database when it is done (a move is carried out within the
   tick, so no move is in flight when the policy looks);
3. the controller grants each running job the steps of one tick (see
   :mod:`greenhop.live.control.scenario`) and waits until the clock reaches the tick's end and each
   job has trained its granted steps (at most :data:`MIN_JOB_WAIT_S` or one tick of wall time more),
   reads each job's progress, books the tick's energy (:mod:`greenhop.live.control.ledger`, settled
   by :func:`greenhop.world.ledger.settle` with the sites' batteries), saves checkpoints when due,
   and commits the tick (:mod:`greenhop.live.control.state`) in one transaction.

**The clock.** :class:`ReplayClock` maps wall time to trace time: ``speedup`` trace seconds per
wall second (600: 1 s is 10 min of trace, a day in 2.4 min; 1: real time). Ticks keep their
place on the trace; when the controller falls behind (a blocking actor start takes seconds,
which are many minutes of trace), the following ticks run back to back, each as soon as the
jobs have trained its steps, until it has caught up. While no job runs, the clock jumps ahead
without waiting.

**Restarts.** The database holds the clock position (the first tick not committed), every
job's state, site, progress and last checkpoint on disk (every ``checkpoint_every_s`` of trace
time, at a pause, at the end), the migrations, the ledger and the link estimates. A new
controller on the same database restarts each running job at its site from its last checkpoint
and carries on at the first uncommitted tick; steps done after that checkpoint are trained
again in the next tick, on top of that tick's own steps (the job keeps its grant, so it stays
on the replayed schedule; the ledger books the tick's trace time at the job's power, as for any
tick).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from greenhop import feasibility
from greenhop.errors import InputError
from greenhop.live.control.ledger import EnergyLedger, JobUse, MeterFactory, nominal_meter
from greenhop.live.control.links import DEFAULT_LINK_WEIGHT, LinkEstimates
from greenhop.live.control.scenario import LiveScenario
from greenhop.live.control.state import (
    SCHEMA_VERSION,
    ControllerState,
    EpisodeRow,
    JobRow,
    MigrationRow,
    PrestageRow,
)
from greenhop.live.errors import ChecksumError, ClusterError, LiveError, MigrationError
from greenhop.live.jobs.checkpoint import Checkpoint
from greenhop.live.jobs.driver import JobLostError, LiveJobs
from greenhop.live.jobs.store import CheckpointStore
from greenhop.policies.base import Action, JobState, Migrate, Pause, Policy, Resume, Start, View
from greenhop.signals.feed import FeedReading, SiteFeeds
from greenhop.world.jobs import JobTable
from greenhop.world.loop import World, run_steps
from greenhop.world.rules import arrival_steps
from greenhop.world.view import make_view

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DEFAULT_SPEEDUP = 600.0
"""Trace seconds per wall second of a replay: 1 s of wall time is 10 min of trace."""

DEFAULT_CHECKPOINT_EVERY_S = 3600.0
"""Trace seconds between the checkpoints a restarted controller resumes from."""

DEFAULT_PRESTAGE_SHARE = 0.25
"""Share of a link's estimated bandwidth that pre-staging may use (it pauses for migrations)."""

MIN_JOB_WAIT_S = 5.0
"""Wall seconds a tick waits, after its end, for a job to train its granted steps (at least
one tick of wall time); a job still behind then is charged the tick and lags."""

MAX_CONCURRENT_MOVES = 16
"""Migrations of one tick carried out at once (each starts an actor at its destination)."""

_RUN = int(JobState.RUNNING)
_PAUSED = int(JobState.PAUSED)
_QUEUED = int(JobState.QUEUED)
_PENDING = int(JobState.PENDING)
_DONE = int(JobState.DONE)


class ReplayClock:
    """Trace time from wall time: ``trace_s = anchor_trace_s + (wall - anchor_wall) * speedup``.

    ``wall`` and ``sleep`` are injectable (seconds, monotonic).
    """

    def __init__(
        self,
        speedup: float,
        *,
        wall: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (speedup > 0 and math.isfinite(speedup)):
            raise InputError(f"speedup must be > 0 (1 = real time), got {speedup}")
        self.speedup = float(speedup)
        self.wall = wall
        self.sleep = sleep
        self.anchor(0.0)

    def anchor(self, trace_s: float) -> None:
        """From now on, now is ``trace_s``."""
        self._wall0 = self.wall()
        self._trace0 = float(trace_s)

    def now_s(self) -> float:
        """Trace seconds now."""
        return self._trace0 + (self.wall() - self._wall0) * self.speedup

    def wait_until(self, trace_s: float) -> None:
        """Sleep until the trace reaches ``trace_s``; return at once if it already has."""
        while True:
            left = (trace_s - self.now_s()) / self.speedup
            if left <= 0:
                return
            self.sleep(min(left, 1.0))


@dataclass(frozen=True)
class TickTiming:
    """Where one tick's wall time went, s: ``total_s`` from its arrivals to its commit;
    ``moves_s`` carrying out its starts, resumes and migrations (at once); ``wait_s`` waiting
    for the clock and for the jobs to train the tick's steps; the rest is the controller's own
    work (:attr:`overhead_s`: the policy, the rules, progress, energy, checkpoints, SQLite).
    ``n_moves`` is the tick's migrations, ``max_per_link`` the most of them on one link."""

    tick: int
    total_s: float
    moves_s: float
    wait_s: float
    n_moves: int
    max_per_link: int

    @property
    def overhead_s(self) -> float:
        return max(self.total_s - self.moves_s - self.wait_s, 0.0)


def _link(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class Controller(World):
    """Runs ``policy`` over ``live`` on the cluster behind ``jobs``, with its state in ``db``.

    Parameters
    ----------
    live:
        The scenario (:meth:`LiveScenario.from_scenario`).
    jobs:
        The cluster's jobs (``LiveJobs(cluster.sites)``); every scenario site must be a node.
    db:
        The state database (created, or resumed if it holds this scenario's run).
    policy:
        A policy name (``greenhop.runner.policy_for``) or a policy object.
    speedup:
        Trace seconds per wall second (1 = real time).
    checkpoint_every_s:
        Trace seconds between checkpoints saved for a restart.
    link_weight:
        Weight of a new measurement in a link's estimate.
    meter_factory:
        Builds each job's power meter (default: the job's nominal ``power_w``).
    prestage_share:
        Share of a link's estimated bandwidth a pre-stage may use (with chunk stores,
        ``LiveJobs(chunk_store_bytes=...)``, the policy's hints copy jobs' frozen parts ahead).
        None: the scenario's ``prestage_share``, the share the simulator pre-stages at, or
        ``DEFAULT_PRESTAGE_SHARE`` where the scenario sets none.
    max_concurrent_moves:
        Migrations of one tick carried out at once. The moves a policy decides in one tick
        run concurrently; those over one link share its bandwidth (as in the simulator), and a
        move that its share would make infeasible is refused (see :meth:`refusal`).
    feed:
        The sites' live sources (:func:`greenhop.live.control.realtime.site_feeds`): a
        real-time run on the wall clock (``speedup`` 1), reading each site's power every tick
        instead of the replayed trace.
    """

    def __init__(
        self,
        live: LiveScenario,
        jobs: LiveJobs,
        db: str | Path,
        *,
        policy: str | Policy = "feasibility-aware",
        speedup: float = DEFAULT_SPEEDUP,
        checkpoint_every_s: float = DEFAULT_CHECKPOINT_EVERY_S,
        link_weight: float = DEFAULT_LINK_WEIGHT,
        meter_factory: MeterFactory = nominal_meter,
        clock: ReplayClock | None = None,
        feed: SiteFeeds | None = None,
        prestage_share: float | None = None,
        max_concurrent_moves: int = MAX_CONCURRENT_MOVES,
    ) -> None:
        from greenhop.runner import policy_for

        inp = live.inputs
        missing = [s for s in inp.site_names if s not in jobs.sites]
        if missing:
            raise ClusterError(
                f"Sites {missing} of scenario {live.name!r} have no Ray node; the cluster has "
                f"{sorted(jobs.sites)}."
            )
        if not checkpoint_every_s > 0:
            raise InputError(f"checkpoint_every_s must be > 0, got {checkpoint_every_s}")
        self.live = live
        self.inputs = inp
        self.jobs = jobs
        self.policy = policy if isinstance(policy, Policy) else policy_for(policy, inp)
        self.realtime = feed is not None
        if feed is None:  # a replay reads the scenario's trace through the same interface
            feed = SiteFeeds.replay(
                inp.site_names, inp.time_index(), inp.generation_w, inp.base_load_w
            )
        else:
            speedup = 1.0
        self.feed: SiteFeeds = feed
        self.clock = clock or ReplayClock(speedup)
        self.speedup = self.clock.speedup
        self.checkpoint_every_s = float(checkpoint_every_s)
        self.step_s = float(inp.step_s)
        self.job_wait_s = max(MIN_JOB_WAIT_S, self.step_s / self.speedup)
        self.n_ticks = inp.n_steps
        self.site_names = inp.site_names
        self.job_names = inp.jobs.names
        self.total_steps = np.array([j.total_steps for j in live.live_jobs])
        self.steps_per_tick = live.steps_per_tick()
        # a site's accelerator: its speed paces the steps a job may take per tick (emulated on
        # CPU nodes), its power factor sets the job's nominal draw there
        assert inp.site_speed is not None and inp.site_power_factor is not None
        self._speed = inp.site_speed
        self._power_at = inp.jobs.power_w[:, None] * inp.site_power_factor[None, :]
        self.arrival_tick = arrival_steps(inp.jobs.arrival_s, self.step_s)
        self.ledger = EnergyLedger(
            inp.site_names,
            inp.slots,
            inp.idle_slot_power_w,
            self.step_s,
            meter_factory,
            batteries=inp.batteries,
            sleep=inp.sleep,  # idle slots that sleep, booked at their sleep power
        )
        self.state = ControllerState(db)
        # one store: the controller's, which a LiveJobs given its own store also uses
        self.store = self.jobs.store or CheckpointStore(
            self.state.path.parent / f"{self.state.path.name}.checkpoints"
        )
        if self.jobs.store is None:
            # a source that dies mid-migration: restore from the controller's last checkpoint
            self.jobs.use_store(self.store)
        self.recent_migrations: list[MigrationRow] = []
        self._episode_tick: dict[tuple[int, str, pd.Timestamp], int] = {}
        # pre-staging: where each job's frozen part lies, and the copies under way
        self.prestages = jobs.chunk_store_bytes is not None and inp.jobs.frozen_gb is not None
        if prestage_share is None:
            prestage_share = inp.prestage_share or DEFAULT_PRESTAGE_SHARE
        if not 0 < prestage_share <= 1:
            raise InputError(f"prestage_share must be in (0, 1], got {prestage_share}")
        self.prestage_share = float(prestage_share)
        self._frozen_at = np.zeros((len(inp.jobs), len(inp.site_names)), dtype=bool)
        self._prestaging: dict[tuple[int, int], tuple[int, Any]] = {}  # -> (tick, Prestage)
        self._started: set[int] = set()  # jobs with an actor started by this controller
        if max_concurrent_moves < 1:
            raise InputError(f"max_concurrent_moves must be >= 1, got {max_concurrent_moves}")
        self.max_concurrent_moves = int(max_concurrent_moves)
        # this tick's starts, resumes and migrations (with the job's site when decided),
        # carried out at once before the tick's time passes
        self._moves: list[tuple[Start | Resume | Migrate, int]] = []
        self._view: View | None = None  # the view the policy decided on at this tick
        self._tick_t0 = time.perf_counter()
        self.tick_timings: list[TickTiming] = []  # of this controller's ticks
        self._events: list[tuple[int, float, int, str, int]] = []  # of the tick, to commit
        self._wall_s: Callable[[], float] = lambda: self.wall_s
        self.reading: FeedReading | None = None  # the sites' signals at this tick
        self.start_utc: pd.Timestamp = pd.Timestamp(inp.start)  # tick 0 (real time: run start)
        self._open_state(link_weight)
        self.last_it_load_w: FloatArray = self._last_it_load()

    # -- state --------------------------------------------------------------------------------

    def _open_state(self, link_weight: float) -> None:
        meta = self.state.meta()
        fingerprint = self.live.fingerprint()
        if not meta:
            self.rows = [JobRow(i, n, _PENDING) for i, n in enumerate(self.job_names)]
            self.links = LinkEstimates(self.inputs.bandwidth_gbps, weight=link_weight)
            with self.state.transaction() as conn:
                ControllerState.set_meta(
                    conn,
                    schema=SCHEMA_VERSION,
                    scenario=self.live.name,
                    fingerprint=fingerprint,
                    policy=self.policy.name,
                    step_s=self.step_s,
                    n_ticks=self.n_ticks,
                    next_tick=0,
                    wall_s=0.0,
                    speedup=self.speedup,
                    realtime=self.realtime,
                )
                if self.realtime:
                    self.start_utc = pd.Timestamp.now(tz="UTC").floor("s")
                    ControllerState.set_meta(conn, realtime_start=self.start_utc.isoformat())
                ControllerState.put_jobs(conn, self.rows)
            self.next_tick = 0
            self.wall_s = 0.0
            return
        if int(meta.get("schema", 0)) != SCHEMA_VERSION:
            self.state.close()
            raise InputError(
                f"state database {str(self.state.path)!r} has schema {meta.get('schema')}, this "
                f"greenhop writes schema {SCHEMA_VERSION}; give another --db for a new run"
            )
        if bool(meta.get("realtime", False)) != self.realtime:
            self.state.close()
            was = "a real-time run" if meta.get("realtime") else "a replayed run"
            raise InputError(
                f"state database {str(self.state.path)!r} holds {was}; give another --db, or "
                f"{'add' if meta.get('realtime') else 'leave out'} --realtime"
            )
        if meta.get("fingerprint") != fingerprint or meta.get("policy") != self.policy.name:
            self.state.close()
            raise InputError(
                f"state database {str(self.state.path)!r} holds a run of scenario "
                f"{meta.get('scenario')!r} with policy {meta.get('policy')!r}, not this run of "
                f"{self.live.name!r} with {self.policy.name!r}; give another --db"
            )
        self.rows = self.state.jobs()
        self.links = LinkEstimates(
            self.inputs.bandwidth_gbps, weight=link_weight, measured=self.state.links()
        )
        self.next_tick = int(meta["next_tick"])
        self.wall_s = float(meta.get("wall_s", 0.0))
        if meta.get("realtime_start"):
            self.start_utc = pd.Timestamp(meta["realtime_start"])

    def _last_it_load(self) -> FloatArray:
        """The IT load of the last committed tick per site (W), and the batteries' state of
        charge at its end (a restarted controller carries on from there)."""
        out: FloatArray = (self.inputs.idle_slot_power_w * self.inputs.slots).astype(np.float64)
        if self.next_tick == 0:
            return out
        for e in self.state.site_energy(tick=self.next_tick - 1):
            out[e.site] = e.it_energy_j / self.step_s
            self.ledger.set_soc_kwh(e.site, e.battery_soc_kwh)
        return out

    @property
    def finished(self) -> bool:
        """True once every tick of the scenario is committed."""
        return self.next_tick >= self.n_ticks

    def close(self) -> None:
        """Stop this controller's jobs (at a step boundary) and close the database."""
        self._stop_jobs()
        self.state.close()

    # -- the loop -----------------------------------------------------------------------------

    def run(
        self,
        *,
        until_tick: int | None = None,
        on_tick: Callable[[Controller], None] | None = None,
    ) -> bool:
        """Run ticks until the scenario's end (or ``until_tick``); return :attr:`finished`.

        Jobs keep running between calls; :meth:`close` stops them. ``on_tick`` is called
        after each committed tick (and once before the first).
        """
        end = self.n_ticks if until_tick is None else min(until_tick, self.n_ticks)
        self._recover()
        if self.realtime:  # the wall clock: ticks missed while stopped run back to back
            behind = (pd.Timestamp.now(tz="UTC") - self.start_utc).total_seconds()
            self.clock.anchor(max(behind, self.next_tick * self.step_s))
        else:
            self.clock.anchor(self.next_tick * self.step_s)
        wall0 = time.monotonic()
        base_wall = self.wall_s
        self._wall_s = lambda: base_wall + time.monotonic() - wall0
        if on_tick is not None:
            on_tick(self)
        run_steps(
            self,
            self.policy,
            range(self.next_tick, end),
            on_step=None if on_tick is None else (lambda _k: on_tick(self)),
        )
        if self.finished:
            self._stop_jobs()
        return self.finished

    def _recover(self) -> None:
        """Restart, from their last checkpoints, running jobs that have no actor here (their
        actors start at once, up to ``max_concurrent_moves``)."""
        rows = [r for r in self.rows if r.state == _RUN and r.idx not in self._started]

        def restart(row: JobRow) -> Checkpoint | None:
            path = row.checkpoint_path
            ckpt = self.store.load(path) if path is not None else None
            job = self.live.live_jobs[row.idx]
            self.jobs.start(job, self.site_names[row.site], run=False, checkpoint=ckpt)
            return ckpt

        workers = max(1, min(len(rows), self.max_concurrent_moves))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recover") as pool:
            futures = [pool.submit(restart, row) for row in rows]
        failed = [e for e in (f.exception() for f in futures) if e is not None]
        for row, future in zip(rows, futures, strict=True):
            if future.exception() is not None:
                continue
            ckpt = future.result()
            self._started.add(row.idx)
            row.steps_done = 0 if ckpt is None else ckpt.steps_done
            self.ledger.attach(row.idx, row.name, row.site, self._power(row.idx, row.site))
            t = self.next_tick * self.step_s
            with self.state.transaction() as conn:
                ControllerState.put_jobs(conn, [row])
                ControllerState.add_event(conn, self.next_tick, t, row.idx, "recovered", row.site)
        if failed:  # the others were recovered (and will be stopped by close)
            raise failed[0]

    # -- the World contract -------------------------------------------------------------------

    def arrive(self, k: int, now_s: float) -> None:
        self._tick_t0 = time.perf_counter()
        # the sites' signals, once per tick, before anyone looks: the meters now (real time),
        # or the trace at the tick's time (a replay)
        when = (
            pd.Timestamp.now(tz="UTC")
            if self.realtime
            else self.start_utc + pd.Timedelta(seconds=now_s)
        )
        self.reading = self.feed.read(when)
        for row in self.rows:
            if row.state == _PENDING and self.arrival_tick[row.idx] <= k:
                row.state = _QUEUED
                self._events.append((k, now_s, row.idx, "arrive", -1))

    def has_active_jobs(self) -> bool:
        return any(r.state not in (_PENDING, _DONE) for r in self.rows)

    def job_states(self) -> tuple[IntArray, IntArray]:
        state = np.array([r.state for r in self.rows], dtype=np.int64)
        site = np.array([r.site for r in self.rows], dtype=np.int64)
        return state, site

    def free_slots(self) -> IntArray:
        held = np.zeros(len(self.site_names), dtype=np.int64)
        for r in self.rows:
            if r.state == _RUN:
                held[r.site] += 1
        for act, _src in self._moves:  # an action of this tick holds its site's slot
            held[act.dest if isinstance(act, Migrate) else act.site] += 1
        res: IntArray = self.inputs.slots - held
        return res

    def blind_sites(self) -> NDArray[np.bool_] | None:
        """Sites whose live power signal is unknown now (real time only)."""
        return None if self.reading is None else self.reading.blind

    def view(self, k: int, now_s: float | None = None) -> View:
        """The world at tick ``k`` as the policy sees it (in real time: the meters' surplus now,
        the forecast made from it, and no free slot where a site's signal is unknown)."""
        table = self.job_table()
        free = self.free_slots()
        surplus = None if self.reading is None else self.reading.view_surplus_w
        forecast = None
        if self.realtime and self.reading is not None:
            left_s = (self.n_ticks - k) * self.step_s
            forecast = self.feed.forecast_at(self.reading, self.step_s, left_s)
            free = np.where(self.reading.blind, 0, free)
        self._view = make_view(
            self.inputs,
            k,
            jobs=table.view(self.inputs.jobs, active=table.active()),
            it_load_w=self.last_it_load_w,
            free_slots=free,
            bandwidth_gbps=self.links.matrix(),
            battery_soc_kwh=self.ledger.soc_kwh(),
            battery_capacity_kwh=self.ledger.capacity_kwh(),
            surplus_w=surplus,
            forecast=forecast,
        )
        return self._view

    def job_table(self) -> JobTable:
        """The jobs' state as the world contract's arrays (from the committed rows)."""
        table = JobTable.pending(len(self.rows))
        if self.inputs.jobs.frozen_gb is not None:
            table.frozen_at = self._frozen_at
        work = np.asarray(self.inputs.jobs.work_gpu_h)
        for r in self.rows:
            table.state[r.idx] = r.state
            table.site[r.idx] = r.site
            table.progress_gpu_h[r.idx] = r.steps_done / self.total_steps[r.idx] * work[r.idx]
            if r.last_move_s is not None:
                table.last_move_s[r.idx] = r.last_move_s
            if r.start_s is not None:
                table.start_s[r.idx] = r.start_s
            if r.done_s is not None:
                table.done_s[r.idx] = r.done_s
        return table

    def refusal(self, act: Action) -> str:
        """The world's rules (:func:`greenhop.world.rules.refusal`), then two of the live
        world: a job already moving in this tick takes no other action, and a migration over
        a link that this tick's other moves also cross is checked at its share of the link.

        Moves over one link at once share its bandwidth (``n`` moves: ``1/n`` of the estimate
        each, as the simulator shares a link). A policy checks each move against the whole
        estimate; here every move on the link, this one included, is checked again at ``1/n``
        with the model's verdicts (:func:`greenhop.feasibility.move_verdicts`: time-feasible
        and repaying its energy in the destination's predicted window), and the move is refused
        if the share makes one of them infeasible that was feasible on the whole link."""
        reason = super().refusal(act)
        if reason:
            return reason
        if any(m.job == act.job for m, _src in self._moves):
            return "the job is being started or moved in this tick"
        if isinstance(act, Migrate):
            return self._shared_link_refusal(act)
        return ""

    def _shared_link_refusal(self, act: Migrate) -> str:
        view = self._view
        src = self.rows[act.job].site
        key = _link(src, act.dest)
        same = [
            (m.job, s, m.dest)
            for m, s in self._moves
            if isinstance(m, Migrate) and _link(s, m.dest) == key
        ]
        if view is None or not same:
            return ""
        n = len(same) + 1
        whole = float(view.bandwidth_gbps[src, act.dest])
        share = whole / n
        for j, s, d in [*same, (act.job, src, act.dest)]:
            if self._feasible_at(view, j, s, d, whole) and not self._feasible_at(
                view, j, s, d, share
            ):
                a, b = self.site_names[key[0]], self.site_names[key[1]]
                return (
                    f"link {a}-{b} shared by {n} moves: at {share:.3g} Gbit/s each (of "
                    f"{whole:.3g}) the move of job {self.job_names[j]!r} is not feasible"
                )
        return ""

    def _feasible_at(self, view: View, j: int, s: int, d: int, bandwidth_gbps: float) -> bool:
        """The model's verdict (time-feasible and repaid) on moving job ``j`` from ``s`` to
        ``d`` at ``bandwidth_gbps``, in ``d``'s predicted window for the job's draw there."""
        jobs = view.jobs
        n = len(view.site_names)
        size = (
            float(jobs.size_to(j, n)[d]) if jobs.frozen_gb is not None else float(jobs.size_gb[j])
        )
        p = float(jobs.power_w[j])
        hetero = view.heterogeneous()
        p_dest = float(view.power_at(j)[d]) if hetero else p
        window = float(view.forecast.remaining_window_s(p_dest)[d])
        if window <= 0:
            return False
        _slack, t_ok, e_ok = feasibility.move_verdicts(
            size,
            np.array([bandwidth_gbps]),
            np.array([window]),
            view.params.replace(job_power_w=p),
            speed_ratio=float(view.speed_ratio(s)[d]) if hetero else 1.0,
            dest_power_w=p_dest if hetero else None,
        )
        return bool(t_ok[0] and e_ok[0])

    def carry_out(self, k: int, now_s: float, act: Action) -> None:
        if isinstance(act, (Start, Resume, Migrate)):
            # carried out with the tick's other starts and moves, at once (each starts an
            # actor), before the tick's time passes (:meth:`_carry_out_moves`)
            self._moves.append((act, self.rows[act.job].site))
        elif isinstance(act, Pause):
            self._pause(k, now_s, act)

    def refuse(self, k: int, now_s: float, act: Action, reason: str) -> None:
        with self.state.transaction() as conn:
            ControllerState.add_refused(conn, k, now_s, repr(act), reason)

    def advance(self, k: int, now_s: float) -> None:
        """Let the tick's time pass: grant each running job the tick's steps, wait for the
        clock and the jobs, book the energy, save checkpoints when due, commit the tick."""
        t = now_s
        moves_t0 = time.perf_counter()
        n_moves, max_per_link = self._carry_out_moves(k, now_s)
        moves_s = time.perf_counter() - moves_t0
        events = self._events
        self._events = []
        running = [r for r in self.rows if r.state == _RUN]
        until = {}
        granted_before = {r.idx: r.granted_steps for r in running}
        for row in running:  # 4. grant one tick of steps, then wait for the tick's end
            row.granted_steps = min(
                float(self.total_steps[row.idx]),
                row.granted_steps + self.steps_per_tick[row.idx] * self._speed[row.site],
            )
            until[row.idx] = math.ceil(row.granted_steps - 1e-9)
        # every job at once (one round trip, not one per job)
        self.jobs.resume_many({row.name: until[row.idx] for row in running})
        wait_t0 = time.perf_counter()
        if running or self.realtime:  # real time waits for the wall clock, always
            self.clock.wait_until(t + self.step_s)
            # and for the jobs to train what they were granted
            self.jobs.wait_many(
                {row.name: until[row.idx] for row in running}, timeout_s=self.job_wait_s
            )
        else:
            self.clock.anchor(t + self.step_s)
        wait_s = time.perf_counter() - wait_t0
        uses = []  # 5. progress and energy
        finished = []
        progresses = self.jobs.progress_many(row.name for row in running)
        for row in running:
            progress = progresses[row.name]
            if progress.error is not None:
                raise LiveError(f"Job {row.name!r} failed at {row.site}: {progress.error}")
            total = int(self.total_steps[row.idx])
            run_s = self.step_s
            if progress.steps_done >= total:
                before = granted_before[row.idx]
                if row.steps_done >= math.floor(before):  # it kept pace: the tick's part it had
                    left = max(total - before, 0.0)
                    per_tick = self.steps_per_tick[row.idx] * self._speed[row.site]
                    run_s = min(self.step_s, left / per_tick * self.step_s)
                finished.append((row, run_s))
            row.steps_done = progress.steps_done
            uses.append(JobUse(row.idx, row.site, self.ledger.power_w(row.idx), run_s))
        job_e, site_e = self.ledger.settle(k, self.surplus_to_settle(k), uses)
        self._save_checkpoints([row for row, _ in finished])
        for row, run_s in finished:
            self.jobs.stop(row.name)
            self._started.discard(row.idx)
            self.ledger.detach(row.idx)
            row.state = _DONE
            row.done_s = t + run_s
            events.append((k, t + run_s, row.idx, "done", row.site))
        every = self.checkpoint_every_s
        if math.floor((t + self.step_s) / every) > math.floor(t / every):
            self._save_checkpoints([row for row in self.rows if row.state == _RUN])
        self.wall_s = self._wall_s()
        with self.state.transaction() as conn:
            ControllerState.put_jobs(conn, self.rows)
            ControllerState.add_energy(conn, job_e, site_e)
            for e in events:
                ControllerState.add_event(conn, *e)
            for episode in self._episodes(k):
                ControllerState.put_episode(conn, episode)
            for staged in self._finished_prestages(k):
                ControllerState.add_prestage(conn, staged)
            ControllerState.set_meta(
                conn, next_tick=k + 1, wall_s=self.wall_s, speedup=self.speedup
            )
        self.next_tick = k + 1
        self.last_it_load_w = np.array([e.it_energy_j / self.step_s for e in site_e])
        self._drop_stale_checkpoints()
        self.tick_timings.append(
            TickTiming(
                k, time.perf_counter() - self._tick_t0, moves_s, wait_s, n_moves, max_per_link
            )
        )

    def surplus_to_settle(self, k: int) -> NDArray[np.float64]:
        """The surplus the ledger books at tick ``k``: what the sites' signals showed (the
        replayed trace, or the meters in real time, where a site whose power signal is unknown
        counts 0 W of generation)."""
        if self.reading is not None:
            return self.reading.settled_surplus_w
        row: NDArray[np.float64] = self.inputs.surplus_w[k]
        return row

    def _episodes(self, k: int) -> list[EpisodeRow]:
        """The live signals' episodes that began or changed at this tick, as state rows."""
        if not self.realtime or self.reading is None:
            return []
        now = self.reading.now
        out = []
        for site, signal, watched in self.feed.episodes():
            for e in watched.episodes:
                if e.end is not None and e.end < now:
                    continue  # closed at an earlier tick: already recorded
                if e.start == now and e.open:
                    self._episode_tick[(site, signal, e.start)] = k
                start_tick = self._episode_tick.setdefault((site, signal, e.start), k)
                out.append(
                    EpisodeRow(
                        site,
                        signal,
                        e.start.isoformat(),
                        e.reason,
                        e.detail,
                        start_tick,
                        None if e.end is None else e.end.isoformat(),
                        None if e.end is None else k,
                        e.readings,
                    )
                )
        return out

    def prestage(self, k: int, now_s: float, hints: list[tuple[int, int]]) -> None:
        """Start copying each hinted running job's frozen part to the hinted site (paced to
        ``prestage_share`` of the link's estimate; pre-stages pause for migrations)."""
        self._carry_out_moves(k, now_s)  # the tick's migrations go first
        for j, d in hints:
            row = self.rows[j]
            if row.state != _RUN or d == row.site or (j, d) in self._prestaging:
                continue
            if self._frozen_at[j, d]:
                continue
            rate = self.links.matrix()[row.site, d] * 1e9 / 8.0 * self.prestage_share
            handle = self.jobs.start_prestage(row.name, self.site_names[d], rate)
            self._prestaging[(j, d)] = (k, handle)
            self._events.append((k, now_s, j, "prestage", d))

    def _finished_prestages(self, k: int) -> list[PrestageRow]:
        """The pre-stages that ended by now, as state rows; a completed one marks the job's
        frozen part as lying at its site."""
        out = []
        for (j, d), (tick, handle) in list(self._prestaging.items()):
            if not handle.done():
                continue
            del self._prestaging[(j, d)]
            res = handle.result(0)
            if res.completed:
                self._frozen_at[j, d] = True
            out.append(
                PrestageRow(
                    tick,
                    k,
                    j,
                    self.site_names.index(res.source_site),
                    d,
                    res.bytes_sent,
                    res.duration_s,
                    bool(res.completed),
                    res.reason or res.error,
                )
            )
        return out

    # -- carrying out actions ------------------------------------------------------------------

    def _power(self, j: int, site: int) -> float:
        """Job ``j``'s draw at ``site``: its power times the site's accelerator factor."""
        return float(self._power_at[j, site])

    def _start(self, k: int, t: float, act: Start) -> None:
        """Commit a start whose actor is up."""
        row = self.rows[act.job]
        self._started.add(row.idx)
        row.state, row.site, row.start_s, row.last_move_s = _RUN, act.site, t, t
        self._frozen_at[row.idx, act.site] = True
        self.ledger.attach(row.idx, row.name, act.site, self._power(row.idx, act.site))
        with self.state.transaction() as conn:
            ControllerState.put_jobs(conn, [row])
            ControllerState.add_event(conn, k, t, row.idx, "start", act.site)

    def _carry_out_moves(self, k: int, t: float) -> tuple[int, int]:
        """Carry out the tick's starts, resumes and migrations at once (up to
        ``max_concurrent_moves``; each starts an actor, which takes seconds), then commit each
        in turn; return how many migrations there were and the most that shared one link."""
        todo, self._moves = self._moves, []
        if not todo:
            return 0, 0
        per_link = Counter(_link(src, a.dest) for a, src in todo if isinstance(a, Migrate))

        def attempt(item: tuple[Start | Resume | Migrate, int]) -> tuple[Any, BaseException | None]:
            act = item[0]
            try:
                if isinstance(act, Migrate):
                    name, dest = self.job_names[act.job], self.site_names[act.dest]
                    return self.jobs.migrate(name, dest), None
                if isinstance(act, Resume):
                    return self._resume_actor(act), None
                job = self.live.live_jobs[act.job]
                return self.jobs.start(job, self.site_names[act.site], run=False), None
            except BaseException as exc:  # committed (or raised) below, in this thread
                return None, exc

        if len(todo) == 1:
            outcomes = [attempt(todo[0])]
        else:
            workers = min(len(todo), self.max_concurrent_moves)
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="act") as pool:
                outcomes = list(pool.map(attempt, todo))
        unexpected: BaseException | None = None
        for (act, src), (res, exc) in zip(todo, outcomes, strict=True):
            if isinstance(act, Migrate):
                if exc is None or isinstance(exc, (JobLostError, MigrationError, ChecksumError)):
                    self._migrate(k, t, act, res, exc, per_link[_link(src, act.dest)])
                    continue
            elif exc is None:
                if isinstance(act, Start):
                    self._start(k, t, act)
                else:
                    self._resume(k, t, act, *res)
                continue
            if unexpected is None:
                unexpected = exc
        if unexpected is not None:
            raise unexpected
        return sum(per_link.values()), max(per_link.values(), default=0)

    def _migrate(
        self,
        k: int,
        t: float,
        act: Migrate,
        res: Any,
        exc: BaseException | None,
        shared: int = 1,
    ) -> None:
        """Commit one migration carried out (``res``) or failed (``exc``); ``shared``: the
        moves that crossed its link at the same time."""
        row = self.rows[act.job]
        src = row.site
        if isinstance(exc, JobLostError):
            self._lost(k, t, row, act, exc)
            return
        if exc is not None:
            failed = MigrationRow(k, t, row.idx, "migrate", src, act.dest, ok=False, error=str(exc))
            self.recent_migrations.append(failed)
            with self.state.transaction() as conn:
                ControllerState.add_migration(conn, failed)
                ControllerState.add_refused(conn, k, t, repr(act), f"migration failed: {exc}")
            return
        row.site, row.last_move_s = act.dest, t
        self._frozen_at[row.idx, act.dest] = True
        if res.recovered_from_disk:  # the source died: progress goes back to the checkpoint
            row.steps_done = res.steps_done
            row.granted_steps = float(res.steps_done)
        self.ledger.detach(row.idx)
        self.ledger.attach(row.idx, row.name, act.dest, self._power(row.idx, act.dest))
        if math.isfinite(res.bandwidth_gbps) and res.bytes_sent > 0:
            # the link carried this move's goodput for each of the moves sharing it
            estimate = self.links.update(src, act.dest, res.bandwidth_gbps * shared)
        else:  # nothing crossed (the destination held every chunk): no measurement
            estimate = float(self.links.matrix()[src, act.dest])
        done = MigrationRow(
            k,
            t,
            row.idx,
            "migrate",
            src,
            act.dest,
            ok=True,
            steps_done=res.steps_done,
            size_bytes=res.size_bytes,
            sha256=res.sha256,
            bandwidth_gbps=res.bandwidth_gbps,
            actor_start_s=res.actor_start_duration_s,
            checkpoint_s=res.checkpoint_duration_s,
            transfer_s=res.transfer_duration_s,
            load_s=res.load_duration_s,
            downtime_s=res.downtime_s,
            bytes_sent=res.bytes_sent,
        )
        self.recent_migrations.append(done)
        with self.state.transaction() as conn:
            ControllerState.put_jobs(conn, [row])
            ControllerState.add_migration(conn, done)
            ControllerState.put_link(
                conn, src, act.dest, estimate, self.links.samples(src, act.dest)
            )
            ControllerState.add_event(conn, k, t, row.idx, "migrate", act.dest)
            restored = t + res.downtime_s * self.speedup
            ControllerState.add_event(conn, k, restored, row.idx, "restored", act.dest)

    def _lost(self, k: int, t: float, row: JobRow, act: Migrate, exc: Exception) -> None:
        """The job died with its source during a move and could not be restored at the
        destination: it waits, PAUSED at its last checkpoint (or QUEUED from the start when it
        has none), for the policy to resume it."""
        self._started.discard(row.idx)
        self.ledger.detach(row.idx)
        if row.checkpoint_path:
            row.state, row.steps_done = _PAUSED, int(row.checkpoint_steps or 0)
        else:
            row.state, row.steps_done = _QUEUED, 0
        row.granted_steps = float(row.steps_done)
        failed = MigrationRow(
            k, t, row.idx, "migrate", row.site, act.dest, ok=False, error=str(exc)
        )
        self.recent_migrations.append(failed)
        with self.state.transaction() as conn:
            ControllerState.put_jobs(conn, [row])
            ControllerState.add_migration(conn, failed)
            ControllerState.add_event(conn, k, t, row.idx, "lost", row.site)

    def _pause(self, k: int, t: float, act: Pause) -> None:
        row = self.rows[act.job]
        self.jobs.pause(row.name)
        self._save_checkpoint(row)
        self.jobs.stop(row.name)
        self._started.discard(row.idx)
        self.ledger.detach(row.idx)
        row.state = _PAUSED
        with self.state.transaction() as conn:
            ControllerState.put_jobs(conn, [row])
            ControllerState.add_event(conn, k, t, row.idx, "pause", row.site)

    def _resume_actor(self, act: Resume) -> tuple[Checkpoint | None, float]:
        """Start a paused job's actor at its new site from its checkpoint; return the
        checkpoint and the seconds it took."""
        row = self.rows[act.job]
        ckpt = self.store.load(row.checkpoint_path) if row.checkpoint_path else None
        t0 = time.perf_counter()
        self.jobs.start(
            self.live.live_jobs[act.job], self.site_names[act.site], run=False, checkpoint=ckpt
        )
        return ckpt, time.perf_counter() - t0

    def _resume(
        self, k: int, t: float, act: Resume, ckpt: Checkpoint | None, elapsed: float
    ) -> None:
        """Commit a resume whose actor is up."""
        row = self.rows[act.job]
        self._started.add(row.idx)
        src = row.site
        row.state, row.site, row.last_move_s = _RUN, act.site, t
        self._frozen_at[row.idx, act.site] = True
        row.steps_done = 0 if ckpt is None else ckpt.steps_done
        self.ledger.attach(row.idx, row.name, act.site, self._power(row.idx, act.site))
        with self.state.transaction() as conn:
            ControllerState.put_jobs(conn, [row])
            ControllerState.add_event(conn, k, t, row.idx, "resume", act.site)
            if src != act.site:
                moved = MigrationRow(
                    k,
                    t,
                    row.idx,
                    "resume",
                    src,
                    act.site,
                    ok=True,
                    steps_done=row.steps_done,
                    size_bytes=None if ckpt is None else len(ckpt.to_bytes()),
                    downtime_s=elapsed,
                )
                self.recent_migrations.append(moved)
                ControllerState.add_migration(conn, moved)

    # -- checkpoints --------------------------------------------------------------------------

    def _save_checkpoint(self, row: JobRow) -> None:
        """Snapshot the job now and save it; the row points at it once the caller commits."""
        self._keep(row, self.jobs.snapshot(row.name))

    def _save_checkpoints(self, rows: list[JobRow]) -> None:
        """:meth:`_save_checkpoint` for every row: the snapshots taken at once, each saved and
        dropped before the next is fetched (one checkpoint in this process at a time)."""
        by_name = {r.name: r for r in rows}
        for name, ckpt in self.jobs.snapshot_each(by_name):
            self._keep(by_name[name], ckpt)
            del ckpt

    def _keep(self, row: JobRow, ckpt: Checkpoint) -> None:
        path = self.store.save(row.name, ckpt)
        row.checkpoint_path = str(path)
        row.checkpoint_steps = ckpt.steps_done
        row.checkpoint_sha256 = ckpt.sha256()

    def _drop_stale_checkpoints(self) -> None:
        """Remove saved checkpoints no committed row points at."""
        self.store.prune(r.checkpoint_path for r in self.rows if r.checkpoint_path)

    def _stop_jobs(self) -> None:
        self._moves = []
        for _tick, handle in self._prestaging.values():
            handle.cancel("the controller stopped")
        for idx in sorted(self._started):
            name = self.job_names[idx]
            if name in self.jobs.job_ids():
                self.jobs.stop(name)
            self.ledger.detach(idx)
        self._started.clear()
