"""PV and wind power from the bundled real weather."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenhop.energy.generation import pv_power_w, wind_power_w, wind_turbine_types
from greenhop.energy.sites import load_site_weather
from greenhop.errors import InputError, UnknownNameError


@pytest.fixture(scope="module")
def greensboro_pv() -> pd.Series:
    weather, meta = load_site_weather("greensboro")
    return pv_power_w(
        weather,
        meta["latitude"],
        meta["longitude"],
        peak_kw=10.0,
        tilt_deg=30.0,
        azimuth_deg=180.0,
        altitude_m=meta["altitude_m"],
    )


def test_pv_annual_yield_is_that_of_north_carolina(greensboro_pv: pd.Series) -> None:
    # PVWatts gives about 1,350-1,450 kWh per kWp and year for a south-facing array in NC.
    specific_yield = greensboro_pv.sum() / 1000 / 10.0
    assert 1200 < specific_yield < 1600


def test_pv_is_zero_at_night_and_peaks_near_local_solar_noon(greensboro_pv: pd.Series) -> None:
    local = greensboro_pv.tz_convert("Etc/GMT+5")  # local standard time
    by_hour = local.groupby(local.index.hour).mean()
    assert by_hour.loc[[0, 1, 2, 3, 22, 23]].max() == 0.0
    # longitude -79.95 → solar noon ≈ 12:20 LST; the hour [12, 13) or [11, 12) is the brightest
    assert by_hour.idxmax() in (11, 12)


def test_pv_stays_below_the_inverter_rating(greensboro_pv: pd.Series) -> None:
    assert greensboro_pv.min() >= 0.0
    assert greensboro_pv.max() <= 10_000 / 1.2 + 1e-6  # AC rating = DC peak / DC-AC ratio


def test_pv_scales_with_peak_and_losses() -> None:
    weather, meta = load_site_weather("piedmont")
    week = weather.loc["2021-06-01":"2021-06-07"]
    kwargs = dict(tilt_deg=30.0, azimuth_deg=180.0, altitude_m=meta["altitude_m"])
    small = pv_power_w(week, meta["latitude"], meta["longitude"], peak_kw=5.0, **kwargs)
    large = pv_power_w(week, meta["latitude"], meta["longitude"], peak_kw=10.0, **kwargs)
    np.testing.assert_allclose(large.to_numpy(), 2 * small.to_numpy(), rtol=1e-9)
    lossy = pv_power_w(
        week, meta["latitude"], meta["longitude"], peak_kw=5.0, losses_percent=30.0, **kwargs
    )
    assert lossy.sum() < 0.85 * small.sum()


def test_pv_facing_north_yields_less_than_south() -> None:
    weather, meta = load_site_weather("nw-colorado")
    args = (weather, meta["latitude"], meta["longitude"])
    south = pv_power_w(*args, peak_kw=1.0, tilt_deg=35.0, azimuth_deg=180.0)
    north = pv_power_w(*args, peak_kw=1.0, tilt_deg=35.0, azimuth_deg=0.0)
    assert north.sum() < 0.75 * south.sum()


def test_wind_power_follows_the_power_curve() -> None:
    weather, _ = load_site_weather("sand-point")
    power = wind_power_w(weather, turbine_type="E-53/800", hub_height_m=73.0)
    assert power.index.equals(weather.index)
    assert power.min() >= 0.0 and power.max() <= 810_000.0  # the E-53 curve tops at 810 kW
    calm = weather["wind_speed"] < 1.0  # under 1.5 m/s at the hub: at most a trickle
    assert power[calm].max() < 1000.0
    strong = (weather["wind_speed"] > 11.0) & (weather["wind_speed"] < 14.0)  # 16-21 m/s at hub
    assert power[strong].min() > 750_000.0  # rated power, below the storm cut-out
    # the windy Aleutians: a capacity factor between 20 % and 60 %
    assert 0.2 < power.mean() / 800_000.0 < 0.6
    # more wind, more power: rank correlation with the 10 m wind speed
    assert power.rank().corr(weather["wind_speed"].rank()) > 0.9


def test_wind_count_multiplies_and_hub_height_adds() -> None:
    weather, _ = load_site_weather("amsterdam")
    one = wind_power_w(weather, turbine_type="E-53/800", hub_height_m=60.0)
    three = wind_power_w(weather, turbine_type="E-53/800", hub_height_m=60.0, count=3)
    np.testing.assert_allclose(three.to_numpy(), 3 * one.to_numpy())
    taller = wind_power_w(weather, turbine_type="E-53/800", hub_height_m=73.0)
    assert taller.sum() > one.sum()


def test_unknown_turbine_and_missing_columns_are_refused() -> None:
    weather, _ = load_site_weather("miami")
    assert "E-53/800" in wind_turbine_types()
    with pytest.raises(UnknownNameError, match="unknown wind turbine type 'E-999'"):
        wind_power_w(weather, turbine_type="E-999", hub_height_m=60.0)
    with pytest.raises(InputError, match=r"missing \['dni'\]"):
        pv_power_w(
            weather.drop(columns="dni"), 25.8, -80.3, peak_kw=1, tilt_deg=20, azimuth_deg=180
        )
    with pytest.raises(InputError, match="timezone-aware"):
        pv_power_w(weather.tz_localize(None), 25.8, -80.3, peak_kw=1, tilt_deg=20, azimuth_deg=180)
