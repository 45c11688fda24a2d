"""``greenhop simulate`` says what it leaves out: jobs that cannot run, jobs not done, an empty
job list, an output folder it cannot write (checked before any work)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli

from greenhop.scenario import load_scenario
from greenhop.world.inputs import SimInputs

SCENARIO = """
name = "edges"
start = 2024-06-17T00:00:00Z
end = 2024-06-18T00:00:00Z
step = "15min"
forecaster = "perfect"

[links]
default_gbps = 1.0

[[sites]]
name = "greensboro"
gpu_slots = 2
pv = {{ peak_kw = 2.0, tilt_deg = 30.0, azimuth_deg = 180.0 }}
{jobs}
"""

JOBS = """
[[jobs]]
name = "fits"
arrival = 2024-06-17T06:00:00Z
work_gpu_h = 2.0
power_w = 300.0
checkpoint_gb = 1.0

[[jobs]]
name = "after-the-end"
arrival = 2024-06-19T06:00:00Z
work_gpu_h = 2.0
power_w = 300.0
checkpoint_gb = 1.0

[[jobs]]
name = "too-long"
arrival = 2024-06-17T20:00:00Z
work_gpu_h = 8.0
power_w = 300.0
checkpoint_gb = 1.0

[[jobs]]
name = "deadline"
arrival = 2024-06-17T02:00:00Z
deadline = 2024-06-17T03:00:00Z
work_gpu_h = 2.0
power_w = 300.0
checkpoint_gb = 1.0
"""


def write(tmp_path: Path, jobs: str) -> Path:
    path = tmp_path / "edges.toml"
    path.write_text(SCENARIO.format(jobs=jobs))
    return path


def test_unrunnable_jobs_are_named_with_the_reason(tmp_path: Path) -> None:
    inputs = SimInputs.from_scenario(load_scenario(write(tmp_path, JOBS)))
    found = dict(inputs.unrunnable_jobs())
    assert sorted(found) == ["after-the-end", "deadline", "too-long"]
    assert "arrives 54 h after the start, when the run (24 h) is over" in found["after-the-end"]
    # 20:00 to midnight: 4 h for 8 h of work plus a 60 s restart
    assert "needs 8.02 h" in found["too-long"] and "only 4 h" in found["too-long"]
    assert "its deadline" in found["deadline"] and "only 1 h" in found["deadline"]


def test_simulate_warns_and_records_what_it_leaves_out(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "run"
    code, _, err = cli(
        "simulate", str(write(tmp_path, JOBS)), "--policy", "stay", "--out", str(out), "--json"
    )
    assert code == 0
    for name in ("after-the-end", "too-long", "deadline"):
        assert f"job {name!r} cannot run as given" in err
    data = json.loads((out / "summary.json").read_text())
    assert [u["job"] for u in data["unrunnable_jobs"]] == ["after-the-end", "too-long", "deadline"]
    stay = data["policies"][0]
    # the simulator does not stop a job at its deadline: "deadline" finishes, late
    assert stay["jobs"] == 4 and stay["jobs_done"] == 2
    assert stay["jobs_unfinished"] == ["after-the-end", "too-long"]
    assert "cannot run as given" in (out / "report.html").read_text()


def test_an_empty_job_list_is_an_error(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "run"
    code, _, err = cli("simulate", str(write(tmp_path, "")), "--out", str(out))
    assert code == 2
    assert "has no [[jobs]]" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_an_unwritable_out_fails_before_any_work(tmp_path: Path, cli: Cli) -> None:
    code, _, err = cli("simulate", "default", "--policy", "stay", "--out", "/sys/greenhop-run")
    assert code == 2
    assert "cannot write into '/sys'" in err and len(err.strip().splitlines()) == 1


def test_the_run_folder_records_what_was_done_to_a_weather_file(tmp_path: Path, cli: Cli) -> None:
    from test_scenario import STATION_TEXT, _station_csv

    _station_csv(tmp_path)
    scenario = tmp_path / "station.toml"
    scenario.write_text(STATION_TEXT)
    out = tmp_path / "run"
    code, _, err = cli("--quiet", "simulate", str(scenario), "--policy", "stay", "--out", str(out))
    assert code == 0, err
    report = (out / "report.html").read_text()
    assert "dhi derived from ghi and dni (closure), 8760 hours" in report
