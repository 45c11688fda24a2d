"""Renewable power of a site from weather: PV with pvlib (PVWatts chain), wind with windpowerlib.

Both functions take a weather :class:`pandas.DataFrame` on a UTC :class:`~pandas.DatetimeIndex`
and return the AC power in W on the same index. Weather columns follow pvlib's names:

=============  =====================================================  ======
column         meaning                                                unit
=============  =====================================================  ======
``ghi``        global horizontal irradiance                           W/m²
``dni``        direct normal irradiance                               W/m²
``dhi``        diffuse horizontal irradiance                          W/m²
``temp_air``   air temperature at 2 m                                 °C
``wind_speed`` wind speed at ``wind_speed_height_m`` (default 10 m)   m/s
``pressure``   surface air pressure (optional)                        Pa
=============  =====================================================  ======

A row labelled ``t`` holds the mean over ``[t, t + step)`` (greenhop's convention), so the sun is
placed at the middle of the step (``label='left'``); pass ``label='instant'`` for instantaneous
samples.

References
----------
.. [1] A. P. Dobos, "PVWatts Version 5 Manual", NREL/TP-6A20-62641, 2014.
.. [2] S. Haas et al., "windpowerlib — a Python library to model wind power plants",
   Journal of Open Research Software, 2024; https://github.com/wind-python/windpowerlib
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from greenhop.errors import InputError, UnknownNameError

#: PVWatts v5 temperature coefficient of power for a standard module, 1/°C [1].
PVWATTS_GAMMA_PDC_PER_C = -0.0047
#: PVWatts v5 default DC-to-AC ratio (array peak over inverter rating) [1].
PVWATTS_DC_AC_RATIO = 1.2
#: PVWatts v5 nominal inverter efficiency [1].
PVWATTS_INVERTER_EFFICIENCY = 0.96
#: Height of the wind speed in weather files (TMY, EPW, PVGIS, NSRDB all measure at 10 m).
WEATHER_WIND_HEIGHT_M = 10.0
#: Height of the air temperature in weather files, m.
WEATHER_TEMPERATURE_HEIGHT_M = 2.0
#: Standard sea-level pressure, Pa, used when the weather has no ``pressure`` column.
STANDARD_PRESSURE_PA = 101325.0

Label = Literal["left", "instant"]


def _require_columns(weather: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in weather.columns]
    if missing:
        raise InputError(
            f"{what} needs weather columns {list(columns)}; missing {missing} "
            f"(columns present: {list(weather.columns)})"
        )


def _require_values(weather: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    """Refuse NaN in the columns the power is computed from: missing weather is not 0 W."""
    problems = []
    for column in columns:
        if column not in weather.columns:
            continue
        missing = weather[column].isna().to_numpy()
        if missing.any():
            first = ", ".join(f"{t:%Y-%m-%d %H:%M}" for t in weather.index[missing][:5])
            more = f" (and {int(missing.sum()) - 5} more)" if missing.sum() > 5 else ""
            problems.append(f"column {column!r}: {int(missing.sum())} NaN at {first}{more}")
    if problems:
        raise InputError(
            f"{what}: the weather has missing values, which would not be 0 W: "
            f"{'; '.join(problems)}; fill or repair them first "
            "(greenhop.energy.weather.prepare_weather)"
        )


def _require_utc_index(weather: pd.DataFrame) -> pd.DatetimeIndex:
    index = weather.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise InputError("weather must have a timezone-aware DatetimeIndex (UTC)")
    if len(index) == 0:
        raise InputError("weather is empty")
    return index.tz_convert("UTC")


def _solar_times(index: pd.DatetimeIndex, label: Label) -> pd.DatetimeIndex:
    """Times at which to place the sun: the middle of each step for left-labelled means."""
    if label == "instant" or len(index) < 2:
        return index
    step = pd.Series(index).diff().median()
    return index + step / 2


def pv_power_w(
    weather: pd.DataFrame,
    latitude: float,
    longitude: float,
    *,
    peak_kw: float,
    tilt_deg: float,
    azimuth_deg: float,
    losses_percent: float = 14.0,
    altitude_m: float = 0.0,
    dc_ac_ratio: float = PVWATTS_DC_AC_RATIO,
    label: Label = "left",
) -> pd.Series:
    """AC power in W of a fixed-tilt PV array, PVWatts v5 chain [1] built from pvlib functions.

    Sun position (NREL SPA) → plane-of-array irradiance (Hay–Davies transposition) → ASHRAE
    incidence-angle modifier on the beam → SAPM cell temperature (open rack, glass/polymer) →
    PVWatts DC power with ``gamma_pdc`` = -0.47 %/°C → system losses ``losses_percent`` (PVWatts
    default 14 %) → PVWatts inverter sized at ``peak_kw / dc_ac_ratio``.

    Parameters
    ----------
    weather : DataFrame with ``ghi``, ``dni``, ``dhi`` (W/m²) and optionally ``temp_air`` (°C),
        ``wind_speed`` (m/s); UTC index.
    latitude, longitude : degrees north, east.
    peak_kw : DC nameplate of the array, kW (power at 1000 W/m², 25 °C).
    tilt_deg : surface tilt from horizontal, degrees.
    azimuth_deg : surface azimuth, degrees clockwise from north (180 = facing south).
    losses_percent : total DC system losses, % (soiling, wiring, mismatch, availability ...).
    altitude_m : site altitude above sea level, m.
    label : ``'left'`` when each row is the mean over the following step (sun placed at its middle),
        ``'instant'`` for instantaneous samples.

    Returns
    -------
    Series of AC power in W, ≥ 0, on ``weather``'s index (UTC), named ``'pv_power_w'``.

    Raises :class:`~greenhop.errors.InputError` when a weather column it uses holds NaN: a
    missing hour is not a dark one.
    """
    import pvlib

    _require_columns(weather, ("ghi", "dni", "dhi"), "pv_power_w")
    _require_values(weather, ("ghi", "dni", "dhi", "temp_air", "wind_speed"), "pv_power_w")
    if not peak_kw > 0:
        raise InputError(f"pv peak_kw must be > 0, got {peak_kw}")
    if not 0 <= losses_percent < 100:
        raise InputError(f"pv losses_percent must be in [0, 100), got {losses_percent}")
    index = _require_utc_index(weather)
    times = _solar_times(index, label)
    solpos = pvlib.solarposition.get_solarposition(times, latitude, longitude, altitude=altitude_m)
    zenith = solpos["apparent_zenith"].to_numpy()
    sun_azimuth = solpos["azimuth"].to_numpy()
    ghi = weather["ghi"].to_numpy(dtype=float)
    dni = weather["dni"].to_numpy(dtype=float)
    dhi = weather["dhi"].to_numpy(dtype=float)
    dni_extra = pvlib.irradiance.get_extra_radiation(times).to_numpy()
    airmass = pvlib.atmosphere.get_relative_airmass(zenith)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt_deg,
        azimuth_deg,
        zenith,
        sun_azimuth,
        dni,
        ghi,
        dhi,
        dni_extra=dni_extra,
        airmass=airmass,
        model="haydavies",
    )
    aoi = pvlib.irradiance.aoi(tilt_deg, azimuth_deg, zenith, sun_azimuth)
    iam = pvlib.iam.ashrae(aoi)
    poa_direct = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=float))
    poa_diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=float))
    effective = np.clip(poa_direct * np.nan_to_num(iam) + poa_diffuse, 0.0, None)
    n = len(index)
    temp_air = weather["temp_air"].to_numpy(float) if "temp_air" in weather else np.full(n, 20.0)
    wind = weather["wind_speed"].to_numpy(float) if "wind_speed" in weather else np.ones(n)
    sapm = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
    poa_global = np.nan_to_num(np.asarray(poa["poa_global"], dtype=float))
    temp_cell = pvlib.temperature.sapm_cell(poa_global, temp_air, wind, **sapm)
    pdc0_w = peak_kw * 1000.0
    dc_w = pvlib.pvsystem.pvwatts_dc(effective, temp_cell, pdc0_w, PVWATTS_GAMMA_PDC_PER_C)
    dc_w = np.asarray(dc_w, dtype=float) * (1.0 - losses_percent / 100.0)
    inverter_dc_w = pdc0_w / dc_ac_ratio / PVWATTS_INVERTER_EFFICIENCY
    ac_w = pvlib.inverter.pvwatts(dc_w, inverter_dc_w, PVWATTS_INVERTER_EFFICIENCY)
    ac_w = np.clip(np.nan_to_num(np.asarray(ac_w, dtype=float)), 0.0, None)
    return pd.Series(ac_w, index=index, name="pv_power_w")


def wind_turbine_types() -> list[str]:
    """Turbine types with a power curve in windpowerlib's offline turbine library."""
    from windpowerlib import get_turbine_types

    table = get_turbine_types("local", print_out=False, filter_=True)
    return sorted(table.loc[table["has_power_curve"], "turbine_type"].tolist())


