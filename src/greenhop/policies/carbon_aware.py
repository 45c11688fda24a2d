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

On heterogeneous sites a slower part stretches the job: its run at a site lasts its remaining
work over the site's speed and draws its power there, so a start is planned for the site and
time whose whole run emits least (the forecast intensity times the job's grid draw there, over
that run), within the slack the site's speed leaves; the job then starts at the free site whose
grid draw per unit of work weighs least.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from greenhop.policies.base import (
    Action,
    JobState,
    Policy,
    Start,
    View,
    admit_queued,
    grid_view,
    grid_weight,
    nothing_to_admit,
)


class CarbonAwarePolicy(Policy):
    """Start each job at the lowest forecast intensity within its slack; never move it."""

    name = "carbon-aware"

    def __init__(self, *, max_shift_h: float = 12.0) -> None:
        self.max_shift_h = max_shift_h
        self._planned_s: dict[int, float] = {}  # job -> planned start, s since the run's start
        self._planned_site: dict[int, int] = {}  # heterogeneous sites: job -> planned site

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "max_shift_h": self.max_shift_h}

    def best_offset(self, view: View, j: int, intensity: np.ndarray, room: np.ndarray) -> int:
        """Steps from now to the start with the lowest mean emissions rate over the job's run.

        ``intensity``: the forecast (horizon, sites); ``room``: the forecast renewable power
        left for one more job (horizon, sites), W."""
        if view.heterogeneous():
            return self._plan_hetero(view, j, intensity, room)[0]
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

    def _plan_hetero(
        self, view: View, j: int, intensity: np.ndarray, room: np.ndarray
    ) -> tuple[int, int]:
        """:meth:`best_offset` on heterogeneous sites, and the site: each site's run lasts the
        remaining work over its speed and draws the job's power there; the (offset, site)
        whose run emits least (the forecast's known part: its mean rate times the run's
        length), each site within the slack its speed leaves (-1: no site meets the
        deadline)."""
        jobs = view.jobs
        p = view.params
        assert view.site_speed is not None
        work_s = (jobs.work_gpu_h[j] - jobs.progress_gpu_h[j]) * 3600.0
        run_s = work_s / view.site_speed + p.restart_s  # (sites,)
        to_deadline = float(jobs.deadline_s[j] - view.now_s)
        p_at = view.power_at(j)
        short = np.maximum(p_at[None, :] - np.maximum(room, 0.0), 0.0)  # grid draw, W
        # emissions per step at each step and site, per W of the job's own power (the scale of
        # best_offset's, so that its tie-break works alike)
        rate = short / float(jobs.power_w[j]) * intensity
        n = len(rate)
        csum = np.vstack([np.zeros((1, rate.shape[1])), np.cumsum(rate, axis=0)])
        best, best_offset, best_site = np.inf, 0, -1
        fastest_dur = max(1, int(np.ceil(float(run_s.min()) / view.step_s)))
        max_shift = int(max(0.0, self.max_shift_h * 3600.0) // view.step_s)
        for s in range(rate.shape[1]):
            dur = max(1, int(np.ceil(run_s[s] / view.step_s)))
            slack_s = min(to_deadline - float(run_s[s]), self.max_shift_h * 3600.0)
            if slack_s < 0 and np.isfinite(to_deadline):
                continue  # this part cannot finish the job by its deadline
            shift = min(max(0, int(slack_s // view.step_s)), max_shift, n - 1)
            starts = np.arange(0, shift + 1)
            ends = np.minimum(starts + dur, n)
            # the run's emissions, in steps of the fastest part's run
            total = (csum[ends, s] - csum[starts, s]) / (ends - starts) * dur / fastest_dur
            k = int(np.argmin(total - 1e-12 * starts))  # ties: the earliest
            if total[k] < best - 1e-12:
                best, best_offset, best_site = float(total[k]), k, s
        return best_offset, best_site

    def decide(self, now: float, view: View) -> list[Action]:
        weight = grid_weight(view, "carbon")  # raises without a carbon signal
        queued = view.jobs.in_state(JobState.QUEUED)
        if queued.size == 0:
            return []
        grid = grid_view(view)
        assert grid is not None
        jobs = view.jobs
        longest_h = float(jobs.work_gpu_h[queued].max())
        if view.heterogeneous():
            assert view.site_speed is not None
            longest_h /= float(view.site_speed.min())  # the run on the slowest part
        horizon = int(self.max_shift_h * 3600.0 // view.step_s) + int(
            np.ceil(longest_h * 3600.0 / view.step_s) + 2
        )
        intensity = grid.carbon_g_per_kwh(horizon)
        intensity = np.where(np.isnan(intensity), np.inf, intensity)
        surplus = view.forecast.surplus_w(horizon)  # unknown (NaN): no renewables reckoned
        room = np.nan_to_num(surplus, nan=0.0) - view.it_load_w + view.idle_slot_power_w
        room[0] = view.available_w()  # now is measured, not forecast
        n = min(len(room), len(intensity))  # near the run's end the forecast is shorter
        room, intensity = room[:n], intensity[:n]
        hetero = view.heterogeneous()
        for j in queued:
            j = int(j)
            if j not in self._planned_s:
                if hetero:
                    offset, self._planned_site[j] = self._plan_hetero(view, j, intensity, room)
                else:
                    offset = self.best_offset(view, j, intensity, room)
                self._planned_s[j] = view.now_s + offset * view.step_s
        wait = frozenset(int(j) for j in queued if self._planned_s[int(j)] > view.now_s + 1e-6)
        if hetero:
            assert weight is not None  # grid_weight raises without a carbon signal
            return self._admit_hetero(view, queued, wait, weight)
        return admit_queued(view, exclude=wait, weight=weight)

    def quiet_steps(self, view: View, surplus_w: np.ndarray, it_load_w: np.ndarray) -> int:
        # it only starts queued jobs, each planned when first seen queued (at its arrival,
        # which ends a span): nothing to do while none is queued, no slot is free, or each
        # waits for its planned start (the wait decide computes, step by step)
        n = len(surplus_w)
        if nothing_to_admit(view):
            return n
        planned = self._planned_s
        queued = view.jobs.in_state(JobState.QUEUED)
        if any(int(j) not in planned for j in queued):
            return 0  # not planned yet: decide plans it
        first = min(planned[int(j)] for j in queued)
        now = np.arange(view.step, view.step + n) * view.step_s
        waits = first > now + 1e-6
        return n if waits.all() else int(np.argmin(waits))

    def _admit_hetero(
        self, view: View, queued: np.ndarray, wait: frozenset[int], weight: np.ndarray
    ) -> list[Action]:
        """Start the jobs due now on heterogeneous sites: at the planned site if it has a free
        slot, else at the free site, among those whose speed meets the job's deadline (all,
        if none does), where its grid draw per unit of work weighs least."""
        jobs = view.jobs
        assert view.site_speed is not None
        speed = view.site_speed
        free = view.free_slots.copy()
        avail = view.available_w().astype(np.float64)
        restart_s = view.params.restart_s
        out: list[Action] = []
        for j in queued[np.argsort(jobs.arrival_s[queued], kind="stable")]:
            j = int(j)
            if j in wait:
                continue
            if not (free > 0).any():
                break
            pref = int(jobs.preferred_site[j])
            plan = self._planned_site.get(j, -1)
            if pref >= 0:
                if free[pref] <= 0:
                    continue
                site = pref
            elif plan >= 0 and free[plan] > 0:
                site = plan
            else:
                rest_s = float(jobs.work_gpu_h[j] - jobs.progress_gpu_h[j]) * 3600.0
                meets = view.now_s + restart_s + rest_s / speed <= jobs.deadline_s[j]
                ok = (free > 0) & meets if ((free > 0) & meets).any() else free > 0
                p_at = view.power_at(j)
                short = np.maximum(p_at - np.maximum(avail, 0.0), 0.0)
                per_work = short * weight / speed  # grid weight per unit of work
                site = int(np.argmin(np.where(ok, per_work - 1e-9 * avail, np.inf)))
            out.append(Start(j, site))
            free[site] -= 1
            avail[site] -= view.power_at(j)[site]
        return out
