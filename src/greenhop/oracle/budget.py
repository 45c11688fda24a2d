"""The completion-time budget: how late the oracle may finish each job.

With a budget ``eps`` no job may finish later than ``arrival + (1 + eps) x its JCT under stay``
(or its deadline, if earlier): ``stay`` runs every job at once where it is admitted and never
moves it, so its completion is the service a user gets without any shifting. Solved for several
``eps`` the oracle draws the energy-JCT frontier (:func:`frontier`; docs/oracle.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from greenhop.policies.stay import StayPolicy
from greenhop.sim.engine import Simulator
from greenhop.world.inputs import SimInputs
from greenhop.world.record import RunRecord

FloatArray = NDArray[np.float64]

#: The budgets the frontier is drawn for by default (inf: no budget, the plain oracle).
DEFAULT_EPS: tuple[float, ...] = (0.0, 0.1, 0.5, math.inf)


def stay_completion_s(inputs: SimInputs) -> FloatArray:
    """Each job's completion under ``stay`` on ``inputs``, s since the start (inf: unfinished)."""
    return np.asarray(Simulator(inputs).run(StayPolicy()).job_done_s, dtype=float)


def eps_needed(record: RunRecord, stay_done_s: FloatArray) -> float:
    """The least budget ``eps`` a run meets: the largest ratio of a job's JCT to its JCT under
    ``stay``, less 1 (0 when no job took longer than under stay; inf when a job finished
    under stay but not in ``record``). Jobs unfinished under stay are left out."""
    arrival = np.asarray(record.inputs.jobs.arrival_s, dtype=float)
    ref = np.asarray(stay_done_s, dtype=float) - arrival
    done = np.asarray(record.job_done_s, dtype=float) - arrival
    ok = np.isfinite(ref) & (ref > 0)
    if not ok.any():
        return 0.0
    if not np.isfinite(done[ok]).all():
        return math.inf
    return max(float(np.max(done[ok] / ref[ok])) - 1.0, 0.0)


def over_budget(record: RunRecord, done_by_s: FloatArray, *, tol_s: float = 1e-6) -> int:
    """How many jobs of ``record`` finished after their latest completion ``done_by_s``
    (unfinished jobs count as late)."""
    done = np.asarray(record.job_done_s, dtype=float)
    limit = np.asarray(done_by_s, dtype=float)
    return int(np.sum(~(done <= limit + tol_s)))


@dataclass(frozen=True)
class FrontierPoint:
    """The oracle at one budget: its bound, and its plan replayed in the simulator."""

    eps: float  # inf: no budget
    bound_kwh: float  # proven lower bound on non-renewable energy within the budget
    replay: RunRecord  # the plan replayed
    late_jobs: int  # replayed jobs that finished after their budget
    solve_s: float


def frontier(
    inputs: SimInputs,
    eps_values: Sequence[float] = DEFAULT_EPS,
    *,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-4,
    block_steps: int | None = None,
) -> list[FrontierPoint]:
    """The oracle solved for each budget in ``eps_values`` and its plan replayed: the
    energy-JCT frontier of ``inputs`` (``stay`` is simulated once for all budgets)."""
    from greenhop.oracle.program import oracle_policy, solve_oracle

    stay_done = stay_completion_s(inputs)
    points = []
    for eps in eps_values:
        sol = solve_oracle(
            inputs,
            eps=eps,
            stay_done_s=stay_done,
            block_steps=block_steps,
            time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap,
        )
        name = "oracle" if not math.isfinite(eps) else f"oracle:eps={eps:g}"
        replay = Simulator(inputs).run(oracle_policy(inputs, sol, name=name))
        points.append(
            FrontierPoint(
                eps=float(eps),
                bound_kwh=sol.bound_kwh,
                replay=replay,
                late_jobs=over_budget(replay, sol.done_by_s),
                solve_s=sol.solve_s,
            )
        )
    return points
