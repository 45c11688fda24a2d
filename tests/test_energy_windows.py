"""Surplus windows on the bundled sites and on the real Solcast traces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop.energy.windows import (
    remaining_window_s,
    simultaneity,
    surplus_windows,
    window_stats,
)
from greenhop.scenario import Scenario, load_scenario, scenario_from_dict


@pytest.fixture(scope="module")
def default_scenario() -> Scenario:
    return load_scenario("default")


@pytest.fixture(scope="module")
def default_generation(default_scenario: Scenario) -> pd.DataFrame:
    return default_scenario.generation_w()


def _naive_remaining(mask: np.ndarray, step_s: float) -> np.ndarray:
    out = np.zeros(mask.shape)
    for j in range(mask.shape[1]):
        run = 0
        for i in range(mask.shape[0] - 1, -1, -1):
            run = run + 1 if mask[i, j] else 0
            out[i, j] = run * step_s
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.floats(0, 10), min_size=3, max_size=3), min_size=1, max_size=40),
    st.floats(0.5, 9.5),
)
def test_remaining_window_matches_a_loop(rows: list[list[float]], threshold: float) -> None:
    surplus = np.array(rows)
    expected = _naive_remaining(surplus >= threshold, 300.0)
    np.testing.assert_array_equal(remaining_window_s(surplus, threshold, 300.0), expected)


def test_windows_of_a_small_series() -> None:
    index = pd.date_range("2024-01-01", periods=8, freq="1h", tz="UTC")
    surplus = pd.Series([0, 600, 800, 100, 700, 700, 700, 900], index=index, dtype=float)
    windows = surplus_windows(surplus, 500.0, base_load_w=100.0)
    # net of base load: -100, 500, 700, 0, 600, 600, 600, 800; a job needs 500 W
    assert windows["start"].tolist() == [index[1], index[4]]
    assert windows["end"].tolist() == [index[3], index[7] + pd.Timedelta("1h")]
    assert windows["duration_s"].tolist() == [2 * 3600.0, 4 * 3600.0]
    np.testing.assert_allclose(windows["energy_kwh"], [1.2, 2.6])
    np.testing.assert_allclose(windows["mean_surplus_w"], [600.0, 650.0])
    assert windows["truncated"].tolist() == [False, True]


@pytest.mark.parametrize("site", ["greensboro", "piedmont", "nw-colorado"])
def test_summer_pv_windows_last_hours_and_start_after_sunrise(
    default_scenario: Scenario, default_generation: pd.DataFrame, site: str
) -> None:
    spec = default_scenario.site(site)
    windows = surplus_windows(default_generation[site], 500.0, base_load_w=spec.base_load_w)
    assert 5 <= len(windows) <= 10  # about one per day of the week
    long = windows[windows["duration_s"] >= 3 * 3600]
    assert len(long) >= 5
    assert windows["duration_s"].median() > 5 * 3600
    days = pd.DatetimeIndex(windows["start"]).tz_convert(spec.timezone).normalize()
    sun = pvlib.solarposition.sun_rise_set_transit_spa(days, spec.latitude, spec.longitude)
    sunrise = pd.DatetimeIndex(sun["sunrise"]).tz_convert("UTC")
    sunset = pd.DatetimeIndex(sun["sunset"]).tz_convert("UTC")
    starts = pd.DatetimeIndex(windows["start"])
    ends = pd.DatetimeIndex(windows["end"])
    assert (starts > sunrise).all()
    assert (ends < sunset + pd.Timedelta("15min")).all()


def test_wind_site_gives_windows_at_night() -> None:
    scenario = scenario_from_dict(
        {
            "name": "sand-point-winter",
            "start": pd.Timestamp("2025-01-06", tz="UTC").to_pydatetime(),
            "end": pd.Timestamp("2025-01-27", tz="UTC").to_pydatetime(),
            "step": "15min",
            "sites": [
                {
                    "name": "sand-point",
                    "gpu_slots": 4,
                    "base_load_w": 300_000.0,
                    "wind": {"turbine_type": "E-53/800", "hub_height_m": 73.0},
                }
            ],
        }
    )
    generation = scenario.generation_w()["sand-point"]
    windows = surplus_windows(generation, 500.0, base_load_w=300_000.0)
    assert len(windows) >= 5
    in_window = generation - 300_000.0 >= 500.0
    site = scenario.site("sand-point")
    elevation = pvlib.solarposition.get_solarposition(
        generation.index + pd.Timedelta("7.5min"), site.latitude, site.longitude
    )["apparent_elevation"].to_numpy()
    night = elevation < 0
    # the Aleutian winter night is long and windy: most window time is dark
    assert in_window[night].sum() > in_window[~night].sum()
    local = pd.DatetimeIndex(windows["start"]).tz_convert(site.timezone)
    across_midnight = (
        pd.DatetimeIndex(windows["end"]).tz_convert(site.timezone).normalize() > local.normalize()
    )
    assert across_midnight.any()


def test_window_stats_share_of_energy_falls_with_the_needed_length(
    default_generation: pd.DataFrame, default_scenario: Scenario
) -> None:
    base = default_scenario.site("amsterdam").base_load_w
    shares = [
        window_stats(
            default_generation["amsterdam"], 500.0, base_load_w=base, min_window_s=h * 3600
        )["share_energy_long_windows"]
        for h in (0, 2.5, 9.5, 48)
    ]
    assert shares[0] == pytest.approx(1.0)
    assert shares[0] >= shares[1] >= shares[2] >= shares[3]
    assert shares[3] == 0.0  # no window lasts two days in this week


def test_german_cities_are_strongly_correlated(solcast_germany) -> None:  # type: ignore[no-untyped-def]
    corr = solcast_germany.actual.corr().to_numpy()
    mean_pairwise = corr[np.triu_indices_from(corr, k=1)].mean()
    print(f"mean pairwise correlation of the 10 German cities: {mean_pairwise:.3f}")
    assert mean_pairwise > 0.85


def test_runs_above_30_percent_match_the_data_readme(solcast_germany) -> None:  # type: ignore[no-untyped-def]
    durations = np.concatenate(
        [
            surplus_windows(solcast_germany.actual[c], 0.3)["duration_s"].to_numpy()
            for c in solcast_germany.actual.columns
        ]
    )
    # ../shared/data/README.md: mean 4.5 h, 90th percentile 9.2 h
    assert durations.mean() / 3600 == pytest.approx(4.5, abs=0.2)
    assert np.quantile(durations, 0.9) / 3600 == pytest.approx(9.2, abs=0.3)


def test_simultaneity_global_beats_germany(solcast_germany, solcast_global) -> None:  # type: ignore[no-untyped-def]
    germany = simultaneity(solcast_germany.actual, 0.3)
    world = simultaneity(solcast_global.actual, 0.3)
    # README: at least one city at ≥ 30 % of peak 97 % of the time (global), 40 % (Germany)
    assert world[1] == pytest.approx(0.97, abs=0.02)
    assert germany[1] == pytest.approx(0.40, abs=0.02)
    assert (germany.diff().dropna() <= 0).all()
    assert world[3] > germany[3]
