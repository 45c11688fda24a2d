"""The world contract: what the simulator and the live controller share.

A policy (:mod:`greenhop.policies`) acts on a world; a world is the simulator (a simulated
clock) or the live controller (a wall clock), and both are built from these parts:

- :mod:`~greenhop.world.inputs`: the run's sites, links, jobs and forecasts as arrays
  (:class:`SimInputs`), built from a :class:`~greenhop.scenario.Scenario`;
- :mod:`~greenhop.world.jobs`: the jobs' changing state as arrays (:class:`JobTable`);
- :mod:`~greenhop.world.rules`: arrivals, which actions are carried out or refused and why,
  the wasted-move rule;
- :mod:`~greenhop.world.view`: the :class:`~greenhop.policies.base.View` a policy reads;
- :mod:`~greenhop.world.loop`: the :class:`World` interface and the one loop that drives it;
- :mod:`~greenhop.world.ledger`: the one energy ledger (settlement, attribution, the definition
  of non-renewable energy);
- :mod:`~greenhop.world.record`: the neutral run record (:class:`RunRecord`, :class:`Migration`).

docs/architecture.md follows one scenario through both worlds.
"""

from greenhop.world.inputs import ForecastAdapter, ForecastAt, JobSpecs, SimInputs
from greenhop.world.jobs import JobTable
from greenhop.world.loop import World, run_steps
from greenhop.world.record import Migration, RunRecord

__all__ = [
    "ForecastAdapter",
    "ForecastAt",
    "JobSpecs",
    "JobTable",
    "Migration",
    "RunRecord",
    "SimInputs",
    "World",
    "run_steps",
]
