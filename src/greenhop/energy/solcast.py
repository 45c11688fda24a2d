"""The Solcast traces: measured PV output and the forecasts issued at the time (2022, 5 min).

One module per data source, as pvlib's ``iotools``: :func:`read_solcast` reads one
``solcast2022_<name>.zip`` file and :func:`load_solcast` finds it by name among the traces that
ship with greenhop (``greenhop/data/solcast``, provenance in ``greenhop/data/PROVENANCE.md``);
both return :class:`SolcastData`, the data (``actual``, ``forecast``) with their metadata
(``name``, ``path``, ``sites``).

Each zip holds ``solcast2022_<name>_actual.csv`` (``datetime`` = period end, one column per site,
0..1 of peak) and ``solcast2022_<name>_forecast.csv`` (``datetime`` = issue time,
``period_end`` = the period forecast, one column per site). Timestamps are naive UTC. The data are
Solcast's, via the Vessim project (MIT).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from greenhop.energy.traces import validate_trace
from greenhop.errors import InputError, TraceError

SOLCAST_NAMES = ("germany", "global")
SOLCAST_STEP = pd.Timedelta(minutes=5)
_PREFIX = "solcast2022_"


def bundled_solcast_dir() -> Path:
    """The folder of the Solcast traces that ship with greenhop (``greenhop/data/solcast``)."""
    return Path(str(resources.files("greenhop") / "data" / "solcast"))


@dataclass(frozen=True)
class SolcastData:
    """Measured PV output and the forecasts issued at the time, for ten cities (Solcast, 2022).

    ``actual``: wide, UTC, left-labelled 5 min steps, 0..1 of each site's peak (the file's
    ``datetime`` marks the period end; it is moved back by 5 min here).
    ``forecast``: long table ``issued_at``, ``period_end``, ``site``, ``value`` (0..1 of peak), UTC,
    as in the file: each issue covers period ends 5 to 65 min after ``issued_at``.
    ``name`` (``'germany'``, ``'global'``) and ``path`` say which file they come from.
    """

    name: str
    path: Path
    actual: pd.DataFrame
    forecast: pd.DataFrame

    @property
    def sites(self) -> list[str]:
        return [str(c) for c in self.actual.columns]

    def forecast_cube(self) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """Issued forecasts as an array ``[issue, lead, site]``: lead k covers the period starting
        ``k`` steps after the issue time (k = 0 .. 12, the file's period ends +5 .. +65 min)."""
        return _forecast_cube(self.name, str(self.path))


@lru_cache(maxsize=4)
def _read_zip(name: str, path_str: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    path = Path(path_str)
    with zipfile.ZipFile(path) as archive:
        actual = pd.read_csv(archive.open(f"{_PREFIX}{name}_actual.csv"), index_col=0)
        forecast_wide = pd.read_csv(archive.open(f"{_PREFIX}{name}_forecast.csv"))
    actual.index = pd.DatetimeIndex(pd.to_datetime(actual.index)).tz_localize("UTC") - SOLCAST_STEP
    actual.index.name = "time_utc"
    actual = actual.astype(float)
    validate_trace(actual, source=f"{path.name}:{_PREFIX}{name}_actual.csv")
    forecast_wide["datetime"] = pd.to_datetime(forecast_wide["datetime"]).dt.tz_localize("UTC")
    forecast_wide["period_end"] = pd.to_datetime(forecast_wide["period_end"]).dt.tz_localize("UTC")
    return actual, forecast_wide


@lru_cache(maxsize=4)
def _forecast_cube(name: str, path_str: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
    actual, wide = _read_zip(name, path_str)
    sites = list(actual.columns)
    issues = pd.DatetimeIndex(wide["datetime"].unique()).sort_values()
    issue_pos = issues.get_indexer(pd.DatetimeIndex(wide["datetime"]))
    lead_s = (wide["period_end"] - wide["datetime"]).dt.total_seconds().to_numpy()
    lead = (lead_s / SOLCAST_STEP.total_seconds()).astype(int) - 1
    keep = lead >= 0
    cube = np.full((len(issues), int(lead[keep].max()) + 1, len(sites)), np.nan)
    cube[issue_pos[keep], lead[keep], :] = wide.loc[keep, sites].to_numpy(dtype=float)
    return issues, cube


def read_solcast(path: str | os.PathLike[str]) -> SolcastData:
    """Read one ``solcast2022_<name>.zip`` file: its actuals, its issued forecasts and its name.

    Raises :class:`~greenhop.errors.TraceError` when the file is missing or is not such a zip.
    """
    path = Path(path).resolve()
    if not path.exists():
        raise TraceError(f"{path}: Solcast trace not found")
    stem = path.name.removesuffix(".zip")
    if not (path.name.endswith(".zip") and stem.startswith(_PREFIX)):
        raise TraceError(f"{path}: not a Solcast trace; expected a file named {_PREFIX}<name>.zip")
    name = stem.removeprefix(_PREFIX)
    try:
        actual, wide = _read_zip(name, str(path))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise TraceError(
            f"{path}: not a Solcast trace ({exc}); it needs {_PREFIX}{name}_actual.csv and "
            f"{_PREFIX}{name}_forecast.csv"
        ) from None
    sites = list(actual.columns)
    long = wide.melt(
        id_vars=["datetime", "period_end"], value_vars=sites, var_name="site", value_name="value"
    ).rename(columns={"datetime": "issued_at"})
    return SolcastData(name=name, path=path, actual=actual.copy(), forecast=long)


def load_solcast(
    name: str = "germany", data_dir: str | os.PathLike[str] | None = None
) -> SolcastData:
    """Load ``solcast2022_<name>.zip`` (``'germany'`` or ``'global'``) from ``data_dir``, by
    default the copies that ship with greenhop (:func:`bundled_solcast_dir`)."""
    if name not in SOLCAST_NAMES:
        raise InputError(f"unknown Solcast trace {name!r}; use one of {', '.join(SOLCAST_NAMES)}")
    folder = Path(data_dir) if data_dir is not None else bundled_solcast_dir()
    path = (folder / f"{_PREFIX}{name}.zip").resolve()
    if not path.exists():
        raise InputError(f"{path}: Solcast trace not found")
    return read_solcast(path)
