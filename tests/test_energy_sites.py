"""The bundled fleet of real sites."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from greenhop.energy.sites import bundled_sites, load_site_weather, site_metadata
from greenhop.errors import UnknownNameError


def test_at_least_six_sites_in_different_climates() -> None:
    sites = bundled_sites()
    assert len(sites) >= 6
    climates = {site_metadata(s)["climate"].split("(")[0] for s in sites}
    assert len(climates) == len(sites)
    timezones = {site_metadata(s)["timezone"] for s in sites}
    assert len(timezones) >= 4


@pytest.mark.parametrize("name", bundled_sites())
def test_site_weather_is_a_utc_typical_year(name: str) -> None:
    weather, meta = load_site_weather(name)
    assert len(weather) == 8760
    assert str(weather.index.tz) == "UTC"
    assert (weather.index[1:] - weather.index[:-1] == pd.Timedelta("1h")).all()
    assert not weather.isna().any().any()
    assert {"ghi", "dni", "dhi", "temp_air", "wind_speed", "pressure"} <= set(weather.columns)
    assert weather[["ghi", "dni", "dhi"]].min().min() >= 0
    assert 60_000 < weather["pressure"].median() < 105_000  # Pa, sea level to 2 km
    assert meta["source_package"].startswith("pvlib==")
    # the sun shines more in local summer than in local winter
    summer, winter = ("06", "12") if meta["latitude"] > 0 else ("12", "06")
    assert weather.loc[f"2021-{summer}", "ghi"].mean() > weather.loc[f"2021-{winter}", "ghi"].mean()


def test_climates_differ_as_expected() -> None:
    miami, _ = load_site_weather("miami")
    sand_point, _ = load_site_weather("sand-point")
    colorado, _ = load_site_weather("nw-colorado")
    amsterdam, _ = load_site_weather("amsterdam")
    assert miami["temp_air"].mean() > 20 > sand_point["temp_air"].mean()
    assert sand_point["wind_speed"].mean() > colorado["wind_speed"].mean()
    assert colorado["ghi"].sum() > 1.5 * amsterdam["ghi"].sum()
    assert colorado["pressure"].median() < 85_000  # 2 km up


def test_provenance_names_every_source_file() -> None:
    text = (resources.files("greenhop") / "data" / "PROVENANCE.md").read_text("utf-8")
    for name in bundled_sites():
        source_file = site_metadata(name)["source_file"].split("/")[-1]
        assert source_file in text and name in text


def test_unknown_site_lists_the_bundled_ones() -> None:
    with pytest.raises(UnknownNameError, match="greensboro"):
        load_site_weather("atlantis")
