"""Large simulation inputs for benchmarks: a year of real typical-year generation at many sites.

Sites cycle through the bundled scenario's six real sites (PV, wind and hybrid, from typical-year
weather); each copy gets its own size and a time shift of a few days, so the fleet is not six
identical groups. Jobs arrive uniformly over the year (greenhop.sim.workload).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from greenhop.scenario import bundled_scenario, load_scenario
from greenhop.sim.workload import generate_jobs
from greenhop.world.inputs import SimInputs


@functools.cache
def _real_surplus_w(step: str) -> np.ndarray:
    """Each bundled real site's surplus over 2024 at ``step``, W (built once per process)."""
    sc = load_scenario(bundled_scenario("default"))
    sc = sc.model_copy(
        update={
            "start": pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime(),
            "end": pd.Timestamp("2025-01-01", tz="UTC").to_pydatetime(),
            "step": pd.Timedelta(step).to_pytimedelta(),
            "jobs": [],
        }
    )
    base_gen = sc.generation_w().to_numpy()
    base_load = np.array([s.base_load_w for s in sc.sites])
    out: np.ndarray = np.maximum(base_gen - base_load[None, :], 0.0)
    out.flags.writeable = False
    return out


def year_inputs(
    n_sites: int, n_jobs: int, *, step: str = "5min", seed: int = 0, forecast: str = "perfect"
) -> SimInputs:
    rng = np.random.default_rng(seed)
    surplus = _real_surplus_w(step)
    steps = surplus.shape[0]
    k = surplus.shape[1]
    per_day = int(pd.Timedelta("1D") / pd.Timedelta(step))
    gen = np.empty((steps, n_sites))
    for i in range(n_sites):
        src = surplus[:, i % k]
        peak = src.max() or 1.0
        scale = rng.uniform(2_000, 8_000) / peak  # 2 to 8 kW of surplus at best
        gen[:, i] = np.roll(src, int(rng.integers(-3 * per_day, 3 * per_day))) * scale
    step_s = pd.Timedelta(step).total_seconds()
    horizon_s = steps * step_s
    jobs = generate_jobs(n_jobs, horizon_s, seed=seed, arrival_share=0.95)
    bw = rng.choice([0.1, 1.0, 10.0], size=(n_sites, n_sites), p=[0.2, 0.6, 0.2])
    bw = np.triu(bw, 1)
    bw = bw + bw.T
    np.fill_diagonal(bw, np.inf)
    inputs = SimInputs(
        start=pd.Timestamp("2024-01-01", tz="UTC"),
        step_s=step_s,
        site_names=tuple(f"site{i:03d}" for i in range(n_sites)),
        generation_w=gen,
        slots=np.full(n_sites, 4),
        idle_slot_power_w=np.full(n_sites, 60.0),
        bandwidth_gbps=bw,
        jobs=jobs,
        name=f"year-{n_sites}x{n_jobs}",
    )
    if forecast != "perfect":
        inputs.forecast = inputs.make_forecast(forecast)
    return inputs
