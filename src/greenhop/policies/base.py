"""The policy interface: ``decide(now, view) -> list[Action]``, shared by the simulator and live.

A policy sees a read-only :class:`View` of the world at one moment: the sites with their
renewable surplus now and what the forecaster predicted by then, the links' bandwidth estimates,
and the jobs with their state, size and progress. It returns actions; the world (``greenhop.sim``
or ``greenhop.live``) carries them out, checks them, and refuses the impossible ones (a full
site, a job in the wrong state).

Conventions: sites and jobs are referred to by index into ``view.site_names`` and
``view.jobs.names``; power in W, sizes in GB, bandwidth in Gbit/s, durations in s, work and
progress in GPU-hours (one job uses one GPU slot). Surplus is renewable generation minus the
site's base load, before any job: it can be negative.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from greenhop.errors import InputError
from greenhop.feasibility import DEFAULTS, ModelParameters

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class JobState(IntEnum):
    """Life cycle: QUEUED → RESTORING → RUNNING → CHECKPOINTING → TRANSFERRING → RESTORING →
    RUNNING … → DONE; a paused job goes RUNNING → CHECKPOINTING → PAUSED → (TRANSFERRING →)
    RESTORING → RUNNING. A job holds a GPU slot while RESTORING, RUNNING or CHECKPOINTING."""

    PENDING = 0  # not arrived yet
    QUEUED = 1
    RUNNING = 2
    CHECKPOINTING = 3
    TRANSFERRING = 4
    RESTORING = 5
    PAUSED = 6
    DONE = 7


#: States in which a job's migration or pause can not be interrupted by a new action.
BUSY_STATES = frozenset({JobState.CHECKPOINTING, JobState.TRANSFERRING, JobState.RESTORING})


@dataclass(frozen=True)
class Start:
    """Start a queued job at ``site``."""

    job: int
    site: int


@dataclass(frozen=True)
class Migrate:
    """Checkpoint a running job, send the checkpoint to ``dest``, restore it there."""

    job: int
    dest: int


@dataclass(frozen=True)
class Pause:
    """Checkpoint a running job and free its slot; it waits, PAUSED, at its site."""

    job: int


@dataclass(frozen=True)
class Resume:
    """Restore a paused job at ``site`` (after a transfer if the checkpoint lies elsewhere)."""

    job: int
    site: int


Action = Start | Migrate | Pause | Resume


@dataclass(frozen=True)
class JobsView:
    """All jobs of the world as read-only arrays, indexed by job."""

    names: tuple[str, ...]
    state: IntArray
    site: IntArray  # where the job runs or its checkpoint lies; -1 for none
    dest: IntArray  # destination of an ongoing move; -1 for none
    power_w: FloatArray
    size_gb: FloatArray
    work_gpu_h: FloatArray
    progress_gpu_h: FloatArray
    arrival_s: FloatArray  # seconds since the start of the run
    deadline_s: FloatArray  # seconds since the start of the run; inf for none
    preferred_site: IntArray  # -1 for none
    last_move_s: FloatArray  # when the job last started, moved or resumed; -inf for never
    active: IntArray | None = None  # jobs arrived and not done, ascending; None: look at all
    frozen_gb: FloatArray | None = None  # GB of each checkpoint that never change; None: 0
    frozen_at: NDArray[np.bool_] | None = None  # (jobs, sites): the frozen part lies there

    def size_to(self, j: int, n_sites: int) -> FloatArray:
        """GB a move of job ``j`` sends to each of ``n_sites`` sites: its checkpoint, less its
        frozen part where that lies already (the effective size S_eff)."""
        size = float(self.size_gb[j])
        if self.frozen_gb is None or self.frozen_at is None:
            return np.full(n_sites, size)
        out: FloatArray = np.where(self.frozen_at[j], size - float(self.frozen_gb[j]), size)
        return out

    def in_state(self, *states: JobState) -> IntArray:
        """Indices of the jobs in any of ``states``, ascending."""
        idx = np.arange(len(self.state)) if self.active is None else self.active
        st = self.state[idx]
        mask = st == int(states[0])
        for s in states[1:]:
            mask |= st == int(s)
        res: IntArray = idx[mask]
        return res


class ForecastView(Protocol):
    """What the forecaster had predicted by ``now``, for every site."""

    def remaining_window_s(self, threshold_w: float) -> FloatArray:
        """Predicted seconds until each site's surplus falls below ``threshold_w`` (0: none now)."""
        ...

    def surplus_w(self, horizon_steps: int) -> FloatArray:
        """Predicted surplus for the next ``horizon_steps`` steps, shape (horizon, sites)."""
        ...


