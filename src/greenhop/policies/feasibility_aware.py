"""``feasibility-aware``: the paper's orchestrator, which makes only feasible moves."""

from __future__ import annotations

from typing import Any

import numpy as np

from greenhop import feasibility
from greenhop.policies.base import (
    Action,
    FloatArray,
    JobState,
    Migrate,
    Objective,
    Policy,
    Resume,
    View,
    admit_queued,
    check_objective,
    free_slots_after,
    grid_view,
    grid_weight,
    jobs_in_deficit,
    nothing_to_admit,
    resume_elsewhere_pays,
    shed_for_demand_response,
    steps_without_deficit,
)


class FeasibilityAwarePolicy(Policy):
    """Move a job only when the move is time- and energy-feasible for the forecast window.

    Rule, each step, for every running job that is not fully on renewables where it runs:
    a destination is a candidate when it has a free slot, renewable power for the whole job now,
    and the move is time-feasible (``D < alpha W``) and energy-feasible (``D + T_be < W``) for
    W = the remaining window the forecaster predicted at that site, with D computed for the
    job's checkpoint over the link's bandwidth estimate. Among candidates the job goes to the
    one with the **largest slack** ``alpha W - D`` (the move that leaves the most margin, which
    favours long windows and fast links); ties go to the lower site index. Jobs at the sites
    with the largest deficit choose first. No candidate: the job stays.

    **Objective** (``non-renewable``, the paper's and the default; ``carbon``; ``cost``): with
    ``carbon`` or ``cost`` what a grid kWh weighs at each site is the forecast intensity or price
    over the next ``horizon_h`` (:func:`~greenhop.policies.base.grid_weight`): a queued job starts
    where its grid draw weighs least, jobs at the sites where the deficit weighs most choose
    first, and a job with no renewable destination may move to a site whose grid is cleaner
    (cheaper) when the saving over the shorter of its remaining work and ``horizon_h`` repays
    the move's energy at the source's weight ``gain_factor`` times and the move is
    time-feasible for that span.

    **Demand response**: before an event begins at a site, the jobs it cannot carry under the
    cap move where the move finishes in time, else pause
    (:func:`~greenhop.policies.base.shed_for_demand_response`); they resume after it.
    """

    name = "feasibility-aware"

    def __init__(
        self,
        objective: Objective = "non-renewable",
        *,
        horizon_h: float = 2.0,
        gain_factor: float = 2.0,
    ) -> None:
        self._params_cache: dict[float, feasibility.ModelParameters] = {}
        self.objective = check_objective(objective)
        self.horizon_h = horizon_h
        self.gain_factor = gain_factor
        if objective != "non-renewable":
            self.name = f"feasibility-aware:{objective}"

    def _params_for(self, view: View, power_w: float) -> feasibility.ModelParameters:
        # the break-even is repaid by this job's power
        if power_w not in self._params_cache:
            self._params_cache[power_w] = view.params.replace(job_power_w=power_w)
        return self._params_cache[power_w]

    def decide(self, now: float, view: View) -> list[Action]:
        horizon = max(1, round(self.horizon_h * 3600.0 / view.step_s))
        weight = grid_weight(view, self.objective, horizon)
        grid = grid_view(view)
        if grid is not None and grid.has_demand_response:
            shed, blocked = shed_for_demand_response(view, [])
            actions: list[Action] = [*shed, *self._resume_paused(view, shed, blocked)]
        else:  # no demand response in this run: nothing to shed, nothing paused for it
            shed, blocked, actions = [], np.zeros(len(view.site_names), dtype=bool), []
        shed_jobs = {a.job for a in shed}
        any_blocked = grid is not None and grid.has_demand_response and bool(blocked.any())
        actions += admit_queued(view, weight=weight, blocked=blocked if any_blocked else None)
        deficit = jobs_in_deficit(view, actions, whole_job=True)
        if deficit is None:
            if weight is not None:
                actions += self._grid_moves(view, actions, weight, shed_jobs, blocked)
            return actions
        if any_blocked:
            deficit.free[blocked] = 0
        jobs = view.jobs
        avail, free = deficit.available_w, deficit.free
        movers = [j for j in deficit.movers if j not in shed_jobs]
        if weight is not None:  # where the deficit weighs most, first
            movers.sort(key=lambda j: deficit.own_w[jobs.site[j]] * weight[jobs.site[j]])
        windows: dict[float, np.ndarray] = {}
        n = len(view.site_names)
        hetero = view.heterogeneous()
        partial = jobs.frozen_gb is not None
        # the most renewable power left at a free site (until a move changes it): a job that
        # draws more has no candidate, whatever else holds
        top = None
        for j in movers:
            s = int(jobs.site[j])
            p = float(jobs.power_w[j])
            if not hetero:
                if top is None:
                    top = float(np.where(free > 0, avail, -np.inf).max())
                if p > top:
                    continue
            p_at = view.power_at(j) if hetero else None
            ok = (free > 0) & (avail >= (p if p_at is None else p_at))
            ok[s] = False
            if not ok.any():
                continue
            if p_at is None:
                if p not in windows:
                    windows[p] = view.forecast.remaining_window_s(p)
                w = windows[p]
            else:  # each site's window for the job's draw there
                w = np.zeros(n)
                for value in np.unique(p_at[ok]):
                    key = float(value)
                    if key not in windows:
                        windows[key] = view.forecast.remaining_window_s(key)
                    w = np.where(p_at == value, windows[key], w)
            dests = (ok & (w > 0)).nonzero()[0]
            if dests.size == 0:
                continue
            size = jobs.size_to(j, n)[dests] if partial else jobs.size_gb[j]
            if p_at is None:
                slack, t_ok, e_ok = feasibility.move_verdicts(
                    size, view.bandwidth_gbps[s, dests], w[dests], self._params_for(view, p)
                )
            else:
                slack, t_ok, e_ok = feasibility.move_verdicts(
                    size,
                    view.bandwidth_gbps[s, dests],
                    w[dests],
                    self._params_for(view, p),
                    speed_ratio=view.speed_ratio(s)[dests],
                    dest_power_w=p_at[dests],
                )
            feasible = t_ok & e_ok
            if not feasible.any():
                continue
            d = int(dests[int(np.argmax(np.where(feasible, slack, -np.inf)))])
            actions.append(Migrate(j, d))
            top = None  # free slots and power left change
            if p_at is None:
                deficit.moved(p, s, d)
            else:
                deficit.moved(float(p_at[d]), s, d, float(p_at[s]))
        if weight is not None:
            actions += self._grid_moves(view, actions, weight, shed_jobs, blocked)
        return actions

    def quiet_steps(self, view: View, surplus_w: FloatArray, it_load_w: FloatArray) -> int:
        # with the plain objective and no demand response: nothing to admit, and no job in
        # deficit that some site could cover (decide's first return)
        if self.objective != "non-renewable" or not nothing_to_admit(view):
            return 0
        grid = grid_view(view)
        if grid is not None and grid.has_demand_response:
            return 0
        return steps_without_deficit(view, surplus_w, it_load_w, whole_job=True)

    def _resume_paused(self, view: View, shed: list[Action], blocked: np.ndarray) -> list[Action]:
        """Jobs paused for a demand-response event resume at the free site (no event ahead)
        with the most renewable power left for them, their own first."""
        paused = view.jobs.in_state(JobState.PAUSED)
        if paused.size == 0:
            return []
        free = free_slots_after(view, shed)
        free[blocked] = 0
        avail = view.available_w().astype(np.float64)
        out: list[Action] = []
        hetero = view.heterogeneous()
        for j in paused:
            j = int(j)
            own = int(view.jobs.site[j])
            if own >= 0 and free[own] > 0:
                d = own
            elif (free > 0).any():
                d = int(np.argmax(np.where(free > 0, avail, -np.inf)))
                if hetero and not resume_elsewhere_pays(view, j, d):
                    # a slower part: the best of the sites where resuming beats waiting
                    ok = free > 0
                    ok &= np.array([resume_elsewhere_pays(view, j, s) for s in range(len(ok))])
                    if not ok.any():
                        continue  # wait for its own site
                    d = int(np.argmax(np.where(ok, avail, -np.inf)))
            else:
                break
            out.append(Resume(j, d))
            free[d] -= 1
            avail[d] -= view.power_at(j)[d] if hetero else view.jobs.power_w[j]
        return out

    def _grid_moves(
        self,
        view: View,
        actions: list[Action],
        weight: np.ndarray,
        skip: set[int],
        blocked: np.ndarray,
    ) -> list[Action]:
        """Moves from a dirtier (dearer) grid to a cleaner (cheaper) one that repay in time."""
        jobs = view.jobs
        busy = skip | {a.job for a in actions}
        free = free_slots_after(view, actions)
        free[blocked] = 0
        avail = view.available_w()
        out: list[Action] = []
        for j in jobs.in_state(JobState.RUNNING):
            j = int(j)
            s = int(jobs.site[j])
            p = float(jobs.power_w[j])
            if j in busy or avail[s] - view.idle_slot_power_w[s] >= 0:
                continue  # on renewables where it runs
            ok = (free > 0) & (weight < weight[s])
            ok[s] = False
            dests = np.flatnonzero(ok)
            if dests.size == 0:
                continue
            rest_s = (jobs.work_gpu_h[j] - jobs.progress_gpu_h[j]) * 3600.0
            span_s = min(rest_s, self.horizon_h * 3600.0)
            params = self._params_for(view, p)
            d_s = feasibility.disruption_s(jobs.size_gb[j], view.bandwidth_gbps[s, dests], params)
            e_mig = params.network_kwh_per_gb * jobs.size_gb[j] + params.idle_power_w * d_s / 3.6e6
            gain = p * np.maximum(span_s - d_s, 0.0) / 3.6e6 * (weight[s] - weight[dests])
            good = (gain > self.gain_factor * e_mig * weight[s]) & (d_s < params.alpha * span_s)
            if not good.any():
                continue
            d = int(dests[int(np.argmax(np.where(good, gain, -np.inf)))])
            out.append(Migrate(j, d))
            free[d] -= 1
        return out

    def prestage_hints(self, view: View) -> list[tuple[int, int]]:
        """For each running job with a frozen part: the site, other than its own and not
        holding that part yet, with the longest window predicted for the job's power (where a
        move is likeliest to go), if it has one."""
        jobs = view.jobs
        if jobs.frozen_gb is None or jobs.frozen_at is None:
            return []
        out: list[tuple[int, int]] = []
        windows: dict[float, np.ndarray] = {}
        for j in jobs.in_state(JobState.RUNNING):
            j = int(j)
            if jobs.frozen_gb[j] <= 0:
                continue
            p = float(jobs.power_w[j])
            if p not in windows:
                windows[p] = view.forecast.remaining_window_s(p)
            w = np.where(jobs.frozen_at[j], 0.0, windows[p])
            w[int(jobs.site[j])] = 0.0
            best = int(np.argmax(w))
            if w[best] > 0:
                out.append((j, best))
        return out

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rule": "largest slack among time- and energy-feasible",
            "objective": self.objective,
        }
