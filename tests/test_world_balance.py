"""The per-site energy balance: conservation on real PV traces, battery limits, the online path."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from greenhop.energy.battery import BatteryBank, BatterySpec
from greenhop.energy.solcast import bundled_solcast_dir
from greenhop.errors import InputError
from greenhop.world.balance import BalanceResult, ConservationError, balance

STEP_S = 300.0
PEAK_W = 50_000.0


# the real Solcast trace as greenhop ships it (greenhop/data/solcast)
SOLCAST_ZIP = bundled_solcast_dir() / "solcast2022_germany.zip"
needs_solcast = pytest.mark.skipif(
    not SOLCAST_ZIP.exists(), reason=f"the bundled trace {SOLCAST_ZIP} is missing"
)


@pytest.fixture(scope="module")
def solcast_w() -> np.ndarray:
    """Measured PV output of 10 German cities, 15 Jul - 15 Aug 2022, 5 min, scaled to 50 kW."""
    with zipfile.ZipFile(SOLCAST_ZIP) as archive:
        actual = pd.read_csv(archive.open("solcast2022_germany_actual.csv"), index_col="datetime")
    assert actual.shape == (8928, 10)
    return actual.to_numpy(dtype=float) * PEAK_W


def _stepped_load(steps: int, sites: int) -> np.ndarray:
    """10 kW base load, plus a 10 kW training job from 08:00 to 16:00 UTC every day."""
    hour = (np.arange(steps) * STEP_S / 3600) % 24
    return np.repeat((10_000 + 10_000 * ((hour >= 8) & (hour < 16)))[:, None], sites, axis=1)


def _batteries(sites: int) -> list[BatterySpec | None]:
    """Different batteries per site, one site without: 40..220 kWh, 10..46 kW."""
    specs: list[BatterySpec | None] = [
        BatterySpec(
            capacity_kwh=40 + 20 * i,
            max_power_kw=10 + 4 * i,
            round_trip_efficiency=0.85 + 0.01 * i,
            initial_soc=0.5,
            min_soc=0.1,
            max_soc=0.95,
            name=f"site{i}",
        )
        for i in range(sites)
    ]
    specs[3] = None
    return specs


def _sequential(
    generation_w: np.ndarray, load_w: np.ndarray, batteries: list[BatterySpec | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The balance as the simulator does it: one BatteryBank.step per time step."""
    bank = BatteryBank(batteries, STEP_S)
    charge, discharge, soc = (np.empty_like(generation_w) for _ in range(3))
    for t, surplus in enumerate(generation_w - load_w):
        charge[t], discharge[t] = bank.step(surplus)
        soc[t] = bank.soc_kwh
    return charge, discharge, soc


# ------------------------------------------------------------------------------ real data


@needs_solcast
@pytest.mark.parametrize("with_batteries", [False, True])
def test_conservation_on_real_pv(solcast_w: np.ndarray, with_batteries: bool) -> None:
    load = _stepped_load(*solcast_w.shape)
    batteries = _batteries(solcast_w.shape[1]) if with_batteries else None
    result = balance(solcast_w, load, STEP_S, batteries)
    result.check_conservation()
    np.testing.assert_allclose(
        result.renewable_to_load_w + result.battery_discharge_w + result.grid_w, load, atol=1e-6
    )
    np.testing.assert_allclose(
        result.renewable_to_load_w + result.battery_charge_w + result.curtailed_w,
        solcast_w,
        atol=1e-6,
    )
    totals = result.totals_kwh()
    assert totals["load"] == pytest.approx(
        totals["renewable_to_load"] + totals["battery_discharge"] + totals["grid"]
    )
    assert 0 < totals["grid"] < totals["load"]
    if with_batteries:
        assert totals["battery_discharge"] > 0
        # a battery only shifts renewable energy: less grid, less curtailment than without one
        bare = balance(solcast_w, load, STEP_S).totals_kwh()
        assert totals["grid"] < bare["grid"]
        assert totals["curtailed"] < bare["curtailed"]


