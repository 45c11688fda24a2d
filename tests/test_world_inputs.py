"""A run's inputs: validation, surplus, the time grid, the forecast, the bundled scenario."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from greenhop.energy.battery import BatterySpec
from greenhop.errors import InputError
from greenhop.scenario import Scenario, load_scenario, resolve_scenario
from greenhop.world.inputs import ForecastAt, JobSpecs, SimInputs

START = pd.Timestamp("2024-06-01", tz="UTC")


def specs(**over: Any) -> JobSpecs:
    """Two valid jobs, with any field replaced."""
    fields: dict[str, Any] = {
        "names": ("a", "b"),
        "arrival_s": np.array([0.0, 900.0]),
        "work_gpu_h": np.array([1.0, 2.0]),
        "power_w": np.array([500.0, 300.0]),
        "size_gb": np.array([10.0, 1.0]),
        "deadline_s": np.array([np.inf, 7200.0]),
        "preferred_site": np.array([-1, 1], dtype=np.int64),
    }
    fields.update(over)
    return JobSpecs(**fields)


# 4 steps, 2 sites, W
GEN = np.array([[1000.0, 200.0], [300.0, 0.0], [1050.0, 400.0], [1100.0, 100.0]])
BASE = np.array([250.0, 100.0])


def inputs(**over: Any) -> SimInputs:
    """Two sites, 900 s steps, GEN and BASE, with any field replaced."""
    fields: dict[str, Any] = {
        "start": START,
        "step_s": 900.0,
        "site_names": ("north", "south"),
        "generation_w": GEN,
        "slots": np.array([2, 1]),
        "idle_slot_power_w": np.array([50.0, 60.0]),
        "bandwidth_gbps": np.array([[np.inf, 1.0], [1.0, np.inf]]),
        "jobs": specs(),
        "base_load_w": BASE,
    }
    fields.update(over)
    return SimInputs(**fields)


# ------------------------------------------------------------------ validation


def test_valid_inputs_are_taken_as_arrays() -> None:
    inp = inputs(generation_w=GEN.tolist(), slots=[2, 1])
    assert inp.n_steps == 4
    assert inp.generation_w.dtype == np.float64 and inp.slots.dtype == np.int64
    assert len(inp.jobs) == 2


@pytest.mark.parametrize(
    ("generation", "message"),
    [
        (np.zeros((4, 3)), r"generation_w must have shape \(steps, 2\), got \(4, 3\)"),
        (np.zeros(4), r"generation_w must have shape \(steps, 2\), got \(4,\)"),
        (np.zeros((4, 2, 1)), r"got \(4, 2, 1\)"),
    ],
)
def test_generation_of_the_wrong_shape_is_refused(generation: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        inputs(generation_w=generation)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_negative_or_non_finite_generation_is_refused(bad: float) -> None:
    gen = GEN.copy()
    gen[2, 1] = bad
    with pytest.raises(InputError, match=r"generation_w must be finite and >= 0"):
        inputs(generation_w=gen)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_a_link_without_positive_bandwidth_is_refused(bad: float) -> None:
    bw = np.array([[np.inf, 1.0], [bad, np.inf]])
    with pytest.raises(InputError, match=r"every link between two sites needs a bandwidth > 0"):
        inputs(bandwidth_gbps=bw)


def test_a_site_needs_no_link_to_itself() -> None:
    # the diagonal is never read: 0 there is fine
    inputs(bandwidth_gbps=np.array([[0.0, 1.0], [1.0, 0.0]]))


def test_a_bandwidth_matrix_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(InputError, match=r"bandwidth_gbps must have shape \(2, 2\)"):
        inputs(bandwidth_gbps=np.ones((3, 3)))


def test_a_preferred_site_out_of_range_is_refused() -> None:
    with pytest.raises(InputError, match=r"job 'b': preferred site 2 is out of range"):
        inputs(jobs=specs(preferred_site=np.array([-1, 2], dtype=np.int64)))
    inputs(jobs=specs(preferred_site=np.array([0, 1], dtype=np.int64)))


def test_a_preferred_site_below_minus_one_is_refused() -> None:
    with pytest.raises(InputError, match=r"job 'a': preferred site -2 is out of range"):
        inputs(jobs=specs(preferred_site=np.array([-2, 1], dtype=np.int64)))


@pytest.mark.parametrize(
    ("field", "values", "message"),
    [
        ("power_w", [500.0, 0.0], r"job 'b': power_w must be > 0, got 0"),
        ("power_w", [-5.0, 300.0], r"job 'a': power_w must be > 0, got -5"),
        ("work_gpu_h", [np.nan, 2.0], r"job 'a': work_gpu_h must be > 0, got nan"),
        ("size_gb", [10.0, 0.0], r"job 'b': size_gb must be > 0, got 0"),
    ],
)
def test_a_job_with_a_non_positive_quantity_is_named(
    field: str, values: list[float], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        specs(**{field: np.array(values)})


def test_job_arrays_of_unequal_length_are_refused() -> None:
    with pytest.raises(InputError, match=r"jobs: power_w has 1 entries, not 2"):
        specs(power_w=np.array([500.0]))


def test_battery_list_is_kept_per_site() -> None:
    bat = BatterySpec(capacity_kwh=5.0, max_power_kw=1.0)
    assert inputs(batteries=[None, bat]).batteries == [None, bat]


# ------------------------------------------------------------------ derived arrays


def test_surplus_is_generation_minus_base_load() -> None:
    # may be negative: south at step 1 has 0 W for its 100 W base load
    np.testing.assert_array_equal(
        inputs().surplus_w,
        [[750.0, 100.0], [50.0, -100.0], [800.0, 300.0], [850.0, 0.0]],
    )
    # without a base load, the surplus is the generation
    bare = inputs(base_load_w=None)
    np.testing.assert_array_equal(bare.base_load_w, [0.0, 0.0])
    np.testing.assert_array_equal(bare.surplus_w, GEN)


def test_time_index_is_each_step_start_in_utc() -> None:
    idx = inputs().time_index()
    assert list(idx) == [
        pd.Timestamp("2024-06-01 00:00", tz="UTC"),
        pd.Timestamp("2024-06-01 00:15", tz="UTC"),
        pd.Timestamp("2024-06-01 00:30", tz="UTC"),
        pd.Timestamp("2024-06-01 00:45", tz="UTC"),
    ]
    assert str(idx.tz) == "UTC"


# ------------------------------------------------------------------ the forecast


def test_the_default_forecast_is_perfect_and_knows_the_surplus() -> None:
    inp = inputs()
    assert inp.forecast is not None
    assert inp.forecast.forecaster.name == "perfect"
    for k in range(inp.n_steps):
        fc = inp.forecast_at(k)
        assert isinstance(fc, ForecastAt) and fc.step == k
        # the horizon is cut at the end of the run
        got = fc.surplus_w(3)
        np.testing.assert_allclose(got, inp.surplus_w[k : k + 3])
        assert got.shape == (min(3, inp.n_steps - k), 2)


def test_a_perfect_forecast_of_the_window_counts_the_steps_above_the_threshold() -> None:
    # north's surplus is 750, 50, 800, 850 W: for a 500 W job the window is 1 step at step 0,
    # none at step 1, 2 steps (to the end of the run) at step 2, 1 at step 3.
    # south's is 100, -100, 300, 0 W: never 500 W
    win = np.array([inputs().forecast_at(k).remaining_window_s(500.0) for k in range(4)])
    np.testing.assert_array_equal(win, [[900.0, 0.0], [0.0, 0.0], [1800.0, 0.0], [900.0, 0.0]])
    # for 50 W, south's 100 W at step 0 counts, and north's whole run is a window
    np.testing.assert_array_equal(inputs().forecast_at(0).remaining_window_s(50.0), [3600.0, 900.0])


def test_other_forecasters_are_built_by_name_from_the_same_generation() -> None:
    inp = inputs()
    fc = inp.make_forecast("persistence")
    assert fc.forecaster.name == "persistence"
    # whatever it predicts, the value now is the measured one
    np.testing.assert_allclose(fc.at(2).surplus_w(2)[0], inp.surplus_w[2])


# ------------------------------------------------------------------ the bundled scenario


@pytest.fixture(scope="module")
def default_scenario() -> Scenario:
    return load_scenario(resolve_scenario("default"))


@pytest.fixture(scope="module")
def default_inputs(default_scenario: Scenario) -> SimInputs:
    return SimInputs.from_scenario(default_scenario)


def test_from_scenario_matches_the_bundled_default(
    default_scenario: Scenario, default_inputs: SimInputs
) -> None:
    sc, inp = default_scenario, default_inputs
    assert inp.name == "default"
    assert inp.site_names == tuple(s.name for s in sc.sites)
    assert inp.site_names[0] == "greensboro" and len(inp.site_names) == 6
    assert inp.slots.tolist() == [s.gpu_slots for s in sc.sites]
    assert inp.step_s == sc.step.total_seconds() == 900.0
    # one week of 15-minute steps
    assert inp.n_steps == 7 * 96
    assert inp.time_index()[0] == pd.Timestamp(sc.start)
    assert inp.time_index()[-1] + pd.Timedelta(seconds=900) == pd.Timestamp(sc.end)
    np.testing.assert_array_equal(inp.base_load_w, [s.base_load_w for s in sc.sites])
    np.testing.assert_array_equal(inp.idle_slot_power_w, [s.idle_power_w for s in sc.sites])
    # jobs, in the file's order
    assert len(inp.jobs) == len(sc.jobs) == 10
    assert inp.jobs.names == tuple(j.name for j in sc.jobs)
    np.testing.assert_array_equal(inp.jobs.work_gpu_h, [j.work_gpu_h for j in sc.jobs])
    np.testing.assert_array_equal(inp.jobs.power_w, [j.power_w for j in sc.jobs])
    # resnet50 arrives at 02:00 on the first day; vit-small prefers piedmont (site 4)
    assert inp.jobs.arrival_s[0] == 2 * 3600.0
    vit = inp.jobs.names.index("vit-small")
    assert inp.jobs.preferred_site[vit] == inp.site_names.index("piedmont") == 4
    assert (np.delete(inp.jobs.preferred_site, vit) == -1).all()
    # gpt2-xl-pretrain is due at 2024-06-22 00:00, 5 days after the start; others have no
    # deadline but gpt2-xl-finetune
    assert inp.jobs.deadline_s[inp.jobs.names.index("gpt2-xl-pretrain")] == 5 * 86400.0
    assert np.isfinite(inp.jobs.deadline_s).sum() == 2
    # links: symmetric, 0.1 Gbit/s between sand-point and greensboro, 10 greensboro-miami
    bw = inp.bandwidth_gbps
    np.testing.assert_array_equal(bw, bw.T)
    assert bw[0, 2] == 0.1 and bw[0, 1] == 10.0
    # one battery, at nw-colorado
    assert inp.batteries is not None
    assert [b is not None for b in inp.batteries] == [False] * 5 + [True]
    assert inp.batteries[5].capacity_kwh == 40.0
    # the scenario's forecaster, persistence
    assert inp.meta["forecaster"] == "persistence"
    assert inp.forecast is not None and inp.forecast.forecaster.name == "persistence"


def test_from_scenario_generation_is_the_real_weather(default_inputs: SimInputs) -> None:
    inp = default_inputs
    gen = inp.generation_w
    assert gen.shape == (672, 6)
    assert np.isfinite(gen).all() and (gen >= 0).all()
    # every site generates something during the week
    assert (gen.max(axis=0) > 0).all()
    # greensboro is PV only: dark for hours every night of the week
    assert (gen[:, 0] == 0).sum() >= 7 * 4 * 6
    # the surplus subtracts each site's base load (miami: 250 kW)
    np.testing.assert_allclose(inp.surplus_w[:, 1], gen[:, 1] - 250_000.0)


def test_from_scenario_can_swap_the_forecaster(default_scenario: Scenario) -> None:
    inp = SimInputs.from_scenario(default_scenario, forecast="perfect")
    assert inp.forecast is not None and inp.forecast.forecaster.name == "perfect"
    np.testing.assert_allclose(inp.forecast_at(100).surplus_w(4), inp.surplus_w[100:104])