class GridView(Protocol):
    """The grid signals as known at ``now`` (``view.forecast.grid``; None in a run without)."""

    @property
    def has_carbon(self) -> bool: ...

    @property
    def has_price(self) -> bool: ...

    @property
    def has_demand_response(self) -> bool: ...

    def carbon_g_per_kwh(self, horizon_steps: int) -> FloatArray:
        """Forecast carbon intensity, (horizon, sites), gCO2e/kWh; row 0 is now."""
        ...

    def price_per_mwh(self, horizon_steps: int) -> FloatArray:
        """Forecast price, (horizon, sites), currency/MWh; row 0 is now."""
        ...

    def dr_cap_w(self, horizon_steps: int) -> FloatArray:
        """Announced demand-response caps, (horizon, sites), W; inf where no event."""
        ...


Objective = Literal["non-renewable", "carbon", "cost"]
OBJECTIVES: tuple[Objective, ...] = ("non-renewable", "carbon", "cost")


def grid_view(view: View) -> GridView | None:
    """The run's grid signals as known now, or None (a world without them)."""
    grid: GridView | None = getattr(view.forecast, "grid", None)
    return grid


def check_objective(objective: str) -> Objective:
    """``objective`` if it is one of :data:`OBJECTIVES`, else :class:`InputError`."""
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    return objective


def grid_weight(view: View, objective: Objective, horizon_steps: int = 1) -> FloatArray | None:
    """What one kWh from each site's grid costs under ``objective``, averaged over the next
    ``horizon_steps`` of the forecast: gCO2e/kWh (carbon) or currency/MWh (cost); None for
    ``non-renewable`` (every grid kWh weighs the same). Raises :class:`InputError` when the run
    has no such signal."""
    if objective == "non-renewable":
        return None
    grid = grid_view(view)
    if objective == "carbon":
        if grid is None or not grid.has_carbon:
            raise InputError(
                "objective 'carbon' needs a carbon signal: add a [[grid]] table with "
                "signal = 'carbon' to the scenario"
            )
        values = grid.carbon_g_per_kwh(max(1, horizon_steps))
    else:
        if grid is None or not grid.has_price:
            raise InputError(
                "objective 'cost' needs a price signal: add a [[grid]] table with "
                "signal = 'price' to the scenario"
            )
        values = grid.price_per_mwh(max(1, horizon_steps))
    out: FloatArray = np.nan_to_num(values.mean(axis=0), nan=np.inf)  # no signal: avoid
    return out


def dr_blocked(view: View, lead_steps: int) -> tuple[FloatArray, IntArray] | None:
    """Sites with a demand-response event now or within ``lead_steps``: ``(cap_w, steps until
    it begins)`` per site (cap inf and steps -1 where none), or None without events."""
    grid = grid_view(view)
    if grid is None or not grid.has_demand_response:
        return None
    caps = grid.dr_cap_w(lead_steps + 1)
    on = np.isfinite(caps)
    if not on.any():
        return None
    first = np.where(on.any(axis=0), np.argmax(on, axis=0), -1).astype(np.int64)
    cap = np.where(on, caps, np.inf).min(axis=0)
    return cap, first


