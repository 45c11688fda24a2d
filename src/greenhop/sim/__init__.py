"""The trace-driven simulator: engine, energy balance, metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from greenhop.errors import InputError
from greenhop.sim.engine import SimResult, Simulator
from greenhop.sim.inputs import SimInputs

#: Runs with more (steps × jobs) than this do not record per-step placement (memory).
PLACEMENT_LIMIT = 20_000_000


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


def run_policies(
    inputs: SimInputs,
    names: Sequence[str],
    *,
    progress: Callable[[str, int, int], None] | None = None,
    skipped: dict[str, str] | None = None,
) -> list[SimResult]:
    """Run each named policy on the same inputs.

    With ``skipped`` (a dict), a policy that cannot be built for these inputs (the oracle on an
    instance too large for its program) is left out and the reason recorded there; without it,
    the error propagates.
    """
    from greenhop.policies import policy_for

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


__all__ = ["SimInputs", "SimResult", "Simulator", "run_policies", "with_overrides"]
