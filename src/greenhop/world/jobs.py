"""The jobs of a run as arrays: their changing state, and the read-only view a policy gets.

A world (the simulator, the live controller) keeps one :class:`JobTable`; the static
description of the jobs (arrival, work, power, checkpoint size) is
:class:`~greenhop.world.inputs.JobSpecs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from greenhop.policies.base import JobState, JobsView
from greenhop.world.inputs import JobSpecs

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_A = TypeVar("_A", bound=np.ndarray[Any, Any])


@dataclass
class JobTable:
    """Every job's changing state, one array entry per job (times in s since the run's start)."""

    state: IntArray  # JobState
    site: IntArray  # where the job runs or its checkpoint lies; -1 for none
    dest: IntArray  # destination of a move in flight; -1 for none
    progress_gpu_h: FloatArray
    last_move_s: FloatArray  # when the job last started, moved or resumed; -inf for never
    start_s: FloatArray  # nan: not started
    done_s: FloatArray  # nan: not done
    #: (jobs, sites): the job's frozen part lies at the site (it ran there, or was pre-staged);
    #: None when no job has a frozen part
    frozen_at: NDArray[np.bool_] | None = None

    @classmethod
    def pending(
        cls, n_jobs: int, *, n_sites: int = 0, frozen: bool = False, prestaged: bool = False
    ) -> JobTable:
        """``n_jobs`` jobs that have not arrived yet; with ``frozen``, where each job's frozen
        part lies is tracked over ``n_sites`` sites (everywhere from the start if
        ``prestaged``)."""
        return cls(
            state=np.full(n_jobs, int(JobState.PENDING), dtype=np.int64),
            site=np.full(n_jobs, -1, dtype=np.int64),
            dest=np.full(n_jobs, -1, dtype=np.int64),
            progress_gpu_h=np.zeros(n_jobs),
            last_move_s=np.full(n_jobs, -np.inf),
            start_s=np.full(n_jobs, np.nan),
            done_s=np.full(n_jobs, np.nan),
            frozen_at=np.full((n_jobs, n_sites), prestaged, dtype=bool) if frozen else None,
        )

    def __len__(self) -> int:
        return len(self.state)

    def active(self) -> IntArray:
        """Jobs arrived and not done, ascending."""
        st = self.state
        res: IntArray = np.flatnonzero((st != JobState.PENDING) & (st != JobState.DONE)).astype(
            np.int64
        )
        return res

    def view(self, specs: JobSpecs, active: IntArray | None = None) -> JobsView:
        """The policy's read-only view of these jobs (the arrays are shared, not copied: build
        it once and it follows the table; ``active`` None: every job)."""
        ro = readonly
        return JobsView(
            names=specs.names,
            state=ro(self.state),
            site=ro(self.site),
            dest=ro(self.dest),
            power_w=ro(specs.power_w),
            size_gb=ro(specs.size_gb),
            work_gpu_h=ro(specs.work_gpu_h),
            progress_gpu_h=ro(self.progress_gpu_h),
            arrival_s=ro(specs.arrival_s),
            deadline_s=ro(specs.deadline_s),
            preferred_site=ro(specs.preferred_site),
            last_move_s=ro(self.last_move_s),
            active=active,
            frozen_gb=None if specs.frozen_gb is None else ro(specs.frozen_gb),
            frozen_at=None if self.frozen_at is None else ro(self.frozen_at),
        )


def readonly(arr: _A) -> _A:
    """A read-only view of ``arr`` (the array itself stays writable for its owner)."""
    v: _A = arr.view()
    v.flags.writeable = False
    return v
