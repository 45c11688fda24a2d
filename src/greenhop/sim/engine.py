"""The trace-driven simulator: jobs, sites, a WAN and a policy, step by step.

Each step of ``step_s`` seconds:

1. jobs whose arrival falls in the step join the queue;
2. the policy sees a :class:`~greenhop.policies.base.View` and returns actions, which the engine
   checks and carries out (it refuses what a real cluster would: a full site, a busy job);
3. time advances through the step: running jobs make progress, migrations go through their
   phases (checkpoint, transfer, restore) with the left-over time of one phase carried into the
   next, and concurrent transfers over one link share its bandwidth;
4. each site's IT load (jobs, jobs checkpointing or restoring at idle power, idle slots) is
   recorded; the energy balance (renewables first, then battery, then grid) is settled per step.

Progress is lost only where a real system would lose it: a migration or pause checkpoints first,
so in the simulator no progress is ever lost (there are no failures here; see docs/results.md).
A transfer that outlasts the destination's window still finishes and costs what it costs.
"""

from __future__ import annotations

import array
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greenhop.errors import InputError
from greenhop.policies.base import (
    Action,
    JobState,
    JobsView,
    Migrate,
    Pause,
    Policy,
    Resume,
    Start,
    View,
)
from greenhop.sim.balance import BatteryBank
from greenhop.sim.inputs import SimInputs

FloatArray = NDArray[np.float64]

_RUN = int(JobState.RUNNING)
_CKPT = int(JobState.CHECKPOINTING)
_XFER = int(JobState.TRANSFERRING)
_REST = int(JobState.RESTORING)
_PAUSED = int(JobState.PAUSED)
_QUEUED = int(JobState.QUEUED)
_DONE = int(JobState.DONE)
_PENDING = int(JobState.PENDING)


@dataclass
class Migration:
    """One move of a job's checkpoint between sites (a migration, or a resume elsewhere)."""

    job: int
    src: int
    dest: int
    size_gb: float
    started_s: float
    kind: str  # "migrate" or "resume"
    checkpoint_done_s: float = float("nan")
    transfer_done_s: float = float("nan")
    restored_s: float = float("nan")
    wasted: bool = False  # arrived when the destination had no surplus for the job


@dataclass
class _Move:
    """Engine bookkeeping of a job in CHECKPOINTING / TRANSFERRING / RESTORING."""

    phase_left_s: float = 0.0  # seconds left in the current timed phase
    bytes_left: float = 0.0  # bytes left to transfer
    then: str = ""  # after checkpoint: "transfer" (migrate) or "pause"
    migration: Migration | None = None


@dataclass
class SimResult:
    """Everything a run produced; :mod:`greenhop.sim.metrics` turns it into tables."""

    inputs: SimInputs
    policy: str
    policy_config: dict[str, Any]
    it_load_w: FloatArray  # (steps, sites), mean over each step
    running_jobs: NDArray[np.int32]  # (steps, sites), jobs holding a slot at the step's end
    grid_w: FloatArray  # (steps, sites)
    renewable_w: FloatArray  # (steps, sites), renewable power serving the IT load
    battery_discharge_w: FloatArray
    battery_charge_w: FloatArray
    curtailed_w: FloatArray
    battery_soc_kwh: FloatArray  # (steps, sites) at each step's end
    job_start_s: FloatArray
    job_done_s: FloatArray  # nan: not finished within the run
    job_progress_gpu_h: FloatArray
    job_run_s_at: FloatArray  # (jobs, sites) seconds each job ran at each site
    migrations: list[Migration]
    refused: list[tuple[float, str, str]]  # (time, action, reason)
    events: list[tuple[float, int, str, int]]  # (time, job, event, site)
    #: every job's energy per step and site, as sparse columns (step, job, site, joules)
    job_energy: tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]] | None = None
    placement: NDArray[np.int16] | None = None  # (steps, jobs) site or -1, when recorded
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class _Forecast:
    """Adapts the inputs' forecaster to the policy's per-step ForecastView."""

    __slots__ = ("_fc", "_step")

    def __init__(self, fc: Any) -> None:
        self._fc = fc
        self._step = 0

    def remaining_window_s(self, threshold_w: float) -> FloatArray:
        res: FloatArray = self._fc.remaining_window_s(threshold_w)[self._step]
        return res

    def surplus_w(self, horizon_steps: int) -> FloatArray:
        res: FloatArray = self._fc.surplus_w(self._step, horizon_steps)
        return res


