"""``greenhop live``: bad input fails with one line and exit code 2, writing nothing; a run on an
embedded cluster (one node per site, started and stopped by the command) writes the run folder
of ``greenhop simulate`` with the live run beside the simulator's prediction.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from greenhop.cli import main
from greenhop.scenario import bundled_scenario


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
        raise SystemExit(0)
    return int(exc.value.code or 0), capsys.readouterr().err


def _small_scenario(tmp_path: Path) -> Path:
    """The demo's three sites from 06:00 to 18:00 UTC and one small CNN job that the
    afternoon moves from Amsterdam to North Carolina."""
    text = bundled_scenario("live-demo").read_text()
    head = text[: text.index("[[jobs]]")]
    head = head.replace("start = 2024-06-18T00:00:00Z", "start = 2024-06-18T06:00:00Z")
    head = head.replace("end = 2024-06-19T00:00:00Z", "end = 2024-06-18T18:00:00Z")
    path = tmp_path / "small.toml"
    path.write_text(
        head
        + """[[jobs]]
name = "cnn"
arrival = 2024-06-18T06:00:00Z
work_gpu_h = 11.0
power_w = 350.0
checkpoint_gb = 0.5

[jobs.live]
trainer = "digits-cnn"
train_steps = 44
"""
    )
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-scenario"], "no such scenario file"),
        (["live-demo", "--policy", "nonsense"], "unknown policy"),
        (["live-demo", "--policy", "stay,energy-only"], "one policy"),
        (["live-demo", "--speedup", "0"], "--speedup must be > 0"),
        (["live-demo", "--chunk-store-mb", "0"], "--chunk-store-mb must be > 0"),
        (["live-demo", "--realtime", "--speedup", "2"], "give one"),
        (["live-demo", "--forecast", "nonsense"], "unknown forecaster"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "run"
    db = tmp_path / "state.sqlite"
    code, err = _run(["live", *args, "--out", str(out), "--db", str(db)], capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_out_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, err = _run(["live", "live-demo", "--out", str(out)], capsys)
    assert code == 2 and "not empty" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.live
def test_live_run_writes_the_simulate_run_folder_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray")
    pytest.importorskip("torch")
    scenario = _small_scenario(tmp_path)
    out = tmp_path / "run"
    db = tmp_path / "state.sqlite"
    code, err = _run(
        ["live", str(scenario), "--speedup", "1000000", "--out", str(out), "--db", str(db)],
        capsys,
    )
    assert code == 0, err
    for name in ("report.html", "summary.json", "comparison.csv", "jobs.csv", "migrations.csv"):
        assert (out / name).is_file(), name
    assert (out / "sites_feasibility-aware-live.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    by_policy = {p["policy"]: p for p in summary["policies"]}
    assert set(by_policy) == {"feasibility-aware", "feasibility-aware-live"}
    sim, live = by_policy["feasibility-aware"], by_policy["feasibility-aware-live"]
    assert live["jobs_done"] == sim["jobs_done"] == 1
    assert live["migrations"] == sim["migrations"] == 1
    assert 0 < live["renewable_share"] < 1
    moves = pd.read_csv(out / "migrations.csv")
    live_moves = moves[moves["policy"] == "feasibility-aware-live"]
    assert list(zip(live_moves["src"], live_moves["dest"], strict=True)) == [
        ("amsterdam", "greensboro")
    ]
    measured = summary["live"]["migrations"]
    assert len(measured) == 1 and measured[0]["ok"] and measured[0]["size_bytes"] > 0
    assert db.is_file()
    assert "wrote" in err


def test_an_empty_job_list_is_refused_before_any_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = bundled_scenario("live-demo").read_text()
    empty = tmp_path / "empty.toml"
    empty.write_text(text[: text.index("[[jobs]]")])
    out = tmp_path / "run"
    code, err = _run(["live", str(empty), "--out", str(out)], capsys)
    assert code == 2
    assert "has no [[jobs]]" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
