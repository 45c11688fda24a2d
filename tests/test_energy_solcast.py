"""The Solcast reader on the real traces: left labels, the forecast table and cube, bad files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenhop.energy.solcast import SolcastData, bundled_solcast_dir, load_solcast, read_solcast
from greenhop.errors import InputError, TraceError


def test_solcast_actuals_are_left_labelled(solcast_germany: SolcastData) -> None:
    actual = solcast_germany.actual
    assert actual.shape == (8928, 10)
    assert actual.index[0] == pd.Timestamp("2022-07-15 00:00", tz="UTC")  # file: 00:05 period end
    assert actual.min().min() >= 0 and actual.max().max() <= 1.0 + 1e-9
    forecast = solcast_germany.forecast
    assert list(forecast.columns) == ["issued_at", "period_end", "site", "value"]
    lead = (forecast["period_end"] - forecast["issued_at"]).dt.total_seconds() / 60
    assert lead.min() == 5 and lead.max() == 65


def test_read_solcast_gives_data_and_metadata() -> None:
    data = read_solcast(bundled_solcast_dir() / "solcast2022_germany.zip")
    assert data.name == "germany" and data.path.name == "solcast2022_germany.zip"
    assert data.sites[0] == "Berlin" and len(data.sites) == 10
    issues, cube = data.forecast_cube()
    assert cube.shape == (len(issues), 13, 10)
    # lead 0 of an issue is the period starting at the issue time: the file's period end +5 min
    first = data.forecast[
        (data.forecast["issued_at"] == issues[100]) & (data.forecast["site"] == "Berlin")
    ].sort_values("period_end")
    np.testing.assert_allclose(cube[100, :, 0], first["value"].to_numpy())
    assert load_solcast("germany").actual.equals(data.actual)


def test_the_bundled_traces_are_the_shared_ones_byte_for_byte(shared_data_dir: Path) -> None:
    for name in ("solcast2022_germany.zip", "solcast2022_global.zip"):
        bundled = bundled_solcast_dir() / name
        assert bundled.read_bytes() == (shared_data_dir / name).read_bytes(), name
    # the default folder is the bundled one: a user needs nothing beside the package
    assert load_solcast("global").path == (bundled_solcast_dir() / "solcast2022_global.zip")


def test_bad_names_and_files(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match="unknown Solcast trace 'mars'; use one of germany, global"
    ):
        load_solcast("mars", tmp_path)
    with pytest.raises(InputError, match=r"solcast2022_global\.zip: Solcast trace not found"):
        load_solcast("global", tmp_path)
    other = tmp_path / "weather.zip"
    other.write_bytes(b"")
    with pytest.raises(TraceError, match=r"weather\.zip: not a Solcast trace; expected a file"):
        read_solcast(other)
    empty = tmp_path / "solcast2022_empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    with pytest.raises(TraceError, match=r"needs solcast2022_empty_actual\.csv"):
        read_solcast(empty)


def test_the_tests_grid_signals_are_the_shared_ones_byte_for_byte(
    shared_data_dir: Path, grid_data_dir: Path
) -> None:
    for name in ("watttime2023_caiso-north.zip", "caiso_np15_week_2024-01.csv"):
        assert (grid_data_dir / name).read_bytes() == (shared_data_dir / name).read_bytes(), name
