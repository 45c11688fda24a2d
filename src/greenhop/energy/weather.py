"""A site's own weather: read a weather file, check it, repair what may be repaired, derive more.

After pvlib's ``iotools``, reading is kept apart from modelling: :func:`read_weather_file` turns a
file into pvlib's column names and units on UTC left labels (a row labelled ``t`` holds the mean
over ``[t, t + step)``, greenhop's convention), and :func:`prepare_weather` checks what was read
and makes it ready for :mod:`greenhop.energy.generation`. :func:`load_weather` does both.

=================  ============================================  ==============================
format             recognised by                                 time labels in the file
=================  ============================================  ==============================
EPW                ``.epw``                                      hour ending, local standard
TMY2               ``.tm2``                                      hour ending, local standard
TMY3               a CSV whose second line is the TMY3 header    hour ending, local standard
PVGIS TMY          ``.json``, or a CSV starting ``Latitude (``   UTC samples at about hh:10 [1]
NSRDB PSM3 / PSM4  a CSV starting ``Source,Location ID``         instants, local standard
CSV, Parquet       other ``.csv``, ``.csv.gz``, ``.parquet``     left labels, UTC or an offset
=================  ============================================  ==============================

The first five are read with :mod:`pvlib.iotools`; their location (latitude, longitude,
altitude) comes from the file. A CSV or Parquet file has a time column (``time_utc``, ``time``,
``datetime``, ``timestamp`` or ``period_start``, read as :mod:`greenhop.energy.traces` reads a
trace's) and pvlib's columns ``ghi``, ``dni``, ``dhi`` (W/m²), ``temp_air`` (°C), ``wind_speed``
(m/s at 10 m) and optionally ``pressure`` (Pa), at any regular step from 1 min to 1 h.

Conversions (the same ones that made greenhop's bundled weather, ``scripts/make_site_data.py``):
hour-ending labels move back one hour; local standard time becomes UTC; a typical year (TMY2,
TMY3, EPW, PVGIS TMY, an NSRDB TMY: months from different years) is put on the UTC grid of the
reference year :data:`REFERENCE_YEAR`, the hours that fall into the next year wrapping round to its
start; PVGIS samples are turned into hourly means by :func:`pvgis_hour_means`, NSRDB's
instantaneous samples by :func:`instantaneous_to_means`; pressure in mbar becomes Pa, TMY2's
tenths become units.

Checks (:func:`prepare_weather`), every problem at once in one :class:`WeatherError` naming the
file, the column, how many values and the first timestamps:

- rows sorted, no duplicate timestamps, a regular step;
- **gaps** (NaN, empty cells, timestamps absent from the step's grid) are refused, or with
  ``gaps="interpolate"`` filled by interpolation in time when a gap lasts at most ``max_gap`` (a
  gap of n missing steps lasts n × step; longer gaps, and gaps at either end, are still refused);
- irradiance from :data:`NIGHT_OFFSET_W_M2` up to 0 (a sensor's night-time offset) is clipped to
  0 and counted; values that cannot be weather are refused: irradiance below that or above
  :data:`MAX_IRRADIANCE_W_M2`, ``temp_air`` outside :data:`TEMP_AIR_RANGE_C`, negative
  ``wind_speed``, ``pressure`` outside :data:`PRESSURE_RANGE_PA` (a file in hPa is caught here).

Missing irradiance components are derived with pvlib, the sun placed at the middle of each step:
``dhi`` from ``ghi`` and ``dni`` by the closure equation ``dhi = ghi − dni · cos(zenith)``
(clipped at 0), ``dni`` from ``ghi`` and ``dhi`` (:func:`pvlib.irradiance.dni`), ``ghi`` from
``dni`` and ``dhi``, and ``dni`` and ``dhi`` from ``ghi`` alone with the Erbs decomposition [2].
Whatever was derived, clipped or filled is said in :attr:`SiteWeather.notes`.

References
----------
.. [1] PVGIS-SARAH hourly values are satellite samples taken after the hour: PVGIS 5.3 files
   state the delay in their header, "Irradiance Time Offset (h)" (0.1761 h in pvlib's
   ``tmy_45.000_8.000_2005_2023.csv``); greenhop's bundled weather takes it as 10 min
   (greenhop/data/PROVENANCE.md).
.. [2] D. G. Erbs, S. A. Klein, J. A. Duffie, "Estimation of the diffuse radiation fraction for
   hourly, daily and monthly-average global radiation", Solar Energy 28(4), 293-302, 1982.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from greenhop.energy.traces import (
    MAX_STEP,
    MIN_STEP,
    TIME_COLUMNS,
    _fmt_times,
    _order_problems,
    _parse_times,
    _read_table,
    infer_step,
)
from greenhop.errors import InputError

#: The UTC year a typical year is put on (a typical year has no real date: its months come from
#: different years). Not a leap year, like every typical year's 8760 hours.
REFERENCE_YEAR = 2021
#: pvlib's weather columns, in the order greenhop keeps them.
WEATHER_COLUMNS = ("ghi", "dni", "dhi", "temp_air", "wind_speed", "pressure")
IRRADIANCE_COLUMNS = ("ghi", "dni", "dhi")
#: Irradiance from this value up to 0 W/m² is a sensor's night-time offset: clipped to 0, counted.
NIGHT_OFFSET_W_M2 = -10.0
#: Irradiance above this is refused, W/m² (the irradiance at the top of the atmosphere, the
#: solar constant, is about 1361 W/m²).
MAX_IRRADIANCE_W_M2 = 1500.0
#: Air temperatures outside this range are refused, °C (the records are -89.2 and 56.7 °C).
TEMP_AIR_RANGE_C = (-90.0, 60.0)
#: Surface pressures outside this range are refused, Pa (about 9 km up to the record high of
#: 108.4 kPa); a file in hPa or mbar falls below it.
PRESSURE_RANGE_PA = (30_000.0, 110_000.0)
#: Missing-value codes of EPW files (EnergyPlus Auxiliary Programs, "Weather data file format").
EPW_MISSING = {
    "ghi": 9999.0,
    "dni": 9999.0,
    "dhi": 9999.0,
    "temp_air": 99.9,
    "wind_speed": 999.0,
    "pressure": 999999.0,
}
#: The suffixes a weather file may have; anything else is not a weather file.
WEATHER_SUFFIXES = (".epw", ".tm2", ".csv", ".csv.gz", ".json", ".parquet", ".pq")

GapRepair = Literal["refuse", "interpolate"]
_SHOW = 5  # how many timestamps a message lists


class WeatherError(InputError):
    """A weather file cannot be read, or what it holds cannot be used (gaps, impossible values)."""


@dataclass(frozen=True)
class WeatherFile:
    """A weather file as read, before any check: pvlib's columns and units on UTC left labels.

    ``data`` holds the columns of :data:`WEATHER_COLUMNS` the file has, as floats (NaN where a
    value is missing), in the file's row order. ``typical`` is True for a typical year, which is
    on the UTC grid of :data:`REFERENCE_YEAR`. ``lines`` holds the file line of each row when the
    rows are a CSV's, for messages.
    """

    path: Path
    kind: str
    data: pd.DataFrame
    typical: bool = False
    latitude: float | None = None
    longitude: float | None = None
    altitude_m: float | None = None
    utc_offset_h: float | None = None
    lines: np.ndarray | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class SiteWeather:
    """A site's weather, checked and complete, ready for :mod:`greenhop.energy.generation`.

    ``data``: UTC left labels at ``step``, no gap, no NaN; the irradiance columns (all three
    when PV needs them), ``temp_air``, ``wind_speed`` and ``pressure`` when the file has it.
    ``notes``: one line for each thing done to the file's values (derived, clipped, filled), and
    where the location came from.
    """

    data: pd.DataFrame
    step: pd.Timedelta
    source: str
    kind: str
    typical: bool
    latitude: float | None
    longitude: float | None
    altitude_m: float | None
    utc_offset_h: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def start(self) -> pd.Timestamp:
        """Left label of the first row (UTC)."""
        return pd.Timestamp(self.data.index[0])

    @property
    def end(self) -> pd.Timestamp:
        """End of the last row's step (UTC), excluded."""
        return pd.Timestamp(self.data.index[-1]) + self.step

    def covers(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        """True when the weather holds ``[start, end)`` on its own dates (never a typical year)."""
        return not self.typical and self.start <= start and self.end >= end

    @property
    def one_year(self) -> bool:
        """True for a typical year, or for any weather exactly one year long (365 or 366 days)."""
        days = (self.end - self.start) / pd.Timedelta(days=1)
        return self.typical or days in (365.0, 366.0)


# ------------------------------------------------------------------------------------ reading


def read_weather_file(path: str | os.PathLike[str]) -> WeatherFile:
    """Read a weather file (EPW, TMY2, TMY3, PVGIS TMY, NSRDB PSM3/PSM4, CSV, Parquet).

    Returns a :class:`WeatherFile`: pvlib's column names and units (W/m², °C, m/s, Pa) on UTC
    left labels, not yet checked (see :func:`prepare_weather`). Raises :class:`WeatherError` when
    the file does not exist or cannot be read as weather.
    """
    path = Path(path)
    if not path.is_file():
        raise WeatherError(f"{path}: weather file not found")
    name = path.name.lower()
    if not name.endswith(WEATHER_SUFFIXES):
        raise WeatherError(
            f"{path}: not a weather file; use {', '.join(WEATHER_SUFFIXES)} (EPW, TMY2, TMY3, "
            "PVGIS TMY, NSRDB PSM3, or a CSV/Parquet with pvlib's column names)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pvlib's readers warn about pandas and formats
            return _read(path, name)
    except WeatherError:
        raise
    except InputError as exc:  # the trace reader's errors (timestamps) name the file already
        raise WeatherError(str(exc)) from None
    except (OSError, ValueError, KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
        kind = _kind(path, name)
        raise WeatherError(f"{path}: cannot be read as {kind}: {exc}") from None


def _first_lines(path: Path, n: int = 2) -> list[str]:
    if path.name.lower().endswith((".gz", ".parquet", ".pq")):
        return []
    with open(path, encoding="latin-1") as fh:
        return [fh.readline() for _ in range(n)]


def _kind(path: Path, name: str) -> str:
    if name.endswith(".epw"):
        return "EPW"
    if name.endswith(".tm2"):
        return "TMY2"
    if name.endswith(".json"):
        return "PVGIS TMY"
    if name.endswith((".parquet", ".pq")):
        return "Parquet"
    lines = _first_lines(path)
    if lines and lines[0].startswith("Latitude ("):
        return "PVGIS TMY"
    if lines and lines[0].startswith("Source,Location ID"):
        return "NSRDB"
    if len(lines) > 1 and lines[1].startswith("Date (MM/DD/YYYY)"):
        return "TMY3"
    return "CSV"


def _read(path: Path, name: str) -> WeatherFile:
    kind = _kind(path, name)
    if kind == "EPW":
        return _read_epw(path)
    if kind == "TMY2":
        return _read_tmy2(path)
    if kind == "TMY3":
        return _read_tmy3(path)
    if kind == "PVGIS TMY":
        return _read_pvgis_tmy(path)
    if kind == "NSRDB":
        return _read_nsrdb(path)
    return _read_table_weather(path, kind)


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _typical(path: Path, kind: str, local: pd.DataFrame, meta: dict[str, Any]) -> WeatherFile:
    """A typical year given on local left labels → the UTC grid of the reference year."""
    return WeatherFile(
        path=path,
        kind=kind,
        data=to_reference_year(local),
        typical=True,
        latitude=_float(meta.get("latitude")),
        longitude=_float(meta.get("longitude")),
        altitude_m=_float(meta.get("altitude")),
        utc_offset_h=_float(meta.get("TZ")),
    )


def _tmy3_hour_starts(data: pd.DataFrame) -> pd.DatetimeIndex:
    """The start of each TMY3 hour, in the file's time zone, from its date and hour-ending time.

    Read from the columns rather than from pvlib's index, which puts 24:00 on 28 February of a
    leap year at 1 March.
    """
    day = pd.to_datetime(data["Date (MM/DD/YYYY)"], format="%m/%d/%Y")
    hour = data["Time (HH:MM)"].str.slice(0, 2).astype(int) - 1
    starts = pd.DatetimeIndex(day + pd.to_timedelta(hour, unit="h"))
    return starts.tz_localize(pd.DatetimeIndex(data.index).tz)


def _read_tmy3(path: Path) -> WeatherFile:
    import pvlib

    data, meta = pvlib.iotools.read_tmy3(str(path), map_variables=True)
    frame = pd.DataFrame(
        {
            "ghi": data["ghi"].to_numpy(),
            "dni": data["dni"].to_numpy(),
            "dhi": data["dhi"].to_numpy(),
            "temp_air": data["temp_air"].to_numpy(),
            "wind_speed": data["wind_speed"].to_numpy(),
            "pressure": data["pressure"].to_numpy() * 100.0,  # mbar → Pa
        },
        index=_tmy3_hour_starts(data),
    )
    return _typical(path, "TMY3", frame.astype(float), meta)


def _read_tmy2(path: Path) -> WeatherFile:
    import pvlib

    data, meta = pvlib.iotools.read_tmy2(str(path))  # labels the start of each hour already
    frame = pd.DataFrame(
        {
            "ghi": data["GHI"].to_numpy(),
            "dni": data["DNI"].to_numpy(),
            "dhi": data["DHI"].to_numpy(),
            "temp_air": data["DryBulb"].to_numpy() / 10.0,  # tenths of °C
            "wind_speed": data["Wspd"].to_numpy() / 10.0,  # tenths of m/s
            "pressure": data["Pressure"].to_numpy() * 100.0,  # mbar → Pa
        },
        index=data.index,
    )
    return _typical(path, "TMY2", frame.astype(float), meta)


def _read_epw(path: Path) -> WeatherFile:
    import pvlib

    data, meta = pvlib.iotools.read_epw(str(path))  # labels the start of each hour already
    frame = pd.DataFrame(
        {c: data[c].to_numpy() for c in ["ghi", "dni", "dhi", "temp_air", "wind_speed"]},
        index=data.index,
    )
    frame["pressure"] = data["atmospheric_pressure"].to_numpy()
    frame = frame.astype(float)
    for column, missing in EPW_MISSING.items():
        frame[column] = frame[column].mask(frame[column] >= missing)
    return _typical(path, "EPW", frame, meta)


def pvgis_hour_means(samples: pd.DataFrame) -> pd.DataFrame:
    """PVGIS-SARAH hourly values (satellite samples at about hh:10 UTC) → the hour's mean [1].

    The mean over ``[hh, hh + 1 h)`` is estimated by the value at hh:30, linearly interpolated
    one third of the way to the next sample; the year is taken as periodic (a typical year).
    """
    values = samples.to_numpy(dtype=float)
    means = values * 2 / 3 + np.roll(values, -1, axis=0) / 3
    return pd.DataFrame(means, index=samples.index, columns=samples.columns)


def _pvgis_location(result: Sequence[Any]) -> dict[str, Any]:
    """Latitude, longitude, elevation from what read_pvgis_tmy returns (pvlib 0.11 .. 0.16)."""

    def search(node: Any) -> dict[str, Any]:
        if isinstance(node, dict):
            if "latitude" in node and "longitude" in node:
                return node
            for value in node.values():
                found = search(value)
                if found:
                    return found
        return {}

    for part in result[1:]:
        found = search(part)
        if found:
            return {
                "latitude": found["latitude"],
                "longitude": found["longitude"],
                "altitude": found.get("elevation"),
            }
    return {}


def _read_pvgis_tmy(path: Path) -> WeatherFile:
    import pvlib

    fmt = "json" if path.name.lower().endswith(".json") else "csv"
    result = pvlib.iotools.read_pvgis_tmy(str(path), pvgis_format=fmt, map_variables=True)
    data = result[0]
    missing = [c for c in WEATHER_COLUMNS if c not in data.columns]
    if missing:
        raise WeatherError(f"{path}: the PVGIS file has no {missing}; it has {list(data.columns)}")
    frame = pvgis_hour_means(data[list(WEATHER_COLUMNS)].astype(float))  # rows in month order
    frame.index = data.index
    meta = _pvgis_location(result)
    meta["TZ"] = 0.0
    return _typical(path, "PVGIS TMY", frame, meta)


def instantaneous_to_means(
    samples: pd.DataFrame, *, step: pd.Timedelta | None = None, periodic: bool
) -> pd.DataFrame:
    """Instantaneous samples → the mean over each ``step`` (default: the samples' own step).

    Trapezoid rule: with k samples per step, the row labelled ``t_i`` becomes the mean over
    ``[t_i, t_i + step)``, the samples ``v_i .. v_{i+k}`` weighted ``1/2k, 1/k, ..., 1/k, 1/2k``:
    ``(v_i + v_{i+1}) / 2`` at the samples' own step, ``v(hh:00)/4 + v(hh:30)/2 + v(hh+1:00)/4``
    for the hourly mean of half-hourly samples. Steps start at the first sample; an incomplete
    last step is dropped. The sample after the last one is the first when ``periodic`` (a year
    that wraps round), else the last one again.
    """
    index = pd.DatetimeIndex(samples.index)
    sample_step = infer_step(index)
    k = 1 if step is None else int(pd.Timedelta(step) / sample_step)
    if k < 1 or k * sample_step != (sample_step if step is None else pd.Timedelta(step)):
        raise WeatherError(f"cannot average {sample_step} samples over steps of {step}")
    values = samples.to_numpy(dtype=float)
    after = values[:1] if periodic else values[-1:]
    extended = np.concatenate([values, after])
    n = len(values) // k
    starts = np.arange(n) * k
    means = (0.5 / k) * extended[starts]
    for i in range(1, k):
        means = means + (1.0 / k) * extended[starts + i]
    means = means + (0.5 / k) * extended[starts + k]
    return pd.DataFrame(means, index=index[starts], columns=samples.columns)


def _read_nsrdb(path: Path) -> WeatherFile:
    import pvlib

    reader = getattr(pvlib.iotools, "read_nsrdb_psm4", None) or pvlib.iotools.read_psm3
    data, meta = reader(str(path), map_variables=True)
    missing = [c for c in WEATHER_COLUMNS if c not in data.columns]
    if missing:
        raise WeatherError(f"{path}: the NSRDB file has no {missing}; it has {list(data.columns)}")
    frame = data[list(WEATHER_COLUMNS)].astype(float)
    frame["pressure"] = frame["pressure"] * 100.0  # mbar → Pa
    index = pd.DatetimeIndex(frame.index)
    typical = not index.is_monotonic_increasing  # an NSRDB TMY: months of different years
    if typical:
        frame.index = _coerce_year(index)
    days = (len(frame) * infer_step(frame.index)) / pd.Timedelta(days=1)
    frame = instantaneous_to_means(frame, periodic=typical or days in (365.0, 366.0))
    location = {
        "latitude": meta.get("latitude", meta.get("Latitude")),
        "longitude": meta.get("longitude", meta.get("Longitude")),
        "altitude": meta.get("altitude", meta.get("Elevation")),
    }
    offset = _float(meta.get("Time Zone"))
    if typical:
        file = _typical(path, "NSRDB TMY", frame, {**location, "TZ": offset})
        return file
    frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
    return WeatherFile(
        path=path,
        kind="NSRDB",
        data=frame,
        latitude=_float(location["latitude"]),
        longitude=_float(location["longitude"]),
        altitude_m=_float(location["altitude"]),
        utc_offset_h=offset,
    )


def _read_table_weather(path: Path, kind: str) -> WeatherFile:
    source = str(path)
    table = _read_table(path)
    if table.empty:
        raise WeatherError(f"{source}: the file has no rows")
    columns = [str(c) for c in table.columns]
    table.columns = pd.Index(columns)
    time_col = next((c for c in TIME_COLUMNS if c in columns), None)
    if time_col is None:
        if columns[0] in WEATHER_COLUMNS:
            raise WeatherError(
                f"{source}: no time column; name one {', '.join(TIME_COLUMNS)} (or put the "
                f"times in the first column); the columns are {columns}"
            )
        time_col = columns[0]
    times = _parse_times(table[time_col], source=source, column=time_col, tz="UTC")
    present = [c for c in WEATHER_COLUMNS if c in columns]
    if not present:
        raise WeatherError(
            f"{source}: none of pvlib's weather columns {list(WEATHER_COLUMNS)}; the columns are "
            f"{columns} (rename them to pvlib's names)"
        )
    lines = np.arange(len(table)) + 2 if kind == "CSV" else None
    frame = pd.DataFrame(index=times)
    problems = []
    for column in present:
        raw = table[column]
        values = pd.to_numeric(raw, errors="coerce")
        text = values.isna().to_numpy() & raw.notna().to_numpy()
        if text.any():
            rows = np.flatnonzero(text)
            where = (
                f"file lines {', '.join(str(int(lines[i])) for i in rows[:_SHOW])}"
                if lines is not None
                else f"{_fmt_times(times[rows], rows.size)}"
            )
            problems.append(
                f"{source}: column {column!r}: {rows.size} values are not numbers "
                f"(first {raw.iloc[rows[0]]!r}) at {where}"
            )
        frame[column] = values.to_numpy(dtype=float)
    if problems:
        raise WeatherError("\n".join(problems))
    return WeatherFile(path=path, kind=kind, data=frame, lines=lines)


# ------------------------------------------------------------------------ the reference year


def _coerce_year(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The same wall-clock times in :data:`REFERENCE_YEAR`, in the index's own time zone.

    29 February has no place in the reference year: rows on it must be dropped first.
    """
    wall = index.tz_localize(None) if index.tz is not None else index
    parts = pd.DataFrame(
        {
            "year": REFERENCE_YEAR,
            "month": wall.month,
            "day": wall.day,
            "hour": wall.hour,
            "minute": wall.minute,
            "second": wall.second,
        }
    )
    coerced = pd.DatetimeIndex(pd.to_datetime(parts))
    return coerced.tz_localize(index.tz) if index.tz is not None else coerced


def to_reference_year(data: pd.DataFrame) -> pd.DataFrame:
    """A year of weather (or power) → the UTC grid of :data:`REFERENCE_YEAR`, sorted.

    Each row keeps its wall-clock date and time in its own time zone (naive times are UTC), moved
    to the reference year (rows on 29 February are dropped, the typical year has none), then is
    converted to UTC; the hours that fall into the year before or after wrap round, as a typical
    year has no year boundary.
    """
    index = pd.DatetimeIndex(data.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    leap_day = (index.month == 2) & (index.day == 29)
    out = data.loc[~leap_day].copy()
    utc = _coerce_year(index[~leap_day]).tz_convert("UTC")
    shift_days = np.where(
        utc.year < REFERENCE_YEAR, 365, np.where(utc.year > REFERENCE_YEAR, -365, 0)
    )
    out.index = utc + pd.to_timedelta(shift_days, unit="D")
    out.index.name = "time_utc"
    return out.sort_index(kind="stable")


# ------------------------------------------------------------------------------------ checks


def _at(times: pd.DatetimeIndex) -> str:
    return _fmt_times(times, len(times))


def _step_of(file: WeatherFile) -> tuple[pd.DataFrame, pd.Timedelta, pd.DatetimeIndex]:
    """The file's rows on a regular grid at its step (absent rows as NaN), the step, the absent
    timestamps. Raises for unsorted or duplicate rows, an unsupported step, times off the grid."""
    data = file.data
    index = pd.DatetimeIndex(data.index)
    source = file.source
    problems = _order_problems(index, source, file.lines)
    if problems:
        raise WeatherError("\n".join(problems))
    if len(index) < 2:
        raise WeatherError(f"{source}: needs at least two rows, has {len(index)}")
    step = infer_step(index)
    if not MIN_STEP <= step <= MAX_STEP:
        raise WeatherError(f"{source}: step {step} is outside the supported range 1 min .. 1 h")
    first = index[0]
    if file.typical:  # the whole reference year, from its first step on the file's grid
        year_start = pd.Timestamp(f"{REFERENCE_YEAR}-01-01", tz="UTC")
        first = year_start + (index[0] - year_start) % step
        last = pd.Timestamp(f"{REFERENCE_YEAR + 1}-01-01", tz="UTC") - step
    else:
        last = index[-1]
    off_grid = ((index - first) % step) != pd.Timedelta(0)
    if off_grid.any():
        raise WeatherError(
            f"{source}: {int(off_grid.sum())} timestamps are off the {step} grid of the file "
            f"(which starts {first:%Y-%m-%d %H:%M}): {_at(index[off_grid])}; give one regular step"
        )
    grid = pd.date_range(first, last, freq=step, name="time_utc")
    absent = grid.difference(index)
    return data.reindex(grid), step, absent


def _runs(missing: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) positions of each run of True in ``missing``, end excluded."""
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _duration(td: pd.Timedelta) -> str:
    hours = td / pd.Timedelta(hours=1)
    return f"{hours:g} h" if hours >= 1 else f"{td / pd.Timedelta(minutes=1):g} min"


def _value_problems(data: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Refuse values that cannot be weather; clip night-time offsets. → (data, problems, notes)."""
    problems: list[str] = []
    notes: list[str] = []
    index = pd.DatetimeIndex(data.index)
    limits = {
        **{c: (NIGHT_OFFSET_W_M2, MAX_IRRADIANCE_W_M2, "W/m²") for c in IRRADIANCE_COLUMNS},
        "temp_air": (*TEMP_AIR_RANGE_C, "°C"),
        "wind_speed": (0.0, np.inf, "m/s"),
        "pressure": (*PRESSURE_RANGE_PA, "Pa"),
    }
    out = data.copy()
    for column in data.columns:
        low, high, unit = limits[column]
        values = data[column].to_numpy(dtype=float)
        bad = (values < low) | (values > high)  # NaN compares False
        if bad.any():
            span = f"{low:g} .. {high:g} {unit}" if np.isfinite(high) else f"≥ {low:g} {unit}"
            hint = (
                "; pressure is in Pa (1013 hPa = 101300 Pa)"
                if column == "pressure" and np.nanmax(values[bad]) < low
                else ""
            )
            problems.append(
                f"{source}: column {column!r}: {_n(int(bad.sum()), 'value')} outside {span} "
                f"(first {values[bad][0]:g} at {_at(index[bad])}){hint}"
            )
        if column in IRRADIANCE_COLUMNS:
            offset = (values < 0) & (values >= NIGHT_OFFSET_W_M2)
            if offset.any():
                out[column] = np.where(offset, 0.0, values)
                notes.append(
                    f"{column}: {_n(int(offset.sum()), 'negative value')} down to "
                    f"{values[offset].min():g} W/m² (a sensor's offset) clipped to 0"
                )
    return out, problems, notes


def _n(count: int, word: str) -> str:
    """``1 value``, ``2 values``: a count and its noun."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _grouped(items: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    """(column, text) pairs → (columns, text), the columns that share a text together."""
    texts: dict[str, list[str]] = {}
    for column, text in items:
        texts.setdefault(text, []).append(column)
    return [(columns, text) for text, columns in texts.items()]


def _columns(columns: list[str]) -> str:
    """``column 'a'`` or ``columns 'a', 'b'``."""
    return ("column " if len(columns) == 1 else "columns ") + ", ".join(map(repr, columns))


def _gap_problems(
    data: pd.DataFrame,
    absent: pd.DatetimeIndex,
    step: pd.Timedelta,
    source: str,
    gaps: GapRepair,
    max_gap: pd.Timedelta | None,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Refuse gaps, or fill those up to ``max_gap`` by interpolation in time. → (data, problems,
    notes). Columns with the same gaps share one line."""
    refused: list[tuple[str, str]] = []
    filled: list[tuple[str, str]] = []
    index = pd.DatetimeIndex(data.index)
    out = data.copy()
    is_absent = index.isin(absent)
    for column in data.columns:
        missing = data[column].isna().to_numpy()
        if not missing.any():
            continue
        n_absent = int((missing & is_absent).sum())
        n_missing = int(missing.sum())
        kinds = f"{n_missing - n_absent} NaN, {_n(n_absent, 'timestamp')} absent"
        if gaps == "refuse":
            refused.append(
                (column, f"{_n(n_missing, 'missing value')} ({kinds}) at {_at(index[missing])}")
            )
            continue
        assert max_gap is not None
        too_long: list[str] = []
        fill = np.zeros(len(index), dtype=bool)
        longest = pd.Timedelta(0)
        for first, end in _runs(missing):
            length = (end - first) * step
            at = f"{index[first]:%Y-%m-%d %H:%M}"
            if first == 0 or end == len(index):
                edge = "start" if first == 0 else "end"
                too_long.append(f"{_duration(length)} from {at} (at the {edge} of the file)")
            elif length > max_gap:
                too_long.append(f"{_duration(length)} from {at}")
            else:
                fill[first:end] = True
                longest = max(longest, length)
        if too_long:
            more = f" (and {len(too_long) - _SHOW} more)" if len(too_long) > _SHOW else ""
            refused.append(
                (
                    column,
                    f"{_n(len(too_long), 'gap')} that interpolation may not fill "
                    f"(longer than max_gap {_duration(max_gap)}, or at an end of the file): "
                    f"{'; '.join(too_long[:_SHOW])}{more}",
                )
            )
        if fill.any():
            series = data[column].interpolate(method="time", limit_area="inside")
            out[column] = np.where(fill, series.to_numpy(), data[column].to_numpy())
            filled.append(
                (
                    column,
                    f"{_n(int(fill.sum()), 'missing value')} ({kinds}) filled by "
                    f"interpolation in time, gaps up to {_duration(longest)} (max_gap "
                    f"{_duration(max_gap)}), first at {index[fill][0]:%Y-%m-%d %H:%M}",
                )
            )
    fix = (
        'fill them, or set weather_gaps = "interpolate" with max_gap = "..." on the site'
        if gaps == "refuse"
        else "fill them, or cut the file"
    )
    problems = [f"{source}: {_columns(cols)}: {text}; {fix}" for cols, text in _grouped(refused)]
    notes = [f"{', '.join(cols)}: {text}" for cols, text in _grouped(filled)]
    return out, problems, notes


def _count(n: int, step: pd.Timedelta) -> str:
    return f"{n} hours" if step == pd.Timedelta(hours=1) else f"{n} steps of {_duration(step)}"


def closure_dhi_w_m2(ghi: np.ndarray, dni: np.ndarray, zenith_deg: np.ndarray) -> np.ndarray:
    """Diffuse horizontal irradiance from the closure equation, W/m², clipped at 0.

    ``dhi = ghi − dni · cos(zenith)``, the beam counted only while the sun is above the horizon.
    """
    cos_zenith = np.clip(np.cos(np.radians(zenith_deg)), 0.0, None)
    return np.clip(ghi - dni * cos_zenith, 0.0, None)


def derive_irradiance(
    data: pd.DataFrame,
    latitude: float,
    longitude: float,
    altitude_m: float,
    step: pd.Timedelta,
) -> tuple[pd.DataFrame, str | None]:
    """Add the irradiance components ``data`` lacks, W/m²; → (data with ghi, dni, dhi, note).

    The sun is placed at the middle of each step (NREL SPA, true zenith). ``dhi`` from ``ghi``
    and ``dni`` by closure (:func:`closure_dhi_w_m2`); ``dni`` from ``ghi`` and ``dhi`` with
    :func:`pvlib.irradiance.dni` (0 where it is undefined: sun within 2° of the horizon, or
    ``ghi < dhi``); ``ghi`` from ``dni`` and ``dhi``; ``dni`` and ``dhi`` from ``ghi`` alone with
    :func:`pvlib.irradiance.erbs`. Raises :class:`WeatherError` when there is no ``ghi`` and not
    both ``dni`` and ``dhi``. The note is None when nothing was missing.
    """
    import pvlib

    present = {c for c in IRRADIANCE_COLUMNS if c in data.columns}
    if present == set(IRRADIANCE_COLUMNS):
        return data, None
    times = pd.DatetimeIndex(data.index) + step / 2
    solpos = pvlib.solarposition.get_solarposition(times, latitude, longitude, altitude=altitude_m)
    zenith = solpos["zenith"].to_numpy()
    out = data.copy()
    n = _count(len(out), step)
    if {"ghi", "dni"} <= present:
        out["dhi"] = closure_dhi_w_m2(out["ghi"].to_numpy(), out["dni"].to_numpy(), zenith)
        note = f"dhi derived from ghi and dni (closure), {n}"
    elif {"ghi", "dhi"} <= present:
        dni = pvlib.irradiance.dni(out["ghi"], out["dhi"], pd.Series(zenith, index=out.index))
        out["dni"] = np.nan_to_num(np.asarray(dni, dtype=float))
        note = f"dni derived from ghi and dhi (closure, pvlib.irradiance.dni), {n}"
    elif {"dni", "dhi"} <= present:
        cos_zenith = np.clip(np.cos(np.radians(zenith)), 0.0, None)
        out["ghi"] = out["dhi"].to_numpy() + out["dni"].to_numpy() * cos_zenith
        note = f"ghi derived from dni and dhi (closure), {n}"
    elif "ghi" in present:
        day_of_year = times.day_of_year.to_numpy()
        parts = pvlib.irradiance.erbs(out["ghi"].to_numpy(), zenith, day_of_year)
        out["dni"] = np.asarray(parts["dni"], dtype=float)
        out["dhi"] = np.asarray(parts["dhi"], dtype=float)
        note = f"dni and dhi derived from ghi (Erbs decomposition), {n}"
    else:
        has = sorted(present) or "no irradiance"
        raise WeatherError(f"PV needs ghi, or dni and dhi; the weather has {has}")
    columns = [c for c in WEATHER_COLUMNS if c in out.columns]
    return out[columns], note


def prepare_weather(
    file: WeatherFile,
    *,
    pv: bool = True,
    wind: bool = False,
    gaps: GapRepair = "refuse",
    max_gap: str | pd.Timedelta | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    altitude_m: float | None = None,
) -> SiteWeather:
    """Check a weather file and make it ready for PV (``pv``) and/or wind (``wind``) power.

    Keeps the columns the power needs (irradiance for PV; ``temp_air``, ``wind_speed``; and
    ``pressure`` for wind when the file has it), refuses gaps or fills them (``gaps``,
    ``max_gap``), clips night-time offsets, refuses impossible values, and derives the missing
    irradiance components. ``latitude``, ``longitude``, ``altitude_m`` override the file's
    (required for PV when the file has no location, as a CSV). Raises one
    :class:`WeatherError` with a line per problem.
    """
    source = file.source
    if gaps not in ("refuse", "interpolate"):
        raise WeatherError(f"gaps must be 'refuse' or 'interpolate', got {gaps!r}")
    gap_limit = None if max_gap is None else pd.Timedelta(max_gap)
    if gaps == "interpolate" and (gap_limit is None or gap_limit <= pd.Timedelta(0)):
        raise WeatherError("gaps='interpolate' needs max_gap > 0, e.g. '3h'")
    used = [*(IRRADIANCE_COLUMNS if pv else ()), "temp_air", "wind_speed"]
    used += ["pressure"] if wind else []
    data = file.data[[c for c in used if c in file.data.columns]]
    empty = [c for c in data.columns if data[c].isna().all()]
    data = data.drop(columns=empty)  # an empty column is a column the file does not have
    notes = [f"column {c} is empty: taken as absent" for c in empty]
    needed = ("temp_air", "wind_speed")
    missing = [c for c in needed if c not in data.columns]
    if pv and "ghi" not in data.columns and not {"dni", "dhi"} <= set(data.columns):
        missing.insert(0, "ghi (or dni and dhi)")
    if missing:
        raise WeatherError(
            f"{source}: no column {', '.join(missing)}; "
            f"{'PV' if pv else 'wind'} needs them (the file has {list(data.columns)}; "
            "pvlib's names are ghi, dni, dhi, temp_air, wind_speed, pressure)"
        )
    grid_data, step, absent = _step_of(dataclasses.replace(file, data=data))
    checked, value_problems, value_notes = _value_problems(grid_data, source)
    filled, gap_problems, gap_notes = _gap_problems(checked, absent, step, source, gaps, gap_limit)
    problems = value_problems + gap_problems
    if problems:
        raise WeatherError("\n".join(problems))
    notes += value_notes + gap_notes
    lat = latitude if latitude is not None else file.latitude
    lon = longitude if longitude is not None else file.longitude
    alt = altitude_m if altitude_m is not None else file.altitude_m
    if pv and (lat is None or lon is None):
        raise WeatherError(
            f"{source}: a {file.kind} file carries no location; give the site's latitude and "
            "longitude (PV needs the sun's position)"
        )
    if pv:
        assert lat is not None and lon is not None
        try:
            filled, note = derive_irradiance(filled, lat, lon, alt or 0.0, step)
        except WeatherError as exc:
            raise WeatherError(f"{source}: {exc}") from None
        if note:
            notes.append(note)
    taken = [
        f"{name} {value:g}{unit}"
        for name, unit, site_value, value in (
            ("latitude", "", latitude, file.latitude),
            ("longitude", "", longitude, file.longitude),
            ("altitude", " m", altitude_m, file.altitude_m),
        )
        if site_value is None and value is not None
    ]
    if taken:
        notes.append(f"{', '.join(taken)} from the file")
    return SiteWeather(
        data=filled,
        step=step,
        source=source,
        kind=file.kind,
        typical=file.typical,
        latitude=lat,
        longitude=lon,
        altitude_m=alt,
        utc_offset_h=file.utc_offset_h,
        notes=tuple(notes),
    )


def load_weather(
    path: str | os.PathLike[str],
    *,
    pv: bool = True,
    wind: bool = False,
    gaps: GapRepair = "refuse",
    max_gap: str | pd.Timedelta | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    altitude_m: float | None = None,
) -> SiteWeather:
    """:func:`read_weather_file` then :func:`prepare_weather`: a site's weather from a file."""
    return prepare_weather(
        read_weather_file(path),
        pv=pv,
        wind=wind,
        gaps=gaps,
        max_gap=max_gap,
        latitude=latitude,
        longitude=longitude,
        altitude_m=altitude_m,
    )