class Simulator:
    """Runs one policy over :class:`SimInputs`."""

    def __init__(self, inputs: SimInputs, *, record_placement: bool = False) -> None:
        self.inputs = inputs
        self.record_placement = record_placement

    def run(self, policy: Policy, *, progress: Any = None) -> SimResult:
        """Simulate the whole time range with ``policy``.

        ``progress``, when given, is called as ``progress(steps_done, steps_total)`` now and then.
        """
        import time

        t_wall = time.perf_counter()
        inp = self.inputs
        jobs = inp.jobs
        n_steps, n_sites, n_jobs = inp.n_steps, len(inp.site_names), len(jobs)
        step_s = float(inp.step_s)
        params = inp.params
        surplus_all = inp.surplus_w
        bw = inp.bandwidth_gbps
        slots = inp.slots
        idle_w = inp.idle_slot_power_w

        state = np.full(n_jobs, _PENDING, dtype=np.int64)
        site = np.full(n_jobs, -1, dtype=np.int64)
        dest = np.full(n_jobs, -1, dtype=np.int64)
        progress_h = np.zeros(n_jobs)
        last_move = np.full(n_jobs, -np.inf)
        start_s = np.full(n_jobs, np.nan)
        done_s = np.full(n_jobs, np.nan)
        run_s_at = np.zeros((n_jobs, n_sites))
        held = np.zeros(n_sites, dtype=np.int64)  # slots held by jobs (restoring/running/ckpt)
        reserved = np.zeros(n_sites, dtype=np.int64)  # slots reserved by incoming transfers
        moves: dict[int, _Move] = {}
        migrations: list[Migration] = []
        refused: list[tuple[float, str, str]] = []
        events: list[tuple[float, int, str, int]] = []

        # mean IT load of each step, W: every slot idles unless a job runs in it (a job that
        # checkpoints or restores draws the idle power of its slot)
        idle_full = (idle_w * slots).astype(np.float64)
        it_load = np.tile(idle_full, (n_steps, 1))
        extra_w = jobs.power_w[:, None] - idle_w[None, :]  # (jobs, sites): running over idle
        running_jobs = np.zeros((n_steps, n_sites), dtype=np.int32)
        placement = (
            np.full((n_steps, n_jobs), -1, dtype=np.int16) if self.record_placement else None
        )
        bank = BatteryBank(inp.batteries or [None] * n_sites, step_s)
        has_battery = bool((bank.capacity_kwh > 0).any())
        soc = np.zeros((n_steps, n_sites))
        grid = np.zeros((n_steps, n_sites))
        charge = np.zeros((n_steps, n_sites))
        discharge = np.zeros((n_steps, n_sites))

        arrival_step = np.ceil(np.asarray(jobs.arrival_s) / step_s - 1e-9).astype(np.int64)
        order = np.argsort(arrival_step, kind="stable")
        arr_ptr = 0
        fview = _Forecast(inp.forecast)
        ro = _readonly
        jobs_view = JobsView(
            names=jobs.names,
            state=ro(state),
            site=ro(site),
            dest=ro(dest),
            power_w=ro(jobs.power_w),
            size_gb=ro(jobs.size_gb),
            work_gpu_h=ro(jobs.work_gpu_h),
            progress_gpu_h=ro(progress_h),
            arrival_s=ro(jobs.arrival_s),
            deadline_s=ro(jobs.deadline_s),
            preferred_site=ro(jobs.preferred_site),
            last_move_s=ro(last_move),
        )
        power = jobs.power_w
        size = jobs.size_gb
        work = jobs.work_gpu_h
        bw_ro = ro(bw)
        slots_ro = ro(slots)
        idle_ro = ro(idle_w)
        cap_ro = ro(bank.capacity_kwh)
        active: set[int] = set()  # arrived and not done
        active_version = view_version = 0  # bumped when ``active`` changes
        report_every = max(1, n_steps // 200)

        def begin_restore(j: int, at: int, t: float) -> None:
            state[j] = _REST
            site[j] = at
            dest[j] = -1
            mv = moves.setdefault(j, _Move())
            mv.phase_left_s = size[j] / params.disk_read_gb_per_s + params.restart_s
            last_move[j] = t

        e_k = array.array("i")
        e_j = array.array("i")
        e_s = array.array("i")
        e_e = array.array("d")

        def advance(j: int, tl: float, step_end: float, load: FloatArray) -> float:
            """Run job ``j`` through its phases for ``tl`` seconds of the step ending at
            ``step_end``; returns the time left when it stops (waiting, transferring, done)."""
            nonlocal active_version
            while tl > 1e-9:
                s = state[j]
                if s == _RUN:
                    at = int(site[j])
                    need_s = (work[j] - progress_h[j]) * 3600.0
                    dt = tl if tl < need_s else need_s
                    progress_h[j] += dt / 3600.0
                    run_s_at[j, at] += dt
                    load[at] += extra_w[j, at] * dt / step_s
                    e_k.append(k)
                    e_j.append(j)
                    e_s.append(at)
                    e_e.append(power[j] * dt)
                    tl -= dt
                    if need_s <= dt + 1e-9:
                        progress_h[j] = work[j]
                        state[j] = _DONE
                        done_s[j] = step_end - tl
                        held[at] -= 1
                        active.discard(j)
                        active_version += 1
                        events.append((float(done_s[j]), j, "done", at))
                        return tl
                elif s in (_CKPT, _REST):
                    at = int(site[j])
                    mv = moves[j]
                    dt = tl if tl < mv.phase_left_s else mv.phase_left_s
                    mv.phase_left_s -= dt
                    e_k.append(k)
                    e_j.append(j)
                    e_s.append(at)
                    e_e.append(idle_w[at] * dt)
                    tl -= dt
                    if mv.phase_left_s > 1e-9:
                        return tl
                    t_d = step_end - tl
                    if s == _REST:
                        state[j] = _RUN
                        if mv.migration is not None:
                            mig = mv.migration
                            mig.restored_s = t_d
                            prev = it_load[k - 1, at] if k else idle_full[at]
                            mig.wasted = bool(surplus_all[k, at] - prev < power[j] - idle_w[at])
                            events.append((t_d, j, "restored", at))
                        moves.pop(j, None)
                    elif mv.then == "pause":
                        state[j] = _PAUSED
                        held[at] -= 1
                        moves.pop(j, None)
                        return 0.0
                    else:
                        assert mv.migration is not None
                        mv.migration.checkpoint_done_s = t_d
                        held[at] -= 1
                        state[j] = _XFER
                        mv.bytes_left = size[j] * 1e9
                        return tl
                else:
                    return tl
            return 0.0

        for k in range(n_steps):
            now = k * step_s
            if progress is not None and k % report_every == 0:
                progress(k, n_steps)
            # 1. arrivals
            while arr_ptr < n_jobs and arrival_step[order[arr_ptr]] <= k:
                j = int(order[arr_ptr])
                state[j] = _QUEUED
                active.add(j)
                active_version += 1
                events.append((now, j, "arrive", -1))
                arr_ptr += 1

            surplus_now = surplus_all[k]
            if not active:
                if has_battery:
                    self._battery_step(
                        bank, k, surplus_now, idle_full, charge, discharge, soc, grid
                    )
                continue
            # 2. the policy
            fview._step = k
            if active_version != view_version:
                jobs_view = replace(jobs_view, active=np.array(sorted(active), dtype=np.int64))
                view_version = active_version
            prev_load = it_load[k - 1] if k else idle_full
            view = View(
                step=k,
                now_s=now,
                step_s=step_s,
                site_names=inp.site_names,
                surplus_w=surplus_now,
                it_load_w=prev_load,
                slots=slots_ro,
                free_slots=slots - held - reserved,
                idle_slot_power_w=idle_ro,
                bandwidth_gbps=bw_ro,
                battery_soc_kwh=bank.soc_kwh.copy(),
                battery_capacity_kwh=cap_ro,
                jobs=jobs_view,
                forecast=fview,
                params=params,
            )
            actions = policy.decide(now, view)
            for act in actions:
                reason = self._check(act, state, site, held, reserved, slots, n_sites)
                if reason:
                    refused.append((now, repr(act), reason))
                    continue
                j = act.job
                if isinstance(act, Start):
                    held[act.site] += 1
                    start_s[j] = now
                    mv = moves.setdefault(j, _Move())
                    state[j] = _REST
                    site[j] = act.site
                    mv.phase_left_s = params.restart_s
                    last_move[j] = now
                    events.append((now, j, "start", act.site))
                elif isinstance(act, Migrate):
                    reserved[act.dest] += 1
                    state[j] = _CKPT
                    dest[j] = act.dest
                    mig = Migration(j, int(site[j]), act.dest, float(size[j]), now, "migrate")
                    migrations.append(mig)
                    moves[j] = _Move(
                        phase_left_s=size[j] / params.disk_write_gb_per_s,
                        then="transfer",
                        migration=mig,
                    )
                    events.append((now, j, "migrate", act.dest))
                elif isinstance(act, Pause):
                    state[j] = _CKPT
                    moves[j] = _Move(
                        phase_left_s=size[j] / params.disk_write_gb_per_s, then="pause"
                    )
                    events.append((now, j, "pause", int(site[j])))
                elif isinstance(act, Resume):
                    events.append((now, j, "resume", act.site))
                    if act.site == site[j]:
                        held[act.site] += 1
                        begin_restore(j, act.site, now)
                    else:
                        reserved[act.site] += 1
                        mig = Migration(j, int(site[j]), act.site, float(size[j]), now, "resume")
                        mig.checkpoint_done_s = now
                        migrations.append(mig)
                        state[j] = _XFER
                        dest[j] = act.site
                        moves[j] = _Move(bytes_left=size[j] * 1e9, migration=mig)

            # 3. advance time through the step; a job may pass through several phases in it
            load = it_load[k]
            step_end = now + step_s
            xfer: list[int] = []
            time_left: dict[int, float] = {}
            for j in sorted(active):
                if state[j] == _XFER:
                    xfer.append(j)
                    time_left[j] = step_s
                else:
                    left = advance(j, step_s, step_end, load)
                    if state[j] == _XFER and left > 1e-9:
                        xfer.append(j)
                        time_left[j] = left
            if xfer:
                # transfers share links, so they advance together
                self._advance_transfers(xfer, time_left, site, dest, moves, bw)
                for j in xfer:
                    mv = moves[j]
                    if mv.bytes_left > 1e-6:
                        continue
                    t_done = step_end - time_left[j]
                    assert mv.migration is not None
                    mv.migration.transfer_done_s = t_done
                    d = int(dest[j])
                    reserved[d] -= 1
                    held[d] += 1
                    begin_restore(j, d, t_done)
                    advance(j, time_left[j], step_end, load)

            running_jobs[k] = held
            if placement is not None:
                for j in active:
                    if state[j] in (_RUN, _CKPT, _REST):
                        placement[k, j] = site[j]
            if has_battery:
                self._battery_step(bank, k, surplus_now, load, charge, discharge, soc, grid)

        if progress is not None:
            progress(n_steps, n_steps)
        green = np.maximum(surplus_all, 0.0)
        if not has_battery:
            # the base load is served first (it is not ours); renewables, then the grid
            grid = np.maximum(it_load - green, 0.0)
        renewable = np.minimum(green, it_load)
        curtailed = green - renewable - charge
        return SimResult(
            inputs=inp,
            policy=policy.name,
            policy_config=policy.config(),
            it_load_w=it_load,
            running_jobs=running_jobs,
            grid_w=grid,
            renewable_w=renewable,
            battery_discharge_w=discharge,
            battery_charge_w=charge,
            curtailed_w=curtailed,
            battery_soc_kwh=soc,
            job_start_s=start_s,
            job_done_s=done_s,
            job_progress_gpu_h=progress_h,
            job_run_s_at=run_s_at,
            migrations=migrations,
            refused=refused,
            events=events,
            placement=placement,
            job_energy=(
                np.frombuffer(e_k, dtype=np.int32),
                np.frombuffer(e_j, dtype=np.int32),
                np.frombuffer(e_s, dtype=np.int32),
                np.frombuffer(e_e, dtype=np.float64),
            ),
            wall_s=time.perf_counter() - t_wall,
        )

    @staticmethod
    def _battery_step(
        bank: BatteryBank,
        k: int,
        surplus_now: FloatArray,
        load: FloatArray,
        charge: FloatArray,
        discharge: FloatArray,
        soc: FloatArray,
        grid: FloatArray,
    ) -> None:
        """Settle step ``k`` with batteries: renewables serve the load, then charge; the
        battery, then the grid, cover what is missing."""
        net = np.maximum(surplus_now, 0.0) - load
        ch, dis = bank.step(net)
        charge[k] = ch
        discharge[k] = dis
        soc[k] = bank.soc_kwh
        grid[k] = np.maximum(-net - dis, 0.0)

    @staticmethod
    def _check(
        act: Action,
        state: NDArray[np.int64],
        site: NDArray[np.int64],
        held: NDArray[np.int64],
        reserved: NDArray[np.int64],
        slots: NDArray[np.int64],
        n_sites: int,
    ) -> str:
        """Why ``act`` cannot be carried out now, or '' if it can."""
        j = act.job
        if not 0 <= j < len(state):
            return "no such job"
        s = int(state[j])
        target = getattr(act, "site", getattr(act, "dest", None))
        if target is not None:
            if not 0 <= target < n_sites:
                return "no such site"
            if held[target] + reserved[target] >= slots[target]:
                return "no free slot at the site"
        if isinstance(act, Start):
            return "" if s == _QUEUED else f"job is {JobState(s).name}, not QUEUED"
        if isinstance(act, Migrate):
            if s != _RUN:
                return f"job is {JobState(s).name}, not RUNNING"
            return "already at that site" if site[j] == act.dest else ""
        if isinstance(act, Pause):
            return "" if s == _RUN else f"job is {JobState(s).name}, not RUNNING"
        if isinstance(act, Resume):
            return "" if s == _PAUSED else f"job is {JobState(s).name}, not PAUSED"
        raise InputError(f"unknown action {act!r}")

    @staticmethod
    def _advance_transfers(
        xfer: list[int],
        time_left: dict[int, float],
        site: NDArray[np.int64],
        dest: NDArray[np.int64],
        moves: dict[int, _Move],
        bw: FloatArray,
    ) -> None:
        """Move bytes of concurrent transfers; transfers on one link share its bandwidth.

        A link is the unordered pair of sites. Within the step, whenever one transfer finishes
        the others' shares are recomputed (event by event).
        """
        ongoing = list(xfer)
        while ongoing:
            per_link: dict[tuple[int, int], int] = {}
            for j in ongoing:
                a, b = int(site[j]), int(dest[j])
                key = (a, b) if a < b else (b, a)
                per_link[key] = per_link.get(key, 0) + 1
            rates = {}
            for j in ongoing:
                a, b = int(site[j]), int(dest[j])
                key = (a, b) if a < b else (b, a)
                rates[j] = bw[a, b] * 1e9 / 8.0 / per_link[key]  # bytes/s
            # time until the first transfer finishes or a job's step time runs out
            dt = min(
                min(moves[j].bytes_left / rates[j] for j in ongoing),
                min(time_left[j] for j in ongoing),
            )
            for j in ongoing:
                moves[j].bytes_left -= rates[j] * dt
                time_left[j] -= dt
            ongoing = [j for j in ongoing if moves[j].bytes_left > 1e-6 and time_left[j] > 1e-9]


def _readonly(arr: NDArray[Any]) -> NDArray[Any]:
    v = arr.view()
    v.flags.writeable = False
    return v
