"""greenhop's ModelChain on the bundled weather: the same power a scenario gets, by source."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from greenhop.energy.generation import pv_power_w, wind_power_w
from greenhop.energy.modelchain import (
    map_typical_year,
    run_site,
    typical_year_on_grid_w,
    typical_year_w,
)
from greenhop.energy.sites import load_site_weather, site_metadata
from greenhop.errors import InputError
from greenhop.scenario import load_scenario

GREENSBORO_PV = {"peak_kw": 30.0, "tilt_deg": 30.0, "azimuth_deg": 180.0}  # as in default.toml
SAND_POINT_WIND = {
    "turbine_type": "E-53/800",
    "hub_height_m": 73.0,
    "count": 1,
    "roughness_length_m": 0.03,
}


def _where(name: str) -> tuple[float, float, float]:
    meta = site_metadata(name)
    return meta["latitude"], meta["longitude"], meta["altitude_m"]


def test_a_pv_site_gives_what_the_scenario_gives() -> None:
    scenario = load_scenario("default")
    grid = scenario.grid()
    power = typical_year_on_grid_w(grid, "greensboro", *_where("greensboro"), pv=GREENSBORO_PV)
    assert power.index.equals(grid)
    np.testing.assert_array_equal(power.to_numpy(), scenario.generation_w()["greensboro"])
    assert power.max() > 15_000.0  # a 30 kWp array near noon in June
    assert (power.to_numpy()[24:28] == 0).all()  # 06:00 UTC is 02:00 in North Carolina


def test_the_chain_keeps_its_parts_and_matches_the_physics() -> None:
    weather, _ = load_site_weather("greensboro")
    lat, lon, alt = _where("greensboro")
    by_name = run_site("greensboro", lat, lon, alt, pv=GREENSBORO_PV)
    by_frame = run_site(weather, lat, lon, alt, pv=GREENSBORO_PV)
    direct = pv_power_w(weather, lat, lon, altitude_m=alt, **GREENSBORO_PV)  # type: ignore[arg-type]
    np.testing.assert_array_equal(by_name.pv_w.to_numpy(), direct.to_numpy())
    np.testing.assert_array_equal(by_frame.total_w.to_numpy(), direct.to_numpy())
    assert (by_name.wind_w == 0).all()
    yearly = typical_year_w("greensboro", lat, lon, alt, pv=GREENSBORO_PV)
    assert len(yearly) == 8760
    np.testing.assert_array_equal(yearly.to_numpy(), by_name.total_w.to_numpy())
    # 1353 kWh/kWp·yr for the docs' reference array; a 30° tilt gives about the same
    assert 1200 * 30 < yearly.sum() / 1000 < 1500 * 30


def test_a_hybrid_site_adds_pv_and_wind() -> None:
    weather, _ = load_site_weather("sand-point")
    lat, lon, alt = _where("sand-point")
    pv = {"peak_kw": 10.0, "tilt_deg": 40.0, "azimuth_deg": 180.0}
    hybrid = run_site("sand-point", lat, lon, alt, pv=pv, wind=SAND_POINT_WIND)
    wind = wind_power_w(weather, **SAND_POINT_WIND)  # type: ignore[arg-type]
    np.testing.assert_array_equal(hybrid.wind_w.to_numpy(), wind.to_numpy())
    np.testing.assert_allclose(hybrid.total_w, hybrid.pv_w + wind)
    assert hybrid.wind_w.mean() > hybrid.pv_w.mean() > 0  # windy, cloudy Aleutians


def test_typical_year_maps_by_day_of_year() -> None:
    hourly = pd.Series(np.arange(8760, dtype=float))  # value = hour of the typical year
    day = 24
    march_1 = (31 + 28) * day
    for year in (2023, 2024):  # a leap year's March is the typical year's
        grid = pd.date_range(f"{year}-03-01", periods=day, freq="1h", tz="UTC")
        np.testing.assert_allclose(map_typical_year(hourly, grid), march_1 + np.arange(day))
    # 15 min steps: their middles lie between the hourly means (at :30), across New Year too
    quarter = pd.date_range("2023-01-01", periods=4, freq="15min", tz="UTC")
    np.testing.assert_allclose(
        map_typical_year(hourly, quarter), [0.375 * 8759, 0.125 * 8759, 0.125, 0.375]
    )
    new_year = pd.date_range("2023-12-31 23:00", periods=2, freq="30min", tz="UTC")
    np.testing.assert_allclose(map_typical_year(hourly, new_year), [8758.75, 0.75 * 8759])


def test_29_february_repeats_28_february() -> None:
    hourly = pd.Series(np.arange(8760, dtype=float))
    day = 24
    grid = pd.date_range("2024-02-28", periods=3 * day, freq="1h", tz="UTC")
    values = map_typical_year(hourly, grid).reshape(3, day)
    feb_28 = (31 + 27) * day + np.arange(day)
    np.testing.assert_allclose(values, [feb_28, feb_28, feb_28 + day])


def test_a_site_without_a_source_is_refused() -> None:
    with pytest.raises(InputError, match="needs PV or wind parameters"):
        run_site("greensboro", *_where("greensboro"))


def test_energy_never_imports_the_scenario() -> None:
    code = (
        "import sys, greenhop.energy.modelchain, greenhop.energy.battery, "
        "greenhop.energy.solcast, greenhop.energy.forecast, greenhop.energy.traces; "
        "sys.exit('greenhop.scenario' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
