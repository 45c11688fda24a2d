"""``carbon-aware``: the temporal-shifting baseline of carbon-aware computing.

Each queued job's start is shifted, within its slack, to the time the forecast emissions of its
run are lowest (the rule of the Carbon Aware SDK and of studies of data centres on curtailed
energy: start work when marginal emissions are low). A job's emissions rate at a site and step
is the forecast intensity times the share of its power the site's renewables would not cover
(from the generation forecast: a site with surplus for the job emits nothing for it), the
lowest over the sites. The slack is the time between now and the
job's deadline less its work and a restore, at most ``max_shift_h`` (a job without a deadline
may wait ``max_shift_h``). Each step the policy reads the forecast as known then (the
signal's issued forecasts where it has them, else daily persistence); a job's start is planned
once, when it is first seen queued (re-planning every step would chase a minimum that the
receding horizon keeps moving later), and the job starts at the first step at or after its
planned start, at the free site whose grid draw for it weighs least
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
        self._planned_s: dict[int, float] = {}  # job -> planned start, s since the run's start

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "max_shift_h": self.max_shift_h}

    def best_offset(self, view: View, j: int, intensity: np.ndarray, room: np.ndarray) -> int:
        """Steps from now to the start with the lowest mean emissions rate over the job's run.

        ``intensity``: the forecast (horizon, sites); ``room``: the forecast renewable power
        left for one more job (horizon, sites), W."""
        jobs = view.jobs
        p = view.params
        run_s = (jobs.work_gpu_h[j] - jobs.progress_gpu_h[j]) * 3600.0 + p.restart_s
        slack_s = min(float(jobs.deadline_s[j] - view.now_s - run_s), self.max_shift_h * 3600.0)
        shift = max(0, int(slack_s // view.step_s))
        dur = max(1, int(np.ceil(run_s / view.step_s)))
        power = float(jobs.power_w[j])
        grid_share = np.clip((power - np.maximum(room, 0.0)) / power, 0.0, 1.0)
        series = (grid_share * intensity).min(axis=1)[: shift + dur]
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
        surplus = view.forecast.surplus_w(horizon)  # unknown (NaN): no renewables reckoned
        room = np.nan_to_num(surplus, nan=0.0) - view.it_load_w + view.idle_slot_power_w
        room[0] = view.available_w()  # now is measured, not forecast
        n = min(len(room), len(intensity))  # near the run's end the forecast is shorter
        room, intensity = room[:n], intensity[:n]
        for j in queued:
            j = int(j)
            if j not in self._planned_s:
                offset = self.best_offset(view, j, intensity, room)
                self._planned_s[j] = view.now_s + offset * view.step_s
        wait = frozenset(int(j) for j in queued if self._planned_s[int(j)] > view.now_s + 1e-6)
        return admit_queued(view, exclude=wait, weight=weight)