@lru_cache(maxsize=64)
def _turbine(turbine_type: str, hub_height_m: float) -> Any:
    from windpowerlib import WindTurbine

    if turbine_type not in wind_turbine_types():
        raise UnknownNameError(
            f"unknown wind turbine type {turbine_type!r}; windpowerlib's offline library has "
            f"{', '.join(wind_turbine_types())}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WindTurbine(turbine_type=turbine_type, hub_height=hub_height_m)


def wind_power_w(
    weather: pd.DataFrame,
    *,
    turbine_type: str,
    hub_height_m: float,
    count: int = 1,
    roughness_length_m: float = 0.15,
    wind_speed_height_m: float = WEATHER_WIND_HEIGHT_M,
) -> pd.Series:
    """Electrical power in W of ``count`` identical wind turbines, windpowerlib ModelChain [2].

    The 10 m wind speed is taken to hub height with the logarithmic profile (roughness length
    ``roughness_length_m``: 0.0002 open sea, 0.03 open farmland, 0.15 farmland with scattered
    buildings, 0.5 suburbs), the air density from the barometric formula, and the power from the
    turbine's measured power curve in windpowerlib's offline library (no network access). Wake
    losses between the turbines are ignored.

    Parameters
    ----------
    weather : DataFrame with ``wind_speed`` (m/s at ``wind_speed_height_m``) and optionally
        ``temp_air`` (°C at 2 m) and ``pressure`` (Pa); UTC index.
    turbine_type : a name from :func:`wind_turbine_types`, e.g. ``'E-53/800'``.
    hub_height_m : hub height, m.
    count : number of turbines.
    roughness_length_m : surface roughness length, m.

    Returns
    -------
    Series of electrical power in W, ≥ 0, on ``weather``'s index (UTC), named ``'wind_power_w'``.

    Raises :class:`~greenhop.errors.InputError` when a weather column it uses holds NaN.
    """
    from windpowerlib import ModelChain

    _require_columns(weather, ("wind_speed",), "wind_power_w")
    _require_values(weather, ("wind_speed", "temp_air", "pressure"), "wind_power_w")
    if count < 1:
        raise InputError(f"wind turbine count must be ≥ 1, got {count}")
    if not hub_height_m > 0:
        raise InputError(f"wind hub_height_m must be > 0, got {hub_height_m}")
    index = _require_utc_index(weather)
    n = len(index)
    temp_k = (
        weather["temp_air"].to_numpy(dtype=float) if "temp_air" in weather else np.full(n, 15.0)
    ) + 273.15
    pressure = (
        weather["pressure"].to_numpy(dtype=float)
        if "pressure" in weather
        else np.full(n, STANDARD_PRESSURE_PA)
    )
    wp_weather = pd.DataFrame(
        {
            ("wind_speed", wind_speed_height_m): weather["wind_speed"].to_numpy(dtype=float),
            ("temperature", WEATHER_TEMPERATURE_HEIGHT_M): temp_k,
            ("pressure", 0): pressure,
            ("roughness_length", 0): np.full(n, roughness_length_m),
        },
        index=index,
    )
    wp_weather.columns.names = ["variable_name", "height"]
    chain = ModelChain(
        _turbine(turbine_type, float(hub_height_m)),
        wind_speed_model="logarithmic",
        density_model="barometric",
        power_output_model="power_curve",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chain.run_model(wp_weather)
    power = np.clip(np.nan_to_num(chain.power_output.to_numpy(dtype=float)), 0.0, None) * count
    return pd.Series(power, index=index, name="wind_power_w")