@needs_solcast
def test_battery_limits_on_real_pv(solcast_w: np.ndarray) -> None:
    batteries = _batteries(solcast_w.shape[1])
    result = balance(solcast_w, _stepped_load(*solcast_w.shape), STEP_S, batteries)
    bank = BatteryBank(batteries, STEP_S)
    tol = 1e-9
    assert (result.battery_charge_w <= bank.max_power_w + tol).all()
    assert (result.battery_discharge_w <= bank.max_power_w + tol).all()
    assert (result.soc_kwh <= bank.capacity_kwh + tol).all()
    assert (result.soc_kwh <= bank.max_soc_kwh + tol).all()
    assert (result.soc_kwh >= bank.min_soc_kwh - tol).all()
    # every limit is reached somewhere, so the checks above are not vacuous
    with_battery = bank.capacity_kwh > 0
    assert np.isclose(result.soc_kwh, bank.min_soc_kwh)[:, with_battery].any()
    assert np.isclose(result.soc_kwh, bank.max_soc_kwh)[:, with_battery].any()
    assert np.isclose(result.battery_charge_w, bank.max_power_w)[:, with_battery].any()
    assert np.isclose(result.battery_discharge_w, bank.max_power_w)[:, with_battery].any()
    # never charge and discharge in the same step; the site without a battery never does either
    assert not ((result.battery_charge_w > 0) & (result.battery_discharge_w > 0)).any()
    assert not result.battery_charge_w[:, 3].any() and not result.battery_discharge_w[:, 3].any()
    # stored energy = efficiency x charged - discharged
    eta = np.array([1.0 if b is None else b.round_trip_efficiency for b in batteries])
    stored = (eta * result.battery_charge_kwh) - result.battery_discharge_kwh
    np.testing.assert_allclose(result.soc_kwh[-1] - result.initial_soc_kwh, stored, atol=1e-6)


@needs_solcast
@pytest.mark.parametrize("with_batteries", [False, True])
def test_no_grid_when_generation_covers_load(solcast_w: np.ndarray, with_batteries: bool) -> None:
    load = _stepped_load(*solcast_w.shape)
    batteries = _batteries(solcast_w.shape[1]) if with_batteries else None
    result = balance(solcast_w, load, STEP_S, batteries)
    covered = solcast_w >= load
    assert covered.any()
    assert (result.grid_w[covered] == 0).all()
    assert (result.battery_discharge_w[covered] == 0).all()
    np.testing.assert_array_equal(result.renewable_to_load_w[covered], load[covered])


