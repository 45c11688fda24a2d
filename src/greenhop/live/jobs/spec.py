"""What a scenario job says about its live run: the ``[jobs.live]`` table.

The scenario's schema keeps ``[jobs.live]`` as it was read (the simulator has no use for it);
``greenhop live`` validates it here::

    [[jobs]]
    name = "cnn-a"
    work_gpu_h = 14.0
    ...
    live = { trainer = "digits-cnn", train_steps = 560 }

Both fields are optional: the trainer defaults to ``digits-cnn`` and the steps to 40 per GPU-hour of
``work_gpu_h`` (:mod:`greenhop.live.control.scenario`). This module imports neither torch nor Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from greenhop.scenario import Scenario

TrainerName = Literal["digits-cnn", "char-transformer"]
"""The bundled example trainers (:mod:`greenhop.live.jobs.examples`)."""


class LiveJobSpec(BaseModel):
    """A job's ``[jobs.live]`` table: which trainer stands in for it and how many steps it takes.

    Progress in GPU-hours is ``steps_done / train_steps × work_gpu_h``.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    trainer: TrainerName | None = Field(
        default=None, description="the bundled example trainer (default digits-cnn)"
    )
    train_steps: int | None = Field(
        default=None, ge=1, description="optimisation steps that make up the job's work_gpu_h"
    )


def live_job_specs(scenario: Scenario) -> list[LiveJobSpec]:
    """Every job's ``[jobs.live]`` table, validated, in job order.

    Raises :class:`~greenhop.errors.ScenarioError` with one line per error, naming the file, the
    job and the field, e.g. ``live-demo.toml: [[jobs]] #2 'lm': [jobs.live]: field 'train_steps':
    must be ≥ 1 (got 0)``.
    """
    return scenario.job_tables("live", LiveJobSpec)