def shed_for_demand_response(
    view: View, actions: list[Action], *, lead_h: float = 1.0, max_lead_h: float = 12.0
) -> tuple[list[Action], NDArray[np.bool_]]:
    """Before a demand-response event begins, shed the jobs a site cannot carry under its cap.

    For each site with an event now or within ``max_lead_h``: its grid draw during the event is
    reckoned as its IT load now less its renewable surplus now (floored at 0). While that
    exceeds the cap, a running job there moves to a site with a free slot and no event ahead,
    where the model says the move (checkpoint, transfer, restore) finishes before the event
    begins (the site with the most renewable power left first), once the event is ``lead_h``
    away or the move needs all the time left but one step; with no such move it pauses
    (checkpoint only), at the same lead. Returns the actions and the sites blocked: those with
    an event within ``lead_h``, where no job should start or resume.

    On heterogeneous sites a move sends what the destination lacks (S_eff), a job draws its
    power at each site's part, and a destination must also let the job finish in time at its
    speed: by its deadline, if it has one, and without losing more than pausing through the
    event would (the move's disruption plus the progress a slower part gives up over the job's
    remaining run, against the event's known length)."""
    step = view.step_s
    got = dr_blocked(view, max(1, round(max_lead_h * 3600.0 / step)))
    blocked = np.zeros(len(view.site_names), dtype=bool)
    if got is None:
        return [], blocked
    cap, first = got
    ahead = first >= 0
    until = np.where(ahead, np.maximum(first, 0) * step, np.inf)
    lead_s = lead_h * 3600.0
    blocked = ahead & (until <= lead_s)
    out: list[Action] = []
    jobs = view.jobs
    p = view.params
    free = free_slots_after(view, actions)
    free[ahead] = 0  # no move into a site with an event ahead
    avail = view.available_w().astype(np.float64)
    busy = {a.job for a in actions}
    running = jobs.in_state(JobState.RUNNING)
    hetero = view.heterogeneous()
    event_s = _dr_event_s(view, first, max_lead_h) if hetero else None
    for site in np.flatnonzero(ahead):
        s = int(site)
        draw = max(float(view.it_load_w[s] - max(view.surplus_w[s], 0.0)), 0.0)
        until_s = float(until[s])
        here = [int(j) for j in running if jobs.site[j] == s and int(j) not in busy]
        here.sort(key=lambda j: -jobs.power_w[j])
        for j in here:
            if draw <= cap[s] + 1e-9:
                break
            size = float(jobs.size_gb[j])
            sizes = jobs.size_to(j, len(view.site_names)) if jobs.frozen_gb is not None else None
            ckpt = size / p.disk_write_gb_per_s
            dest, need_s = -1, ckpt
            for d in np.argsort(-avail, kind="stable"):
                d = int(d)
                if d == s or free[d] <= 0:
                    continue
                bw = float(view.bandwidth_gbps[s, d])
                sent = size if sizes is None else float(sizes[d])  # S_eff to d
                move_s = ckpt + 8.0 * sent / bw + size / p.disk_read_gb_per_s + p.restart_s
                if move_s <= until_s and (
                    event_s is None or _in_time_at(view, j, s, d, move_s, float(event_s[s]))
                ):
                    dest, need_s = d, move_s
                    break
            if until_s > max(lead_s, need_s + step):
                continue  # not yet: the event is far enough away
            p_at = view.power_at(j) if hetero else None
            if dest >= 0:
                out.append(Migrate(j, dest))
                free[dest] -= 1
                avail[dest] -= jobs.power_w[j] if p_at is None else p_at[dest]
            else:
                out.append(Pause(j))
            p_here = jobs.power_w[j] if p_at is None else p_at[s]
            draw -= float(p_here - view.idle_slot_power_w[s])
    return out, blocked


def _dr_event_s(view: View, first: IntArray, max_lead_h: float) -> FloatArray:
    """Per site, the known length of its next demand-response event, s (its capped steps from
    the first, over the lead horizon and 24 h after; 0 where none)."""
    step = view.step_s
    grid = grid_view(view)
    assert grid is not None
    n = max(1, round((max_lead_h + 24.0) * 3600.0 / step))
    on = np.isfinite(grid.dr_cap_w(n))
    out = np.zeros(len(view.site_names))
    for s in np.flatnonzero(first >= 0):
        col = on[int(first[s]) :, int(s)]
        off = np.flatnonzero(~col)
        out[s] = (int(off[0]) if off.size else len(col)) * step
    return out


