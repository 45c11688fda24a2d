"""The rules of the world, the same in a simulation and in a live run.

- :func:`arrival_steps`: the step at which a job joins the queue (the first step starting at or
  after its arrival);
- :func:`refusal`: which actions the world carries out and, for the others, why not (a real
  cluster refuses a start on a full site or a move of a job that is not running);
- :func:`is_wasted_move`: whether a move landed where the renewables no longer cover the job.

Jobs and sites are indices, as in :mod:`greenhop.policies.base`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from greenhop.errors import InputError
from greenhop.policies.base import Action, JobState, Migrate, Pause, Resume, Start

IntArray = NDArray[np.int64]

#: The state a job must be in for each action.
REQUIRED_STATE: dict[type, JobState] = {
    Start: JobState.QUEUED,
    Migrate: JobState.RUNNING,
    Pause: JobState.RUNNING,
    Resume: JobState.PAUSED,
}


def arrival_steps(arrival_s: ArrayLike, step_s: float) -> IntArray:
    """The step each job arrives in: ``ceil(arrival_s / step_s)`` (a job arriving inside a step
    joins at the next step's start; one arriving on a step boundary joins at that step)."""
    steps: IntArray = np.ceil(np.asarray(arrival_s, dtype=np.float64) / step_s - 1e-9).astype(
        np.int64
    )
    return steps


def action_target(act: Action) -> int | None:
    """The site an action takes a slot at (``Start``/``Resume``: its site, ``Migrate``: its
    destination), or None (``Pause``)."""
    if isinstance(act, Start | Resume):
        return act.site
    if isinstance(act, Migrate):
        return act.dest
    return None


def refusal(
    act: Action,
    state: IntArray,
    site: IntArray,
    free_slots: IntArray,
    blind: NDArray[np.bool_] | None = None,
) -> str:
    """Why the world refuses ``act`` now, or ``''`` when it carries it out.

    ``state`` and ``site`` are every job's :class:`JobState` and site; ``free_slots`` the slots
    per site neither held by a job nor reserved by a move on its way there; ``blind`` marks the
    sites whose power signal is unknown now (a live source that is down: no job goes where the
    world cannot see). Checked in order: the job exists; the target site exists, is not blind and
    has a free slot; the job is in the state the action needs; a move goes somewhere else.
    """
    if type(act) not in REQUIRED_STATE:
        raise InputError(f"unknown action {act!r}; actions are Start, Migrate, Pause, Resume")
    j = act.job
    if not 0 <= j < len(state):
        return "no such job"
    target = action_target(act)
    if target is not None:
        if not 0 <= target < len(free_slots):
            return "no such site"
        if blind is not None and blind[target]:
            return "the site's power signal is unknown"
        if free_slots[target] <= 0:
            return "no free slot at the site"
    want = REQUIRED_STATE[type(act)]
    if int(state[j]) != want:
        return f"job is {JobState(int(state[j])).name}, not {want.name}"
    if isinstance(act, Migrate) and int(site[j]) == act.dest:
        return "already at that site"
    return ""


def is_wasted_move(
    surplus_w: float, it_load_w: float, job_power_w: float, idle_slot_power_w: float
) -> bool:
    """A move is wasted when, as the job is restored, its destination has no renewable power
    left for it: surplus minus the IT load already there (the last step's) is less than the
    job's power above the idle slot it takes."""
    return bool(surplus_w - it_load_w < job_power_w - idle_slot_power_w)
