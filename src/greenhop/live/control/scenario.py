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

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greenhop.errors import InputError
from greenhop.live.jobs.driver import LiveJob
from greenhop.live.jobs.factory import TrainerError, TrainerSource, trainer_source
from greenhop.live.jobs.spec import live_job_specs
from greenhop.scenario import Scenario
from greenhop.world.inputs import SimInputs

DEFAULT_TRAINER = "digits-cnn"
"""The trainer of a scenario job that names none."""

DEFAULT_STEPS_PER_GPU_H = 40
"""Steps per GPU-hour of a scenario job without ``train_steps`` (10 per 15-min step)."""


@dataclass(frozen=True)
class LiveScenario:
    """A scenario ready for a live run: its arrays and its jobs as real trainers."""

    scenario: Scenario
    inputs: SimInputs
    live_jobs: tuple[LiveJob, ...]
    trainers: tuple[str, ...]

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, *, forecast: str | None = None, check: bool = True
    ) -> LiveScenario:
        """Check ``scenario`` for a live run and build its arrays and jobs.

        Raises InputError for what a live run cannot do (no jobs), ScenarioError for a bad
        ``[jobs.live]`` table, TrainerError for a trainer that cannot be imported or built or
        does not follow the protocol (with ``check``, each job's trainer is built once here,
        before any cluster starts)."""
        label = scenario.source.name if scenario.source is not None else repr(scenario.name)
        if not scenario.jobs:
            raise InputError(f"{label}: the scenario has no [[jobs]]; a live run needs one")
        specs = live_job_specs(scenario)
        inputs = SimInputs.from_scenario(scenario, forecast=forecast)
        jobs = []
        names = []
        folder = scenario.source.parent if scenario.source is not None else None
        for i, (job, spec) in enumerate(zip(scenario.jobs, specs, strict=True)):
            trainer = spec.trainer or DEFAULT_TRAINER
            steps = spec.train_steps or max(1, round(job.work_gpu_h * DEFAULT_STEPS_PER_GPU_H))
            source = trainer_source(
                job.name,
                trainer,
                trainer_args=spec.trainer_args,
                seed=scenario.seed + i,
                scenario_dir=folder,
                working_dir=spec.working_dir,
                py_modules=spec.py_modules or (),
            )
            if check:
                source.check()
            names.append(trainer)
            jobs.append(LiveJob(job.name, source, total_steps=steps))
        return cls(scenario, inputs, tuple(jobs), tuple(names))

    def runtime_env(self) -> dict[str, Any] | None:
        """Ray's runtime environment that ships every job's trainer code to the sites (give it
        to :class:`~greenhop.live.cluster.local.LocalCluster` or
        :func:`~greenhop.live.cluster.local.attach`): one ``working_dir``, the ``py_modules`` of
        all jobs; None when every trainer is installed (the bundled ones)."""
        dirs: dict[str, str] = {}
        modules: list[str] = []
        for job in self.live_jobs:
            source = job.make_trainer
            if not isinstance(source, TrainerSource):
                continue
            if source.working_dir is not None:
                dirs.setdefault(source.working_dir, source.job)
            modules += [m for m in source.py_modules if m not in modules]
        if len(dirs) > 1:
            raise TrainerError(
                f"jobs {sorted(dirs.values())} ship different working_dirs {sorted(dirs)}; a "
                "run ships one: put the others in py_modules"
            )
        env: dict[str, Any] = {}
        if dirs:
            env["working_dir"] = next(iter(dirs))
        if modules:
            env["py_modules"] = modules
        return env or None

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
