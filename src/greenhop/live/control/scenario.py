"""A scenario ready for a live run: its arrays and its jobs as real trainers.

:class:`LiveScenario` is a :class:`~greenhop.scenario.Scenario` checked for a live run, with its
arrays (:class:`~greenhop.world.inputs.SimInputs`, the same the simulator uses, forecaster
included) and one :class:`~greenhop.live.jobs.driver.LiveJob` per scenario job.

**Work and progress.** A scenario job declares ``work_gpu_h`` (the simulator's work) and, for
live runs, a ``[jobs.live]`` table (:mod:`greenhop.live.jobs.spec`) with ``trainer`` (a bundled
example) and ``train_steps``; the live job trains
``train_steps`` real optimisation steps, and its progress in GPU-hours is
``steps_done / train_steps × work_gpu_h``. The controller paces the job to the replayed clock:
for each tick of ``step_s`` trace seconds in which the job runs, it may do
``train_steps × step_s / (work_gpu_h × 3600)`` more steps, so a job that keeps up finishes
after ``work_gpu_h`` hours of trace time, as in the simulator; one that falls behind (a slow
node) takes longer and its progress says so.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greenhop.errors import InputError
from greenhop.live.jobs.driver import LiveJob
from greenhop.live.jobs.spec import live_job_specs
from greenhop.scenario import Scenario
from greenhop.world.inputs import SimInputs

DEFAULT_TRAINER = "digits-cnn"
"""The trainer of a scenario job that names none."""

DEFAULT_STEPS_PER_GPU_H = 40
"""Steps per GPU-hour of a scenario job without ``train_steps`` (10 per 15-min step)."""


def trainer_factory(name: str, seed: int) -> Any:
    """A picklable factory of the bundled example trainer ``name`` with ``seed``."""
    from greenhop.live.jobs.examples import CharTransformerTrainer, DigitsCNNTrainer

    trainers: dict[str, Any] = {
        "digits-cnn": DigitsCNNTrainer,
        "char-transformer": CharTransformerTrainer,
    }
    if name not in trainers:
        raise InputError(f"unknown trainer {name!r}; bundled: {', '.join(trainers)}")
    return functools.partial(trainers[name], seed=seed)


@dataclass(frozen=True)
class LiveScenario:
    """A scenario ready for a live run: its arrays and its jobs as real trainers."""

    scenario: Scenario
    inputs: SimInputs
    live_jobs: tuple[LiveJob, ...]
    trainers: tuple[str, ...]

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, forecast: str | None = None) -> LiveScenario:
        """Check ``scenario`` for a live run and build its arrays and jobs.

        Raises InputError for what a live run cannot do (no jobs), ScenarioError for a bad
        ``[jobs.live]`` table."""
        label = scenario.source.name if scenario.source is not None else repr(scenario.name)
        if not scenario.jobs:
            raise InputError(f"{label}: the scenario has no [[jobs]]; a live run needs one")
        specs = live_job_specs(scenario)
        inputs = SimInputs.from_scenario(scenario, forecast=forecast)
        jobs = []
        names = []
        for i, (job, spec) in enumerate(zip(scenario.jobs, specs, strict=True)):
            trainer = spec.trainer or DEFAULT_TRAINER
            steps = spec.train_steps or max(1, round(job.work_gpu_h * DEFAULT_STEPS_PER_GPU_H))
            names.append(trainer)
            jobs.append(
                LiveJob(job.name, trainer_factory(trainer, scenario.seed + i), total_steps=steps)
            )
        return cls(scenario, inputs, tuple(jobs), tuple(names))

    @property
    def name(self) -> str:
        return str(self.scenario.name)

    def fingerprint(self) -> str:
        """SHA-256 of the scenario's content (a restarted controller must run the same one)."""
        return hashlib.sha256(self.scenario.model_dump_json().encode()).hexdigest()

    def steps_per_tick(self) -> NDArray[np.float64]:
        """Steps each job may do per tick it runs (see the module docstring)."""
        total = np.array([j.total_steps for j in self.live_jobs], dtype=np.float64)
        res: NDArray[np.float64] = total * self.inputs.step_s / (self.inputs.jobs.work_gpu_h * 3600)
        return res
