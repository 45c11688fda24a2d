"""``stay``: never migrate."""

from __future__ import annotations

from greenhop.policies.base import Action, Policy, View, admit_queued


class StayPolicy(Policy):
    """Run each job where it was admitted until it is done; on the grid when there is no surplus.

    Admission is the shared rule (:func:`~greenhop.policies.base.admit_queued`): the free site
    with the most renewable power left now.
    """

    name = "stay"

    def decide(self, now: float, view: View) -> list[Action]:
        return admit_queued(view)
