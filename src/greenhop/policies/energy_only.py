"""``energy-only``: the paper's purely energy-driven baseline."""

from __future__ import annotations

import numpy as np

from greenhop.policies.base import (
    Action,
    JobState,
    Migrate,
    Policy,
    View,
    admit_queued,
    free_slots_after,
)


class EnergyOnlyPolicy(Policy):
    """Move a job to the site with the most renewable power now, whenever that beats its own.

    Rule, each step, for every running job that is not fully on renewables where it runs
    (its site's renewable power left, counting the job's own draw, is below its power): find the
    site with a free slot and the most renewable power available now; move there when that is
    more than what the job gets where it is. Neither the transfer time nor the length of the
    destination's window is considered. At most one job moves into each free slot per step.
    """

    name = "energy-only"

    def decide(self, now: float, view: View) -> list[Action]:
        actions = admit_queued(view)
        running = view.jobs.in_state(JobState.RUNNING)
        if running.size == 0:
            return actions
        avail = view.available_w()
        free = free_slots_after(view, actions)
        jobs = view.jobs
        own = avail - view.idle_slot_power_w  # renewable left at the job's site
        if not (free > 0).any():
            return actions
        # jobs at sites in deficit first, the largest deficit first
        deficit_jobs = [int(j) for j in running if own[jobs.site[j]] < 0]
        deficit_jobs.sort(key=lambda j: own[jobs.site[j]])
        for j in deficit_jobs:
            s = int(jobs.site[j])
            p = float(jobs.power_w[j])
            current = min(p, max(own[s] + p, 0.0))  # renewable power the job gets now
            cand = np.where(free > 0, np.minimum(avail, p), -np.inf)
            cand[s] = -np.inf
            d = int(np.argmax(cand))
            if cand[d] > current + 1e-9:
                actions.append(Migrate(j, d))
                free[d] -= 1
                avail[d] -= p
                own[s] += p
                avail[s] += p
        return actions
