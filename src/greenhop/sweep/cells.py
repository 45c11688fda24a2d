"""One cell of a sweep: its inputs, made cheaply from a shared base, and its simulations.

The expensive part of a run's inputs (generation from the traces or the weather, and the
forecaster) is built once per distinct forecaster (and, for the seeded ``noisy`` forecaster, per
seed): a *base*. A cell's inputs are its base with a few arrays replaced
(:func:`cell_inputs`: links, checkpoint sizes, jobs, α), which costs microseconds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from greenhop.errors import InputError
from greenhop.scenario import Scenario
from greenhop.sweep.spec import Cell, SweepSpec, Value, job_mixes
from greenhop.world.inputs import ForecastAdapter, JobSpecs, SimInputs, inputs_from_scenario

#: Summary fields that are not metrics: they name the run, and the row names it already.
_NOT_METRICS = ("policy", "scenario")


def base_key(spec: SweepSpec, scenario: Scenario, cell: Cell) -> str:
    """Which base a cell runs on: its forecaster, and its seed where the forecaster uses it."""
    forecaster = str(cell.values.get("forecaster", scenario.forecaster_name))
    return f"{forecaster}/{cell.seed}" if forecaster == "noisy" else forecaster


def build_bases(spec: SweepSpec, scenario: Scenario, cells: Iterable[Cell]) -> dict[str, SimInputs]:
    """The base inputs the cells need, by :func:`base_key` (generation computed once)."""
    keys = sorted({base_key(spec, scenario, c) for c in cells})
    if not keys:
        return {}
    first = inputs_from_scenario(scenario)  # generation and the scenario's own forecaster
    generation = scenario.generation_w()  # cached by the scenario: computed once
    assert first.base_load_w is not None
    bases: dict[str, SimInputs] = {}
    for key in keys:
        name, _, seed = key.partition("/")
        if name == scenario.forecaster_name and not seed:
            bases[key] = first
            continue
        update: dict[str, Any] = {"forecaster_name": name}
        if seed:
            update["seed"] = int(seed)
        fc = scenario.model_copy(update=update).forecaster(generation)
        adapter = ForecastAdapter(fc, first.base_load_w)
        meta = {**first.meta, "forecaster": name}
        bases[key] = dataclasses.replace(first, forecast=adapter, meta=meta)
    return bases


def scenario_job_models(scenario: Scenario) -> tuple[str | None, ...]:
    """The catalog model of each of the scenario's jobs (None where it gives a size only)."""
    return tuple(j.model for j in scenario.jobs)


def _jobs(
    spec: SweepSpec,
    base: SimInputs,
    models: tuple[str | None, ...],
    values: dict[str, Value],
    seed: int,
) -> JobSpecs:
    from greenhop.checkpoints import checkpoint_size_gb
    from greenhop.sim.workload import generate_jobs

    setup = values.get("setup")
    if spec.generates_jobs:
        w = spec.workload_or_default
        mix = job_mixes()[str(values.get("job_mix", w.mix))]
        if setup is not None:
            mix = tuple((m, str(setup), p) for m, _, p in mix)
        jobs = generate_jobs(
            int(values.get("jobs", w.jobs)),
            base.n_steps * base.step_s,
            seed=seed,
            arrival_share=w.arrival_share,
            work_gpu_h=w.work_gpu_h,
            mix=mix,
        )
    else:
        jobs = base.jobs
        if setup is not None:
            sizes = [checkpoint_size_gb(str(m), str(setup)) for m in models if m is not None]
            if len(sizes) != len(jobs):
                raise InputError("the set-up axis needs every job to name a catalog model")
            jobs = dataclasses.replace(jobs, size_gb=np.array(sizes, dtype=float))
    if "checkpoint_gb" in values:
        jobs = dataclasses.replace(jobs, size_gb=np.full(len(jobs), float(values["checkpoint_gb"])))
    if "checkpoint_scale" in values:
        jobs = dataclasses.replace(jobs, size_gb=jobs.size_gb * float(values["checkpoint_scale"]))
    return jobs


def cell_inputs(
    spec: SweepSpec, base: SimInputs, models: tuple[str | None, ...], cell: Cell
) -> SimInputs:
    """The inputs of ``cell``: ``base`` with the cell's axes applied (arrays replaced only)."""
    values = cell.values
    bw = base.bandwidth_gbps
    if "bandwidth_gbps" in values:
        bw = np.full_like(bw, float(values["bandwidth_gbps"]))
        np.fill_diagonal(bw, np.inf)
    if "bandwidth_scale" in values:
        bw = bw * float(values["bandwidth_scale"])
    params = base.params
    if "alpha" in values:
        params = params.replace(alpha=float(values["alpha"]))
    if "network_energy_scale" in values:
        scale = float(values["network_energy_scale"])
        params = params.replace(network_kwh_per_gb=params.network_kwh_per_gb * scale)
    jobs = _jobs(spec, base, models, values, cell.seed)
    return dataclasses.replace(
        base, bandwidth_gbps=bw, jobs=jobs, params=params, name=f"{base.name}#{cell.index}"
    )


def run_cell(
    spec: SweepSpec,
    base: SimInputs,
    models: tuple[str | None, ...],
    cell: Cell,
    policies: Iterable[str],
    keys: dict[str, str],
) -> list[dict[str, Any]]:
    """Simulate ``cell`` under each policy; one row each: the cell's values and every metric.

    A policy that cannot be built for the cell's inputs (the oracle on an instance too large
    for its program) gives a row with ``status = 'skipped'`` and the reason.
    """
    from greenhop.runner import policy_for
    from greenhop.sim.engine import Simulator
    from greenhop.sim.metrics import summary

    inputs = cell_inputs(spec, base, models, cell)
    rows = []
    for name in policies:
        row: dict[str, Any] = {
            "key": keys[name],
            "cell": cell.index,
            "point": cell.point,
            "seed": cell.seed,
            **cell.values,
            "policy": name,
        }
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            policy = policy_for(name, inputs)
        except InputError as exc:
            row.update(status="skipped", reason=str(exc))
        else:
            record = Simulator(inputs).run(policy)
            figures = {k: v for k, v in summary(record).items() if k not in _NOT_METRICS}
            row.update(status="ok", reason="", **figures)
        # wall time, and this process's CPU time (what the cell costs whatever else runs)
        row.update(cell_s=time.perf_counter() - t0, cell_cpu_s=time.process_time() - cpu0)
        rows.append(row)
    return rows
