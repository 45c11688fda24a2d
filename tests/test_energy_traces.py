"""Trace I/O and validation, on real traces wherever possible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenhop.energy.traces import (
    align,
    read_trace,
    resample_trace,
    to_long,
    trace_on_grid,
    validate_trace,
    write_trace,
)
from greenhop.errors import TraceError


@pytest.fixture()
def real_day(solcast_germany) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """One real day of three German cities, in W (0..1 of peak × 10 kW)."""
    return solcast_germany.actual.loc["2022-07-20", ["Berlin", "Hamburg", "Munich"]] * 10_000


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.rename_axis("time_utc").reset_index().to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
@pytest.mark.parametrize("layout", ["wide", "long"])
def test_round_trip(tmp_path: Path, real_day: pd.DataFrame, suffix: str, layout: str) -> None:
    path = write_trace(real_day, tmp_path / f"trace{suffix}", layout=layout)  # type: ignore[arg-type]
    back = read_trace(path)
    pd.testing.assert_frame_equal(
        back, real_day, check_freq=False, check_names=False, check_index_type=False, atol=1e-6
    )
    assert str(back.index.tz) == "UTC"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left


def test_units_and_offsets(tmp_path: Path, real_day: pd.DataFrame) -> None:
    local = (real_day / 1000).copy()
    local.index = local.index.tz_convert("Europe/Berlin")
    path = tmp_path / "kw_local.csv"
    local.rename_axis("time").reset_index().to_csv(path, index=False)
    back = read_trace(path, unit="kW")
    np.testing.assert_allclose(back.to_numpy(), real_day.to_numpy(), atol=1e-6)
    assert back.index[0] == real_day.index[0]


def test_end_labels_move_back_one_step(tmp_path: Path, real_day: pd.DataFrame) -> None:
    shifted = real_day.copy()
    shifted.index = shifted.index + pd.Timedelta("5min")
    back = read_trace(_write_csv(tmp_path / "end.csv", shifted), label="end")
    assert back.index[0] == real_day.index[0]


# ---------------------------------------------------------------------------------- refusals


def test_gap_is_refused_naming_where(tmp_path: Path, real_day: pd.DataFrame) -> None:
    gappy = real_day.drop(real_day.index[100:106])
    path = _write_csv(tmp_path / "gap.csv", gappy)
    with pytest.raises(TraceError) as err:
        read_trace(path)
    message = str(err.value)
    assert "gap.csv" in message and "1 gaps" in message
    assert "2022-07-20 08:15 → 2022-07-20 08:50 (6 missing steps)" in message


def test_duplicate_is_refused_naming_time_and_line(tmp_path: Path, real_day: pd.DataFrame) -> None:
    doubled = pd.concat([real_day.iloc[:50], real_day.iloc[49:50], real_day.iloc[50:]])
    path = _write_csv(tmp_path / "dup.csv", doubled)
    with pytest.raises(
        TraceError, match=r"dup\.csv: 1 duplicate timestamps 2022-07-20 04:05 at file lines 52"
    ):
        read_trace(path)


def test_unsorted_rows_are_refused(tmp_path: Path, real_day: pd.DataFrame) -> None:
    order = list(range(len(real_day)))
    order[10], order[11] = order[11], order[10]
    path = _write_csv(tmp_path / "unsorted.csv", real_day.iloc[order])
    with pytest.raises(
        TraceError, match=r"not sorted by time: 1 timestamps go back in time at file lines 13"
    ):
        read_trace(path)


def test_nan_is_refused_naming_column_and_time(tmp_path: Path, real_day: pd.DataFrame) -> None:
    holed = real_day.copy()
    holed.iloc[144, 1] = np.nan  # Hamburg at 12:00
    with pytest.raises(TraceError, match=r"column 'Hamburg' has 1 NaN values at 2022-07-20 12:00"):
        read_trace(_write_csv(tmp_path / "nan.csv", holed))


def test_negative_power_is_refused(tmp_path: Path, real_day: pd.DataFrame) -> None:
    bad = real_day.copy()
    bad.iloc[3, 2] = -5.0
    with pytest.raises(
        TraceError,
        match=r"column 'Munich' has 1 negative power values \(first -5 at 2022-07-20 00:15\)",
    ):
        read_trace(_write_csv(tmp_path / "neg.csv", bad))


def test_every_problem_is_reported_at_once(tmp_path: Path, real_day: pd.DataFrame) -> None:
    bad = real_day.copy()
    bad.iloc[5, 0] = np.nan
    bad.iloc[6, 1] = -1.0
    with pytest.raises(TraceError) as err:
        read_trace(_write_csv(tmp_path / "two.csv", bad))
    assert "'Berlin' has 1 NaN" in str(err.value) and "'Hamburg' has 1 negative" in str(err.value)


def test_unknown_unit_and_sites_mismatch(tmp_path: Path, real_day: pd.DataFrame) -> None:
    path = _write_csv(tmp_path / "ok.csv", real_day)
    with pytest.raises(TraceError, match=r"ok\.csv: unknown unit 'kWh'"):
        read_trace(path, unit="kWh")
    with pytest.raises(
        TraceError, match=r"missing columns \['Leipzig'\], unknown columns \['Munich'\]"
    ):
        read_trace(path, sites=["Berlin", "Hamburg", "Leipzig"])
    with pytest.raises(TraceError, match="step is 0 days 00:05:00, expected 0 days 00:15:00"):
        read_trace(path, expected_step="15min")


def test_long_layout_duplicates_and_missing_rows(tmp_path: Path, real_day: pd.DataFrame) -> None:
    long = to_long(real_day)
    doubled = pd.concat([long, long.iloc[[7]]])
    doubled.to_csv(tmp_path / "long_dup.csv", index=False)
    with pytest.raises(TraceError, match=r"site 'Berlin': 1 duplicate timestamps 2022-07-20 00:35"):
        read_trace(tmp_path / "long_dup.csv")
    long.drop(index=[200]).to_csv(tmp_path / "long_hole.csv", index=False)
    missing_at = long.loc[200, "time_utc"].strftime("%Y-%m-%d %H:%M")
    with pytest.raises(TraceError, match=f"column 'Berlin' has 1 NaN values at {missing_at}"):
        read_trace(tmp_path / "long_hole.csv")


def test_naive_index_and_unreadable_time(tmp_path: Path, real_day: pd.DataFrame) -> None:
    with pytest.raises(TraceError, match="no timezone"):
        validate_trace(real_day.tz_localize(None))
    table = real_day.rename_axis("time_utc").reset_index()
    table["time_utc"] = table["time_utc"].astype(str)
    table.loc[4, "time_utc"] = "yesterday noon"
    table.to_csv(tmp_path / "bad_time.csv", index=False)
    with pytest.raises(
        TraceError,
        match=r"bad_time\.csv: column 'time_utc' has 1 missing or unreadable timestamps at "
        r"file lines 6",
    ):
        read_trace(tmp_path / "bad_time.csv")


def test_a_refused_write_leaves_no_file(tmp_path: Path, real_day: pd.DataFrame) -> None:
    bad = real_day.copy()
    bad.iloc[0, 0] = np.nan
    target = tmp_path / "out.parquet"
    with pytest.raises(TraceError):
        write_trace(bad, target)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------- grids


def test_resample_keeps_energy(real_day: pd.DataFrame) -> None:
    hourly = resample_trace(real_day, "1h")
    assert len(hourly) == 24
    np.testing.assert_allclose(hourly.sum() * 3600, real_day.sum() * 300)
    fine = resample_trace(hourly, "1min")
    assert len(fine) == 24 * 60
    np.testing.assert_allclose(fine.sum() * 60, hourly.sum() * 3600)


def test_align_cuts_to_the_shared_range(real_day: pd.DataFrame) -> None:
    left = real_day[["Berlin"]].iloc[:200]
    right = resample_trace(real_day[["Munich"]].iloc[60:], "15min")
    joined = align({"a": left, "b": right})
    assert list(joined.columns) == ["Berlin", "Munich"]
    assert joined.index[0] == real_day.index[60]
    assert joined.index[-1] == real_day.index[195]  # last full 15 min step inside `left`
    assert not joined.isna().any().any()


def test_trace_on_grid_resamples_and_cuts(real_day: pd.DataFrame) -> None:
    grid = pd.date_range(
        "2022-07-20 06:00",
        "2022-07-20 18:00",
        freq="15min",
        inclusive="left",
        tz="UTC",
        name="time_utc",
    )
    on_grid = trace_on_grid(real_day, grid, "15min")
    assert on_grid.index.equals(grid) and list(on_grid.columns) == list(real_day.columns)
    np.testing.assert_allclose(
        on_grid.to_numpy(), resample_trace(real_day, "15min").loc[grid].to_numpy()
    )
    late = grid + pd.Timedelta(hours=12)
    with pytest.raises(
        TraceError,
        match=r"the range 2022-07-20 18:00:00\+00:00 .. 2022-07-21 "
        r"06:00:00\+00:00 is not covered by the trace \(2022-07-20 00:00",
    ):
        trace_on_grid(real_day, late, "15min")
