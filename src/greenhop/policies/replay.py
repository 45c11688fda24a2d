"""``ReplayPolicy``: follows a plan made in advance, step by step.

A plan says, for every step and job, the site where the job should hold a slot (or -1: it
should not run). The replay starts, migrates, pauses and resumes jobs to match it. A job that has
fallen behind its plan (its progress is below the plan's work up to this step) keeps running
rather than pausing, and a queued or paused one that is behind starts or resumes where it last
ran. The offline optimum (:func:`greenhop.oracle.oracle_policy`) is replayed this way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from greenhop.errors import InputError
from greenhop.policies.base import Action, JobState, Migrate, Pause, Policy, Resume, Start, View

IntArray = NDArray[np.int64]


class ReplayPolicy(Policy):
    """Replays ``plan`` (steps, jobs) of site indices (-1: not running).

    ``work_gpu_h`` is each job's work and ``step_s`` the plan's step length; ``config`` is
    reported by :meth:`config` beside the policy's name. ``site_speed`` (per site, work per
    hour against the reference part) paces the planned progress on heterogeneous sites.
    """

    def __init__(
        self,
        plan: ArrayLike,
        work_gpu_h: ArrayLike,
        step_s: float,
        *,
        name: str = "replay",
        config: dict[str, Any] | None = None,
        site_speed: ArrayLike | None = None,
    ) -> None:
        self.plan: IntArray = np.asarray(plan, dtype=np.int64)
        work = np.asarray(work_gpu_h, dtype=np.float64)
        if self.plan.ndim != 2 or self.plan.shape[1] != len(work):
            raise InputError(
                f"a plan must have shape (steps, {len(work)} jobs), got {self.plan.shape}"
            )
        self.name = name
        self._config = dict(config or {})
        # planned work done before each step, GPU-h, (steps + 1, jobs)
        per_step = (self.plan >= 0) * (step_s / 3600.0)
        if site_speed is not None:  # a step at a site does its speed's worth of work
            speed = np.asarray(site_speed, dtype=np.float64)
            per_step = per_step * np.where(self.plan >= 0, speed[np.maximum(self.plan, 0)], 0.0)
        done = np.cumsum(per_step, axis=0)
        self.planned_before = np.minimum(
            np.vstack([np.zeros((1, self.plan.shape[1])), done]), work[None, :]
        )

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **self._config}

    def decide(self, now: float, view: View) -> list[Action]:
        k = min(view.step, self.plan.shape[0] - 1)
        want = self.plan[k]
        jobs = view.jobs
        free = view.free_slots.copy()
        actions: list[Action] = []
        # pauses and moves away first, so the plan's slots free up in order
        later: list[Start | Migrate | Resume] = []
        for j in range(len(jobs.names)):
            st = int(jobs.state[j])
            w = int(want[j])
            behind = jobs.progress_gpu_h[j] + 1e-9 < self.planned_before[k, j]
            here = int(jobs.site[j])
            if st == JobState.RUNNING:
                if w < 0:
                    if not behind:
                        actions.append(Pause(j))
                elif w != here:
                    later.append(Migrate(j, w))
            elif st == JobState.QUEUED:
                if w >= 0:
                    later.append(Start(j, w))
                elif behind:
                    later.append(Start(j, self._last_site(j, k)))
            elif st == JobState.PAUSED:
                if w >= 0:
                    later.append(Resume(j, w))
                elif behind:
                    later.append(Resume(j, here))
        for act in later:
            target = act.dest if isinstance(act, Migrate) else act.site
            if free[target] > 0:
                free[target] -= 1
                actions.append(act)
        return actions

    def _last_site(self, j: int, k: int) -> int:
        """The site where the plan last ran job ``j`` before step ``k`` (its first, if none)."""
        col = self.plan[: k + 1, j]
        ran = col[col >= 0]
        if ran.size:
            return int(ran[-1])
        after = self.plan[k:, j]
        return int(after[after >= 0][0]) if (after >= 0).any() else 0
