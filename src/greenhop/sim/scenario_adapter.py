"""From a :class:`greenhop.scenario.Scenario` to the simulator's arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenhop.sim.balance import BatterySpec
from greenhop.sim.inputs import ForecastAdapter, JobSpecs, SimInputs


def inputs_from_scenario(scenario: Any, *, forecast: str | None = None) -> SimInputs:
    """Arrays of ``scenario``: generation on its grid, sites, links, jobs and its forecaster."""
    generation = scenario.generation_w()
    names = tuple(scenario.site_names)
    start = pd.Timestamp(scenario.start)
    to_s = lambda t: (pd.Timestamp(t) - start).total_seconds()  # noqa: E731
    index = {n: i for i, n in enumerate(names)}
    jobs = JobSpecs(
        names=tuple(j.name for j in scenario.jobs),
        arrival_s=np.array([max(to_s(j.arrival), 0.0) for j in scenario.jobs]),
        work_gpu_h=np.array([j.work_gpu_h for j in scenario.jobs]),
        power_w=np.array([j.power_w for j in scenario.jobs]),
        size_gb=np.array([j.checkpoint_gb for j in scenario.jobs], dtype=float),
        deadline_s=np.array(
            [np.inf if j.deadline is None else to_s(j.deadline) for j in scenario.jobs]
        ),
        preferred_site=np.array(
            [-1 if j.site is None else index[j.site] for j in scenario.jobs], dtype=np.int64
        ),
    )
    batteries = [
        None
        if s.battery is None
        else BatterySpec(
            capacity_kwh=s.battery.capacity_kwh,
            max_power_kw=s.battery.max_power_kw,
            round_trip_efficiency=s.battery.round_trip_efficiency,
            initial_soc=s.battery.initial_soc,
            name=s.name,
        )
        for s in scenario.sites
    ]
    base = np.array([s.base_load_w for s in scenario.sites], dtype=float)
    if forecast is not None and forecast != scenario.forecaster_name:
        scenario = scenario.model_copy(update={"forecaster_name": forecast})
    fc = ForecastAdapter(scenario.forecaster(generation), base)
    bw = scenario.bandwidth_matrix_gbps()
    return SimInputs(
        start=start,
        step_s=pd.Timedelta(scenario.step).total_seconds(),
        site_names=names,
        generation_w=generation.to_numpy(dtype=float),
        slots=np.array([s.gpu_slots for s in scenario.sites]),
        idle_slot_power_w=np.array([s.idle_power_w for s in scenario.sites], dtype=float),
        bandwidth_gbps=bw,
        jobs=jobs,
        base_load_w=base,
        batteries=batteries,
        forecast=fc,
        name=scenario.name,
        meta={"forecaster": scenario.forecaster_name, "source": str(scenario.source or "")},
    )