@needs_solcast
def test_online_steps_match_bulk_balance(solcast_w: np.ndarray) -> None:
    load = _stepped_load(*solcast_w.shape)
    batteries = _batteries(solcast_w.shape[1])
    result = balance(solcast_w, load, STEP_S, batteries)
    charge, discharge, soc = _sequential(solcast_w, load, batteries)
    np.testing.assert_allclose(result.battery_charge_w, charge, rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.battery_discharge_w, discharge, rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.soc_kwh, soc, rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------ by hand


def test_three_steps_by_hand() -> None:
    # 1 h steps; site 0: 8 kWh battery, 4 kW, 90 % on charge, starts at 4 kWh, floor 2 kWh;
    # site 1: no battery.
    battery = BatterySpec(8, 4, round_trip_efficiency=0.9, initial_soc=0.5, min_soc=0.25)
    generation_kw = np.array([[2.0, 2.0], [10.0, 10.0], [9.0, 9.0]])
    load_kw = np.array([[6.0, 6.0], [3.0, 3.0], [1.0, 1.0]])
    result = balance(generation_kw * 1000, load_kw * 1000, 3600, [battery, None])
    result.check_conservation()
    kw = 1000.0
    # step 0: deficit 4 kW, but only 2 kWh above the floor -> 2 kW from the battery, 2 kW grid
    # step 1: surplus 7 kW, charge at the 4 kW limit, stores 3.6 kWh -> 5.6 kWh; 3 kW curtailed
    # step 2: surplus 8 kW, 4 kW would store 3.6 kWh but only 2.4 kWh fit -> 2.4 / 0.9 kW in
    expected = {
        "renewable_to_load_w": [[2, 2], [3, 3], [1, 1]],
        "battery_discharge_w": [[2, 0], [0, 0], [0, 0]],
        "grid_w": [[2, 4], [0, 0], [0, 0]],
        "battery_charge_w": [[0, 0], [4, 0], [2.4 / 0.9, 0]],
        "curtailed_w": [[0, 0], [3, 7], [8 - 2.4 / 0.9, 8]],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(getattr(result, name), np.array(values) * kw, err_msg=name)
    np.testing.assert_allclose(result.soc_kwh, np.array([[2.0, 0.0], [5.6, 0.0], [8.0, 0.0]]))
    np.testing.assert_allclose(result.initial_soc_kwh, [4, 0])
    np.testing.assert_allclose(result.grid_kwh, [2, 4])
    np.testing.assert_allclose(result.curtailed_kwh, [3 + 8 - 2.4 / 0.9, 15])
    assert result.totals_kwh()["grid"] == pytest.approx(6)
    np.testing.assert_allclose(result.renewable_fraction(), [1 - 2 / 10, 1 - 4 / 10])

    bank = BatteryBank([battery, None], 3600)
    for t in range(3):
        charge, discharge = bank.step((generation_kw[t] - load_kw[t]) * kw)
        np.testing.assert_allclose(charge, result.battery_charge_w[t])
        np.testing.assert_allclose(discharge, result.battery_discharge_w[t])
        np.testing.assert_allclose(bank.soc_kwh, result.soc_kwh[t])
    np.testing.assert_allclose(bank.state()["soc"], [1.0, np.nan])
    bank.reset()
    np.testing.assert_allclose(bank.soc_kwh, [4, 0])


def test_without_batteries_is_the_plain_split() -> None:
    rng = np.random.default_rng(1)
    generation = rng.uniform(0, 100, (500, 4))
    load = rng.uniform(0, 100, (500, 4))
    for batteries in (None, [None] * 4):
        result = balance(generation, load, 60, batteries)
        result.check_conservation()
        np.testing.assert_array_equal(result.grid_w, np.maximum(load - generation, 0))
        np.testing.assert_array_equal(result.curtailed_w, np.maximum(generation - load, 0))
        assert not result.battery_charge_w.any() and not result.soc_kwh.any()


def test_check_conservation_reports_where() -> None:
    result = balance(np.full((3, 2), 5.0), np.full((3, 2), 8.0), 60)
    broken = BalanceResult(**{**result.__dict__, "grid_w": result.grid_w - np.eye(3, 2)})
    with pytest.raises(ConservationError, match=r"off by 1 W at step 0, site 0 \(2 step-sites"):
        broken.check_conservation()


# ------------------------------------------------------------------------------ bad input


def test_balance_rejects_bad_input() -> None:
    ok = np.ones((4, 2))
    with pytest.raises(InputError, match=r"same shape.*\(4, 2\) and \(4, 3\)"):
        balance(ok, np.ones((4, 3)), 60)
    with pytest.raises(InputError, match=r"2-D array \[steps, sites\], got shape \(4,\)"):
        balance(np.ones(4), np.ones(4), 60)
    bad = ok.copy()
    bad[2, 1] = -1
    with pytest.raises(InputError, match=r"load_w at step 2, site 1 is -1\.0"):
        balance(ok, bad, 60)
    bad[2, 1] = np.nan
    with pytest.raises(InputError, match="generation_w at step 2, site 1 is nan"):
        balance(bad, ok, 60)
    with pytest.raises(InputError, match="step_s must be a positive number"):
        balance(ok, ok, 0)
    with pytest.raises(InputError, match=r"one entry .* per site: 2 sites, got 1"):
        balance(ok, ok, 60, [None])
    with pytest.raises(InputError, match=r"batteries\[1\] must be a BatterySpec or None"):
        balance(ok, ok, 60, [None, 5])  # type: ignore[list-item]
    bank = BatteryBank([BatterySpec(10, 5), None], 60)
    with pytest.raises(InputError, match=r"shape \(2,\), got shape \(3,\)"):
        bank.step(np.zeros(3))
    with pytest.raises(InputError, match="surplus_w at site 1 is inf"):
        bank.step(np.array([0.0, np.inf]))
    with pytest.raises(InputError, match="unknown flow 'sun'"):
        balance(ok, ok, 60).energy_kwh("sun")
