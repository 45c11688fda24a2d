"""Policies by name, the offline optimum included, and runs of several on the same inputs.

The online policies (:data:`greenhop.policies.POLICIES`) are built from their name alone; the
``oracle`` needs the whole instance, so it is solved on the run's inputs first
(:func:`greenhop.oracle.oracle_policy`). The CLI, sweeps and the live controller build their
policies here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from greenhop.errors import InputError
from greenhop.oracle import is_oracle_name, named_oracle
from greenhop.policies import GRID_POLICIES, POLICIES, WITH_OBJECTIVE, Policy, make_policy
from greenhop.sim.engine import Simulator
from greenhop.world.inputs import SimInputs
from greenhop.world.record import RunRecord

#: Policies that need the whole instance (perfect knowledge) to be built.
OFFLINE = ("oracle",)

#: Runs with more (steps × jobs) than this do not record per-step placement (memory).
PLACEMENT_LIMIT = 20_000_000


def available_policies() -> list[str]:
    """Every policy name ``--policy all`` runs: the online ones, then the offline ones."""
    return [*POLICIES, *OFFLINE]


def is_grid_policy(name: str) -> bool:
    """A policy name that ``all`` leaves out: one that needs grid signals (``carbon-aware``)
    or an objective given with the name (``lookahead:carbon``, ``feasibility-aware:cost``)."""
    base, sep, objective = name.partition(":")
    return name in GRID_POLICIES or (bool(sep) and base in WITH_OBJECTIVE and bool(objective))


def _needs(name: str) -> str | None:
    """The grid signal a policy name needs: 'carbon', 'price' or None."""
    if name == "carbon-aware" or name.endswith(":carbon"):
        return "carbon"
    if name.endswith(":cost"):
        return "price"
    return None


def policy_for(name: str, inputs: SimInputs) -> Policy:
    """A policy for a run on ``inputs`` (the oracle solves its program on them first).

    Raises :class:`~greenhop.errors.InputError` when the policy needs a grid signal the run
    does not have (``carbon-aware`` and ``:carbon`` a carbon signal, ``:cost`` a price)."""
    if is_oracle_name(name):  # oracle, or with options: oracle:eps=0.1, oracle:window=24
        return named_oracle(name, inputs)
    need = _needs(name)
    grid = inputs.grid
    if need is not None and (grid is None or grid.series(need) is None):
        raise InputError(
            f"policy {name!r} needs a {need} signal: add a [[grid]] table with "
            f"signal = '{need}' to the scenario"
        )
    return make_policy(name)


def run_policies(
    inputs: SimInputs,
    names: Sequence[str],
    *,
    progress: Callable[[str, int, int], None] | None = None,
    skipped: dict[str, str] | None = None,
) -> list[RunRecord]:
    """Simulate each named policy on the same inputs.

    With ``skipped`` (a dict), a policy that cannot be built for these inputs (the oracle on an
    instance too large for its program) is left out and the reason recorded there; without it,
    the error propagates.
    """
    record = inputs.n_steps * max(len(inputs.jobs), 1) <= PLACEMENT_LIMIT
    results = []
    for name in names:
        try:
            policy = policy_for(name, inputs)
        except InputError as exc:
            if skipped is None:
                raise
            skipped[name] = str(exc)
            continue
        cb = None if progress is None else (lambda d, t, n=name: progress(n, d, t))
        results.append(Simulator(inputs, record_placement=record).run(policy, progress=cb))
    return results
