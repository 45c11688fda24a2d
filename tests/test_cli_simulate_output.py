"""``greenhop simulate``'s output: only data on stdout with --json or --csv, and a comparison
table that fits 80 and 120 columns."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from greenhop.cli.runs import comparison_legend, print_comparison
from greenhop.runner import available_policies


def _simulate(*args: str) -> subprocess.CompletedProcess[str]:
    # a new interpreter: what C libraries write to file descriptor 1 shows up here
    return subprocess.run(
        [sys.executable, "-m", "greenhop", "simulate", "default", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def oracle_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("oracle") / "run"
    return _simulate("--policy", "stay,oracle", "--json", "--out", str(out)), out


@pytest.fixture(scope="module")
def online_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    out = tmp_path_factory.mktemp("online") / "run"
    online = [p for p in available_policies() if p != "oracle"]
    return _simulate("--policy", ",".join(online), "--csv", "--out", str(out))


@pytest.fixture(scope="module")
def comparison(
    oracle_run: tuple[subprocess.CompletedProcess[str], Path],
    online_run: subprocess.CompletedProcess[str],
) -> pd.DataFrame:
    """Every policy on the bundled default scenario: the online ones, then the oracle."""
    online = pd.read_csv(io.StringIO(online_run.stdout))
    with_oracle = pd.read_csv(oracle_run[1] / "comparison.csv")
    return pd.concat([online, with_oracle[with_oracle["policy"] == "oracle"]], ignore_index=True)


def test_json_stdout_is_only_json(
    oracle_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    res, out = oracle_run
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)  # no solver banner, no progress, no notes
    assert [p["policy"] for p in data["policies"]] == ["stay", "oracle"]
    assert data == json.loads((out / "summary.json").read_text())
    assert "HiGHS" not in res.stdout + res.stderr
    # stderr is not a terminal here: no progress bars, only the note of what was written
    assert "━" not in res.stderr
    assert res.stderr.strip() == f"wrote {out}/ (report.html, summary.json, tables, plots)"


def test_csv_stdout_is_the_comparison(online_run: subprocess.CompletedProcess[str]) -> None:
    assert online_run.returncode == 0, online_run.stderr
    table = pd.read_csv(io.StringIO(online_run.stdout))
    assert list(table["policy"]) == [p for p in available_policies() if p != "oracle"]
    assert {"non_renewable_kwh", "jobs_done", "jct_mean_h"} <= set(table.columns)
    assert (table["jobs_done"] == 10).all()


def _render(comparison: pd.DataFrame, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True)
    print_comparison(comparison, "greenhop simulate default (2016 steps)", console)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 120])
def test_comparison_fits(comparison: pd.DataFrame, width: int) -> None:
    assert list(comparison["policy"]) == available_policies()
    text = _render(comparison, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    # one table: every policy in its header line, whole
    header = next(line for line in lines if line.lstrip().startswith("metric"))
    assert header.split() == ["metric", *available_policies()]
    assert text.count("greenhop simulate default") == 1
    # the figures are the run's
    stay = comparison.set_index("policy").loc["stay"]
    assert f"{stay['non_renewable_kwh']:.1f}" in text
    legend = comparison_legend(comparison.columns)
    assert "bound: the oracle's lower bound" in legend
    assert legend in " ".join(text.split())


def test_comparison_full_labels_from_120_short_with_legend_at_80(
    comparison: pd.DataFrame,
) -> None:
    wide = _render(comparison, 120)
    assert "non-renewable energy, kWh" in wide and "job completion time, p95, h" in wide
    narrow = _render(comparison, 80)
    assert "non-renew. kWh" in narrow and "JCT p95 h" in narrow
    assert "JCT: job completion time" in " ".join(narrow.split())


def test_legend_explains_only_what_is_shown(comparison: pd.DataFrame) -> None:
    online = comparison[comparison["policy"] != "oracle"].drop(columns="oracle_bound_kwh")
    text = " ".join(_render(online, 80).split())
    assert "bound" not in text and "JCT: job completion time" in text


def test_comparison_splits_policies_when_narrower(comparison: pd.DataFrame) -> None:
    text = _render(comparison, 60)
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "…" not in text
    headers = [line.split()[1:] for line in text.splitlines() if line.lstrip().startswith("metric")]
    assert len(headers) >= 2
    assert [p for h in headers for p in h] == available_policies()
