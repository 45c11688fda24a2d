"""``stay``: never migrate."""

from __future__ import annotations

from greenhop.policies.base import Action, FloatArray, JobState, Policy, View, admit_queued


class StayPolicy(Policy):
    """Run each job where it was admitted until it is done; on the grid when there is no surplus.

    Admission is the shared rule (:func:`~greenhop.policies.base.admit_queued`): the free site
    with the most renewable power left now.
    """

    name = "stay"

    def decide(self, now: float, view: View) -> list[Action]:
        return admit_queued(view)

    def quiet_steps(self, view: View, surplus_w: FloatArray, it_load_w: FloatArray) -> int:
        # it only admits: with no job queued it has nothing to do
        return 0 if view.jobs.in_state(JobState.QUEUED).size else len(surplus_w)
