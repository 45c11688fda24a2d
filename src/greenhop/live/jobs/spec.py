"""What a scenario job says about its live run: the ``[jobs.live]`` table.

The scenario's schema keeps ``[jobs.live]`` as it was read (the simulator has no use for it);
``greenhop live`` validates it here::

    [[jobs]]
    name = "cnn-a"
    work_gpu_h = 14.0
    ...
    live = { trainer = "digits-cnn", train_steps = 560 }

    [jobs.live]                                     # or your own code:
    trainer = "my_project.train:make_trainer"       # a factory by its import path
    trainer_args = { hidden = 64 }                  # its keyword arguments
    working_dir = "."                               # shipped to the sites (default: the
                                                    # scenario's folder for your own code)

Every field is optional: the trainer defaults to ``digits-cnn`` and the steps to 40 per GPU-hour
of ``work_gpu_h`` (:mod:`greenhop.live.control.scenario`); how a trainer is found and shipped is
:mod:`greenhop.live.jobs.factory`. This module imports neither torch nor Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from greenhop.scenario import Scenario


class LiveJobSpec(BaseModel):
    """A job's ``[jobs.live]`` table: which trainer stands in for it and how many steps it takes.

    Progress in GPU-hours is ``steps_done / train_steps × work_gpu_h``.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    trainer: str | None = Field(
        default=None,
        description="a bundled trainer (digits-cnn, char-transformer; the default digits-cnn) or "
        "the import path of your factory, 'module:attribute'",
    )
    trainer_args: dict[str, Any] | None = Field(
        default=None, description="keyword arguments of the trainer factory"
    )
    working_dir: str | bool | None = Field(
        default=None,
        description="folder shipped to every site (relative to the scenario file; default: the "
        "scenario's folder for your own trainer; false: ship nothing, the code is installed)",
    )
    py_modules: list[str] | None = Field(
        default=None, description="more modules or packages shipped to every site"
    )
    train_steps: int | None = Field(
        default=None, ge=1, description="optimisation steps that make up the job's work_gpu_h"
    )

    @field_validator("trainer")
    @classmethod
    def _known_form(cls, value: str | None) -> str | None:
        from greenhop.live.jobs.factory import BUNDLED, is_trainer_path

        if value is not None and not is_trainer_path(value):
            raise ValueError(
                f"neither a bundled trainer ({', '.join(BUNDLED)}) nor an import path like "
                "'my_project.train:make_trainer'"
            )
        return value


def live_job_specs(scenario: Scenario) -> list[LiveJobSpec]:
    """Every job's ``[jobs.live]`` table, validated, in job order.

    Raises :class:`~greenhop.errors.ScenarioError` with one line per error, naming the file, the
    job and the field, e.g. ``live-demo.toml: [[jobs]] #2 'lm': [jobs.live]: field 'train_steps':
    must be ≥ 1 (got 0)``.
    """
    return scenario.job_tables("live", LiveJobSpec)
