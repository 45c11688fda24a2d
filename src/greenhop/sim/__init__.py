"""The trace-driven simulator: the world on a simulated clock, its metrics, and sweeps of inputs."""

from __future__ import annotations

import dataclasses

import numpy as np

from greenhop.errors import InputError
from greenhop.sim.engine import SimulatedWorld, Simulator
from greenhop.world.inputs import SimInputs
from greenhop.world.record import RunRecord


def with_overrides(
    inputs: SimInputs,
    *,
    bandwidth_gbps: float | None = None,
    checkpoint_gb: float | None = None,
) -> SimInputs:
    """A copy of ``inputs`` with every link and/or every job's checkpoint size set (sweeps)."""
    changes: dict[str, object] = {}
    if bandwidth_gbps is not None:
        if not bandwidth_gbps > 0 or not np.isfinite(bandwidth_gbps):
            raise InputError(f"--bandwidth-gbps must be > 0, got {bandwidth_gbps}")
        bw = np.full_like(inputs.bandwidth_gbps, float(bandwidth_gbps))
        np.fill_diagonal(bw, np.inf)
        changes["bandwidth_gbps"] = bw
    if checkpoint_gb is not None:
        if not checkpoint_gb > 0 or not np.isfinite(checkpoint_gb):
            raise InputError(f"--checkpoint-gb must be > 0, got {checkpoint_gb}")
        jobs = dataclasses.replace(
            inputs.jobs, size_gb=np.full(len(inputs.jobs), float(checkpoint_gb))
        )
        changes["jobs"] = jobs
    return dataclasses.replace(inputs, **changes) if changes else inputs  # type: ignore[arg-type]


__all__ = ["RunRecord", "SimInputs", "SimulatedWorld", "Simulator", "with_overrides"]
