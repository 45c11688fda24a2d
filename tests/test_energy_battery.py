"""Site batteries: their parameters, and the bank stepped one step at a time or run at once."""

from __future__ import annotations

import numpy as np
import pytest

from greenhop.energy.battery import BatteryBank, BatterySpec, soc_trajectory
from greenhop.errors import InputError


@pytest.mark.parametrize("steps", [1, 2, 3, 17, 100, 1031])
def test_soc_trajectory_equals_the_recurrence(steps: int) -> None:
    rng = np.random.default_rng(steps)
    delta = rng.normal(0, 3, (steps, 5))
    low, high = np.array([0.0, 1.0, 2.0, 0.0, 0.0]), np.array([10.0, 5.0, 2.0, 50.0, 0.0])
    initial = np.array([5.0, 1.0, 2.0, 25.0, 0.0])
    expected = np.empty_like(delta)
    state = initial.copy()
    for t in range(steps):
        state = np.minimum(np.maximum(state + delta[t], low), high)
        expected[t] = state
    np.testing.assert_allclose(soc_trajectory(initial, delta, low, high), expected, atol=1e-9)


def test_run_equals_one_step_at_a_time() -> None:
    rng = np.random.default_rng(3)
    surplus = rng.normal(0, 8_000, (500, 3))  # W: charge and discharge in turn
    specs = [
        BatterySpec(20, 5, round_trip_efficiency=0.85, initial_soc=0.3, min_soc=0.1, max_soc=0.9),
        None,
        BatterySpec(5, 10, round_trip_efficiency=1.0, initial_soc=1.0),
    ]
    bank = BatteryBank(specs, 300)
    charge, discharge, soc = bank.run(surplus)
    np.testing.assert_array_equal(bank.soc_kwh, bank.initial_soc_kwh)  # run leaves the state
    for t in range(len(surplus)):
        step_charge, step_discharge = bank.step(surplus[t])
        np.testing.assert_allclose(step_charge, charge[t], atol=1e-6)
        np.testing.assert_allclose(step_discharge, discharge[t], atol=1e-6)
        np.testing.assert_allclose(bank.soc_kwh, soc[t], atol=1e-9)
    assert charge[:, 1].max() == 0 and discharge[:, 1].max() == 0
    assert soc[:, 0].min() >= 2.0 - 1e-9 and soc[:, 0].max() <= 18.0 + 1e-9
    assert charge.max() > 0 and discharge.max() > 0
    bad = np.zeros((3, 3))
    bad[2, 1] = np.nan
    with pytest.raises(InputError, match=r"surplus_w at step 2, site 1 is nan"):
        bank.run(bad)
    with pytest.raises(InputError, match=r"\[steps, sites\] with 3 sites, got shape \(4, 2\)"):
        bank.run(np.zeros((4, 2)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"capacity_kwh": -3}, "battery 'miami': capacity_kwh must be > 0, got -3"),
        ({"max_power_kw": 0}, "max_power_kw must be > 0, got 0"),
        ({"round_trip_efficiency": 1.2}, r"round_trip_efficiency must be in \(0, 1\], got 1.2"),
        ({"min_soc": 0.6}, r"initial_soc must be within \[min_soc, max_soc\] = \[0.6, 1\]"),
        ({"min_soc": 0.5, "max_soc": 0.5}, "need 0 <= min_soc < max_soc <= 1"),
        ({"capacity_kwh": float("nan")}, "capacity_kwh must be finite"),
        ({"capacity_kwh": "10"}, "capacity_kwh must be a number, got '10'"),
    ],
)
def test_battery_spec_says_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"capacity_kwh": 10, "max_power_kw": 5, "name": "miami", **kwargs}
    with pytest.raises(InputError, match=message):
        BatterySpec(**values)  # type: ignore[arg-type]
