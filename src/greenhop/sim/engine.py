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

from dataclasses import dataclass, field
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

        it_load = np.zeros((n_steps, n_sites))
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
        prev_load = np.zeros(n_sites)
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
        report_every = max(1, n_steps // 200)

        def begin_restore(j: int, at: int, t: float) -> None:
            state[j] = _REST
            site[j] = at
            dest[j] = -1
            mv = moves.setdefault(j, _Move())
            mv.phase_left_s = size[j] / params.disk_read_gb_per_s + params.restart_s
            last_move[j] = t

        for k in range(n_steps):
            now = k * step_s
            # 1. arrivals
            while arr_ptr < n_jobs and arrival_step[order[arr_ptr]] <= k:
                j = int(order[arr_ptr])
                state[j] = _QUEUED
                active.add(j)
                events.append((now, j, "arrive", -1))
                arr_ptr += 1

            # 2. the policy
            fview._step = k
            surplus_now = surplus_all[k]
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
            actions = policy.decide(now, view) if active else []
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

            # 3. advance time through the step
            load = np.zeros(n_sites)
            busy_s = np.zeros(n_sites)  # slot-seconds held by jobs at each site
            time_left = {j: step_s for j in active}
            # phases in order; a job may pass through several in one step
            for _ in range(4):
                progressed = False
                # transfers share links: process them together
                xfer = [j for j in active if state[j] == _XFER and time_left[j] > 1e-9]
                if xfer:
                    self._advance_transfers(xfer, time_left, site, dest, moves, bw)
                    for j in xfer:
                        mv = moves[j]
                        if mv.bytes_left <= 1e-6:
                            t_done = now + step_s - time_left[j]
                            assert mv.migration is not None
                            mv.migration.transfer_done_s = t_d = t_done
                            d = int(dest[j])
                            reserved[d] -= 1
                            held[d] += 1
                            begin_restore(j, d, t_d)
                            progressed = True
                for j in list(active):
                    tl = time_left[j]
                    if tl <= 1e-9:
                        continue
                    s = state[j]
                    if s == _RUN:
                        at = int(site[j])
                        need_s = (work[j] - progress_h[j]) * 3600.0
                        dt = min(tl, need_s)
                        progress_h[j] += dt / 3600.0
                        run_s_at[j, at] += dt
                        load[at] += power[j] * dt
                        busy_s[at] += dt
                        time_left[j] = tl - dt
                        if need_s <= tl + 1e-9:
                            progress_h[j] = work[j]
                            state[j] = _DONE
                            done_s[j] = now + step_s - time_left[j]
                            held[at] -= 1
                            active.discard(j)
                            events.append((done_s[j], j, "done", at))
                    elif s in (_CKPT, _REST):
                        at = int(site[j])
                        mv = moves[j]
                        dt = min(tl, mv.phase_left_s)
                        mv.phase_left_s -= dt
                        load[at] += idle_w[at] * dt
                        busy_s[at] += dt
                        time_left[j] = tl - dt
                        if mv.phase_left_s <= 1e-9:
                            t_d = now + step_s - time_left[j]
                            progressed = True
                            if s == _REST:
                                state[j] = _RUN
                                if mv.migration is not None:
                                    mig = mv.migration
                                    mig.restored_s = t_d
                                    mig.wasted = bool(
                                        surplus_all[k, at] - prev_load[at] < power[j] - idle_w[at]
                                    )
                                    events.append((t_d, j, "restored", at))
                                moves.pop(j, None)
                            elif mv.then == "pause":
                                state[j] = _PAUSED
                                held[at] -= 1
                                moves.pop(j, None)
                                time_left[j] = 0.0
                            else:
                                assert mv.migration is not None
                                mv.migration.checkpoint_done_s = t_d
                                held[at] -= 1
                                state[j] = _XFER
                                mv.bytes_left = size[j] * 1e9
                if not progressed:
                    break

            # idle slots draw idle power for the slot-seconds no job held
            load += idle_w * np.maximum(slots * step_s - busy_s, 0.0)
            load /= step_s
            it_load[k] = load
            prev_load = load
            running_jobs[k] = held
            if placement is not None:
                for j in active:
                    if state[j] in (_RUN, _CKPT, _REST):
                        placement[k, j] = site[j]

            # 4. energy balance of the step: the base load is served first (it is not ours)
            net = np.maximum(surplus_now, 0.0) - load
            if has_battery:
                ch, dis = bank.step(net)
                charge[k] = ch
                discharge[k] = dis
                soc[k] = bank.soc_kwh
                grid[k] = np.maximum(-net - dis, 0.0)
            else:
                grid[k] = np.maximum(-net, 0.0)
            if progress is not None and k % report_every == 0:
                progress(k, n_steps)

        if progress is not None:
            progress(n_steps, n_steps)
        green = np.maximum(surplus_all, 0.0)
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
            wall_s=time.perf_counter() - t_wall,
        )

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
