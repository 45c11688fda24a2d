"""``feasibility-aware``: the paper's orchestrator, which makes only feasible moves."""

from __future__ import annotations

from typing import Any

import numpy as np

from greenhop import feasibility
from greenhop.policies.base import Action, Migrate, Policy, View, admit_queued, jobs_in_deficit


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
    """

    name = "feasibility-aware"

    def __init__(self) -> None:
        self._params_cache: dict[float, feasibility.ModelParameters] = {}

    def _params_for(self, view: View, power_w: float) -> feasibility.ModelParameters:
        # the break-even is repaid by this job's power
        if power_w not in self._params_cache:
            self._params_cache[power_w] = view.params.replace(job_power_w=power_w)
        return self._params_cache[power_w]

    def decide(self, now: float, view: View) -> list[Action]:
        actions = admit_queued(view)
        deficit = jobs_in_deficit(view, actions, whole_job=True)
        if deficit is None:
            return actions
        jobs = view.jobs
        avail, free = deficit.available_w, deficit.free
        windows: dict[float, np.ndarray] = {}
        for j in deficit.movers:
            s = int(jobs.site[j])
            p = float(jobs.power_w[j])
            ok = (free > 0) & (avail >= p)
            ok[s] = False
            if not ok.any():
                continue
            if p not in windows:
                windows[p] = view.forecast.remaining_window_s(p)
            w = windows[p]
            dests = np.flatnonzero(ok & (w > 0))
            if dests.size == 0:
                continue
            slack, t_ok, e_ok = feasibility.move_verdicts(
                jobs.size_gb[j], view.bandwidth_gbps[s, dests], w[dests], self._params_for(view, p)
            )
            feasible = t_ok & e_ok
            if not feasible.any():
                continue
            d = int(dests[int(np.argmax(np.where(feasible, slack, -np.inf)))])
            actions.append(Migrate(j, d))
            deficit.moved(p, s, d)
        return actions

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "rule": "largest slack among time- and energy-feasible"}
