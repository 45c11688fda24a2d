"""Grid signals: carbon intensity, electricity price, curtailment and demand-response events.

Each is read from a CSV or Parquet file with the checks power traces get
(:func:`greenhop.energy.traces.validate_trace`: UTC times, sorted, no duplicates, a regular
step of 1 min .. 1 h with every gap named, numeric values without NaN; errors name the file and
the column) and becomes a :class:`~greenhop.signals.base.Signal` with its unit named, so a live
source can serve the same quantity on the wall clock later:

- **carbon intensity** (:func:`read_carbon`): g CO2e per kWh, declared ``average`` or
  ``marginal``. Units converted explicitly (:data:`CARBON_UNITS`): ``lbs/MWh`` (WattTime's MOER)
  is multiplied by 0.45359237 (1 lb = 453.59237 g, 1 MWh = 1000 kWh);
- **price** (:func:`read_price`): currency per MWh (``USD/MWh``; ``$/MWh`` is read as USD; a
  ``/kWh`` price is multiplied by 1000). Prices may be negative (a real LMP is, when renewables
  are curtailed);
- **curtailment** (:func:`read_curtailment`): W of renewable power the grid would curtail, from
  a plain table (a column in W, kW, MW or GW) or from CAISO's public "Production and
  Curtailments" workbook layout (:func:`read_caiso_curtailments`);
- **demand-response events** (:func:`read_dr_events`): intervals ``[start, end)`` in which a
  site must keep its grid draw at or under a cap (kW, possibly 0);
  :class:`DemandResponseSignal` answers ``at(now)`` with the cap in W, or ``inf`` outside events.

**Live**: :func:`live_grid_signal` serves the same quantity on the wall clock from a live source
(:mod:`greenhop.signals.sources`: Prometheus, HTTP JSON, an appended CSV/Parquet file) read in
its raw unit (``unit = 'W'``, ``scale = 1``: the number as it comes) and converted here like a
file's values. (A live source refuses negative values, so a live price cannot go below 0.)

An issued forecast (:func:`read_issued_forecast`: the forecasts a provider published at the
time, one row per issue time and target time, as WattTime's ``request_time``/``forecast_time``)
is kept beside the actual signal as :class:`IssuedForecast`.

Timestamps: naive ones are read in ``tz`` (default UTC); ``label = 'end'`` says a timestamp
marks the end of its period (moved back one step to greenhop's start labels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from greenhop.energy.traces import (
    _parse_times,
    _read_table,
    _time_column,
    unit_factor_w,
    validate_trace,
)
from greenhop.errors import TraceError
from greenhop.signals.base import FloatArray, Sample, Signal, SignalUnavailable, TraceSignal, utc
from greenhop.signals.sources import FileSpec, HttpSpec, PrometheusSpec, make_source

Label = Literal["start", "end"]
CarbonKind = Literal["average", "marginal"]

G_PER_LB = 453.59237
"""Grams per avoirdupois pound (exact, by definition)."""

#: Multipliers from a carbon intensity's unit to g CO2e per kWh.
CARBON_UNITS: dict[str, float] = {
    "g/kWh": 1.0,
    "gCO2e/kWh": 1.0,
    "gCO2/kWh": 1.0,
    "kg/MWh": 1.0,
    "kg/kWh": 1000.0,
    "t/MWh": 1000.0,
    "lbs/MWh": G_PER_LB / 1000.0,
    "lb/MWh": G_PER_LB / 1000.0,
}
CARBON_UNIT = "gCO2e/kWh"

#: Currency symbols read as ISO codes.
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}

#: CAISO's curtailment sheet: the columns of its public "Production and Curtailments" workbook.
CAISO_CURTAILMENT_COLUMNS = ("Date", "Hour", "Interval", "Wind Curtailment", "Solar Curtailment")
CAISO_TZ = "America/Los_Angeles"


def _series(
    path: str | Path,
    column: str | None,
    *,
    tz: str = "UTC",
    label: Label = "start",
    allow_negative: bool = False,
    what: str = "signal",
) -> pd.Series:
    """One column of a CSV/Parquet table as a validated series on a UTC index (start labels)."""
    path = Path(path)
    source = str(path)
    table = _read_table(path)
    if table.empty:
        raise TraceError(f"{source}: the file has no rows")
    columns = [str(c) for c in table.columns]
    table.columns = pd.Index(columns)
    time_col = _time_column(columns)
    values = [c for c in columns if c != time_col]
    if column is None:
        if len(values) != 1:
            raise TraceError(
                f"{source}: the {what} file has columns {values}; name the one to read "
                "(column = '...')"
            )
        column = values[0]
    if column not in values:
        raise TraceError(f"{source}: no column {column!r} for the {what}; columns are {values}")
    times = _parse_times(table[time_col], source=source, column=time_col, tz=tz)
    numeric = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    frame = pd.DataFrame({column: numeric}, index=times)
    if np.isnan(numeric).any():
        bad = np.flatnonzero(np.isnan(numeric) & table[column].notna().to_numpy())
        if bad.size:
            raise TraceError(
                f"{source}: column {column!r} holds values that are not numbers at file lines "
                f"{', '.join(str(int(i) + 2) for i in bad[:5])} "
                f"(values {table[column].iloc[bad[:3]].tolist()})"
            )
    frame.index.name = "time_utc"
    lines = np.arange(len(frame)) + 2 if path.suffix.lower() not in (".parquet", ".pq") else None
    step = validate_trace(frame, source=source, allow_negative=allow_negative, lines=lines)
    if label == "end":
        frame.index = pd.DatetimeIndex(frame.index) - step
    out = frame[column].astype(float)
    out.index = pd.DatetimeIndex(out.index).as_unit("ns")  # TraceSignal compares ns
    out.name = column
    return out


def carbon_factor(unit: str, *, source: str = "<carbon>") -> float:
    """Multiplier from ``unit`` to g CO2e/kWh; raises :class:`TraceError` for an unknown unit."""
    if unit not in CARBON_UNITS:
        raise TraceError(
            f"{source}: unknown carbon intensity unit {unit!r}; use one of "
            f"{', '.join(CARBON_UNITS)}"
        )
    return CARBON_UNITS[unit]


def price_unit(unit: str, *, source: str = "<price>") -> tuple[str, float]:
    """``(currency, factor to currency/MWh)`` of a price unit such as ``USD/MWh``, ``$/MWh`` or
    ``EUR/kWh``; raises :class:`TraceError` for anything else."""
    cur, _, per = unit.partition("/")
    cur = CURRENCY_SYMBOLS.get(cur.strip(), cur.strip())
    per = per.strip()
    factors = {"MWh": 1.0, "kWh": 1000.0}
    if not cur or not cur.isalpha() or per not in factors:
        raise TraceError(
            f"{source}: unknown price unit {unit!r}; write currency per MWh or kWh, e.g. "
            "'USD/MWh', '$/MWh' or 'EUR/kWh'"
        )
    return cur.upper(), factors[per]


def read_carbon(
    path: str | Path,
    *,
    column: str | None = None,
    unit: str = CARBON_UNIT,
    kind: CarbonKind = "average",
    tz: str = "UTC",
    label: Label = "start",
) -> TraceSignal:
    """A carbon-intensity trace as a signal in g CO2e/kWh (``kind``: average or marginal).

    ``unit``: the file's unit (:data:`CARBON_UNITS`), converted explicitly; the signal's name is
    ``carbon:<kind>:<column>``."""
    factor = carbon_factor(unit, source=str(path))
    series = _series(path, column, tz=tz, label=label, what="carbon intensity") * factor
    return TraceSignal(series, name=f"carbon:{kind}:{series.name}", unit=CARBON_UNIT)


def read_price(
    path: str | Path,
    *,
    column: str | None = None,
    unit: str = "USD/MWh",
    tz: str = "UTC",
    label: Label = "start",
) -> TraceSignal:
    """An electricity price trace as a signal in currency per MWh (may be negative)."""
    currency, factor = price_unit(unit, source=str(path))
    series = _series(path, column, tz=tz, label=label, allow_negative=True, what="price") * factor
    return TraceSignal(series, name=f"price:{series.name}", unit=f"{currency}/MWh")


def read_curtailment(
    path: str | Path,
    *,
    column: str | None = None,
    unit: str = "MW",
    tz: str = "UTC",
    label: Label = "start",
) -> TraceSignal:
    """A curtailment trace (renewable power the grid would curtail) as a signal in W."""
    factor = unit_factor_w(unit, source=str(path))
    if unit == "fraction":
        raise TraceError(f"{path}: curtailment is power; give its unit as W, kW, MW or GW")
    series = _series(path, column, tz=tz, label=label, what="curtailment") * factor
    return TraceSignal(series, name=f"curtailment:{series.name}", unit="W")


def read_caiso_curtailments(
    path: str | Path,
    *,
    which: Literal["solar", "wind", "total"] = "total",
    tz: str = CAISO_TZ,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> TraceSignal:
    """CAISO's "Production and Curtailments" layout: the curtailment sheet as a signal in W.

    The layout (CAISO's workbook, sheet ``Curtailments``, or that sheet saved as CSV): columns
    ``Date``, ``Hour`` (1..24, hour ending, Pacific time), ``Interval`` (1..12, the 5-minute
    interval within the hour), ``Wind Curtailment`` and ``Solar Curtailment`` (MW), and others
    (``Reason``...) that are ignored. Only intervals with a curtailment are listed, possibly one
    row per reason: rows of one interval are summed and intervals not listed are 0 MW, on the
    5-minute grid from the first listed day's start (or ``start``) to the last listed day's end
    (or ``end``). ``which``: solar, wind or their total. An ``.xlsx`` needs openpyxl.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise TraceError(f"{source}: file not found")
    if path.suffix.lower() in (".xlsx", ".xls"):
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            raise TraceError(
                f"{source}: reading an Excel workbook needs openpyxl (pip install openpyxl); "
                "or save its 'Curtailments' sheet as CSV"
            ) from None
        sheets = pd.read_excel(path, sheet_name=None)
        name = next((n for n in sheets if "curtail" in str(n).lower()), None)
        if name is None:
            raise TraceError(f"{source}: no 'Curtailments' sheet; sheets are {list(sheets)}")
        table = sheets[name]
        source = f"{source} (sheet {name!r})"
    else:
        table = _read_table(path)
    table.columns = pd.Index([str(c).strip() for c in table.columns])
    missing = [c for c in CAISO_CURTAILMENT_COLUMNS if c not in table.columns]
    if missing:
        raise TraceError(
            f"{source}: not CAISO's curtailment layout: missing columns {missing} "
            f"(has {list(table.columns)}); a plain table is read with format = 'table'"
        )
    day = pd.to_datetime(table["Date"], errors="coerce")
    hour = pd.to_numeric(table["Hour"], errors="coerce")
    interval = pd.to_numeric(table["Interval"], errors="coerce")
    wind = pd.to_numeric(table["Wind Curtailment"], errors="coerce").fillna(0.0)
    solar = pd.to_numeric(table["Solar Curtailment"], errors="coerce").fillna(0.0)
    bad = day.isna() | ~hour.between(1, 25) | ~interval.between(1, 12)
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        raise TraceError(
            f"{source}: {rows.size} rows with an unreadable Date, an Hour outside 1..25 or an "
            f"Interval outside 1..12, at file lines {', '.join(str(int(i) + 2) for i in rows[:5])}"
        )
    if (wind < 0).any() or (solar < 0).any():
        raise TraceError(f"{source}: negative curtailment; curtailment is MW >= 0")
    local = (
        day.dt.normalize()
        + pd.to_timedelta(hour - 1, unit="h")
        + pd.to_timedelta((interval - 1) * 5, unit="min")
    )
    times = pd.DatetimeIndex(local).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    value = {"solar": solar, "wind": wind, "total": solar + wind}[which].to_numpy() * 1e6
    keep = ~np.asarray(times.isna(), dtype=bool)
    listed = pd.Series(value[keep], index=times[keep].tz_convert("UTC")).groupby(level=0).sum()
    lo = utc(start) if start is not None else pd.Timestamp(day.min()).tz_localize(tz)
    hi = (
        utc(end)
        if end is not None
        else (pd.Timestamp(day.max()) + pd.Timedelta(days=1)).tz_localize(tz)
    )
    grid = pd.date_range(utc(lo), utc(hi), freq="5min", inclusive="left", name="time_utc")
    series = listed.reindex(grid.as_unit("ns"), fill_value=0.0).astype(float)
    series.name = f"caiso-{which}"
    return TraceSignal(series, name=f"curtailment:caiso-{which}", unit="W")


@dataclass(frozen=True)
class DemandResponseEvents:
    """Demand-response events: ``[start, end)`` (UTC) and the grid-draw cap in W of each."""

    start: pd.DatetimeIndex
    end: pd.DatetimeIndex
    cap_w: FloatArray
    source: str = "<events>"

    def cap_on_grid(self, index: pd.DatetimeIndex, step: pd.Timedelta) -> FloatArray:
        """The cap in force over each step ``[t, t + step)`` of ``index``, W; ``inf`` where no
        event overlaps the step (the tightest cap where several do)."""
        out = np.full(len(index), np.inf)
        t0 = pd.DatetimeIndex(index).as_unit("ns").asi8
        t1 = t0 + int(pd.Timedelta(step).value)
        for s, e, c in zip(self.start.asi8, self.end.asi8, self.cap_w, strict=True):
            hit = (t0 < e) & (t1 > s)
            out[hit] = np.minimum(out[hit], c)
        return out


class DemandResponseSignal(Signal):
    """Demand-response events through the signal interface: ``at(now)`` is the cap in force
    (W; ``inf`` outside every event), measured at the event's start."""

    unit = "W"

    def __init__(self, events: DemandResponseEvents, *, name: str = "demand-response") -> None:
        self.events = events
        self.name = name

    def at(self, now: pd.Timestamp) -> Sample:
        t = utc(now).value
        ev = self.events
        on = (ev.start.asi8 <= t) & (ev.end.asi8 > t)
        if not on.any():
            return Sample(math.inf, utc(now))
        i = int(np.flatnonzero(on)[np.argmin(ev.cap_w[on])])
        return Sample(float(ev.cap_w[i]), ev.start[i])


def read_dr_events(path: str | Path, *, unit: str = "kW", tz: str = "UTC") -> DemandResponseSignal:
    """Demand-response events from a table with columns ``start``, ``end`` and ``cap_kw`` (or
    ``cap`` in ``unit``), one row per event; ``end`` after ``start``, caps >= 0."""
    path = Path(path)
    source = str(path)
    table = _read_table(path)
    table.columns = pd.Index([str(c).strip() for c in table.columns])
    cap_col = "cap_kw" if "cap_kw" in table.columns else "cap"
    factor = 1e3 if cap_col == "cap_kw" else unit_factor_w(unit, source=source)
    missing = [c for c in ("start", "end", cap_col) if c not in table.columns]
    if missing:
        raise TraceError(
            f"{source}: a demand-response file needs columns start, end and cap_kw; missing "
            f"{missing} (has {list(table.columns)})"
        )
    if table.empty:
        raise TraceError(f"{source}: the file has no events")
    start = _parse_times(table["start"], source=source, column="start", tz=tz).as_unit("ns")
    end = _parse_times(table["end"], source=source, column="end", tz=tz).as_unit("ns")
    cap = pd.to_numeric(table[cap_col], errors="coerce").to_numpy(dtype=float)
    problems = []
    for i in range(len(table)):
        line = i + 2
        if not end[i] > start[i]:
            problems.append(f"line {line}: end {end[i]} is not after start {start[i]}")
        if not (np.isfinite(cap[i]) and cap[i] >= 0):
            problems.append(
                f"line {line}: {cap_col} {table[cap_col].iloc[i]!r} is not a number >= 0"
            )
    if problems:
        raise TraceError(f"{source}: " + "; ".join(problems[:5]))
    events = DemandResponseEvents(start, end, cap * factor, source)
    return DemandResponseSignal(events, name=f"demand-response:{path.stem}")


@dataclass(frozen=True)
class IssuedForecast:
    """Forecasts as they were issued: for each issue time, values for later target times.

    ``issued`` (UTC, increasing, unique), and per issue the slice ``[offsets[i], offsets[i+1])``
    of ``target``/``value``; values in the actual signal's unit."""

    issued: pd.DatetimeIndex
    offsets: np.ndarray
    target: pd.DatetimeIndex
    value: FloatArray
    unit: str

    def latest(self, now: pd.Timestamp) -> tuple[pd.DatetimeIndex, FloatArray] | None:
        """The newest forecast issued at or before ``now``: its target times and values."""
        i = int(np.searchsorted(self.issued.asi8, utc(now).value, side="right")) - 1
        if i < 0:
            return None
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.target[a:b], self.value[a:b]


def read_issued_forecast(
    path: str | Path,
    *,
    column: str | None = None,
    factor: float = 1.0,
    unit: str = CARBON_UNIT,
    tz: str = "UTC",
    label: Label = "start",
    step: pd.Timedelta | None = None,
) -> IssuedForecast:
    """Issued forecasts from a table with an issue-time column (``request_time`` or
    ``datetime``), a target column (``forecast_time`` or ``period_end``) and the value column;
    values times ``factor`` (the actual signal's unit conversion). With ``label = 'end'`` the
    targets mark their period's end and move back by ``step``."""
    path = Path(path)
    source = str(path)
    table = _read_table(path)
    table.columns = pd.Index([str(c) for c in table.columns])
    issue_col = next((c for c in ("request_time", "datetime", "issued") if c in table.columns), "")
    target_col = next(
        (c for c in ("forecast_time", "period_end", "target") if c in table.columns), ""
    )
    if not issue_col or not target_col:
        raise TraceError(
            f"{source}: an issued forecast needs an issue-time column (request_time) and a "
            f"target column (forecast_time); has {list(table.columns)}"
        )
    values = [c for c in table.columns if c not in (issue_col, target_col)]
    column = column if column is not None else (values[0] if len(values) == 1 else None)
    if column is None or column not in values:
        raise TraceError(f"{source}: name the forecast's value column, one of {values}")
    issued = _parse_times(table[issue_col], source=source, column=issue_col, tz=tz).as_unit("ns")
    target = _parse_times(table[target_col], source=source, column=target_col, tz=tz).as_unit("ns")
    if label == "end":
        if step is None:
            raise TraceError(f"{source}: end-labelled targets need the signal's step")
        target = target - step
    value = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(value).all():
        bad = np.flatnonzero(~np.isfinite(value))
        raise TraceError(
            f"{source}: column {column!r} has {bad.size} missing or non-numeric values at file "
            f"lines {', '.join(str(int(i) + 2) for i in bad[:5])}"
        )
    order = np.lexsort((target.asi8, issued.asi8))
    iss, tgt, val = issued[order], target[order], value[order] * factor
    first = np.r_[True, iss.asi8[1:] != iss.asi8[:-1]]
    starts = np.flatnonzero(first)
    return IssuedForecast(
        issued=iss[starts],
        offsets=np.r_[starts, len(iss)],
        target=tgt,
        value=val,
        unit=unit,
    )


def read_grid_signal(
    signal: Literal["carbon", "price", "curtailment", "demand_response"],
    path: str | Path,
    *,
    column: str | None = None,
    unit: str | None = None,
    kind: CarbonKind = "average",
    tz: str = "UTC",
    label: Label = "start",
    format: Literal["table", "caiso"] = "table",
    which: Literal["total", "solar", "wind"] = "total",
) -> Signal:
    """One grid signal as a scenario's ``[[grid]]`` table declares it (default units: g/kWh,
    USD/MWh, MW; demand-response caps in kW)."""
    if signal == "demand_response":
        return read_dr_events(path, tz=tz)
    if signal == "carbon":
        return read_carbon(path, column=column, unit=unit or "g/kWh", kind=kind, tz=tz, label=label)
    if signal == "price":
        return read_price(path, column=column, unit=unit or "USD/MWh", tz=tz, label=label)
    if format == "caiso":
        return read_caiso_curtailments(path, which=which)
    return read_curtailment(path, column=column, unit=unit or "MW", tz=tz, label=label)


class Converted(Signal):
    """A signal's values times ``factor``, in ``unit`` (a live source's raw numbers as a grid
    signal: lbs/MWh as gCO2e/kWh, $/kWh as USD/MWh)."""

    def __init__(self, inner: Signal, *, factor: float, unit: str, name: str) -> None:
        self.inner = inner
        self.factor = float(factor)
        self.unit = unit
        self.name = name

    def at(self, now: pd.Timestamp) -> Sample:
        sample = self.inner.at(now)
        return Sample(sample.value * self.factor, sample.time)


def live_grid_signal(
    spec: PrometheusSpec | HttpSpec | FileSpec,
    *,
    signal: Literal["carbon", "price", "curtailment"],
    unit: str,
    name: str,
    kind: CarbonKind = "average",
    base_dir: Path | None = None,
) -> Signal:
    """A live source of a grid signal: ``spec`` (a ``[sites.realtime]``-style source table)
    read as raw numbers and converted from ``unit`` as :func:`read_carbon`, :func:`read_price`
    and :func:`read_curtailment` convert a file's. Raises :class:`TraceError` for a source that
    converts units itself (give it ``unit = 'W'`` and ``scale = 1``) or an unknown unit."""
    if signal == "curtailment":
        return make_source(spec, name=f"curtailment:{name}", base_dir=base_dir)
    if spec.unit != "W" or spec.scale != 1.0:
        raise TraceError(
            f"live {signal} source {name!r}: give the source unit = 'W' and scale = 1 (the raw "
            f"number) and the {signal} unit here ({unit!r})"
        )
    raw = make_source(spec, name=name, base_dir=base_dir)
    if signal == "carbon":
        factor = carbon_factor(unit, source=f"live source {name!r}")
        return Converted(raw, factor=factor, unit=CARBON_UNIT, name=f"carbon:{kind}:{name}")
    currency, factor = price_unit(unit, source=f"live source {name!r}")
    return Converted(raw, factor=factor, unit=f"{currency}/MWh", name=f"price:{name}")


def signal_on_grid(signal: Signal, index: pd.DatetimeIndex, step: pd.Timedelta) -> FloatArray:
    """A signal's value over each step ``[t, t + step)`` of ``index``.

    A :class:`TraceSignal` on a finer step than the run's is averaged over each run step (an
    intensity or a price is a rate: its mean over the step is what a constant draw pays); on
    the same or a coarser step it is held. Raises :class:`SignalUnavailable` (``no-data``)
    when the signal does not cover the grid."""
    if isinstance(signal, TraceSignal) and len(signal._index) > 1:
        own = pd.Timedelta(signal._index[1] - signal._index[0])
        if own < step and step % own == pd.Timedelta(0):
            n = int(step / own)
            subs = [index + own * i for i in range(n)]
            return np.mean([signal.on_grid(pd.DatetimeIndex(s)) for s in subs], axis=0)
    return signal.on_grid(index)


__all__ = [
    "CARBON_UNIT",
    "CARBON_UNITS",
    "Converted",
    "DemandResponseEvents",
    "DemandResponseSignal",
    "IssuedForecast",
    "SignalUnavailable",
    "carbon_factor",
    "live_grid_signal",
    "price_unit",
    "read_caiso_curtailments",
    "read_carbon",
    "read_curtailment",
    "read_dr_events",
    "read_grid_signal",
    "read_issued_forecast",
    "read_price",
    "signal_on_grid",
]
