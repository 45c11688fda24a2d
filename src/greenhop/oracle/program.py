"""``oracle``: the offline optimum with perfect knowledge, a lower bound for every online policy.

:func:`solve_oracle` writes one mixed-integer program (solved by HiGHS through ``highspy``) over
the whole run: where and when every job runs, knowing all generation, all arrivals and all jobs
in advance. Its optimum is a **lower bound on the non-renewable energy** (kWh) that any policy,
online or not, spends on an instance when it completes every job (by its deadline, if it has
one)::

    non-renewable energy = grid energy of the IT load + e_net * S_j for every move whose
                           transfer completed

the quantity :func:`greenhop.world.ledger.non_renewable_kwh` measures on any run's record.

The program is a *relaxation* of what the simulator models, so every schedule the simulator can
produce maps to a feasible point of the program that costs no more (docs/oracle.md has the
argument in full):

- time is cut into blocks of ``block_steps`` simulator steps; ``x[j,s,t]`` in [0, 1] is the
  fraction of block ``t`` job ``j`` runs at site ``s``; a job runs at one site at a time
  (``sum_s x <= 1``), a site runs at most ``slots`` jobs at a time (``sum_j x <= slots``);
- binary ``u[j,s,t]``: the job *is located* at ``s`` (runs there, or its checkpoint lies there)
  at some moment of block ``t``, ``x <= u``; a job may be located at several sites within one
  block (it can move inside a block). Every site the job enters costs a move:
  ``e[j,s,t] >= u[j,s,t] - u[j,s,t-1]`` and ``moves_j >= sum e - 1`` (the first placement is a
  start, not a move); each move costs ``e_net * S_j`` kWh;
- migrations take no time, no slot and no idle energy; restarts take no time;
- where idle slots sleep (``[sites.sleep]``), an empty slot draws its sleep power and waking it
  costs nothing: no wake energy, no wake time (the simulator's wake-ups only add load);
- the grid energy of a site in a block is bounded below by the least grid energy any
  distribution of the block's job energy over its steps could have (see :func:`_site_blocks`):
  exact when ``block_steps == 1``, and never above the truth for coarser blocks;
- batteries are modelled with their capacity, state-of-charge limits, power limit and
  round-trip efficiency, but operated optimally (the simulator's battery is greedy), with the
  state of charge checked only at block ends.

When HiGHS stops before proving optimality (``time_limit_s``), :attr:`OracleSolution.bound_kwh`
is its proven dual bound, still a valid lower bound; ``objective_kwh`` is the value of the best
plan found.

:func:`oracle_policy` replays the plan (a :class:`~greenhop.policies.replay.ReplayPolicy`): it
starts, migrates, pauses and resumes jobs where and when the plan says, running each job in the
steps of a block with the most surplus. The replay pays what the program left out (checkpoint,
transfer and restore times), so its non-renewable energy is at or above the bound; a job that
falls behind its plan keeps running rather than pausing.

Units: power in W, energy in kWh, durations in s, work in GPU-hours (one job, one GPU slot).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from greenhop.energy.battery import BatteryBank
from greenhop.errors import GreenhopError, InputError
from greenhop.policies.replay import ReplayPolicy
from greenhop.world.inputs import SimInputs
from greenhop.world.rules import arrival_steps

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Default cap on the number of binary variables (jobs x sites x blocks) of one program.
MAX_BINARIES = 20_000
#: Default cap on the length of one time block, s; coarser blocks make the bound too loose.
MAX_BLOCK_S = 4 * 3600.0
#: Run fractions below this are treated as zero when the plan is read back.
_EPS = 1e-6


@dataclass(frozen=True)
class OracleSolution:
    """The program's result: the bound and the plan.

    Attributes:
        bound_kwh: proven lower bound on the non-renewable energy of any policy that completes
            every job, kWh (HiGHS's dual bound; equal to ``objective_kwh`` up to the MIP gap).
        objective_kwh: non-renewable energy of the plan as the program counts it, kWh (nan if
            no plan was found in time).
        status: HiGHS's model status, e.g. ``"Optimal"`` or ``"Time limit reached"``.
        mip_gap: relative gap between ``objective_kwh`` and ``bound_kwh`` HiGHS reported.
        block_steps: simulator steps per block.
        step_s: simulator step length, s.
        n_steps: simulator steps in the run.
        run_fraction: (jobs, sites, blocks) fraction of each block each job runs at each site.
        grid_kwh: (sites, blocks) grid energy of the plan per site and block, kWh.
        moves: (jobs,) number of moves of each job in the plan.
        network_kwh: network energy of the plan's moves, kWh.
        n_binaries, n_columns, n_rows: size of the program (the largest window's, rolling).
        solve_s: wall-clock time of building and solving the program, s (for reports only).
    """

    bound_kwh: float
    objective_kwh: float
    status: str
    mip_gap: float
    block_steps: int
    step_s: float
    n_steps: int
    run_fraction: FloatArray
    grid_kwh: FloatArray
    moves: FloatArray
    network_kwh: float
    n_binaries: int
    n_columns: int
    n_rows: int
    solve_s: float
    job_names: tuple[str, ...] = field(default=())
    #: the completion-time budget solved for (None: none, today's oracle)
    eps: float | None = None
    #: (jobs,) latest completion each job was allowed, s since the start (deadline, end of the
    #: run, budget); empty when unknown
    done_by_s: FloatArray = field(default_factory=lambda: np.zeros(0))
    #: "exact": one program over the run, ``bound_kwh`` a proven lower bound; "rolling":
    #: windows solved one after another (:func:`greenhop.oracle.rolling.solve_rolling`), a
    #: heuristic plan whose ``bound_kwh`` is nan (no bound)
    kind: str = "exact"

    @property
    def has_plan(self) -> bool:
        """Whether HiGHS found a plan (a feasible schedule) within its time limit."""
        return bool(np.isfinite(self.objective_kwh))

    @property
    def n_blocks(self) -> int:
        return int(self.run_fraction.shape[2])

    def block_range(self, t: int) -> tuple[int, int]:
        """First and one-past-last simulator step of block ``t``."""
        return t * self.block_steps, min((t + 1) * self.block_steps, self.n_steps)

    @property
    def is_bound(self) -> bool:
        """Whether ``bound_kwh`` is a proven lower bound (one program over the whole run)."""
        return self.kind == "exact"

    def summary(self) -> dict[str, Any]:
        """Scalars for the run's records; a rolling-horizon plan carries no ``bound_kwh``
        (it is a heuristic, not a bound) but ``heuristic_kwh``, its program's energy."""
        first: dict[str, Any] = (
            {"bound_kwh": self.bound_kwh}
            if self.is_bound
            else {"heuristic_kwh": self.objective_kwh, "kind": "rolling-horizon heuristic"}
        )
        if self.eps is not None:
            first["eps"] = self.eps
        return {
            **first,
            "objective_kwh": self.objective_kwh,
            "status": self.status,
            "mip_gap": self.mip_gap,
            "block_steps": self.block_steps,
            "moves": float(self.moves.sum()),
            "network_kwh": self.network_kwh,
            "n_binaries": self.n_binaries,
            "n_rows": self.n_rows,
            "solve_s": self.solve_s,
        }


def choose_block_steps(
    n_jobs: int,
    n_sites: int,
    n_steps: int,
    step_s: float,
    *,
    max_binaries: int = MAX_BINARIES,
    max_block_s: float = MAX_BLOCK_S,
) -> int:
    """The fewest steps per block that keep jobs x sites x blocks within ``max_binaries``.

    Raises :class:`InputError`, naming the sizes, when that would need blocks longer than
    ``max_block_s`` seconds.
    """
    per_block = max(1, n_jobs * n_sites)
    max_blocks = max_binaries // per_block
    b = math.ceil(n_steps / max_blocks) if max_blocks > 0 else n_steps + 1
    b = max(1, b)
    while max_blocks > 0 and b <= n_steps and math.ceil(n_steps / b) > max_blocks:
        b += 1
    if max_blocks == 0 or b * step_s > max_block_s:
        raise InputError(
            f"instance too large for the oracle: {n_jobs} jobs x {n_sites} sites x {n_steps} "
            f"steps of {step_s:g} s would need blocks of more than {max_block_s / 3600:g} h to "
            f"stay within {max_binaries} binary variables; use fewer jobs, sites or steps "
            "(the oracle is meant for small instances)"
        )
    return b


@dataclass(frozen=True)
class _SiteBlocks:
    """Per site and block: the terms of the grid-energy lower bound, kWh."""

    deficit_kwh: FloatArray  # (sites, blocks) D: grid energy if every step drew the lowest load
    headroom_kwh: FloatArray  # (sites, blocks) H: job energy that could run on renewables
    floor_kwh: FloatArray  # (sites, blocks) lowest IT-load energy of the block
    gen_kwh: FloatArray  # (sites, blocks) renewable energy (surplus >= 0)
    neg_w: FloatArray  # (sites,) lowest (<= 0) extra load of the jobs over idle slots, W


def _site_blocks(
    inputs: SimInputs,
    block_steps: int,
    n_blocks: int,
    jobs_extra_w: FloatArray,
    *,
    k0: int = 0,
    n_steps: int | None = None,
) -> _SiteBlocks:
    """Terms of the grid bound ``Q >= D``, ``Q >= D + E' - H`` for every site and block.

    At each step the IT load of a site lies in ``[F, F + C]``: ``F`` is all slots idle (less
    what jobs drawing under the idle power save), ``C`` the most the jobs can add. Where idle
    slots sleep (``SimInputs.sleep``), an empty slot counts at its sleep power and wake-ups
    (their energy and time, and slots awake after a job left them) are ignored: they only add
    load, so the bound stays a lower bound. With
    renewable power ``g_k`` (surplus, clipped at 0) and ``E'`` the block's load energy above
    ``F``, the grid energy ``sum_k max(F + e_k - g_k, 0) dt`` over every split ``e_k`` in
    ``[0, C]`` with ``sum_k e_k dt = E'`` is at least ``D + max(E' - H, 0)``, with
    ``D = sum_k max(F - g_k, 0) dt`` and ``H = sum_k min(max(g_k - F, 0), C) dt``. The
    blocks cover steps ``k0 .. k0 + n_steps`` (default: the whole run).
    """
    stop = inputs.n_steps if n_steps is None else k0 + n_steps
    surplus = np.maximum(inputs.surplus_w[k0:stop], 0.0)  # (steps, sites)
    n_steps, n_sites = surplus.shape
    slots = inputs.slots
    # an empty slot's draw: the sleep power where idle slots sleep (wake-ups ignored: a bound)
    idle = inputs.empty_slot_power_w
    floor_w = np.zeros(n_sites)
    span_w = np.zeros(n_sites)
    neg_w = np.zeros(n_sites)
    for s in range(n_sites):
        extra = np.sort(jobs_extra_w[:, s])
        m = int(min(slots[s], len(extra)))
        neg = float(np.minimum(extra[:m], 0.0).sum()) if m else 0.0
        pos = float(np.maximum(extra[::-1][:m], 0.0).sum()) if m else 0.0
        neg_w[s] = neg
        floor_w[s] = idle[s] * slots[s] + neg
        span_w[s] = pos - neg
    pad = n_blocks * block_steps - n_steps
    g = np.concatenate([surplus, np.full((pad, n_sites), np.nan)]) if pad else surplus
    g = g.reshape(n_blocks, block_steps, n_sites)
    valid = ~np.isnan(g)
    g = np.nan_to_num(g)
    kwh = float(inputs.step_s) / 3.6e6
    deficit = (np.maximum(floor_w - g, 0.0) * valid).sum(axis=1) * kwh
    headroom = (np.minimum(np.maximum(g - floor_w, 0.0), span_w) * valid).sum(axis=1) * kwh
    floor = valid.sum(axis=1) * floor_w * kwh
    gen = g.sum(axis=1) * kwh
    return _SiteBlocks(deficit.T, headroom.T, floor.T, gen.T, neg_w)


def _silent_highs() -> Any:
    """A HiGHS instance whose banner is not printed: HiGHS writes it to file descriptor 1 when
    the first instance is built, before any option can turn output off."""
    import highspy

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout to protect
        return highspy.Highs()
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class _Model:
    """Columns and rows of a sparse program, collected as triplets."""

    def __init__(self) -> None:
        self.cost: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.integer: list[bool] = []
        self.row_lower: list[float] = []
        self.row_upper: list[float] = []
        self.ri: list[int] = []
        self.ci: list[int] = []
        self.val: list[float] = []

    def cols(
        self,
        n: int,
        lower: float,
        upper: float | FloatArray,
        cost: float | FloatArray = 0.0,
        integer: bool = False,
    ) -> IntArray:
        start = len(self.cost)
        self.cost.extend(np.broadcast_to(np.asarray(cost, dtype=float), (n,)).tolist())
        self.lower.extend([lower] * n)
        self.upper.extend(np.broadcast_to(np.asarray(upper, dtype=float), (n,)).tolist())
        self.integer.extend([integer] * n)
        return np.arange(start, start + n, dtype=np.int64)

    def row(
        self, cols: list[int] | IntArray, vals: list[float] | FloatArray, lo: float, hi: float
    ) -> None:
        r = len(self.row_lower)
        self.row_lower.append(lo)
        self.row_upper.append(hi)
        cols_l = [int(c) for c in cols]
        self.ri.extend([r] * len(cols_l))
        self.ci.extend(cols_l)
        self.val.extend(float(v) for v in np.broadcast_to(np.asarray(vals, float), (len(cols_l),)))

    def solve(
        self,
        time_limit_s: float,
        mip_rel_gap: float,
        round_start: Callable[[FloatArray], FloatArray] | None = None,
    ) -> tuple[Any, FloatArray | None]:
        """Solve with HiGHS; ``round_start`` turns the LP relaxation's values (all columns)
        into 0/1 values of the integer columns for a first plan."""
        import highspy

        inf = highspy.kHighsInf
        n_col, n_row = len(self.cost), len(self.row_lower)
        lp = highspy.HighsLp()
        lp.num_col_ = n_col
        lp.num_row_ = n_row
        lp.col_cost_ = np.asarray(self.cost)
        lp.col_lower_ = np.asarray(self.lower)
        lp.col_upper_ = np.where(np.isinf(self.upper), inf, np.asarray(self.upper))
        lp.row_lower_ = np.where(np.isinf(self.row_lower), -inf, np.asarray(self.row_lower))
        lp.row_upper_ = np.where(np.isinf(self.row_upper), inf, np.asarray(self.row_upper))
        ci = np.asarray(self.ci, dtype=np.int64)
        order = np.lexsort((np.asarray(self.ri, dtype=np.int64), ci))
        start = np.searchsorted(ci[order], np.arange(n_col + 1)).astype(np.int32)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start
        lp.a_matrix_.index_ = np.asarray(self.ri, dtype=np.int32)[order]
        lp.a_matrix_.value_ = np.asarray(self.val)[order]
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
            for b in self.integer
        ]
        log = bool(os.environ.get("GREENHOP_ORACLE_LOG"))
        h = highspy.Highs() if log else _silent_highs()
        h.setOptionValue("output_flag", log)
        h.setOptionValue("time_limit", float(time_limit_s))
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        h.setOptionValue("threads", 1)
        integer = np.flatnonzero(np.asarray(self.integer)).astype(np.int32)
        h.passModel(lp)
        if integer.size:
            # a first plan from the LP relaxation's rounded placements; HiGHS completes the
            # continuous columns and starts its search from it
            kinds = highspy.HighsVarType
            h.changeColsIntegrality(
                int(integer.size), integer, np.full(integer.size, kinds.kContinuous)
            )
            h.run()
            relaxed = h.getSolution()
            vals = None
            if relaxed.value_valid:
                lp_vals = np.asarray(relaxed.col_value)
                vals = (
                    round_start(lp_vals)[integer]
                    if round_start is not None
                    else (lp_vals[integer] > 1e-7).astype(np.float64)
                )
            h.changeColsIntegrality(
                int(integer.size), integer, np.full(integer.size, kinds.kInteger)
            )
            if vals is not None:
                h.setSolution(int(integer.size), integer, vals)
        h.run()
        sol = h.getSolution()
        values = np.asarray(sol.col_value) if sol.value_valid else None
        return h, values


def completion_limits_s(
    inputs: SimInputs,
    eps: float | None = None,
    done_by_s: ArrayLike | None = None,
    *,
    stay_done_s: ArrayLike | None = None,
) -> FloatArray:
    """Each job's latest completion the program allows, s since the start of the run.

    The deadline (if any) and the end of the run always; with ``done_by_s`` (per job; inf for
    none) also that; with ``eps`` also ``arrival + (1 + eps) * JCT under stay`` (the budget of
    docs/oracle.md, "A completion-time budget"), running ``stay`` on ``inputs`` first unless
    ``stay_done_s`` gives its completions. ``eps=None`` (or inf) adds nothing.
    """
    jobs = inputs.jobs
    end_s = inputs.n_steps * float(inputs.step_s)
    close = np.minimum(np.asarray(jobs.deadline_s, dtype=float), end_s)
    if done_by_s is not None:
        given = np.asarray(done_by_s, dtype=float)
        if given.shape != close.shape:
            raise InputError(f"done_by_s needs one value per job ({len(close)}), got {given.shape}")
        close = np.minimum(close, given)
    if eps is not None and math.isfinite(eps):
        if eps < 0:
            raise InputError(f"the completion budget eps must be >= 0, got {eps:g}")
        from greenhop.oracle.budget import stay_completion_s

        arrival = np.asarray(jobs.arrival_s, dtype=float)
        done = (
            stay_completion_s(inputs)
            if stay_done_s is None
            else np.asarray(stay_done_s, dtype=float)
        )
        budget = np.where(np.isfinite(done), arrival + (1.0 + eps) * (done - arrival), np.inf)
        close = np.minimum(close, budget)
    return close


@dataclass(frozen=True)
class _Window:
    """One program: steps ``k0 .. k0 + n_steps`` in blocks, and the state it starts from."""

    k0: int  # first simulator step
    n_steps: int  # simulator steps in the window
    block_steps: int
    cap: FloatArray  # (jobs, blocks) fraction of each block a job may run
    work_min_h: FloatArray  # (jobs,) least work in the window, GPU-h
    work_max_h: FloatArray  # (jobs,) most work in the window, GPU-h (inf: no cap)
    site0: IntArray  # (jobs,) where the job is (or its checkpoint lies) at k0; -1: nowhere
    soc0_kwh: FloatArray  # (sites,) battery state of charge at k0, kWh

    @property
    def n_blocks(self) -> int:
        return -(-self.n_steps // self.block_steps)


@dataclass(frozen=True)
class _Solved:
    """What one program gave."""

    status: str
    infeasible: bool
    bound_kwh: float
    objective_kwh: float
    mip_gap: float
    run_fraction: FloatArray  # (jobs, sites, blocks)
    located: FloatArray  # (jobs, sites, blocks) u, 0/1
    grid_kwh: FloatArray  # (sites, blocks)
    soc_kwh: FloatArray  # (sites, blocks) at each block's end (nan without a battery)
    moves: FloatArray  # (jobs,)
    n_binaries: int
    n_columns: int
    n_rows: int


def _job_caps(
    open_s: FloatArray, close_s: FloatArray, k0: int, n_steps: int, block_steps: int, step_s: float
) -> tuple[FloatArray, FloatArray]:
    """(jobs, blocks) fraction of each block of the window a job may run, and the blocks'
    lengths, s."""
    n_blocks = -(-n_steps // block_steps)
    start = k0 * step_s + np.arange(n_blocks) * block_steps * step_s
    end = np.minimum(start + block_steps * step_s, (k0 + n_steps) * step_s)
    overlap = np.clip(
        np.minimum(close_s[:, None], end[None, :]) - np.maximum(open_s[:, None], start[None, :]),
        0.0,
        None,
    )
    return overlap / (end - start)[None, :], end - start


def _power_and_speed(inputs: SimInputs) -> tuple[FloatArray, FloatArray]:
    """Each job's draw at each site, W (jobs, sites), and each site's work per hour of running,
    GPU-h of the reference part (sites,): a site's accelerator scales both
    (:mod:`greenhop.accelerators`); all sites the reference part: the jobs' power, speed 1."""
    n_sites = len(inputs.site_names)
    pf = inputs.site_power_factor
    speed = inputs.site_speed
    power = np.asarray(inputs.jobs.power_w, dtype=float)[:, None]
    power_at = power * (np.ones(n_sites) if pf is None else np.asarray(pf, dtype=float))[None, :]
    sp = np.ones(n_sites) if speed is None else np.asarray(speed, dtype=float)
    return power_at, sp


def _sent_gb(inputs: SimInputs) -> FloatArray:
    """The least a move of each job sends, GB: its checkpoint less its frozen part (a site
    that holds the frozen part already is sent only the rest)."""
    size = np.asarray(inputs.jobs.size_gb, dtype=float)
    frozen = inputs.jobs.frozen_gb
    return size if frozen is None else size - np.asarray(frozen, dtype=float)


def _solve_window(
    inputs: SimInputs, w: _Window, time_limit_s: float, mip_rel_gap: float
) -> _Solved:
    """Build and solve the program of one window (module docstring; docs/oracle.md)."""
    jobs = inputs.jobs
    n_jobs, n_sites = len(jobs), len(inputs.site_names)
    step_s = float(inputs.step_s)
    n_blocks = w.n_blocks
    cap = w.cap
    block_len_s = np.minimum(
        np.full(n_blocks, w.block_steps * step_s),
        (w.n_steps - np.arange(n_blocks) * w.block_steps) * step_s,
    )
    power_at, speed = _power_and_speed(inputs)  # (jobs, sites) draw; (sites,) work per hour
    idle = inputs.empty_slot_power_w  # the sleep power where idle slots sleep
    extra_w = power_at - idle[None, :]  # (jobs, sites) load above an idle slot
    sb = _site_blocks(inputs, w.block_steps, n_blocks, extra_w, k0=w.k0, n_steps=w.n_steps)

    bank = BatteryBank(inputs.batteries or [None] * n_sites, step_s)
    e_net = float(inputs.params.network_kwh_per_gb)
    sent = _sent_gb(inputs)

    mdl = _Model()
    x_of: dict[tuple[int, int, int], int] = {}
    x_cols: list[IntArray] = []
    u_cols: list[IntArray] = []
    u_of: dict[tuple[int, int, int], int] = {}
    move_cols = mdl.cols(n_jobs, 0.0, math.inf, cost=e_net * sent)
    n_bin = 0
    for j in range(n_jobs):
        ts = np.flatnonzero(cap[j] > 0)
        n = len(ts) * n_sites
        xs = mdl.cols(n, 0.0, np.repeat(cap[j, ts], n_sites)).reshape(len(ts), n_sites)
        us = mdl.cols(n, 0.0, 1.0, integer=True).reshape(len(ts), n_sites)
        x_cols.append(xs)
        u_cols.append(us)
        es = mdl.cols(n, 0.0, 1.0).reshape(len(ts), n_sites)
        n_bin += n
        placed = int(w.site0[j])
        entries = []
        for i, tb in enumerate(ts.tolist()):
            for s in range(n_sites):
                x_of[(j, s, tb)] = int(xs[i, s])
                u_of[(j, s, tb)] = int(us[i, s])
                mdl.row([xs[i, s], us[i, s]], [1.0, -1.0], -math.inf, 0.0)
                if i > 0:
                    mdl.row([es[i, s], us[i, s], us[i - 1, s]], [1.0, -1.0, 1.0], 0.0, math.inf)
                else:
                    # a job already placed enters its own site for free
                    lo = -1.0 if s == placed else 0.0
                    mdl.row([es[i, s], us[i, s]], [1.0, -1.0], lo, math.inf)
                entries.append(int(es[i, s]))
            mdl.row(xs[i], np.ones(n_sites), -math.inf, float(cap[j, tb]))
        if entries:
            # the first placement of a job not yet placed is a start, not a move
            first_free = -1.0 if placed < 0 else 0.0
            mdl.row(
                [int(move_cols[j]), *entries], [1.0] + [-1.0] * len(entries), first_free, math.inf
            )
            # GPU-h of work per unit of x: the block's hours times the site's speed
            hours = np.outer(block_len_s[ts] / 3600.0, speed).ravel()
            hi = float(w.work_max_h[j])
            mdl.row(
                xs.ravel(), hours, float(w.work_min_h[j]), hi if math.isfinite(hi) else math.inf
            )

    grid_cols = mdl.cols(n_sites * n_blocks, 0.0, math.inf, cost=1.0).reshape(n_sites, n_blocks)
    soc_of: dict[int, IntArray] = {}
    for s in range(n_sites):
        has_batt = bank.capacity_kwh[s] > 0
        if has_batt:
            q_cols = mdl.cols(n_blocks, 0.0, math.inf)
            pmax_kwh = bank.max_power_w[s] * block_len_s / 3.6e6
            ch = mdl.cols(n_blocks, 0.0, pmax_kwh)
            dis = mdl.cols(n_blocks, 0.0, pmax_kwh)
            soc = mdl.cols(n_blocks, float(bank.min_soc_kwh[s]), float(bank.max_soc_kwh[s]))
            soc_of[s] = soc
            soc0 = float(w.soc0_kwh[s])
            eta = float(bank.charge_efficiency[s])
        for t in range(n_blocks):
            in_block = [j for j in range(n_jobs) if (j, s, t) in x_of]
            xc = [x_of[(j, s, t)] for j in in_block]
            # extra job energy above an all-idle site, kWh, per unit of x
            ecoef = [extra_w[j, s] * block_len_s[t] / 3.6e6 for j in in_block]
            neg_kwh = sb.neg_w[s] * block_len_s[t] / 3.6e6
            d, hr = float(sb.deficit_kwh[s, t]), float(sb.headroom_kwh[s, t])
            if xc:
                mdl.row(xc, np.ones(len(xc)), -math.inf, float(inputs.slots[s]))
            # Q: the block's energy shortfall before batteries; G = Q - discharge (>= 0)
            q = int(q_cols[t]) if has_batt else int(grid_cols[s, t])
            mdl.row([q], [1.0], d, math.inf)
            mdl.row([q, *xc], [1.0] + [-c for c in ecoef], d - hr - neg_kwh, math.inf)
            if has_batt:
                g = int(grid_cols[s, t])
                mdl.row([g, q, int(dis[t])], [1.0, -1.0, 1.0], 0.0, math.inf)
                mdl.row([q, int(dis[t])], [1.0, -1.0], 0.0, math.inf)
                # charge <= surplus energy = Q - load + generation
                mdl.row(
                    [q, int(ch[t]), *xc],
                    [1.0, -1.0] + [-c for c in ecoef],
                    float(sb.floor_kwh[s, t] - sb.gen_kwh[s, t]) - neg_kwh,
                    math.inf,
                )
                # soc[t] <= soc[t-1] + eta * charge - discharge
                if t == 0:
                    mdl.row(
                        [int(soc[t]), int(ch[t]), int(dis[t])], [1.0, -eta, 1.0], -math.inf, soc0
                    )
                else:
                    mdl.row(
                        [int(soc[t]), int(soc[t - 1]), int(ch[t]), int(dis[t])],
                        [1.0, -1.0, -eta, 1.0],
                        -math.inf,
                        0.0,
                    )

    def round_start(lp_values: FloatArray) -> FloatArray:
        """A feasible placement from the LP: ``u = 1`` wherever the job runs (so ``x <= u``),
        and, in blocks where it does not run, where it last was (no move needed)."""
        out = np.zeros_like(lp_values)
        for j, (xs, us) in enumerate(zip(x_cols, u_cols, strict=True)):
            used = lp_values[xs] > 1e-7  # (window blocks, sites)
            prev = np.zeros(n_sites, dtype=bool)
            if w.site0[j] >= 0:
                prev[int(w.site0[j])] = True
            for i in range(len(used)):
                here = used[i] if used[i].any() else prev
                out[us[i]] = here
                prev = here
        return out

    h, values = mdl.solve(time_limit_s, mip_rel_gap, round_start)
    import highspy

    status = h.modelStatusToString(h.getModelStatus())
    infeasible = h.getModelStatus() == highspy.HighsModelStatus.kInfeasible
    info = h.getInfo()
    has_plan = values is not None and info.primal_solution_status == 2 and not infeasible
    objective = float(info.objective_function_value) if has_plan else math.nan
    bound = float(info.mip_dual_bound)
    if has_plan:
        bound = min(bound, objective)
    if not math.isfinite(bound):
        bound = 0.0  # nothing proven: 0 kWh is the trivial bound
    run_fraction = np.zeros((n_jobs, n_sites, n_blocks))
    located = np.zeros((n_jobs, n_sites, n_blocks))
    grid_kwh = np.full((n_sites, n_blocks), np.nan)
    soc_kwh = np.full((n_sites, n_blocks), np.nan)
    moves = np.full(n_jobs, np.nan)
    if has_plan and values is not None:
        for (jj, ss, tt), c in x_of.items():
            run_fraction[jj, ss, tt] = values[c]
            located[jj, ss, tt] = round(values[u_of[(jj, ss, tt)]])
        run_fraction[run_fraction < _EPS] = 0.0
        grid_kwh = values[grid_cols]
        for s, cols in soc_of.items():
            soc_kwh[s] = values[cols]
        moves = np.round(values[move_cols], 6)
    return _Solved(
        status=status,
        infeasible=bool(infeasible),
        bound_kwh=bound,
        objective_kwh=objective,
        mip_gap=float(info.mip_gap),
        run_fraction=run_fraction,
        located=located,
        grid_kwh=grid_kwh,
        soc_kwh=soc_kwh,
        moves=moves,
        n_binaries=n_bin,
        n_columns=len(mdl.cost),
        n_rows=len(mdl.row_lower),
    )


def _check_windows(inputs: SimInputs, open_s: FloatArray, close_s: FloatArray) -> None:
    """Raise :class:`InputError` naming the first job whose work does not fit its window."""
    jobs = inputs.jobs
    end_s = inputs.n_steps * float(inputs.step_s)
    work = np.asarray(jobs.work_gpu_h, dtype=float)
    fastest = float(_power_and_speed(inputs)[1].max())  # work per hour at the fastest site
    avail_h = np.maximum(close_s - open_s, 0.0) / 3600.0
    for j in np.flatnonzero(avail_h * fastest + 1e-9 < work).tolist():
        deadline = float(jobs.deadline_s[j])
        if close_s[j] < min(deadline, end_s) - 1e-9:
            until = f"its completion budget ({close_s[j] / 3600:g} h)"
        elif math.isfinite(deadline) and deadline < end_s:
            until = f"its deadline ({close_s[j] / 3600:g} h)"
        else:
            until = f"the end of the run ({end_s / 3600:g} h)"
        raise InputError(
            f"job {jobs.names[j]!r} cannot finish: it needs {work[j]:g} GPU-h"
            + (f" ({work[j] / fastest:g} h at the fastest site)" if fastest != 1.0 else "")
            + f" but only {avail_h[j]:g} h lie between its arrival ({open_s[j] / 3600:g} h) "
            f"and {until}; the oracle bounds only schedules that complete every job"
        )


def _binaries(
    open_s: FloatArray,
    close_s: FloatArray,
    n_sites: int,
    n_steps: int,
    step_s: float,
    block_steps: int,
) -> int:
    """Binary variables of the program: sites x the blocks each job's window touches."""
    block_s = block_steps * step_s
    n_blocks = -(-n_steps // block_steps)
    close = np.minimum(close_s, n_steps * step_s)
    first = np.floor(open_s / block_s)
    last = np.minimum(np.ceil(close / block_s), n_blocks)
    return int(np.sum(np.maximum(last - first, 0)) * n_sites)


def _budget_block_steps(
    open_s: FloatArray,
    close_s: FloatArray,
    n_sites: int,
    n_steps: int,
    step_s: float,
    max_binaries: int,
    max_block_s: float,
) -> int:
    """The fewest steps per block whose program, counted job by job over its own window, has
    at most ``max_binaries`` binaries; :class:`InputError` when blocks would exceed
    ``max_block_s``."""
    b = 1
    while b * step_s <= max_block_s:
        if _binaries(open_s, close_s, n_sites, n_steps, step_s, b) <= max_binaries:
            return b
        b += 1
    raise InputError(
        f"instance too large for the oracle: {len(open_s)} jobs x {n_sites} sites x {n_steps} "
        f"steps of {step_s:g} s would need blocks of more than {max_block_s / 3600:g} h to stay "
        f"within {max_binaries} binary variables, even within the jobs' completion limits; use "
        "the rolling horizon (oracle:window=24) or a smaller instance"
    )


def job_open_s(inputs: SimInputs) -> FloatArray:
    """The earliest each job can run, s: the start of its arrival step."""
    step_s = float(inputs.step_s)
    return np.maximum(arrival_steps(inputs.jobs.arrival_s, step_s) * step_s, 0.0)


def solve_oracle(
    inputs: SimInputs,
    *,
    eps: float | None = None,
    done_by_s: ArrayLike | None = None,
    stay_done_s: ArrayLike | None = None,
    block_steps: int | None = None,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-4,
    max_binaries: int = MAX_BINARIES,
    max_block_s: float = MAX_BLOCK_S,
) -> OracleSolution:
    """Solve the oracle's program for ``inputs``: the bound and a plan (module docstring).

    Args:
        inputs: the instance; every job must be able to finish within the run (and by its
            deadline, if it has one).
        eps: the completion-time budget: no job may finish later than ``arrival + (1 + eps) x
            its JCT under stay`` (:func:`completion_limits_s`; ``stay`` is simulated on
            ``inputs`` first). None (the default) or inf: no budget, today's oracle.
        done_by_s: per job, the latest completion allowed, s since the start (inf: none),
            e.g. the completions of another policy's run: the bound is then the least
            non-renewable energy of any schedule that finishes every job no later.
        stay_done_s: per job, its completion under ``stay`` (s since the start; inf:
            unfinished), when already simulated; otherwise ``eps`` simulates ``stay``.
        block_steps: simulator steps per time block; default: the fewest that keep
            jobs x sites x blocks within ``max_binaries``.
        time_limit_s: HiGHS's time limit, s; the bound stays valid when it is reached.
        mip_rel_gap: relative MIP gap at which HiGHS stops.
        max_binaries: the largest program accepted, in binary variables.
        max_block_s: the longest block accepted by the default choice of ``block_steps``, s.

    Raises:
        InputError: a job cannot finish in its window (the message names it), the program is
            too large (the message names the sizes), or no schedule completes every job.
    """
    t_wall = time.perf_counter()
    jobs = inputs.jobs
    n_jobs, n_sites, n_steps = len(jobs), len(inputs.site_names), inputs.n_steps
    step_s = float(inputs.step_s)
    if n_jobs == 0:
        raise InputError("the oracle needs at least one job")
    open_s = job_open_s(inputs)
    close_s = completion_limits_s(inputs, eps, done_by_s, stay_done_s=stay_done_s)
    # with a budget, a job has binaries only in the blocks of its own (shorter) window, so the
    # size is counted per job; without one, as it always was: jobs x sites x blocks
    budgeted = (eps is not None and math.isfinite(eps)) or done_by_s is not None
    if block_steps is None:
        if budgeted:
            block_steps = _budget_block_steps(
                open_s, close_s, n_sites, n_steps, step_s, max_binaries, max_block_s
            )
        else:
            block_steps = choose_block_steps(
                n_jobs, n_sites, n_steps, step_s, max_binaries=max_binaries, max_block_s=max_block_s
            )
    if block_steps < 1:
        raise InputError(f"block_steps must be >= 1, got {block_steps}")
    n_blocks = -(-n_steps // block_steps)
    if budgeted:
        n_bin = _binaries(open_s, close_s, n_sites, n_steps, step_s, block_steps)
        if n_bin > max_binaries:
            raise InputError(
                f"instance too large for the oracle: {n_jobs} jobs x {n_sites} sites in blocks "
                f"of {block_steps} steps within their completion limits = {n_bin} binary "
                f"variables, more than {max_binaries}; use a larger block_steps, a smaller "
                "instance or the rolling horizon (oracle:window=24)"
            )
    elif n_jobs * n_sites * n_blocks > max_binaries:
        raise InputError(
            f"instance too large for the oracle: {n_jobs} jobs x {n_sites} sites x {n_blocks} "
            f"blocks of {block_steps} steps = {n_jobs * n_sites * n_blocks} binary variables, "
            f"more than {max_binaries}; use a larger block_steps or a smaller instance"
        )
    _check_windows(inputs, open_s, close_s)
    cap, _ = _job_caps(open_s, close_s, 0, n_steps, block_steps, step_s)
    work = np.asarray(jobs.work_gpu_h, dtype=float)
    bank = BatteryBank(inputs.batteries or [None] * n_sites, step_s)
    window = _Window(
        k0=0,
        n_steps=n_steps,
        block_steps=int(block_steps),
        cap=cap,
        work_min_h=work,
        work_max_h=np.full(n_jobs, math.inf),
        site0=np.full(n_jobs, -1, dtype=np.int64),
        # the simulator lifts a battery below its minimum to the minimum for free
        soc0_kwh=np.maximum(bank.initial_soc_kwh, bank.min_soc_kwh),
    )
    res = _solve_window(inputs, window, time_limit_s, mip_rel_gap)
    if res.infeasible:
        raise InputError(
            "no schedule completes every job: each job fits its own window, but together they "
            "need more GPU slots than the sites have; add slots or relax arrivals, deadlines "
            "or the completion budget"
        )
    return OracleSolution(
        bound_kwh=res.bound_kwh,
        objective_kwh=res.objective_kwh,
        status=res.status,
        mip_gap=res.mip_gap,
        block_steps=int(block_steps),
        step_s=step_s,
        n_steps=n_steps,
        run_fraction=res.run_fraction,
        grid_kwh=res.grid_kwh,
        moves=res.moves,
        network_kwh=float(
            np.nansum(res.moves * _sent_gb(inputs)) * inputs.params.network_kwh_per_gb
        ),
        n_binaries=res.n_binaries,
        n_columns=res.n_columns,
        n_rows=res.n_rows,
        solve_s=time.perf_counter() - t_wall,
        job_names=tuple(jobs.names),
        eps=None if eps is None or not math.isfinite(eps) else float(eps),
        done_by_s=close_s,
    )


def step_plan(solution: OracleSolution, inputs: SimInputs) -> IntArray:
    """Where each job runs at each simulator step, (steps, jobs), site index or -1.

    Within a block, a job's run time at a site becomes whole steps (rounded up), placed in the
    steps of the block with the most renewable surplus at that site, at most ``slots`` jobs per
    step, the jobs with the most steps left first; a job that runs at two sites in one block
    runs first where it was before. A job is placed only in steps from its arrival step to the
    last step that ends by its latest completion (``solution.done_by_s``).
    """
    n_jobs, n_sites, n_blocks = solution.run_fraction.shape
    plan = np.full((solution.n_steps, n_jobs), -1, dtype=np.int64)
    surplus = inputs.surplus_w
    step_s = float(inputs.step_s)
    first_k = arrival_steps(inputs.jobs.arrival_s, step_s)
    last_k = np.full(n_jobs, solution.n_steps, dtype=np.int64)  # one past the last usable step
    if len(solution.done_by_s) == n_jobs:
        close = np.asarray(solution.done_by_s, dtype=float)
        finite = np.isfinite(close)
        last_k[finite] = np.floor(close[finite] / step_s + 1e-9).astype(np.int64)
    last = np.full(n_jobs, -1, dtype=np.int64)
    for t in range(n_blocks):
        k0, k1 = solution.block_range(t)
        nb = k1 - k0
        frac = solution.run_fraction[:, :, t]
        need = np.ceil(frac * nb - 1e-6).astype(np.int64)
        need = np.minimum(need, nb)
        # sites in order: each job's previous site first
        for s in _site_order(last, need, n_sites):
            js = np.flatnonzero(need[:, s] > 0)
            if js.size == 0:
                continue
            left = {int(j): int(need[j, s]) for j in js}
            for k in k0 + np.argsort(-surplus[k0:k1, s], kind="stable"):
                free = int(inputs.slots[s]) - int((plan[k] == s).sum())
                cand = [
                    j
                    for j in left
                    if left[j] > 0 and plan[k, j] < 0 and first_k[j] <= k < last_k[j]
                ]
                cand.sort(key=lambda j: -left[j])
                for j in cand[: max(free, 0)]:
                    plan[k, j] = s
                    left[j] -= 1
        for j in range(n_jobs):
            ran = plan[k0:k1, j]
            if (ran >= 0).any():
                last[j] = int(ran[ran >= 0][-1])
    _top_up(plan, inputs, first_k, last_k)
    return plan


def _top_up(plan: IntArray, inputs: SimInputs, first_k: IntArray, last_k: IntArray) -> None:
    """Give a job the plan has fewer whole steps than its work (slots were full in the steps
    its limit allows) the steps it lacks, at the site it ran at last: the free steps after its
    last planned one (past its limit if need be: late beats never), then earlier free ones."""
    step_h = float(inputs.step_s) / 3600.0
    n_steps = plan.shape[0]
    speed = _power_and_speed(inputs)[1]
    work = np.asarray(inputs.jobs.work_gpu_h, dtype=float)
    # work of the planned steps, GPU-h: a step at a site does its speed's worth
    planned = np.where(plan >= 0, speed[np.maximum(plan, 0)], 0.0).sum(axis=0) * step_h
    for j in np.flatnonzero(planned + 1e-6 * step_h < work).tolist():
        ran = np.flatnonzero(plan[:, j] >= 0)
        site = int(plan[ran[-1], j]) if ran.size else 0
        start = int(ran[-1]) + 1 if ran.size else int(first_k[j])
        missing = int(np.ceil((work[j] - planned[j]) / (speed[site] * step_h) - 1e-6))
        for k in [*range(start, n_steps), *range(int(first_k[j]), start)]:
            if missing <= 0:
                break
            if plan[k, j] < 0 and int((plan[k] == site).sum()) < int(inputs.slots[site]):
                plan[k, j] = site
                missing -= 1


def _site_order(last: IntArray, need: IntArray, n_sites: int) -> list[int]:
    """Sites ordered so that sites where jobs already are come first."""
    first = [int(s) for s in dict.fromkeys(last.tolist()) if s >= 0 and need[:, s].any()]
    return first + [s for s in range(n_sites) if s not in first]


def oracle_policy(
    inputs: SimInputs,
    solution: OracleSolution | None = None,
    *,
    name: str = "oracle",
    **solve_kwargs: Any,
) -> ReplayPolicy:
    """The policy named ``oracle``: the plan of ``solution`` (solved for ``inputs`` with
    ``solve_kwargs`` when not given, e.g. ``eps=0.1``) replayed step by step; its ``config()``
    carries the bound as ``bound_kwh`` (a rolling-horizon plan: ``heuristic_kwh``, no bound).
    ``name`` is the policy's name in the run's record (default ``oracle``)."""
    if solution is None:
        solution = solve_oracle(inputs, **solve_kwargs)
    if not solution.has_plan:
        raise GreenhopError(
            f"the oracle found no plan ({solution.status}); raise time_limit_s or use a "
            "larger block_steps"
            + (
                f" (its bound, {solution.bound_kwh:.3f} kWh, is still valid)"
                if solution.is_bound
                else ""
            )
        )
    if solution.n_steps != inputs.n_steps or len(solution.job_names) != len(inputs.jobs):
        raise InputError("the oracle's solution was solved for other inputs")
    return ReplayPolicy(
        step_plan(solution, inputs),
        inputs.jobs.work_gpu_h,
        solution.step_s,
        name=name,
        config=solution.summary(),
        site_speed=_power_and_speed(inputs)[1],
    )
