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
- :func:`typical_year_on_grid_w`: the last two together; what a scenario's weather site produces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from greenhop.energy.generation import pv_power_w, wind_power_w
from greenhop.energy.sites import load_site_weather
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
    """Typical-year hourly means → values at the middle of each grid step, by day of year.

    The typical year has 365 days; in leap years 29 February repeats 28 February. ``grid`` holds
    the left labels (UTC) of equal steps; the hourly means are interpolated linearly (and
    periodically, across New Year) to the middle of each step.
    """
    step_h = float((grid[1] - grid[0]).total_seconds()) / 3600.0 if len(grid) > 1 else 1.0
    middle = grid + pd.Timedelta(hours=step_h / 2)
    day = middle.day_of_year.to_numpy() - 1
    leap = middle.is_leap_year & (day >= 59)  # 29 February (day 59) and every later day
    day = np.where(leap, day - 1, day)
    hour = (
        middle.hour.to_numpy() + middle.minute.to_numpy() / 60.0 + middle.second.to_numpy() / 3600.0
    )
    position_h = day * 24.0 + hour - 0.5  # hourly means sit at the middle of their hour
    values = hourly_w.to_numpy(dtype=float)
    return np.interp(position_h, np.arange(len(values)), values, period=len(values))


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
