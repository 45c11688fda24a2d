"""Power and signal traces: read, write, validate, resample, align, put on a scenario's grid.

A *trace* in greenhop is a wide :class:`pandas.DataFrame`: a UTC :class:`~pandas.DatetimeIndex`
on a regular grid (1 min to 1 h), one float column per site, power in W. A value labelled ``t`` is
the mean over ``[t, t + step)``.

On disk a trace is CSV (optionally ``.csv.gz``) or Parquet, chosen by the file suffix, in one of
two layouts:

- **wide** — a time column (``time_utc``, ``time``, ``datetime``, ``timestamp`` or the first
  column) and one column per site;
- **long** — columns ``time``-like, ``site`` and ``value``, one row per site and time.

Timestamps with an offset are converted to UTC; naive ones are read in ``tz`` (default UTC).
Every reader validates what it read and raises :class:`~greenhop.errors.TraceError` naming the
file, the column, and the offending timestamps or file lines.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from greenhop.errors import InputError, TraceError

#: Multipliers from a trace's unit to W. ``fraction`` (0..1 of peak) is kept as it is.
UNITS_TO_W: dict[str, float] = {"W": 1.0, "kW": 1e3, "MW": 1e6, "GW": 1e9, "fraction": 1.0}
MIN_STEP = pd.Timedelta(minutes=1)
MAX_STEP = pd.Timedelta(hours=1)
TIME_COLUMNS = ("time_utc", "time", "datetime", "timestamp", "period_start")
_SHOW = 5  # how many offending timestamps an error message lists

Layout = Literal["wide", "long"]


def _fmt_times(times: Iterable[pd.Timestamp], total: int | None = None) -> str:
    shown = [t.strftime("%Y-%m-%d %H:%M") for t in list(times)[:_SHOW]]
    text = ", ".join(shown)
    if total is not None and total > len(shown):
        text += f" (and {total - len(shown)} more)"
    return text


def _fmt_lines(lines: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:_SHOW])
    return shown + (f" (and {len(lines) - _SHOW} more)" if len(lines) > _SHOW else "")


def unit_factor_w(unit: str, *, source: str = "<trace>") -> float:
    """Multiplier from ``unit`` to W; raises :class:`TraceError` for an unknown unit."""
    if unit not in UNITS_TO_W:
        raise TraceError(
            f"{source}: unknown unit {unit!r}; use one of {', '.join(UNITS_TO_W)} "
            "(power, not energy: a trace holds the mean power over each step)"
        )
    return UNITS_TO_W[unit]


def to_utc(time: pd.Timestamp | str) -> pd.Timestamp:
    """A timestamp in UTC; a naive one is taken to be UTC already."""
    stamp = pd.Timestamp(time)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def infer_step(index: pd.Index) -> pd.Timedelta:
    """The trace's step: the most common difference between consecutive timestamps."""
    index = pd.DatetimeIndex(index)
    if len(index) < 2:
        raise TraceError("a trace needs at least two timestamps to have a step")
    diffs = pd.Series(index[1:] - index[:-1])
    return pd.Timedelta(diffs.mode().iloc[0])


def _order_problems(times: pd.DatetimeIndex, where: str, lines: np.ndarray | None) -> list[str]:
    """Unsorted and duplicate timestamps; ``lines[i]`` is the file line of row i, when known."""
    problems: list[str] = []

    def at_lines(positions: np.ndarray) -> str:
        if lines is None:
            return ""
        return f" at file lines {_fmt_lines([int(lines[i]) for i in positions])}"

    values = times.asi8
    back = np.flatnonzero(values[1:] < values[:-1]) + 1
    if back.size:
        problems.append(
            f"{where}: rows are not sorted by time: {back.size} timestamps go back in time"
            f"{at_lines(back)}, first {_fmt_times(times[back], back.size)}; sort the rows by time"
        )
    duplicated = times.duplicated(keep="first")
    if duplicated.any():
        dup_times = times[duplicated].unique()
        problems.append(
            f"{where}: {len(dup_times)} duplicate timestamps "
            f"{_fmt_times(dup_times, len(dup_times))}{at_lines(np.flatnonzero(duplicated))}; "
            "keep one row per timestamp"
        )
    return problems


