"""``greenhop simulate``: the comparison, the run folder, and its error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import Cli


def test_simulate_writes_the_run_folder(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "run"
    code, stdout, _ = cli(
        "simulate",
        "default",
        "--policy",
        "stay,feasibility-aware",
        "--out",
        str(out),
        "--json",
    )
    assert code == 0
    data = json.loads(stdout)
    assert [p["policy"] for p in data["policies"]] == ["stay", "feasibility-aware"]
    for name in (
        "summary.json",
        "comparison.csv",
        "jobs.csv",
        "migrations.csv",
        "site_power.parquet",
        "placement.parquet",
        "report.html",
        "jct.png",
        "cumulative_non_renewable.png",
        "sites_stay.png",
        "sites_feasibility-aware.png",
    ):
        assert (out / name).stat().st_size > 0, name
    power = pd.read_parquet(out / "site_power.parquet")
    assert set(power["policy"]) == {"stay", "feasibility-aware"}
    assert {"surplus_w", "it_load_w", "grid_w", "renewable_w", "jobs"} <= set(power.columns)
    jobs = pd.read_csv(out / "jobs.csv")
    assert len(jobs) == 2 * data["policies"][0]["jobs"]
    html = (out / "report.html").read_text()
    # non-renewable bars, cumulative, JCT, and one sites plot per policy
    assert html.count("<img") == 5 and "feasibility-aware" in html
    stay = data["policies"][0]
    assert stay["migrations"] == 0 and stay["jobs_done"] == stay["jobs"]


def test_overrides_change_the_outcome(tmp_path: Path, cli: Cli) -> None:
    code, slow, _ = cli(
        "simulate",
        "default",
        "--policy",
        "feasibility-aware",
        "--bandwidth-gbps",
        "0.01",
        "--out",
        str(tmp_path / "a"),
        "--json",
    )
    assert code == 0
    code, fast, _ = cli(
        "simulate",
        "default",
        "--policy",
        "feasibility-aware",
        "--bandwidth-gbps",
        "100",
        "--out",
        str(tmp_path / "b"),
        "--json",
    )
    assert code == 0
    m_slow = json.loads(slow)["policies"][0]["migrations"]
    m_fast = json.loads(fast)["policies"][0]["migrations"]
    assert m_slow < m_fast


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["default", "--policy", "random"], "unknown policy random"),
        (["nowhere.toml"], "no such scenario file"),
        (["default", "--bandwidth-gbps", "0"], "--bandwidth-gbps must be > 0"),
        (["default", "--checkpoint-gb", "nan"], "--checkpoint-gb must be > 0"),
    ],
)
def test_bad_input(tmp_path: Path, cli: Cli, args: list[str], message: str) -> None:
    out = tmp_path / "run"
    code, _, err = cli("simulate", *args, "--out", str(out))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_refuses_a_non_empty_folder(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = cli("simulate", "default", "--policy", "stay", "--out", str(tmp_path))
    assert code == 2 and "not empty" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_the_oracle_with_a_completion_time_budget_by_name(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`--policy oracle:eps=0.1`: the offline bound under a completion-time budget, beside
    stay; a bad option is one line, exit 2."""
    code, out, err = cli(
        "simulate",
        "default",
        "--policy",
        "stay,oracle:eps=0.1",
        "--json",
        "--out",
        str(tmp_path / "run"),
    )
    assert code == 0, err
    rows = {p["policy"]: p for p in json.loads(out)["policies"]}
    oracle = rows["oracle:eps=0.1"]
    assert oracle["oracle_bound_kwh"] <= rows["stay"]["non_renewable_kwh"]
    code, _, err = cli(
        "simulate", "default", "--policy", "oracle:eps=x", "--out", str(tmp_path / "b")
    )
    assert code == 2 and "'x' is not a number" in err and not (tmp_path / "b").exists()
