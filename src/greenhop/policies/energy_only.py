"""``energy-only``: the paper's purely energy-driven baseline."""

from __future__ import annotations

import numpy as np

from greenhop.policies.base import (
    Action,
    FloatArray,
    Migrate,
    Policy,
    View,
    admit_queued,
    jobs_in_deficit,
    nothing_to_admit,
    steps_without_deficit,
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
        deficit = jobs_in_deficit(view, actions)
        if deficit is None:
            return actions
        jobs = view.jobs
        avail, own, free = deficit.available_w, deficit.own_w, deficit.free
        hetero = view.heterogeneous()
        for j in deficit.movers:
            s = int(jobs.site[j])
            p_at = view.power_at(j)  # its draw at each site
            p = float(p_at[s])
            current = min(p, max(own[s] + p, 0.0))  # renewable power the job gets now
            # renewable share of the job's draw at each free site (its power there, covered)
            covered = np.minimum(avail, p_at)
            if hetero:
                covered = covered / p_at * p
            cand = np.where(free > 0, covered, -np.inf)
            cand[s] = -np.inf
            d = int(np.argmax(cand))
            if cand[d] > current + 1e-9:
                actions.append(Migrate(j, d))
                deficit.moved(float(p_at[d]), s, d, p)
        return actions

    def quiet_steps(self, view: View, surplus_w: FloatArray, it_load_w: FloatArray) -> int:
        # nothing to admit, and no job in deficit that a move could help
        if not nothing_to_admit(view):
            return 0
        return steps_without_deficit(view, surplus_w, it_load_w)