def resume_elsewhere_pays(view: View, j: int, dest: int, *, max_lead_h: float = 12.0) -> bool:
    """Whether paused job ``j`` should resume at ``dest`` rather than wait for its own site's
    demand-response event to end: always on equal sites, at its own site or at one at least as
    fast; at a slower one only when the move and the slower rest of the run delay the job less
    than the wait for its own site would (:func:`shed_for_demand_response`'s rule)."""
    jobs = view.jobs
    own = int(jobs.site[j])
    if own < 0 or dest == own or view.site_speed is None or not view.heterogeneous():
        return True
    v_o, v_d = float(view.site_speed[own]), float(view.site_speed[dest])
    if v_d >= v_o:
        return True
    got = dr_blocked(view, max(1, round(max_lead_h * 3600.0 / view.step_s)))
    if got is None or got[1][own] < 0:
        return True  # nothing to wait for at its own site
    wait_s = float(_dr_event_s(view, got[1], max_lead_h)[own] + got[1][own] * view.step_s)
    p = view.params
    sent = float(jobs.size_to(j, len(view.site_names))[dest])
    move_s = 8.0 * sent / float(view.bandwidth_gbps[own, dest]) + (
        float(jobs.size_gb[j]) / p.disk_read_gb_per_s + p.restart_s
    )
    rest_h = float(jobs.work_gpu_h[j] - jobs.progress_gpu_h[j])
    return move_s + rest_h * 3600.0 * (1.0 / v_d - 1.0 / v_o) <= wait_s


def _in_time_at(view: View, j: int, src: int, dest: int, move_s: float, event_s: float) -> bool:
    """Heterogeneous sites: whether shedding job ``j`` from ``src`` to ``dest`` (a move of
    ``move_s`` seconds) lets it finish in time at ``dest``'s speed: by its deadline, and losing
    no more than pausing through an event of ``event_s`` would."""
    jobs = view.jobs
    assert view.site_speed is not None
    v_s, v_d = float(view.site_speed[src]), float(view.site_speed[dest])
    rest_h = float(jobs.work_gpu_h[j] - jobs.progress_gpu_h[j])
    done_s = view.now_s + move_s + rest_h * 3600.0 / v_d
    if done_s > float(jobs.deadline_s[j]):
        return False
    if v_d >= v_s:
        return True
    # the delay of moving: its downtime, plus the rest of the run's longer time there; the
    # delay of pausing: the event
    lost_s = move_s + rest_h * 3600.0 * (1.0 / v_d - 1.0 / v_s)
    return lost_s <= event_s


def is_heterogeneous(site_speed: FloatArray | None, site_power_factor: FloatArray | None) -> bool:
    """True when some site's part differs from the reference in speed or power."""
    return any(a is not None and bool((a != 1.0).any()) for a in (site_speed, site_power_factor))


@dataclass(slots=True)
class View:
    """The world at ``now`` as a real orchestrator could know it (read it, do not change it)."""

    step: int
    now_s: float  # seconds since the start of the run
    step_s: float
    site_names: tuple[str, ...]
    surplus_w: FloatArray  # renewable generation minus base load, now
    it_load_w: FloatArray  # power of the jobs and idle slots at each site, last step
    slots: IntArray
    free_slots: IntArray  # not held and not reserved by an incoming move
    idle_slot_power_w: FloatArray
    bandwidth_gbps: FloatArray  # (sites, sites) estimate
    battery_soc_kwh: FloatArray
    battery_capacity_kwh: FloatArray
    jobs: JobsView
    forecast: ForecastView
    params: ModelParameters = DEFAULTS
    #: per site: training speed and a job's power there against the reference part
    #: (greenhop.accelerators); None: every site is the reference part
    site_speed: FloatArray | None = None
    site_power_factor: FloatArray | None = None
    #: :meth:`heterogeneous`, once known (a world that builds a View per step sets it)
    _hetero: bool | None = field(default=None, init=False, repr=False, compare=False)

    def heterogeneous(self) -> bool:
        """True when some site's part differs from the reference in speed or power."""
        if self._hetero is None:
            self._hetero = is_heterogeneous(self.site_speed, self.site_power_factor)
        return self._hetero

    def power_at(self, j: int) -> FloatArray:
        """Job ``j``'s draw at each site, W (its power times the site's power factor)."""
        p = float(self.jobs.power_w[j])
        if self.site_power_factor is None:
            return np.full(len(self.site_names), p)
        out: FloatArray = p * self.site_power_factor
        return out

    def speed_ratio(self, src: int) -> FloatArray:
        """Each site's training speed over site ``src``'s (1 everywhere on equal sites)."""
        if self.site_speed is None:
            return np.ones(len(self.site_names))
        out: FloatArray = self.site_speed / self.site_speed[src]
        return out

    def available_w(self) -> FloatArray:
        """Renewable power left for one more job at each site, W.

        Surplus minus what the site draws now, plus the idle power of the slot the job would
        take (that slot stops idling). A job is fully renewable-powered where this is at least
        its power.
        """
        return self.surplus_w - self.it_load_w + self.idle_slot_power_w


