"""``greenhop scenario list | init | validate``: bundled scenarios, a starter that validates, and
every problem of a file at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import Cli

from greenhop.scenario import bundled_scenarios, load_scenario

ROOT = Path(__file__).resolve().parents[1]
OWN_SITES = ROOT / "examples" / "own-sites"


def _own_sites_copy(tmp_path: Path, edits: list[tuple[str, str]]) -> Path:
    """The own-sites example and its CSV in ``tmp_path``, with ``edits`` made to the TOML."""
    text = (OWN_SITES / "own-sites.toml").read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    shutil.copy(OWN_SITES / "own-trace.csv", tmp_path / "own-trace.csv")
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_list_shows_every_bundled_scenario_with_its_description(cli: Cli) -> None:
    code, out, _ = cli("scenario", "list")
    assert code == 0
    for name in bundled_scenarios():
        assert name in out
    assert "Six real sites" in out
    code, out, _ = cli("scenario", "list", "--json")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == bundled_scenarios()
    default = next(r for r in rows if r["name"] == "default")
    assert default["description"] == load_scenario("default").description
    assert (default["sites"], default["jobs"], default["days"], default["step_s"]) == (
        6,
        10,
        7,
        900,
    )


def test_init_writes_a_commented_starter_that_validates(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("scenario", "init", "my-sites")
    assert code == 0 and "my-sites.toml" in out
    text = (tmp_path / "my-sites.toml").read_text()
    assert 'name = "my-sites"' in text
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 5
    assert "# battery = {" in text and 'kind = "trace"' in text  # the alternatives, commented
    code, out, err = cli("scenario", "validate", "my-sites.toml")
    assert code == 0, err
    assert "valid scenario 'my-sites'" in out and "sites (2)" in out and "jobs (3)" in out
    scenario = load_scenario(tmp_path / "my-sites.toml")
    assert scenario.name == "my-sites" and len(scenario.jobs) == 3


def test_init_never_overwrites_and_takes_a_folder(tmp_path: Path, cli: Cli) -> None:
    target = tmp_path / "mine.toml"
    target.write_text("# my own work\n")
    code, _, err = cli("scenario", "init", "mine", "--out", str(target))
    assert code == 2 and "exists" in err and len(err.strip().splitlines()) == 1
    assert target.read_text() == "# my own work\n"
    code, _, _ = cli("scenario", "init", "other", "--out", str(tmp_path))
    assert code == 0 and 'name = "other"' in (tmp_path / "other.toml").read_text()
    code, _, err = cli("scenario", "init", "no/good", "--out", str(tmp_path / "x.toml"))
    assert code == 2 and "scenario name" in err and not (tmp_path / "x.toml").exists()
    code, _, err = cli("scenario", "init", "deep", "--out", str(tmp_path / "nowhere" / "d.toml"))
    assert code == 2 and "does not exist" in err


def test_validate_prints_a_summary_of_sites_jobs_period_and_step(cli: Cli) -> None:
    code, out, _ = cli("scenario", "validate", str(OWN_SITES / "own-sites.toml"))
    assert code == 0
    assert "valid scenario 'own-sites'" in out
    assert "2024-06-17 00:00 .. 2024-06-20 00:00 UTC (3 days), step 15 min" in out
    assert "sites (2)" in out and "roof: 4 slots" in out and "farm: 4 slots" in out
    assert "jobs (3)" in out and "28 GPU-h" in out
    code, out, _ = cli("scenario", "validate", str(OWN_SITES / "own-sites.toml"), "--json")
    data = json.loads(out)
    assert data["ok"] and data["steps"] == 288 and data["step_s"] == 900
    assert [s["name"] for s in data["sites"]] == ["roof", "farm"]
    farm = data["sites"][1]
    # the turbine's peak in the file (kW) times the site's scale, 0.005
    trace = pd.read_csv(OWN_SITES / "own-trace.csv")
    assert farm["generation_peak_kw"] == pytest.approx(trace["farm_wind"].max() * 0.005, rel=0.05)
    assert [j["name"] for j in data["jobs"]] == ["cnn-train", "bert-finetune", "llama-lora"]


def test_validate_reports_every_problem_at_once(tmp_path: Path, cli: Cli) -> None:
    path = _own_sites_copy(
        tmp_path,
        [
            ('step = "15min"', 'step = "15min"\nforcaster = "perfect"'),  # top level: a typo
            ('unit = "kW"', 'unit = "kWh"'),  # [energy_source]
            (
                "default_gbps = 0.5",
                'default_gbps = 0.5\npairs = [{ a = "roof", b = "barn", gbps = 1 }]',
            ),
            (
                "gpu_slots = 4\nidle_power_w = 60.0\nbase_load_w",
                "gpu_slots = 0\nidle_power_w = 60.0\nbase_load_w",
            ),
            ("latitude = 52.3\n", ""),  # [[sites]] farm
            ('setup = "fp32-adam"\n', ""),  # [[jobs]] bert-finetune
            ('name = "llama-lora"', 'name = "cnn-train"'),  # a second job of that name
            (
                "deadline = 2024-06-19T18:00:00Z",
                'deadline = 2024-06-19T18:00:00Z\nsite = "barn"\nlive = { train_steps = 0 }',
            ),
        ],
    )
    code, out, err = cli("scenario", "validate", str(path))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    expected = [
        "mine.toml: field 'forcaster': unknown field; did you mean 'forecaster'?",
        "mine.toml: [energy_source]: field 'unit': unknown unit 'kWh'; use one of W, kW, MW, GW, "
        "fraction; a trace holds power, not energy",
        "mine.toml: [links]: [[links.pairs]] #1: field 'b': unknown site 'barn'; sites are "
        "roof, farm",
        "mine.toml: [[sites]] #1 'roof': field 'gpu_slots': must be > 0 (got 0)",
        "mine.toml: [[sites]] #2 'farm': field 'latitude': required for a site without bundled "
        "weather (pv/wind)",
        "mine.toml: [[jobs]] #2 'bert-finetune': field 'setup': required with model (or give "
        "checkpoint_gb)",
        "mine.toml: [[jobs]] #3 'cnn-train': field 'site': unknown site 'barn'; sites are "
        "roof, farm",
        "mine.toml: [[jobs]] #3 'cnn-train': field 'name': job name 'cnn-train' is taken by "
        "[[jobs]] #1; names must be unique",
        "mine.toml: [[jobs]] #3 'cnn-train': [jobs.live]: field 'train_steps': must be ≥ 1 (got 0)",
    ]
    assert lines[:-1] == expected
    assert lines[-1] == "greenhop: error: mine.toml: 9 problems; fix them and validate again"
    code, out, _ = cli("scenario", "validate", str(path), "--json")
    data = json.loads(out)
    assert code == 2 and data["ok"] is False and data["problems"] == expected


def test_validate_reads_the_trace_the_sites_name(tmp_path: Path, cli: Cli) -> None:
    path = _own_sites_copy(
        tmp_path,
        [
            ('trace_column = "roof_pv"', 'trace_column = "roof"'),
            ("end = 2024-06-20T00:00:00Z", "end = 2024-06-21T00:00:00Z"),
        ],
    )
    code, _, err = cli("scenario", "validate", str(path))
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0] == (
        "mine.toml: [[sites]] #1 'roof': field 'trace_column': the trace has no column 'roof'; "
        "it has ['roof_pv', 'farm_wind']"
    )
    assert lines[1].startswith("mine.toml: [energy_source]: field 'trace': the range ")
    assert "is not covered by the trace" in lines[1] and lines[-1].endswith(
        "2 problems; fix them and validate again"
    )
    (tmp_path / "own-trace.csv").unlink()
    code, _, err = cli("scenario", "validate", str(path))
    assert code == 2 and "field 'trace': " in err and "file not found" in err


def test_validate_warns_of_jobs_that_cannot_run(tmp_path: Path, cli: Cli) -> None:
    path = _own_sites_copy(
        tmp_path, [("arrival = 2024-06-17T06:00:00Z", "arrival = 2024-06-22T06:00:00Z")]
    )
    code, out, _ = cli("scenario", "validate", str(path))
    assert code == 0
    assert "warning" in out and "'cnn-train' cannot run as given" in out


def test_validate_of_a_missing_or_broken_file_is_one_line(tmp_path: Path, cli: Cli) -> None:
    code, _, err = cli("scenario", "validate", str(tmp_path / "nowhere.toml"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no such scenario file" in err
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    code, _, err = cli("scenario", "validate", str(broken))
    assert code == 2 and "not valid TOML" in err


@pytest.mark.parametrize("name", ["default", "live-demo"])
def test_bundled_scenarios_validate(name: str, cli: Cli) -> None:
    code, out, err = cli("scenario", "validate", name)
    assert code == 0, err
    assert f"valid scenario {name!r}" in out


@pytest.mark.parametrize("columns", [80, 120])
def test_list_and_summary_fit_the_terminal(
    columns: int, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    for args in (("scenario", "list"), ("scenario", "validate", "default")):
        code, out, _ = cli(*args)
        assert code == 0
        assert max(len(line) for line in out.splitlines()) <= columns, args
    _, out, _ = cli("scenario", "list")
    header = next(line for line in out.splitlines() if "name" in line and "sites" in line)
    assert all(word in header for word in ("jobs", "days", "step", "description"))
