"""Policies: ``decide(now, view) -> list[Action]``; the same objects drive sim/ and live/."""

from __future__ import annotations

from collections.abc import Callable

from greenhop.errors import UnknownNameError
from greenhop.policies.base import (
    Action,
    JobState,
    Migrate,
    Pause,
    Policy,
    Resume,
    Start,
    View,
    admit_queued,
)
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


def make_policy(name: str) -> Policy:
    """A new policy object by its command-line name."""
    if name not in POLICIES:
        raise UnknownNameError(f"unknown policy {name!r}; known policies: {', '.join(POLICIES)}")
    return POLICIES[name]()


__all__ = [
    "POLICIES",
    "Action",
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
