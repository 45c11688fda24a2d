"""The run record: what a run produced, in a simulation or a live run alike.

:class:`RunRecord` holds per-step power at every site (after the energy ledger has settled it),
every job's times, progress and energy, the moves, the refused actions and the events.
:mod:`greenhop.sim.metrics` turns it into tables; :mod:`greenhop.report` into plots and pages.
The simulator writes one as it runs; a live run's is read back from its state database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from greenhop.world.inputs import SimInputs

FloatArray = NDArray[np.float64]


@dataclass
class Migration:
    """One move of a job's checkpoint between sites (a migration, or a resume elsewhere).

    Times are seconds since the run's start; NaN for a phase not (yet) finished.
    """

    job: int
    src: int
    dest: int
    size_gb: float
    started_s: float
    kind: str  # "migrate" or "resume"
    checkpoint_done_s: float = float("nan")
    transfer_done_s: float = float("nan")
    restored_s: float = float("nan")
    wasted: bool = False  # restored where the renewables did not cover the job (rules)
    woke: bool = False  # its landing woke a sleeping slot at the destination (idle slots sleep)

    @property
    def transferred(self) -> bool:
        """True once the checkpoint has crossed the WAN (its network energy is spent)."""
        return bool(np.isfinite(self.transfer_done_s))

    @property
    def completed(self) -> bool:
        """True once the job runs again at the destination."""
        return bool(np.isfinite(self.restored_s))


@dataclass
class RunRecord:
    """Everything a run produced (simulated or live)."""

    inputs: SimInputs
    policy: str
    policy_config: dict[str, Any]
    it_load_w: FloatArray  # (steps, sites), mean over each step
    running_jobs: NDArray[np.int32]  # (steps, sites), jobs holding a slot at the step's end
    grid_w: FloatArray  # (steps, sites)
    renewable_w: FloatArray  # (steps, sites), renewable power serving the IT load
    battery_discharge_w: FloatArray
    battery_charge_w: FloatArray
    curtailed_w: FloatArray
    battery_soc_kwh: FloatArray  # (steps, sites) at each step's end
    job_start_s: FloatArray
    job_done_s: FloatArray  # nan: not finished within the run
    job_progress_gpu_h: FloatArray
    job_run_s_at: FloatArray  # (jobs, sites) seconds each job ran at each site
    migrations: list[Migration]
    refused: list[tuple[float, str, str]]  # (time, action, reason)
    events: list[tuple[float, int, str, int]]  # (time, job, event, site)
    #: every job's energy per step and site, as sparse columns (step, job, site, joules)
    job_energy: tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]] | None = None
    placement: NDArray[np.int16] | None = None  # (steps, jobs) site or -1, when recorded
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
