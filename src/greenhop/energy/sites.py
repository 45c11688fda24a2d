"""The bundled fleet: real sites with one typical year of hourly weather each.

The weather comes from public files that ship inside the pvlib 0.11.2 wheel on PyPI (NSRDB TMY2,
TMY3 and PSM3, ASHRAE IWEC, PVGIS); ``scripts/make_site_data.py`` regenerates the compact copies
in ``greenhop/data/weather/`` and ``greenhop/data/PROVENANCE.md`` says where each one comes from.

Each site's weather is on a UTC hourly grid of the reference year 2021 (a typical year has no
real date: months come from different years). A row labelled ``t`` is the mean over
``[t, t + 1 h)``. Columns: ``ghi``, ``dni``, ``dhi`` (W/m²), ``temp_air`` (°C at 2 m),
``wind_speed`` (m/s at 10 m), ``pressure`` (Pa).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

from greenhop.errors import UnknownNameError

_DATA = resources.files("greenhop") / "data" / "weather"


@lru_cache(maxsize=1)
def _catalog() -> dict[str, dict[str, Any]]:
    catalog: dict[str, dict[str, Any]] = json.loads((_DATA / "sites.json").read_text("utf-8"))
    return catalog


def bundled_sites() -> list[str]:
    """Names of the bundled sites, e.g. ``['amsterdam', 'greensboro', ...]``, sorted."""
    return sorted(_catalog())


def site_metadata(name: str) -> dict[str, Any]:
    """Metadata of a bundled site: latitude, longitude, altitude_m, timezone, climate, source ..."""
    catalog = _catalog()
    if name not in catalog:
        raise UnknownNameError(
            f"unknown bundled site {name!r}; bundled sites are {', '.join(bundled_sites())}"
        )
    return dict(catalog[name])


@lru_cache(maxsize=16)
def _read_weather(name: str) -> pd.DataFrame:
    path = _DATA / f"{name}.csv.gz"
    with resources.as_file(path) as real_path:
        frame = pd.read_csv(real_path, index_col=0, compression="gzip")
    frame.index = pd.to_datetime(frame.index, utc=True)
    frame.index.name = "time_utc"
    return frame.astype(float)


def load_site_weather(name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One typical year of hourly weather of a bundled site and its metadata, pvlib-style.

    Returns
    -------
    weather : DataFrame on a UTC hourly index of the reference year (8760 rows), columns ``ghi``,
        ``dni``, ``dhi`` (W/m²), ``temp_air`` (°C), ``wind_speed`` (m/s at 10 m), ``pressure`` (Pa).
    metadata : dict with ``latitude``, ``longitude``, ``altitude_m``, ``timezone``, ``climate``,
        ``source``, ``source_file``, ``source_package``, ``reference_year`` ...
    """
    metadata = site_metadata(name)
    return _read_weather(name).copy(), metadata
