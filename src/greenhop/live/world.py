"""The live world as the policies see it: a scenario's jobs as real trainers, and the links'
bandwidth estimates fed by measured transfers.

- :class:`LiveScenario`: a :class:`~greenhop.scenario.Scenario` checked for a live run, with its
  arrays (:class:`~greenhop.world.inputs.SimInputs`, the same the simulator uses, forecaster
  included) and one :class:`~greenhop.live.jobs.LiveJob` per scenario job.
- :class:`LinkEstimates`: per link, an exponentially weighted estimate of the bandwidth.

**Work and progress.** A scenario job declares ``work_gpu_h`` (the simulator's work) and, for
live runs, a ``[jobs.live]`` table (:mod:`greenhop.live.spec`) with ``trainer`` (a bundled
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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greenhop.errors import InputError
from greenhop.live.jobs import LiveJob
from greenhop.live.spec import live_job_specs
from greenhop.scenario import Scenario
from greenhop.world.inputs import SimInputs

DEFAULT_TRAINER = "digits-cnn"
"""The trainer of a scenario job that names none."""

DEFAULT_STEPS_PER_GPU_H = 40
"""Steps per GPU-hour of a scenario job without ``train_steps`` (10 per 15-min step)."""

DEFAULT_LINK_WEIGHT = 0.5
"""Weight of a new measurement in a link's estimate (0.5: the last transfer counts half)."""


def trainer_factory(name: str, seed: int) -> Any:
    """A picklable factory of the bundled example trainer ``name`` with ``seed``."""
    from greenhop.live.examples import CharTransformerTrainer, DigitsCNNTrainer

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


class LinkEstimates:
    """Bandwidth estimate of each link (unordered pair of sites), Gbit/s.

    Each starts at the scenario's bandwidth; each measured transfer between ``a`` and ``b``
    (its achieved goodput, :attr:`~greenhop.live.transfer.TransferResult.bandwidth_gbps`) moves
    it: ``estimate <- (1 - weight) * estimate + weight * measured``. Both directions share one
    estimate, as they share one bandwidth in the scenario.
    """

    def __init__(
        self,
        initial_gbps: NDArray[np.float64],
        *,
        weight: float = DEFAULT_LINK_WEIGHT,
        measured: Mapping[tuple[int, int], tuple[float, int]] | None = None,
    ) -> None:
        if not 0 < weight <= 1:
            raise InputError(f"link estimate weight must be in (0, 1], got {weight}")
        self.weight = weight
        self._bw = np.array(initial_gbps, dtype=np.float64)
        np.fill_diagonal(self._bw, np.inf)
        self._samples: dict[tuple[int, int], int] = {}
        for (a, b), (bw, n) in (measured or {}).items():
            self._bw[a, b] = self._bw[b, a] = bw
            self._samples[(min(a, b), max(a, b))] = n

    def matrix(self) -> NDArray[np.float64]:
        """(sites, sites) estimates, Gbit/s; inf on the diagonal (a read-only copy)."""
        out = self._bw.copy()
        out.flags.writeable = False
        return out

    def samples(self, a: int, b: int) -> int:
        """Transfers measured on the link between ``a`` and ``b``."""
        return self._samples.get((min(a, b), max(a, b)), 0)

    def update(self, a: int, b: int, measured_gbps: float) -> float:
        """Feed one measured transfer; return the new estimate."""
        if a == b or not (measured_gbps > 0 and np.isfinite(measured_gbps)):
            return float(self._bw[a, b])
        new = (1.0 - self.weight) * self._bw[a, b] + self.weight * measured_gbps
        self._bw[a, b] = self._bw[b, a] = new
        key = (min(a, b), max(a, b))
        self._samples[key] = self._samples.get(key, 0) + 1
        return float(new)