class Policy(abc.ABC):
    """Decides, at each step, which jobs start, move, pause or resume."""

    #: The name used on the command line and in result tables.
    name: str = "policy"

    @abc.abstractmethod
    def decide(self, now: float, view: View) -> list[Action]:
        """Actions to take at ``now`` (seconds since the start of the run)."""

    def config(self) -> dict[str, Any]:
        """Static settings, for the run's records."""
        return {"name": self.name}

    def prestage_hints(self, view: View) -> list[tuple[int, int]]:
        """``(job, site)`` pairs worth copying a job's frozen part to ahead of a move (a world
        that can pre-stage does so on spare link capacity); none by default."""
        return []

    def quiet_steps(self, view: View, surplus_w: FloatArray, it_load_w: FloatArray) -> int:
        """How many steps in a row, from ``view``'s, :meth:`decide` provably returns no action.

        The first row is the step ``view`` shows, whatever the jobs' states (the answer for
        it is whether :meth:`decide` would return nothing given this view). Over the later
        rows the world asks only where nothing but the surplus and the IT load changes: no job
        arrives or changes state (a transfer under way goes on), the free slots stay as they
        are. Row ``i`` of ``surplus_w`` is the surplus at step ``view.step + i``. The IT
        load a step's view shows is the last step's: at the first step ``view.it_load_w``, at
        every later one ``it_load_w`` (per site; the jobs run as they do). A simulator
        advances such a span in array operations instead of asking the policy at every step.
        The answer must be exact (the run is then identical to asking at every step); 0, the
        default, means "not known": the policy is asked at every step.
        """
        return 0


def admit_queued(
    view: View,
    *,
    exclude: frozenset[int] = frozenset(),
    weight: FloatArray | None = None,
    blocked: NDArray[np.bool_] | None = None,
) -> list[Action]:
    """Start every queued job that fits, the rule shared by all online policies.

    A job with a preferred site goes there when it has a free slot; any other job goes to the
    free site with the most renewable power left for it now (ties: the lower index). Jobs are
    admitted in order of arrival; ``exclude`` holds jobs the policy defers.

    With ``weight`` (per site, what a grid kWh costs there: :func:`grid_weight`) a job goes to
    the free site where its grid draw ``max(power - max(renewable left, 0), 0)`` weighs least
    (ties: the most renewable power left). ``blocked`` sites (a demand-response event ahead)
    take no job.
    """
    queued = view.jobs.in_state(JobState.QUEUED)
    if queued.size == 0:
        return []
    free = view.free_slots.copy()
    if blocked is not None:
        free = np.where(blocked, 0, free)
    avail = view.available_w().astype(np.float64)
    hetero = view.heterogeneous()
    actions: list[Action] = []
    for j in queued[np.argsort(view.jobs.arrival_s[queued], kind="stable")]:
        j = int(j)
        if j in exclude:
            continue
        pref = int(view.jobs.preferred_site[j])
        if pref >= 0:
            if free[pref] <= 0:
                continue
            site = pref
        else:
            if not (free > 0).any():
                break
            if weight is None and hetero:  # the most renewable power left once it runs there
                margin = avail - view.power_at(j)
                site = int(np.argmax(np.where(free > 0, margin, -np.inf)))
            elif weight is None:
                site = int(np.argmax(np.where(free > 0, avail, -np.inf)))
            else:
                # the job's own grid draw: what renewables left do not cover (the base
                # load is served first and is not the job's)
                short = np.maximum(view.power_at(j) - np.maximum(avail, 0.0), 0.0)
                need = np.where(short > 0, short * weight, 0.0)
                score = np.where(free > 0, need - 1e-9 * avail, np.inf)
                site = int(np.argmin(score))
        actions.append(Start(j, site))
        free[site] -= 1
        avail[site] -= view.power_at(j)[site] if hetero else view.jobs.power_w[j]
    return actions


def nothing_to_admit(view: View) -> bool:
    """Whether :func:`admit_queued` (no sites blocked) starts no job: none is queued, or no
    slot is free anywhere (a queue that waits for a slot, which only a job's end or move
    frees)."""
    return bool(view.free_slots.max() <= 0) or view.jobs.in_state(JobState.QUEUED).size == 0


