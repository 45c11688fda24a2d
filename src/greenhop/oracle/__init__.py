"""The offline optimum: a mixed-integer program over a whole run, its bound and its plan.

:func:`solve_oracle` gives the lower bound on non-renewable energy and a plan;
:func:`oracle_policy` replays the plan as a :class:`~greenhop.policies.replay.ReplayPolicy`.
docs/oracle.md explains the program.
"""

from greenhop.oracle.program import (
    MAX_BINARIES,
    MAX_BLOCK_S,
    OracleSolution,
    choose_block_steps,
    oracle_policy,
    solve_oracle,
    step_plan,
)

__all__ = [
    "MAX_BINARIES",
    "MAX_BLOCK_S",
    "OracleSolution",
    "choose_block_steps",
    "oracle_policy",
    "solve_oracle",
    "step_plan",
]
