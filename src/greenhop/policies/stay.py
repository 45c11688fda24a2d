"""``stay``: never migrate."""

from __future__ import annotations

from greenhop.policies.base import (
    Action,
    FloatArray,
    Policy,
    View,
    admit_queued,
    nothing_to_admit,
)


class StayPolicy(Policy):
    """Run each job where it was admitted until it is done; on the grid when there is no surplus.

    Admission is the shared rule (:func:`~greenhop.policies.base.admit_queued`): the free site
    with the most renewable power left now.
    """

    name = "stay"

    def decide(self, now: float, view: View) -> list[Action]:
        return admit_queued(view)

    def quiet_steps(self, view: View, surplus_w: FloatArray, it_load_w: FloatArray) -> int:
        # it only admits: with no job queued, or no slot free, it has nothing to do
        return len(surplus_w) if nothing_to_admit(view) else 0