def free_slots_after(view: View, actions: list[Action]) -> IntArray:
    """Free slots per site once ``actions`` (starts, resumes, moves) have taken theirs."""
    free = view.free_slots.copy()
    for act in actions:
        if isinstance(act, Start | Resume):
            free[act.site] -= 1
        elif isinstance(act, Migrate):
            free[act.dest] -= 1
    return free


@dataclass
class Deficit:
    """Running jobs at sites whose renewables do not cover them, and the power left per site.

    ``movers`` are ordered by their site's deficit, the largest first; ``available_w`` and
    ``own_w`` (renewable power left at each site for one more job / for the jobs already there)
    and ``free`` are working copies a policy updates as it decides.
    """

    movers: list[int]
    available_w: FloatArray
    own_w: FloatArray
    free: IntArray

    def moved(
        self, job_power_w: float, src: int, dest: int, src_power_w: float | None = None
    ) -> None:
        """Account for a decided move of a job drawing ``job_power_w`` at ``dest`` (and
        ``src_power_w`` at ``src``; default the same) from ``src`` to ``dest``."""
        back = job_power_w if src_power_w is None else src_power_w
        self.free[dest] -= 1
        self.available_w[dest] -= job_power_w
        self.own_w[src] += back
        self.available_w[src] += back


def steps_without_deficit(
    view: View, surplus_w: FloatArray, it_load_w: FloatArray, *, whole_job: bool = False
) -> int:
    """How many of the rows of ``surplus_w``, in a row from the first, :func:`jobs_in_deficit`
    would answer None for with no actions decided before it, everything else being ``view``'s
    but the IT load: ``view.it_load_w`` at the first row, ``it_load_w`` at every later one
    (see :meth:`Policy.quiet_steps`).

    The same arithmetic as :func:`jobs_in_deficit`, over many steps at once; rows are checked
    in growing chunks, so a busy step costs little.
    """
    jobs = view.jobs
    running = jobs.in_state(JobState.RUNNING)
    n = len(surplus_w)
    if running.size == 0 or view.free_slots.max() <= 0:
        return n
    # the least draw among the running jobs at each site (inf where none runs)
    least = np.full(len(view.site_names), np.inf)
    np.minimum.at(least, jobs.site[running], jobs.power_w[running])
    if view.site_power_factor is not None and view.heterogeneous():  # else all 1: no change
        least *= float(view.site_power_factor.min())
    idle = view.idle_slot_power_w
    done, chunk = 0, 4
    while done < n:
        stop = min(n, done + chunk)
        avail = surplus_w[done:stop] - it_load_w
        if done == 0:  # the first row's load is the view's
            avail[0] = surplus_w[0] - view.it_load_w
        avail += idle
        # the least draw among the jobs at sites whose renewables do not cover them: inf
        # where no running job lacks renewables
        least_w = np.where(avail - idle < 0, least, np.inf).min(axis=1)
        best = avail.max(axis=1)
        none = np.isinf(least_w) | (best <= 0)
        if whole_job:
            none |= best < least_w
        if not none.all():
            return done + int(np.argmin(none))
        done = stop
        chunk *= 8
    return n


def jobs_in_deficit(
    view: View, actions: list[Action], *, whole_job: bool = False
) -> Deficit | None:
    """The running jobs a policy may want to move, or None when there is nothing to decide.

    None when no running job lacks renewables, when no slot is free, or when no site has any
    renewable power left (with ``whole_job``: enough for the smallest job in deficit).
    """
    jobs = view.jobs
    running = jobs.in_state(JobState.RUNNING)
    if running.size == 0:
        return None
    avail = view.available_w()
    own = avail - view.idle_slot_power_w
    in_deficit = running[own[jobs.site[running]] < 0]
    if in_deficit.size == 0:
        return None
    best = avail.max()
    least_w = jobs.power_w[in_deficit].min()
    if view.site_power_factor is not None and view.heterogeneous():  # else all 1: no change
        least_w *= float(view.site_power_factor.min())
    if best <= 0 or (whole_job and best < least_w):
        return None
    free = free_slots_after(view, actions)
    if not (free > 0).any():
        return None
    # by their site's deficit, the largest first (a stable sort: ties in job order)
    movers = in_deficit[np.argsort(own[jobs.site[in_deficit]], kind="stable")].tolist()
    return Deficit(movers, avail, own, free)
