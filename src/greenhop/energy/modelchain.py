"""greenhop's ModelChain: the renewable power of one site from weather, on any time grid.

After pvlib's ``ModelChain``: it composes the physics of :mod:`greenhop.energy.generation` (PV
with pvlib's PVWatts chain, wind with windpowerlib) for one site, keeps the parts
(:class:`SitePower`), and takes plain parameters: the weather (a DataFrame, or the name of a
bundled site whose typical year is loaded), latitude, longitude and altitude, and the keyword
arguments of :func:`~greenhop.energy.generation.pv_power_w` (``peak_kw``, ``tilt_deg``,
``azimuth_deg``, ``losses_percent``) and :func:`~greenhop.energy.generation.wind_power_w`
(``turbine_type``, ``hub_height_m``, ``count``, ``roughness_length_m``) as two mappings.

- :func:`run_site`: weather → PV and wind power on the weather's index, W.
- :func:`typical_year_w`: the same for a bundled site's typical year, computed once per site.
- :func:`map_typical_year`: a typical year of hourly means → values on any grid, by day of year
  and UTC time of day (29 February repeats 28 February), interpolated to the middle of each step.
- :func:`typical_year_on_grid_w`: the last two together; what a scenario's bundled weather site
  produces.
- :func:`weather_use` and :func:`site_weather_on_grid_w`: the same for a site's own weather
  (:class:`~greenhop.energy.weather.SiteWeather`), used on its own dates when it covers the grid,
  else as a typical year when it is one year long.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from greenhop.energy.generation import pv_power_w, wind_power_w
from greenhop.energy.sites import load_site_weather
from greenhop.energy.weather import SiteWeather, WeatherError, to_reference_year
from greenhop.errors import InputError

_Params = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class SitePower:
    """A site's renewable power on the weather's index, W, by source (0 for a source it lacks)."""

    pv_w: pd.Series
    wind_w: pd.Series

    @property
    def total_w(self) -> pd.Series:
        """PV plus wind, W."""
        return (self.pv_w + self.wind_w).rename("power_w")


def run_site(
    weather: str | pd.DataFrame,
    latitude: float,
    longitude: float,
    altitude_m: float = 0.0,
    *,
    pv: Mapping[str, Any] | None = None,
    wind: Mapping[str, Any] | None = None,
) -> SitePower:
    """PV and wind power of one site from ``weather``, W, on the weather's index (UTC).

    Parameters
    ----------
    weather : weather DataFrame (columns as in :mod:`greenhop.energy.generation`), or the name of
        a bundled site (:func:`~greenhop.energy.sites.bundled_sites`), whose typical year is used.
    latitude, longitude : degrees north, east.
    altitude_m : altitude above sea level, m.
    pv : keyword arguments of :func:`~greenhop.energy.generation.pv_power_w`, or None for no PV.
    wind : keyword arguments of :func:`~greenhop.energy.generation.wind_power_w`, or None for no
        wind.
    """
    if pv is None and wind is None:
        raise InputError("a site needs PV or wind parameters (pv=..., wind=...) to make power")
    frame = load_site_weather(weather)[0] if isinstance(weather, str) else weather
    zero = pd.Series(0.0, index=frame.index)
    pv_w = (
        zero.rename("pv_power_w")
        if pv is None
        else pv_power_w(frame, latitude, longitude, altitude_m=altitude_m, **pv)
    )
    wind_w = zero.rename("wind_power_w") if wind is None else wind_power_w(frame, **wind)
    return SitePower(pv_w=pv_w, wind_w=wind_w)


def typical_year_w(
    weather: str,
    latitude: float,
    longitude: float,
    altitude_m: float = 0.0,
    *,
    pv: Mapping[str, Any] | None = None,
    wind: Mapping[str, Any] | None = None,
) -> pd.Series:
    """Total power over the typical year of the bundled site ``weather``, hourly means, W.

    Computed once per set of parameters (the PV chain over a year takes about a second).
    """
    return _typical_year(
        weather, latitude, longitude, altitude_m, _hashable(pv), _hashable(wind)
    ).copy()


def _hashable(params: Mapping[str, Any] | None) -> _Params | None:
    return None if params is None else tuple(sorted(params.items()))


@lru_cache(maxsize=64)
def _typical_year(
    weather: str,
    latitude: float,
    longitude: float,
    altitude_m: float,
    pv: _Params | None,
    wind: _Params | None,
) -> pd.Series:
    power = run_site(
        weather,
        latitude,
        longitude,
        altitude_m,
        pv=None if pv is None else dict(pv),
        wind=None if wind is None else dict(wind),
    )
    return power.total_w


def map_typical_year(hourly_w: pd.Series, grid: pd.DatetimeIndex) -> np.ndarray:
    """Typical-year means → values at the middle of each grid step, by day of year.

    The typical year has 365 days; in leap years 29 February repeats 28 February. Its values are
    means over equal steps that fill the year (8760 hourly means, or 35040 of 15 min ...), the
    first starting at its index's first label (at 1 January 00:00 for a plain index). ``grid``
    holds the left labels (UTC) of equal steps; the means are interpolated linearly (and
    periodically, across New Year) to the middle of each grid step.
    """
    values = hourly_w.to_numpy(dtype=float)
    values_step_h = 8760.0 / len(values)
    first_h = 0.0
    if isinstance(hourly_w.index, pd.DatetimeIndex) and len(hourly_w.index):
        first = pd.Timestamp(hourly_w.index[0])
        first_h = (first - first.normalize().replace(month=1, day=1)) / pd.Timedelta(hours=1)
    step_h = float((grid[1] - grid[0]).total_seconds()) / 3600.0 if len(grid) > 1 else 1.0
    middle = grid + pd.Timedelta(hours=step_h / 2)
    day = middle.day_of_year.to_numpy() - 1
    leap = middle.is_leap_year & (day >= 59)  # 29 February (day 59) and every later day
    day = np.where(leap, day - 1, day)
    hour = (
        middle.hour.to_numpy() + middle.minute.to_numpy() / 60.0 + middle.second.to_numpy() / 3600.0
    )
    # a mean sits at the middle of its step
    position = (day * 24.0 + hour - first_h) / values_step_h - 0.5
    return np.interp(position, np.arange(len(values)), values, period=len(values))


def typical_year_on_grid_w(
    grid: pd.DatetimeIndex,
    weather: str,
    latitude: float,
    longitude: float,
    altitude_m: float = 0.0,
    *,
    pv: Mapping[str, Any] | None = None,
    wind: Mapping[str, Any] | None = None,
) -> pd.Series:
    """Power of a site with the bundled weather ``weather`` on ``grid`` (UTC left labels), W.

    :func:`typical_year_w` mapped onto the grid's dates by :func:`map_typical_year`.
    """
    hourly = _typical_year(weather, latitude, longitude, altitude_m, _hashable(pv), _hashable(wind))
    return pd.Series(map_typical_year(hourly, grid), index=grid, name="power_w")


WeatherUse = Literal["own dates", "typical year"]


def weather_use(weather: SiteWeather, grid: pd.DatetimeIndex, step: pd.Timedelta) -> WeatherUse:
    """How a site's own weather serves the grid ``[grid[0], grid[-1] + step)``.

    ``'own dates'`` when the weather covers it (never a typical year), else ``'typical year'``
    when the weather is one year long (:attr:`SiteWeather.one_year`). Raises
    :class:`~greenhop.energy.weather.WeatherError` naming the weather's period otherwise.
    """
    start, end = pd.Timestamp(grid[0]), pd.Timestamp(grid[-1]) + pd.Timedelta(step)
    if weather.covers(start, end):
        return "own dates"
    if weather.one_year:
        return "typical year"
    days = (weather.end - weather.start) / pd.Timedelta(days=1)
    raise WeatherError(
        f"{weather.source}: holds {weather.start:%Y-%m-%d %H:%M} .. {weather.end:%Y-%m-%d %H:%M} "
        f"UTC ({days:g} days), which neither covers the run's {start:%Y-%m-%d %H:%M} .. "
        f"{end:%Y-%m-%d %H:%M} UTC nor is one year long (to be used as a typical year); give "
        "weather for the run's dates, or one whole year"
    )


def _block_means(power: pd.Series, k: int) -> pd.Series:
    """Means of consecutive blocks of ``k`` values, labelled by the first of each block."""
    values = power.to_numpy(dtype=float)
    n = len(values) // k
    means = values[: n * k].reshape(n, k).mean(axis=1)
    return pd.Series(means, index=power.index[: n * k : k])


def _means_on_grid(
    power: pd.Series, step: pd.Timedelta, grid: pd.DatetimeIndex, grid_step: pd.Timedelta
) -> np.ndarray:
    """Mean power over each grid step of a power held over each of its own steps, W.

    Exact for power that is constant over each of its steps (the energy is kept): cumulative
    energy at the grid's edges, by linear interpolation between the power's own edges.
    """
    index = pd.DatetimeIndex(power.index)
    values = power.to_numpy(dtype=float)
    if step == grid_step and index.get_indexer(grid).min() >= 0:
        return values[index.get_indexer(grid)]
    origin = index[0]
    step_s = step.total_seconds()
    edges_s = np.append((index - origin).total_seconds().to_numpy(), 0.0)
    edges_s[-1] = edges_s[-2] + step_s
    energy_j = np.concatenate([[0.0], np.cumsum(values * step_s)])
    grid_edges_s = np.append(
        (grid - origin).total_seconds().to_numpy(),
        (grid[-1] - origin).total_seconds() + grid_step.total_seconds(),
    )
    means = np.diff(np.interp(grid_edges_s, edges_s, energy_j)) / grid_step.total_seconds()
    return np.clip(means, 0.0, None)  # power is ≥ 0; only rounding can make a mean negative


def site_weather_on_grid_w(
    grid: pd.DatetimeIndex,
    step: pd.Timedelta,
    weather: SiteWeather,
    *,
    pv: Mapping[str, Any] | None = None,
    wind: Mapping[str, Any] | None = None,
) -> pd.Series:
    """Power of a site with its own weather on ``grid`` (UTC left labels of ``step``), W.

    The power is computed at the weather's own step (:func:`run_site`). Used on its own dates
    (:func:`weather_use`), it is averaged over each grid step, the energy kept. As a typical
    year, it is put on the reference year (:func:`~greenhop.energy.weather.to_reference_year`),
    averaged to the grid's step when finer, and mapped by :func:`map_typical_year`.
    """
    use = weather_use(weather, grid, step)
    power = run_site(
        weather.data,
        weather.latitude if weather.latitude is not None else 0.0,
        weather.longitude if weather.longitude is not None else 0.0,
        weather.altitude_m or 0.0,
        pv=pv,
        wind=wind,
    ).total_w
    if use == "own dates":
        values = _means_on_grid(power, weather.step, grid, pd.Timedelta(step))
        return pd.Series(values, index=grid, name="power_w")
    year = power if weather.typical else to_reference_year(power.to_frame())["power_w"]
    if len(year) * weather.step != pd.Timedelta(days=365) or not year.index.is_unique:
        raise WeatherError(
            f"{weather.source}: one year of weather must fill 365 days (366 with 29 February, "
            f"which a typical year leaves out); this one fills {len(year) * weather.step} once "
            "put on one year"
        )
    ratio = pd.Timedelta(step) / weather.step
    if ratio > 1 and ratio == int(ratio) and len(year) % int(ratio) == 0:
        year = _block_means(year, int(ratio))
    return pd.Series(map_typical_year(year, grid), index=grid, name="power_w")