def validate_trace(
    df: pd.DataFrame,
    *,
    source: str = "<trace>",
    expected_step: str | pd.Timedelta | None = None,
    sites: Iterable[str] | None = None,
    allow_negative: bool = False,
    lines: np.ndarray | None = None,
) -> pd.Timedelta:
    """Check a wide trace; raise one :class:`TraceError` that lists every problem found.

    Checks: timezone-aware DatetimeIndex; rows sorted; no duplicate timestamps; a regular step
    between 1 min and 1 h (and equal to ``expected_step`` if given) with every gap listed; numeric
    columns without NaN; no negative power (unless ``allow_negative``, for signals such as a
    surplus); columns equal to ``sites`` (if given).

    ``lines``: the file line of each row, when the rows are in the file's order, so that messages
    can name file lines.

    Returns the step.
    """
    if not isinstance(df.index, pd.DatetimeIndex):
        kind = type(df.index).__name__
        raise TraceError(f"{source}: the index is not a DatetimeIndex but {kind}")
    index = df.index
    if index.tz is None:
        raise TraceError(
            f"{source}: timestamps have no timezone; give them an offset (e.g. 2022-07-15T10:00Z) "
            "or read the file with tz='UTC'"
        )
    if len(index) < 2:
        raise TraceError(f"{source}: needs at least two rows, has {len(index)}")
    problems = _order_problems(index, source, lines)
    step = infer_step(index.sort_values().unique()) if problems else infer_step(index)
    if expected_step is not None and step != pd.Timedelta(expected_step):
        problems.append(
            f"{source}: step is {step}, expected {pd.Timedelta(expected_step)}; resample the trace "
            "(greenhop.energy.traces.resample_trace)"
        )
    if not MIN_STEP <= step <= MAX_STEP:
        problems.append(f"{source}: step {step} is outside the supported range 1 min .. 1 h")
    if not problems:
        diffs = index[1:] - index[:-1]
        gap_at = np.flatnonzero(diffs != step)
        if gap_at.size:
            gap_lines = []
            for i in gap_at[:_SHOW]:
                before, after = index[i], index[i + 1]
                missing = (after - before) / step - 1
                gap_lines.append(
                    f"{before:%Y-%m-%d %H:%M} → {after:%Y-%m-%d %H:%M} ({missing:g} missing steps)"
                )
            more = f" (and {gap_at.size - _SHOW} more)" if gap_at.size > _SHOW else ""
            problems.append(
                f"{source}: {gap_at.size} gaps in the {step} grid: {'; '.join(gap_lines)}{more}; "
                "fill them or cut the trace"
            )
    for column in df.columns:
        values = df[column]
        if not pd.api.types.is_numeric_dtype(values):
            problems.append(f"{source}: column {column!r} is not numeric ({values.dtype})")
            continue
        nan = values.isna().to_numpy()
        if nan.any():
            problems.append(
                f"{source}: column {column!r} has {int(nan.sum())} NaN values at "
                f"{_fmt_times(index[nan], int(nan.sum()))}"
            )
        if not allow_negative:
            negative = (values < 0).to_numpy()
            if negative.any():
                first = values[negative].iloc[0]
                problems.append(
                    f"{source}: column {column!r} has {int(negative.sum())} negative power values "
                    f"(first {first:g} at {_fmt_times(index[negative], int(negative.sum()))})"
                )
    if sites is not None:
        wanted = list(sites)
        missing = [s for s in wanted if s not in df.columns]
        extra = [str(c) for c in df.columns if c not in wanted]
        if missing or extra:
            problems.append(
                f"{source}: sites do not match the scenario: missing columns {missing}, "
                f"unknown columns {extra}"
            )
    if problems:
        raise TraceError("\n".join(problems))
    return step


