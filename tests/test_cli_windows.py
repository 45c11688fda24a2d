"""``greenhop windows``: data-only --json and --csv, and a table that fits 80 and 120 columns."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import Cli

DEFAULT_SITES = ["greensboro", "miami", "sand-point", "amsterdam", "piedmont", "nw-colorado"]


def test_json_is_only_data(cli: Cli, tmp_path: Path) -> None:
    out_dir = tmp_path / "w"
    code, out, err = cli("windows", "default", "--out", str(out_dir), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["scenario"] == "default" and data["job_power_w"] == 500.0
    assert [s["site"] for s in data["sites"]] == DEFAULT_SITES
    counts = {s["site"]: s["count"] for s in data["sites"]}
    written = list(csv.DictReader((out_dir / "windows.csv").open()))
    assert counts["greensboro"] == sum(1 for r in written if r["site"] == "greensboro")
    assert 0 < data["time_share_with_surplus_at_least_k_sites"]["1"] <= 1
    assert err.startswith("wrote ")


def test_csv_is_only_data(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("--quiet", "windows", "default", "--out", str(tmp_path / "w"), "--csv")
    assert code == 0
    records = list(csv.DictReader(io.StringIO(out)))
    assert [r["site"] for r in records] == DEFAULT_SITES
    assert {"count", "time_share", "q50_duration_s", "share_energy_long_windows"} <= set(records[0])


@pytest.mark.parametrize("width", [80, 120])
def test_table_fits(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, _ = cli("windows", "default", "--out", str(tmp_path / "w"))
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in out
    assert sum(1 for line in lines if line.startswith(" site ")) == 1  # one table
    for site in DEFAULT_SITES:
        assert site in out
    if width >= 120:
        assert "time in window" in out and "energy in ≥2.5 h" in out
    else:
        assert "windows: the number of runs of steps" in " ".join(out.split())
