"""The energy ledger: settlement by hand, conservation on real runs, one non-renewable energy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import Scripted
from test_sim_engine import STEP_S, hand_inputs

from greenhop.energy.battery import BatteryBank, BatterySpec
from greenhop.policies import POLICIES
from greenhop.policies.base import Action, Migrate, Start
from greenhop.scenario import load_scenario, resolve_scenario
from greenhop.sim.engine import Simulator
from greenhop.world.inputs import SimInputs
from greenhop.world.ledger import (
    ConservationError,
    Settlement,
    check_conservation,
    grid_share,
    job_energy_j,
    network_kwh,
    non_renewable_kwh,
    non_renewable_kwh_per_step,
    settle,
)
from greenhop.world.record import RunRecord

HOUR_S = 3600.0


def close(actual: np.ndarray, desired: list[float]) -> None:
    """Equal up to the battery's floating-point rounding (kWh <-> W over a step), W or kWh."""
    np.testing.assert_allclose(actual, desired, rtol=1e-9, atol=1e-9)


def assert_balanced(s: Settlement, surplus_w: np.ndarray, load_w: np.ndarray) -> None:
    """Both equations of the ledger, and no flow below zero."""
    np.testing.assert_allclose(s.renewable_w + s.battery_discharge_w + s.grid_w, load_w)
    np.testing.assert_allclose(
        s.renewable_w + s.battery_charge_w + s.curtailed_w, np.maximum(surplus_w, 0.0)
    )
    for flow in (s.renewable_w, s.battery_charge_w, s.battery_discharge_w, s.grid_w):
        assert (flow >= 0).all()
    assert (s.curtailed_w >= -1e-9).all()


# ------------------------------------------------------------------ settlement by hand