def _parse_times(raw: pd.Series, *, source: str, column: str, tz: str) -> pd.DatetimeIndex:
    parsed = pd.to_datetime(raw, errors="coerce", utc=False, format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        raise TraceError(
            f"{source}: column {column!r} has {bad.sum()} missing or unreadable timestamps at file "
            f"lines {_fmt_lines([int(i) + 2 for i in rows])} (values {raw.iloc[rows[:3]].tolist()})"
        )
    index = pd.DatetimeIndex(parsed)
    if index.tz is None:
        index = index.tz_localize(tz)
    return index.tz_convert("UTC")


def _time_column(columns: Sequence[str]) -> str:
    for name in TIME_COLUMNS:
        if name in columns:
            return name
    return columns[0]


def _read_table(path: Path) -> pd.DataFrame:
    suffixes = "".join(path.suffixes[-2:]).lower()
    if not path.exists():
        raise TraceError(f"{path}: file not found")
    if path.suffix.lower() in (".parquet", ".pq"):
        table = pd.read_parquet(path)
        if isinstance(table.index, pd.DatetimeIndex):
            table = table.reset_index(names=table.index.name or "time_utc")
        return table
    if suffixes.endswith(".csv") or suffixes.endswith(".csv.gz"):
        return pd.read_csv(path)
    raise TraceError(f"{path}: unknown trace format; use .csv, .csv.gz or .parquet")


def read_trace(
    path: str | os.PathLike[str],
    *,
    layout: Layout | None = None,
    unit: str = "W",
    tz: str = "UTC",
    label: Literal["start", "end"] = "start",
    expected_step: str | pd.Timedelta | None = None,
    sites: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read a power trace (CSV or Parquet, wide or long) into a validated wide trace in W.

    Parameters
    ----------
    path : ``.csv``, ``.csv.gz`` or ``.parquet`` file.
    layout : ``'wide'``, ``'long'`` or None to detect (long when it has ``site`` and ``value``).
    unit : unit of the values: W, kW, MW, GW, or ``fraction`` (0..1 of peak, kept as it is).
    tz : timezone of naive timestamps.
    label : ``'start'`` when a timestamp marks the start of its period (greenhop's convention),
        ``'end'`` when it marks the end (Solcast); end labels are moved back by one step.
    expected_step, sites : passed to :func:`validate_trace`.

    Returns
    -------
    DataFrame on a UTC DatetimeIndex named ``time_utc``, one float column per site, W.
    """
    path = Path(path)
    source = str(path)
    factor = unit_factor_w(unit, source=source)
    table = _read_table(path)
    if table.empty:
        raise TraceError(f"{source}: the file has no rows")
    columns = [str(c) for c in table.columns]
    table.columns = pd.Index(columns)
    detected: Layout = "long" if {"site", "value"} <= set(columns) else "wide"
    layout = layout or detected
    if layout == "long":
        for needed in ("site", "value"):
            if needed not in columns:
                raise TraceError(f"{source}: a long trace needs a {needed!r} column; has {columns}")
        time_col = _time_column([c for c in columns if c not in ("site", "value")])
        times = _parse_times(table[time_col], source=source, column=time_col, tz=tz)
        problems: list[str] = []
        for site, rows in table.groupby("site", sort=False).indices.items():
            problems += _order_problems(
                times[rows], f"{source}: site {site!r}", np.asarray(rows) + 2
            )
        if problems:
            raise TraceError("\n".join(problems))
        long = pd.DataFrame(
            {"time_utc": times, "site": table["site"].astype(str), "value": table["value"]}
        )
        wide = long.pivot(index="time_utc", columns="site", values="value")
        wide.columns = pd.Index([str(c) for c in wide.columns])
        # a site missing at a time becomes NaN in the pivot and is named by validation below
        lines = None
    else:
        time_col = _time_column(columns)
        times = _parse_times(table[time_col], source=source, column=time_col, tz=tz)
        wide = table.drop(columns=[time_col])
        wide.index = times
        lines = np.arange(len(wide)) + 2 if path.suffix.lower() not in (".parquet", ".pq") else None
    wide.index.name = "time_utc"
    step = validate_trace(
        wide, source=source, expected_step=expected_step, sites=sites, lines=lines
    )
    if label == "end":
        wide.index = pd.DatetimeIndex(wide.index) - step
    return wide.astype(float) * factor


def to_long(df: pd.DataFrame) -> pd.DataFrame:
    """Wide trace → long table with columns ``time_utc``, ``site``, ``value``."""
    stacked: pd.Series = df.rename_axis(index="time_utc", columns="site").stack()  # type: ignore[assignment]
    long = stacked.rename("value").reset_index()
    return long.sort_values(["site", "time_utc"], kind="stable").reset_index(drop=True)


def write_trace(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    layout: Layout = "wide",
    allow_negative: bool = False,
) -> Path:
    """Validate and write a wide trace (W) to CSV (``.csv``, ``.csv.gz``) or Parquet, atomically.

    The file is written to a temporary name in the same folder and renamed into place, so a reader
    never sees half a file and a failure leaves nothing behind.
    """
    path = Path(path)
    validate_trace(df, source=f"trace for {path}", allow_negative=allow_negative)
    suffix = "".join(path.suffixes[-2:]).lower()
    is_parquet = path.suffix.lower() in (".parquet", ".pq")
    if not is_parquet and not suffix.endswith((".csv", ".csv.gz")):
        raise TraceError(f"{path}: unknown trace format; use .csv, .csv.gz or .parquet")
    table = to_long(df) if layout == "long" else df.rename_axis("time_utc").reset_index()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if is_parquet:
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(
                tmp,
                index=False,
                date_format="%Y-%m-%dT%H:%M:%SZ",
                compression="gzip" if suffix.endswith(".gz") else None,
            )
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def resample_trace(df: pd.DataFrame, step: str | pd.Timedelta) -> pd.DataFrame:
    """Put a wide trace on a new step, keeping the energy of every period.

    Coarser: the mean over each new step; steps the trace covers only in part are dropped. Finer:
    each old step's mean power is repeated over its sub-steps. The new grid is left-labelled, on
    multiples of ``step``.
    """
    new = pd.Timedelta(step)
    if not MIN_STEP <= new <= MAX_STEP:
        raise InputError(f"resample step {new} is outside the supported range 1 min .. 1 h")
    old = infer_step(df.index)
    if new == old:
        return df.copy()
    if new > old:
        if new % old:
            raise InputError(f"cannot resample a {old} trace to {new}: not a multiple")
        bins = df.resample(new, label="left", closed="left")
        complete = bins.count().min(axis=1) == new // old
        out = bins.mean()[complete]  # a bin the trace covers only in part is dropped
    else:
        if old % new:
            raise InputError(f"cannot resample a {old} trace to {new}: {old} is not a multiple")
        end = df.index[-1] + old - new
        grid = pd.date_range(df.index[0], end, freq=new)
        out = df.reindex(grid, method="ffill")
    out.index.name = df.index.name
    return out


def align(
    traces: Mapping[str, pd.DataFrame] | Sequence[pd.DataFrame],
    *,
    step: str | pd.Timedelta | None = None,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Several wide traces → one wide trace on a common grid and time range.

    Each trace is resampled to ``step`` (default the coarsest step among them), then all are cut
    to the time range they share (further cut by ``start``/``end``, end exclusive) and joined
    column-wise. Column names must be unique across traces.
    """
    frames = list(traces.values()) if isinstance(traces, Mapping) else list(traces)
    if not frames:
        raise InputError("align needs at least one trace")
    target = pd.Timedelta(step) if step is not None else max(infer_step(f.index) for f in frames)
    resampled = [resample_trace(f, target) for f in frames]
    lo = max(f.index[0] for f in resampled)
    hi = min(f.index[-1] for f in resampled) + target
    if start is not None:
        lo = max(lo, to_utc(start))
    if end is not None:
        hi = min(hi, to_utc(end))
    if lo >= hi:
        raise InputError(f"the traces share no time range (latest start {lo}, earliest end {hi})")
    columns = [c for f in resampled for c in f.columns]
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise InputError(f"align: column names appear in more than one trace: {duplicates}")
    grid = pd.date_range(lo, hi, freq=target, inclusive="left", name="time_utc")
    return pd.concat([f.reindex(grid) for f in resampled], axis=1)


def trace_on_grid(
    trace: pd.DataFrame, grid: pd.DatetimeIndex, step: str | pd.Timedelta
) -> pd.DataFrame:
    """A wide trace on a time grid: resampled to ``step`` (:func:`resample_trace`) and cut to
    ``grid``, the left labels ``[start, end)`` of a run at ``step``.

    Raises :class:`TraceError` when the trace does not cover the whole grid.
    """
    new = pd.Timedelta(step)
    if infer_step(trace.index) != new:
        trace = resample_trace(trace, new)
    if not (trace.index[0] <= grid[0] and trace.index[-1] >= grid[-1]):
        raise TraceError(
            f"the range {grid[0]} .. {grid[-1] + new} is not covered by the trace "
            f"({trace.index[0]} .. {trace.index[-1]})"
        )
    return trace.reindex(grid)
