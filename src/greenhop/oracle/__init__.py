"""The offline optimum: a mixed-integer program over a whole run, its bound and its plan.

:func:`solve_oracle` gives the lower bound on non-renewable energy and a plan, optionally within
a completion-time budget (``eps``: no job later than ``(1 + eps)`` x its JCT under ``stay``);
:func:`frontier` solves it for several budgets (the energy-JCT frontier); :func:`solve_rolling`
plans instances too large for one program over a rolling horizon (a heuristic, not a bound);
:func:`oracle_policy` replays a plan as a :class:`~greenhop.policies.replay.ReplayPolicy`;
:func:`named_oracle` builds one from a name such as ``oracle:eps=0.1``. docs/oracle.md explains
the program.
"""

from greenhop.oracle.budget import (
    DEFAULT_EPS,
    FrontierPoint,
    eps_needed,
    frontier,
    over_budget,
    stay_completion_s,
)
from greenhop.oracle.named import is_oracle_name, named_oracle, parse_oracle_name
from greenhop.oracle.program import (
    MAX_BINARIES,
    MAX_BLOCK_S,
    OracleSolution,
    choose_block_steps,
    completion_limits_s,
    oracle_policy,
    solve_oracle,
    step_plan,
)
from greenhop.oracle.rolling import solve_rolling

__all__ = [
    "DEFAULT_EPS",
    "MAX_BINARIES",
    "MAX_BLOCK_S",
    "FrontierPoint",
    "OracleSolution",
    "choose_block_steps",
    "completion_limits_s",
    "eps_needed",
    "frontier",
    "is_oracle_name",
    "named_oracle",
    "oracle_policy",
    "over_budget",
    "parse_oracle_name",
    "solve_oracle",
    "solve_rolling",
    "stay_completion_s",
    "step_plan",
]
