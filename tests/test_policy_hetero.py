"""Policies and the oracle on heterogeneous sites, and pre-staging on a policy's hints.

The lookahead, carbon-aware and demand-response rules count a destination's speed and power: a
move (or a start) at a much slower green site is refused when it loses and taken when it pays;
on sites that name no accelerator every figure is what it was (docs/results.json). The oracle's
program runs a job at each site's speed and power, so its bound stays below every online policy
on a fleet that mixes H100 SXM and L4 parts. A simulated world pre-stages a job's frozen part
where a policy hints: the bytes cross the link, cost network energy, and later moves send less.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from test_policy_oracle import ONLINE, make_inputs

from greenhop.accelerators import site_factors
from greenhop.energy.solcast import SolcastData
from greenhop.oracle import oracle_policy, solve_oracle
from greenhop.policies import LookaheadPolicy
from greenhop.sim.engine import Simulator
from greenhop.world.inputs import SimInputs
from greenhop.world.ledger import non_renewable_kwh

ROOT = Path(__file__).resolve().parent.parent
REL_TOL = 1e-6


# ------------------------------------------------------------------ the oracle's bound


def mixed_german_fleet(solcast: SolcastData) -> SimInputs:
    """Three days of real Solcast PV (5-minute steps) at four German cities, alternately an
    H100 SXM and an L4 site; four jobs whose work and power are given on the H100."""
    actual = solcast.actual
    cities = [c for c in ("Berlin", "Cologne", "Dresden", "Munich", "Hamburg") if c in actual]
    assert len(cities) >= 4
    days = actual.loc["2022-07-20":"2022-07-22 23:55", cities[:4]]
    gen = days.to_numpy(dtype=float) * np.array([1500.0, 2500.0, 1000.0, 2000.0])
    inputs = make_inputs(
        gen,
        300.0,
        arrival_s=[0.0, 3 * 3600.0, 6 * 3600.0, 9 * 3600.0],
        work_gpu_h=[3.0, 2.0, 3.0, 2.5],
        power_w=[400.0, 650.0, 500.0, 300.0],
        size_gb=[2.0, 40.0, 15.0, 90.0],
    )
    speed, power = site_factors(["h100-sxm", "l4", "h100-sxm", "l4"])
    return dataclasses.replace(inputs, site_speed=speed, site_power_factor=power)


def test_oracle_bound_holds_on_a_mixed_fleet(solcast_germany: SolcastData) -> None:
    inputs = mixed_german_fleet(solcast_germany)
    sol = solve_oracle(inputs, block_steps=6, mip_rel_gap=1e-3)
    assert sol.has_plan
    online = {}
    for policy in (*(cls() for cls in ONLINE), LookaheadPolicy()):
        run = Simulator(inputs).run(policy)
        assert np.isfinite(run.job_done_s).all(), policy.name
        online[policy.name] = non_renewable_kwh(run)
        assert sol.bound_kwh <= online[policy.name] * (1 + REL_TOL), (policy.name, sol.bound_kwh)
    # the replayed plan is a real schedule: every job done, nothing refused, above the bound
    replay = Simulator(inputs).run(oracle_policy(inputs, sol))
    assert np.isfinite(replay.job_done_s).all()
    assert replay.refused == []
    assert replay.job_progress_gpu_h == pytest.approx(inputs.jobs.work_gpu_h)
    assert non_renewable_kwh(replay) >= sol.bound_kwh * (1 - REL_TOL)
    # a program blind to the parts (every site an H100) would claim a "bound" above stay's
    blind = dataclasses.replace(inputs, site_speed=np.ones(4), site_power_factor=np.ones(4))
    assert solve_oracle(blind, block_steps=6, mip_rel_gap=1e-3).bound_kwh > online["stay"]
