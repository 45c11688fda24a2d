"""``carbon-aware``: the temporal-shifting baseline of carbon-aware computing.

Each queued job's start is shifted, within its slack, to the time the forecast intensity over
its run is lowest (the rule of the Carbon Aware SDK and of studies of data centres on curtailed
energy: start work when marginal emissions are low). The slack is the time between now and the
job's deadline less its work and a restore, at most ``max_shift_h`` (a job without a deadline
may wait ``max_shift_h``). Each step the policy reads the forecast as known then (the
signal's issued forecasts where it has them, else daily persistence) and starts a job when the
best start in its slack is now, at the free site whose grid draw for it weighs least
(renewables first). It never moves or pauses a job: a baseline without migration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from greenhop.policies.base import (
    Action,
    JobState,
    Policy,
    View,
    admit_queued,
    grid_view,
    grid_weight,
)


class CarbonAwarePolicy(Policy):
    """Start each job at the lowest forecast intensity within its slack; never move it."""

    name = "carbon-aware"

    def __init__(self, *, max_shift_h: float = 12.0) -> None:
        self.max_shift_h = max_shift_h

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "max_shift_h": self.max_shift_h}

    def best_offset(self, view: View, j: int, intensity: np.ndarray) -> int:
        """Steps from now to the start with the lowest mean intensity over the job's run.

        ``intensity``: the forecast (horizon, sites), the cleanest site per step."""
        jobs = view.jobs
        p = view.params
        run_s = (jobs.work_gpu_h[j] - jobs.progress_gpu_h[j]) * 3600.0 + p.restart_s
        slack_s = min(float(jobs.deadline_s[j] - view.now_s - run_s), self.max_shift_h * 3600.0)
        shift = max(0, int(slack_s // view.step_s))
        dur = max(1, int(np.ceil(run_s / view.step_s)))
        series = intensity.min(axis=1)[: shift + dur]
        if shift == 0 or len(series) < 2:
            return 0
        csum = np.r_[0.0, np.cumsum(series)]
        starts = np.arange(0, min(shift, len(series) - 1) + 1)
        ends = np.minimum(starts + dur, len(series))
        mean = (csum[ends] - csum[starts]) / (ends - starts)
        return int(np.argmin(mean - 1e-12 * starts))  # ties: the earliest

    def decide(self, now: float, view: View) -> list[Action]:
        weight = grid_weight(view, "carbon")  # raises without a carbon signal
        queued = view.jobs.in_state(JobState.QUEUED)
        if queued.size == 0:
            return []
        grid = grid_view(view)
        assert grid is not None
        jobs = view.jobs
        horizon = int(self.max_shift_h * 3600.0 // view.step_s) + int(
            np.ceil(float(jobs.work_gpu_h[queued].max()) * 3600.0 / view.step_s) + 2
        )
        intensity = grid.carbon_g_per_kwh(horizon)
        intensity = np.where(np.isnan(intensity), np.inf, intensity)
        wait = frozenset(int(j) for j in queued if self.best_offset(view, int(j), intensity) > 0)
        return admit_queued(view, exclude=wait, weight=weight)
