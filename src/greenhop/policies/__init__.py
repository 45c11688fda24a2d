"""Policies: ``decide(now, view) -> list[Action]``; the same objects drive sim/ and live/."""

from __future__ import annotations

from collections.abc import Callable

from greenhop.errors import UnknownNameError
from greenhop.policies.base import (
    OBJECTIVES,
    Action,
    JobState,
    Migrate,
    Objective,
    Pause,
    Policy,
    Resume,
    Start,
    View,
    admit_queued,
    check_objective,
)
from greenhop.policies.carbon_aware import CarbonAwarePolicy
from greenhop.policies.energy_only import EnergyOnlyPolicy
from greenhop.policies.feasibility_aware import FeasibilityAwarePolicy
from greenhop.policies.lookahead import LookaheadPolicy
from greenhop.policies.replay import ReplayPolicy
from greenhop.policies.stay import StayPolicy

POLICIES: dict[str, Callable[[], Policy]] = {
    "stay": StayPolicy,
    "energy-only": EnergyOnlyPolicy,
    "feasibility-aware": FeasibilityAwarePolicy,
    "lookahead": LookaheadPolicy,
}


#: Policies that need grid signals (a carbon signal), so ``--policy all`` leaves them out.
GRID_POLICIES: dict[str, Callable[[], Policy]] = {"carbon-aware": CarbonAwarePolicy}

#: Policies that take an objective: ``NAME:carbon`` or ``NAME:cost`` on the command line.
WITH_OBJECTIVE: dict[str, Callable[[Objective], Policy]] = {
    "feasibility-aware": lambda o: FeasibilityAwarePolicy(o),
    "lookahead": lambda o: LookaheadPolicy(objective=o),
}


def make_policy(name: str) -> Policy:
    """A new policy object by its command-line name (``lookahead:carbon``: with an objective)."""
    base, _, objective = name.partition(":")
    if objective:
        if base not in WITH_OBJECTIVE:
            raise UnknownNameError(
                f"policy {base!r} takes no objective; those that do: {', '.join(WITH_OBJECTIVE)}"
            )
        return WITH_OBJECTIVE[base](check_objective(objective))
    if name in GRID_POLICIES:
        return GRID_POLICIES[name]()
    if name not in POLICIES:
        raise UnknownNameError(
            f"unknown policy {name!r}; known policies: {', '.join([*POLICIES, *GRID_POLICIES])}"
        )
    return POLICIES[name]()


__all__ = [
    "GRID_POLICIES",
    "OBJECTIVES",
    "POLICIES",
    "WITH_OBJECTIVE",
    "Action",
    "CarbonAwarePolicy",
    "EnergyOnlyPolicy",
    "FeasibilityAwarePolicy",
    "JobState",
    "LookaheadPolicy",
    "Migrate",
    "Pause",
    "Policy",
    "ReplayPolicy",
    "Resume",
    "Start",
    "StayPolicy",
    "View",
    "admit_queued",
    "make_policy",
]
