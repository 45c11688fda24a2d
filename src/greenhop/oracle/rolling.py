"""A rolling-horizon oracle for instances too large for one program: a heuristic, not a bound.

The run is cut into windows of ``window_h`` hours. For each window in turn, the oracle's program
(:mod:`greenhop.oracle.program`) is solved over the window and the ``lookahead_h`` hours after
it, starting from the state the earlier windows left: each job's remaining work, the site where
it is (a move away from it costs ``e_net * S``; staying costs nothing), each battery's state of
charge. Only the window's blocks are kept; the next window starts where they end. Within a
program a job must do at least the work that could not fit after the program's end before its
latest completion (deadline, end of the run, completion budget), and at most what it has left.

What it is: a plan that completes every job within its limits (when every window is solvable),
replayed in the simulator like the exact oracle's. Its energy is that of one feasible schedule
of the relaxed program, so it is **not a lower bound**: it is a heuristic, generally above the
exact program's optimum (an upper bound on that optimum, up to the replay), and tables label it
so. :attr:`~greenhop.oracle.program.OracleSolution.bound_kwh` is nan and ``is_bound`` False.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numpy.typing import ArrayLike

from greenhop.energy.battery import BatteryBank
from greenhop.errors import GreenhopError, InputError
from greenhop.oracle.program import (
    MAX_BINARIES,
    MAX_BLOCK_S,
    FloatArray,
    IntArray,
    OracleSolution,
    _check_windows,
    _job_caps,
    _power_and_speed,
    _sent_gb,
    _solve_window,
    _Window,
    choose_block_steps,
    completion_limits_s,
    job_open_s,
)
from greenhop.world.inputs import SimInputs


def solve_rolling(
    inputs: SimInputs,
    *,
    window_h: float = 24.0,
    lookahead_h: float = 24.0,
    eps: float | None = None,
    done_by_s: ArrayLike | None = None,
    stay_done_s: ArrayLike | None = None,
    block_steps: int | None = None,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-3,
    max_binaries: int = MAX_BINARIES,
    max_block_s: float = MAX_BLOCK_S,
) -> OracleSolution:
    """The rolling-horizon plan of ``inputs`` (module docstring): a heuristic, no bound.

    Args:
        window_h: hours kept from each program.
        lookahead_h: hours after the window each program also plans (and discards).
        eps, done_by_s, stay_done_s: the completion limits, as for
            :func:`~greenhop.oracle.program.solve_oracle`.
        block_steps: steps per block; default: the fewest that keep the largest program (the
            jobs that may run in it x sites x blocks) within ``max_binaries``.
        time_limit_s: HiGHS's time limit per program, s; a program with no plan by then is
            solved once more with four times as long.

    Raises:
        InputError: a job cannot finish in its window, or a program has no schedule (earlier
            windows left too much work: a longer ``lookahead_h`` may help).
    """
    t_wall = time.perf_counter()
    jobs = inputs.jobs
    n_jobs, n_sites, n_steps = len(jobs), len(inputs.site_names), inputs.n_steps
    step_s = float(inputs.step_s)
    if n_jobs == 0:
        raise InputError("the oracle needs at least one job")
    if window_h <= 0 or lookahead_h < 0:
        raise InputError(
            f"window_h must be > 0 and lookahead_h >= 0, got {window_h:g} and {lookahead_h:g}"
        )
    open_s = job_open_s(inputs)
    close_s = completion_limits_s(inputs, eps, done_by_s, stay_done_s=stay_done_s)
    _check_windows(inputs, open_s, close_s)
    window_steps = max(1, round(window_h * 3600.0 / step_s))
    span_steps = window_steps + max(0, round(lookahead_h * 3600.0 / step_s))
    if block_steps is None:
        active = 0
        for k0 in range(0, n_steps, window_steps):
            lo, hi = k0 * step_s, min(k0 + span_steps, n_steps) * step_s
            active = max(active, int(np.sum((open_s < hi) & (close_s > lo))))
        block_steps = choose_block_steps(
            max(active, 1),
            n_sites,
            min(span_steps, n_steps),
            step_s,
            max_binaries=max_binaries,
            max_block_s=max_block_s,
        )
    if block_steps < 1:
        raise InputError(f"block_steps must be >= 1, got {block_steps}")
    # windows start on block boundaries, so that one block length serves the whole run
    window_steps = max(block_steps, round(window_steps / block_steps) * block_steps)
    span_steps = max(span_steps, window_steps)

    n_blocks = -(-n_steps // block_steps)
    work = np.asarray(jobs.work_gpu_h, dtype=float)
    bank = BatteryBank(inputs.batteries or [None] * n_sites, step_s)
    progress = np.zeros(n_jobs)
    site0: IntArray = np.full(n_jobs, -1, dtype=np.int64)
    soc = np.maximum(bank.initial_soc_kwh, bank.min_soc_kwh).astype(float)
    run_fraction = np.zeros((n_jobs, n_sites, n_blocks))
    grid_kwh = np.zeros((n_sites, n_blocks))
    moves = np.zeros(n_jobs)
    sent = _sent_gb(inputs)
    speed = _power_and_speed(inputs)[1]  # work per hour at each site
    fastest = float(speed.max())
    n_bin = n_col = n_row = 0
    gaps: list[float] = []
    windows = 0
    k0 = 0
    while k0 < n_steps:
        n_win = min(span_steps, n_steps - k0)
        cap, blen = _job_caps(open_s, close_s, k0, n_win, block_steps, step_s)
        left_h = np.maximum(work - progress, 0.0)
        done = left_h <= 1e-7
        cap[done] = 0.0
        end_s = (k0 + n_win) * step_s
        after_h = np.maximum(close_s - end_s, 0.0) / 3600.0 * fastest  # work that fits after
        need_h = np.where(done, 0.0, np.maximum(left_h - after_h, 0.0))
        room_h = (cap * blen[None, :]).sum(axis=1) / 3600.0 * fastest
        short = np.flatnonzero(room_h + 1e-7 < need_h)
        if short.size:
            j = int(short[0])
            raise InputError(
                f"the rolling horizon cannot finish job {jobs.names[j]!r}: from "
                f"{k0 * step_s / 3600:g} h it still needs {left_h[j]:g} GPU-h before "
                f"{close_s[j] / 3600:g} h; use a longer lookahead_h"
            )
        w = _Window(
            k0=k0,
            n_steps=n_win,
            block_steps=int(block_steps),
            cap=cap,
            work_min_h=need_h,
            work_max_h=np.where(done, 0.0, left_h),
            site0=site0.copy(),
            soc0_kwh=soc.copy(),
        )
        res = _solve_window(inputs, w, time_limit_s, mip_rel_gap)
        if not res.infeasible and not np.isfinite(res.objective_kwh):
            # no plan within the limit: once more with four times as long
            res = _solve_window(inputs, w, 4 * time_limit_s, mip_rel_gap)
        windows += 1
        n_bin, n_col, n_row = (
            max(n_bin, res.n_binaries),
            max(n_col, res.n_columns),
            max(n_row, res.n_rows),
        )
        if res.infeasible:
            raise InputError(
                f"the rolling horizon found no schedule for the window from "
                f"{k0 * step_s / 3600:g} h: earlier windows left more work than the slots "
                "hold; use a longer lookahead_h"
            )
        if not np.isfinite(res.objective_kwh):
            raise GreenhopError(
                f"the rolling horizon found no plan for the window from {k0 * step_s / 3600:g} h "
                f"within {4 * time_limit_s:g} s ({res.status}); raise time_limit_s"
            )
        gaps.append(res.mip_gap)
        last = k0 + n_win >= n_steps
        keep = w.n_blocks if last else min(window_steps // block_steps, w.n_blocks)
        t0 = k0 // block_steps
        run_fraction[:, :, t0 : t0 + keep] = res.run_fraction[:, :, :keep]
        grid_kwh[:, t0 : t0 + keep] = res.grid_kwh[:, :keep]
        ran_s = res.run_fraction[:, :, :keep] * blen[None, None, :keep]
        progress += (ran_s * speed[None, :, None]).sum(axis=(1, 2)) / 3600.0
        moves += _kept_moves(res.located, res.run_fraction, site0, keep)
        site0 = _where_left(res.located, res.run_fraction, site0, keep)
        has_batt = np.isfinite(res.soc_kwh[:, keep - 1])
        soc[has_batt] = res.soc_kwh[has_batt, keep - 1]
        k0 += keep * block_steps

    missing = np.flatnonzero(progress + 1e-6 < work)
    if missing.size:  # cannot happen when every window solved; a guard, named
        j = int(missing[0])
        raise GreenhopError(f"the rolling horizon left job {jobs.names[j]!r} unfinished")
    network = float(np.sum(moves * sent) * inputs.params.network_kwh_per_gb)
    return OracleSolution(
        bound_kwh=math.nan,
        objective_kwh=float(grid_kwh.sum()) + network,
        status=f"{windows} windows solved",
        mip_gap=max(gaps) if gaps else 0.0,
        block_steps=int(block_steps),
        step_s=step_s,
        n_steps=n_steps,
        run_fraction=run_fraction,
        grid_kwh=grid_kwh,
        moves=moves,
        network_kwh=network,
        n_binaries=n_bin,
        n_columns=n_col,
        n_rows=n_row,
        solve_s=time.perf_counter() - t_wall,
        job_names=tuple(jobs.names),
        eps=None if eps is None or not math.isfinite(eps) else float(eps),
        done_by_s=close_s,
        kind="rolling",
    )


def _kept_moves(
    located: FloatArray, run_fraction: FloatArray, site0: IntArray, keep: int
) -> FloatArray:
    """Moves of each job in the first ``keep`` blocks: sites it newly is at, block by block
    (its first placement, when it was nowhere, is a start)."""
    n_jobs, n_sites, _ = located.shape
    out = np.zeros(n_jobs)
    for j in range(n_jobs):
        prev = np.zeros(n_sites, dtype=bool)
        placed = site0[j] >= 0
        if placed:
            prev[int(site0[j])] = True
        entries = 0
        for t in range(keep):
            here = located[j, :, t] > 0.5
            if not here.any():
                continue
            entries += int(np.sum(here & ~prev))
            prev = here
        out[j] = max(entries - (0 if placed else 1), 0)
    return out


def _where_left(
    located: FloatArray, run_fraction: FloatArray, site0: IntArray, keep: int
) -> IntArray:
    """Where each job is after the first ``keep`` blocks: of the sites it is at in the last
    block it is anywhere, the one it is at next (after ``keep``), else the one it ran at
    last, else the first."""
    out = site0.copy()
    n_jobs, _, n_blocks = located.shape
    for j in range(n_jobs):
        at = [t for t in range(keep) if (located[j, :, t] > 0.5).any()]
        if not at:
            continue
        t = at[-1]
        sites = np.flatnonzero(located[j, :, t] > 0.5)
        later = [u for u in range(keep, n_blocks) if (located[j, :, u] > 0.5).any()]
        nxt = np.flatnonzero(located[j, :, later[0]] > 0.5) if later else np.zeros(0, int)
        both = [s for s in sites if s in set(nxt.tolist())]
        ran = [s for s in sites if run_fraction[j, s, t] > 0]
        out[j] = int(both[0] if both else ran[-1] if ran else sites[0])
    return out