def test_settle_without_batteries_on_many_steps_at_once() -> None:
    surplus = np.array([[1000.0, -200.0], [300.0, 50.0]])
    load = np.array([[400.0, 100.0], [500.0, 50.0]])
    s = settle(surplus, load)
    # (0, 0): 1000 W of surplus, 400 W used, 600 W curtailed, no grid
    # (0, 1): below the base load: no renewable power, the grid serves all 100 W
    # (1, 0): 300 W of surplus used in full, the grid gives the other 200 W
    # (1, 1): 50 W of surplus for 50 W of load exactly
    np.testing.assert_array_equal(s.renewable_w, [[400.0, 0.0], [300.0, 50.0]])
    np.testing.assert_array_equal(s.grid_w, [[0.0, 100.0], [200.0, 0.0]])
    np.testing.assert_array_equal(s.curtailed_w, [[600.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(s.battery_charge_w, np.zeros((2, 2)))
    np.testing.assert_array_equal(s.battery_discharge_w, np.zeros((2, 2)))
    assert_balanced(s, surplus, load)


def test_a_bank_without_any_battery_settles_as_none() -> None:
    surplus = np.array([700.0, -10.0])
    load = np.array([300.0, 40.0])
    bank = BatteryBank([None, None], HOUR_S)
    with_bank, without = settle(surplus, load, bank), settle(surplus, load)
    for name in ("renewable_w", "battery_charge_w", "battery_discharge_w", "grid_w"):
        np.testing.assert_array_equal(getattr(with_bank, name), getattr(without, name))


def test_settle_with_a_battery_charges_and_discharges_within_its_limits() -> None:
    # site 0: 10 kWh, 1 kW, 80 % round trip (on charge), half full; site 1: no battery; 1 h steps
    spec = BatterySpec(
        capacity_kwh=10.0, max_power_kw=1.0, round_trip_efficiency=0.8, initial_soc=0.5
    )
    bank = BatteryBank([spec, None], HOUR_S)
    steps = [
        # surplus, load: site 0 has 2000 W left after its load, more than the 1 kW limit;
        # site 1 lacks 300 W
        (np.array([3000.0, 500.0]), np.array([1000.0, 800.0])),
        # site 0 below its base load, 600 W of load: the battery gives 600 W
        (np.array([-100.0, 0.0]), np.array([600.0, 100.0])),
        # 1500 W of load in the dark: the battery gives its 1000 W limit, the grid the rest
        (np.array([0.0, 0.0]), np.array([1500.0, 0.0])),
    ]
    got = []
    for surplus, load in steps:
        s = settle(surplus, load, bank)
        assert_balanced(s, surplus, load)
        got.append((s, bank.soc_kwh.copy()))
    s0, soc0 = got[0]
    # 1000 W (the limit) for 1 h stores 0.8 kWh: 5.0 -> 5.8 kWh; 3000 - 1000 - 1000 W curtailed
    close(s0.renewable_w, [1000.0, 500.0])
    close(s0.battery_charge_w, [1000.0, 0.0])
    close(s0.curtailed_w, [1000.0, 0.0])
    close(s0.grid_w, [0.0, 300.0])
    close(soc0, [5.8, 0.0])
    s1, soc1 = got[1]
    # discharge 600 W for 1 h removes 0.6 kWh: 5.8 -> 5.2 kWh
    close(s1.battery_discharge_w, [600.0, 0.0])
    close(s1.grid_w, [0.0, 100.0])
    close(soc1, [5.2, 0.0])
    s2, soc2 = got[2]
    close(s2.battery_discharge_w, [1000.0, 0.0])
    close(s2.grid_w, [500.0, 0.0])
    close(soc2, [4.2, 0.0])


def test_settle_with_a_battery_near_its_bounds() -> None:
    # 10 kWh, 1 kW, 80 %: nearly full (9.9 kWh) it can store 0.1 kWh, i.e. charge
    # 0.1 / 0.8 = 0.125 kWh in 1 h = 125 W; 2000 - 125 = 1875 W curtailed
    full = BatterySpec(
        capacity_kwh=10.0, max_power_kw=1.0, round_trip_efficiency=0.8, initial_soc=0.99
    )
    s = settle(np.array([2000.0]), np.array([0.0]), BatteryBank([full], HOUR_S))
    close(s.battery_charge_w, [125.0])
    close(s.curtailed_w, [1875.0])
    # nearly empty (0.5 kWh), 800 W of load for 1 h: it gives 500 W, the grid 300 W
    empty = BatterySpec(capacity_kwh=10.0, max_power_kw=1.0, initial_soc=0.05)
    bank = BatteryBank([empty], HOUR_S)
    s = settle(np.array([0.0]), np.array([800.0]), bank)
    close(s.battery_discharge_w, [500.0])
    close(s.grid_w, [300.0])
    close(bank.soc_kwh, [0.0])


def test_grid_share_by_hand() -> None:
    load = np.array([[0.0, 100.0], [200.0, 50.0]])
    grid = np.array([[0.0, 100.0], [50.0, 0.0]])
    # no load: share 0, not NaN
    np.testing.assert_array_equal(grid_share(load, grid), [[0.0, 1.0], [0.25, 0.0]])


# ------------------------------------------------------------------ real runs


@pytest.fixture(scope="module")
def default_inputs() -> SimInputs:
    return SimInputs.from_scenario(load_scenario(resolve_scenario("default")))


@pytest.fixture(scope="module")
def default_runs(default_inputs: SimInputs) -> dict[str, RunRecord]:
    return {name: Simulator(default_inputs).run(make()) for name, make in POLICIES.items()}


def test_every_online_policy_balances_its_books_on_the_default_scenario(
    default_runs: dict[str, RunRecord],
) -> None:
    assert set(default_runs) >= {"stay", "energy-only", "feasibility-aware", "lookahead"}
    for r in default_runs.values():
        check_conservation(r)


def test_books_balance_with_an_extra_battery_and_with_none(default_inputs: SimInputs) -> None:
    n = len(default_inputs.site_names)
    extra = BatterySpec(capacity_kwh=20.0, max_power_kw=5.0, initial_soc=0.2, name="greensboro")
    old = default_inputs.batteries or [None] * n
    with_extra = replace(default_inputs, batteries=[extra, *old[1:]])
    r = Simulator(with_extra).run(POLICIES["energy-only"]())
    check_conservation(r)
    # the battery at greensboro did work, within its capacity
    assert r.battery_charge_w[:, 0].sum() > 0 and r.battery_discharge_w[:, 0].sum() > 0
    assert (r.battery_soc_kwh[:, 0] <= 20.0 + 1e-9).all()
    # no battery anywhere: the ledger settles all steps at once
    bare = Simulator(replace(default_inputs, batteries=None)).run(POLICIES["energy-only"]())
    check_conservation(bare)
    assert not bare.battery_charge_w.any() and not bare.battery_discharge_w.any()


def corrupted(r: RunRecord, **arrays: np.ndarray) -> RunRecord:
    return replace(r, **arrays)


def test_a_corrupted_record_is_caught(default_runs: dict[str, RunRecord]) -> None:
    r = default_runs["energy-only"]
    grid = r.grid_w.copy()
    grid[3, 0] += 1.0
    with pytest.raises(
        ConservationError,
        match=r"energy-only: renewable \+ battery_discharge \+ grid == load is off by 1 W "
        r"at step 3, site 0 \(1 step-sites in all\)",
    ):
        check_conservation(corrupted(r, grid_w=grid))
    curtailed = r.curtailed_w.copy()
    curtailed[5, 2] -= 2.0
    message = r"curtailed == renewable supply is off by 2 W at step 5"
    with pytest.raises(ConservationError, match=message):
        check_conservation(corrupted(r, curtailed_w=curtailed))


def test_a_negative_flow_is_caught_even_when_the_sums_hold(
    default_runs: dict[str, RunRecord],
) -> None:
    r = default_runs["stay"]
    k, s = (int(i) for i in np.argwhere(r.renewable_w == 0)[0])
    # -5 W renewable, +5 W grid, +5 W curtailed: both equations still hold
    ren, grid, curt = r.renewable_w.copy(), r.grid_w.copy(), r.curtailed_w.copy()
    ren[k, s] -= 5.0
    grid[k, s] += 5.0
    curt[k, s] += 5.0
    message = rf"renewable_w is negative \(-5 W\) at step {k}, site {s}"
    with pytest.raises(ConservationError, match=message):
        check_conservation(corrupted(r, renewable_w=ren, grid_w=grid, curtailed_w=curt))


def test_jobs_drawing_more_than_the_site_is_caught(default_runs: dict[str, RunRecord]) -> None:
    r = default_runs["stay"]
    assert r.job_energy is not None
    ks, js, ss, es = r.job_energy
    es = es.copy()
    k, s = int(ks[0]), int(ss[0])
    es[0] += r.it_load_w[k, s] * r.inputs.step_s
    with pytest.raises(ConservationError, match=rf"the jobs drew .* at step {k}, site {s}"):
        check_conservation(corrupted(r, job_energy=(ks, js, ss, es)))


def test_non_renewable_energy_is_grid_plus_network_on_a_real_run(
    default_runs: dict[str, RunRecord],
) -> None:
    r = default_runs["energy-only"]
    moved = [m for m in r.migrations if m.transferred]
    assert moved, "energy-only moves jobs on the default scenario"
    e_net = r.inputs.params.network_kwh_per_gb
    grid_kwh = r.grid_w.sum() * r.inputs.step_s / 3.6e6
    by_hand = grid_kwh + e_net * sum(m.size_gb for m in moved)
    assert non_renewable_kwh(r) == pytest.approx(by_hand, rel=1e-12)
    per_step = non_renewable_kwh_per_step(r)
    assert per_step.shape == (r.inputs.n_steps,)
    assert per_step.sum() == pytest.approx(non_renewable_kwh(r), rel=1e-12)
    # each transfer's network energy lands in the step its transfer completed
    extra = per_step - r.grid_w.sum(axis=1) * r.inputs.step_s / 3.6e6
    expected = np.zeros(r.inputs.n_steps)
    for m in moved:
        expected[int(m.transfer_done_s // r.inputs.step_s)] += e_net * m.size_gb
    np.testing.assert_allclose(extra, expected, atol=1e-12)


def test_every_policy_defines_non_renewable_energy_the_same_way(
    default_runs: dict[str, RunRecord],
) -> None:
    for r in default_runs.values():
        assert non_renewable_kwh_per_step(r).sum() == pytest.approx(non_renewable_kwh(r))


def test_a_job_never_draws_more_grid_energy_than_energy(
    default_runs: dict[str, RunRecord],
) -> None:
    for r in default_runs.values():
        energy, grid = job_energy_j(r)
        assert (grid >= 0).all()
        assert (grid <= energy * (1 + 1e-12)).all()
        # the jobs ran: the default scenario's jobs need 149 GPU-h at 300-700 W
        assert energy.sum() > 149 * 300 * HOUR_S



def test_only_a_checkpoint_that_crossed_the_wan_costs_network_energy() -> None:
    # a 1000 GB checkpoint over 1 Gbit/s takes 8000 s: moved at step 2 of 4 (1800 s), it is
    # still in flight when the run ends at 3600 s; with 16 steps (14 400 s) it arrives
    script: list[tuple[int, Action]] = [(0, Start(0, 0)), (2, Migrate(0, 1))]
    job = [{"work_gpu_h": 8.0, "size_gb": 1000.0}]
    short = Simulator(hand_inputs([[1.0] * 4, [1.0] * 4], job, slots=1)).run(Scripted(script))
    (m,) = short.migrations
    assert not m.transferred
    assert network_kwh(short.migrations, short.inputs.params) == 0.0
    assert non_renewable_kwh(short) == pytest.approx(short.grid_w.sum() * STEP_S / 3.6e6)
    long = Simulator(hand_inputs([[1.0] * 16, [1.0] * 16], job, slots=1)).run(Scripted(script))
    (m,) = long.migrations
    assert m.transferred
    # 1000 GB x 0.001875 kWh/GB
    assert network_kwh(long.migrations, long.inputs.params) == pytest.approx(1.875)
    assert non_renewable_kwh(long) == pytest.approx(long.grid_w.sum() * STEP_S / 3.6e6 + 1.875)
