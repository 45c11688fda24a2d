"""Policies: ``decide(now, view) -> list[Action]``; the same objects drive sim/ and live/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from greenhop.policies.stay import StayPolicy

POLICIES: dict[str, Callable[[], Policy]] = {
    "stay": StayPolicy,
    "energy-only": EnergyOnlyPolicy,
    "feasibility-aware": FeasibilityAwarePolicy,
    "lookahead": LookaheadPolicy,
}


#: Policies that need the whole instance (perfect knowledge) to be built.
OFFLINE = ("oracle",)


def available_policies() -> list[str]:
    """Every policy name ``--policy all`` runs: the online ones, then the offline ones."""
    return [*POLICIES, *OFFLINE]


def policy_for(name: str, inputs: Any) -> Policy:
    """A policy for a run on ``inputs`` (the oracle solves its program on them first)."""
    if name == "oracle":
        from greenhop.policies.oracle import OraclePolicy

        return OraclePolicy.for_inputs(inputs)
    return make_policy(name)


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
    "Resume",
    "Start",
    "StayPolicy",
    "View",
    "admit_queued",
    "available_policies",
    "make_policy",
    "policy_for",
]
