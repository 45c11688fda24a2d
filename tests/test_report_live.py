"""A live run's report and run folder: each move's measured transfer beside the model's S/B, the
note on a slowdown below 1, and the state database and checkpoints kept inside the run folder
(``<out>/live/``), resumed from there, never deleted when writing fails.

The moves are those a live run of the bundled ``live-demo`` measured here (2 shared CPU cores,
embedded 3-node Ray cluster, x600): the demo trainers' real checkpoints of 164,016 and 66,104
bytes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from greenhop import feasibility
from greenhop.errors import OutputError
from greenhop.report import format as fmt
from greenhop.report import plots
from greenhop.report.runfolder import live_state_db, state_entries, write_run_folder
from greenhop.report.transfers import measured_transfers, slowdown_note
from greenhop.world.record import RunRecord

MEASURED = [  # summary.json["live"]["migrations"] of `greenhop live live-demo`, measured here
    ("lm", "greensboro", "amsterdam", 39600.0, 164016, 0.0882451, 0.0148691, 0.0564543),
    ("cnn-a", "amsterdam", "nw-colorado", 55800.0, 66104, 0.0375043, 0.0141006, 0.0405141),
    ("lm", "amsterdam", "greensboro", 55800.0, 164016, 0.0575098, 0.0228157, 0.0632044),
    ("cnn-b", "greensboro", "nw-colorado", 77400.0, 66104, 0.0322367, 0.0164047, 0.0550754),
]


def live_summary() -> dict[str, Any]:
    return {
        "speedup": 600.0,
        "wall_s": 110.3,
        "ticks_committed": 96,
        "trainers": {"cnn-a": "digits-cnn", "lm": "char-transformer", "cnn-b": "digits-cnn"},
        "train_steps": {"cnn-a": 560, "lm": 480, "cnn-b": 400},
        "migrations": [
            {
                "job": job,
                "kind": "migrate",
                "src": src,
                "dest": dest,
                "time_s": t,
                "ok": True,
                "error": None,
                "size_bytes": size,
                "bandwidth_gbps": goodput,
                "transfer_s": transfer,
                "downtime_s": downtime,
            }
            for job, src, dest, t, size, goodput, transfer, downtime in MEASURED
        ]
        + [
            {
                "job": "cnn-b",
                "kind": "migrate",
                "src": "nw-colorado",
                "dest": "amsterdam",
                "time_s": 81000.0,
                "ok": False,
                "error": "ChecksumError: chunk 0",
                "size_bytes": None,
                "bandwidth_gbps": None,
                "transfer_s": None,
                "downtime_s": None,
            }
        ],
        "link_estimates_gbps": [
            {"a": "amsterdam", "b": "greensboro", "bandwidth_gbps": 0.3008, "transfers": 2},
        ],
        "command_wall_s": 171.6,
    }


@pytest.fixture(scope="module")
def simulated() -> RunRecord:
    from greenhop.runner import policy_for
    from greenhop.scenario import load_scenario
    from greenhop.sim import Simulator
    from greenhop.world.inputs import SimInputs

    inputs = SimInputs.from_scenario(load_scenario("live-demo"))
    return Simulator(inputs, record_placement=True).run(policy_for("feasibility-aware", inputs))


def as_live(record: RunRecord) -> RunRecord:
    """``record`` as a live run reads back: its jobs done exactly their work after they started
    (a live job is paced by the replayed clock and pays no modelled restart)."""
    jobs = record.inputs.jobs
    return dataclasses.replace(
        record,
        policy=f"{record.policy}-live",
        policy_config={"name": record.policy, "live": True, "speedup": 600.0},
        job_done_s=record.job_start_s + np.asarray(jobs.work_gpu_h) * 3600.0,
    )


@pytest.fixture(scope="module")
def live_page(simulated: RunRecord, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("live") / "run"
    write_run_folder(
        out,
        [simulated, as_live(simulated)],
        title="greenhop live live-demo",
        extra={"live": live_summary()},
    )
    return (out / "report.html").read_text(encoding="utf-8")


def test_each_move_shows_measured_transfer_beside_the_model(
    simulated: RunRecord, live_page: str
) -> None:
    inputs = simulated.inputs
    moves = measured_transfers(live_summary(), inputs)
    assert len(moves) == 5
    names = list(inputs.site_names)
    section = live_page[live_page.index("id='live'") :]
    for m, (_, src, dest, _, size, _, transfer, _) in zip(moves, MEASURED, strict=False):
        link = float(inputs.bandwidth_gbps[names.index(src), names.index(dest)])
        model_s = float(feasibility.transfer_time_s(size / 1e9, link))
        assert m.link_gbps == link
        assert m.model_s == pytest.approx(8 * size / (link * 1e9))
        assert m.model_s == pytest.approx(model_s)
        assert m.ratio == pytest.approx(transfer / model_s)
        assert fmt.duration(model_s) in section
        assert fmt.duration(transfer) in section
        ratio = m.ratio or 0.0
        assert f"{fmt.number(ratio, min(fmt.decimals_for(ratio), 2))}×" in section
    # the amsterdam - nw-colorado link is the scenario's 0.5 Gbit/s, the others 1 Gbit/s
    assert moves[1].link_gbps == 0.5 and moves[0].link_gbps == 1.0
    assert "Measured / model" in section and "Model 8·S/B" in section
    assert "the move failed: ChecksumError: chunk 0" in live_page
    assert "latency-bound" in section  # the demo's kB checkpoints take ~10x the model


def test_a_slowdown_below_1_is_explained(simulated: RunRecord, live_page: str) -> None:
    assert "Slowdown below 1" in live_page
    assert "does not pay the restart the model charges" in live_page
    work_h = np.asarray(simulated.inputs.jobs.work_gpu_h)
    lowest = float(np.min(work_h / (work_h + 60.0 / 3600.0)))
    assert fmt.number(lowest, 4) in live_page


def test_no_slowdown_note_when_none_is_below_1(simulated: RunRecord) -> None:
    from greenhop.sim.metrics import job_table

    jobs = job_table(simulated).assign(policy="feasibility-aware-live")
    assert (jobs["slowdown"] >= 1).all()
    assert slowdown_note(jobs, ["feasibility-aware-live"], 60.0) is None


def test_the_live_headline_sets_the_run_against_its_prediction(live_page: str) -> None:
    head = live_page[live_page.index("id='headline'") : live_page.index("id='comparison'")]
    assert "The live run of <strong>feasibility-aware</strong>" in head
    assert "the simulator predicted" in head


def test_state_entries_name_what_holds_the_state(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert live_state_db(out) == out / "live" / "state.sqlite"
    assert state_entries(out, live_state_db(out)) == ("live",)
    assert state_entries(out, out / "state.sqlite") == (
        "state.sqlite",
        "state.sqlite-wal",
        "state.sqlite-shm",
        "state.sqlite-journal",
        "state.sqlite.checkpoints",
    )
    assert state_entries(out, tmp_path / "elsewhere.sqlite") == ()


def test_the_state_is_kept_inside_the_run_folder(simulated: RunRecord, tmp_path: Path) -> None:
    out = tmp_path / "run"
    db = live_state_db(out)
    (db.parent / "state.sqlite.checkpoints").mkdir(parents=True)
    db.write_bytes(b"state")
    inode = db.stat().st_ino
    write_run_folder(out, [simulated], title="t", keep=("live",))
    assert (out / "report.html").is_file()
    assert db.read_bytes() == b"state" and db.stat().st_ino == inode  # moved, not copied
    assert (out / "live" / "state.sqlite.checkpoints").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_anything_else_in_the_folder_is_still_refused(simulated: RunRecord, tmp_path: Path) -> None:
    out = tmp_path / "run"
    live_state_db(out).parent.mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty"):
        write_run_folder(out, [simulated], title="t", keep=("live",))
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "live"]


def test_a_failed_write_puts_the_state_back(
    simulated: RunRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    db = live_state_db(out)
    db.parent.mkdir(parents=True)
    db.write_bytes(b"state")

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(plots, "plot_jct", fail)
    with pytest.raises(OSError, match="disk full"):
        write_run_folder(out, [simulated], title="t", keep=("live",))
    assert db.read_bytes() == b"state"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert [p.name for p in out.iterdir()] == ["live"]


def test_live_refuses_an_out_with_state_and_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from greenhop.cli import main

    out = tmp_path / "run"
    live_state_db(out).parent.mkdir(parents=True)
    live_state_db(out).write_bytes(b"")
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit) as exc:
        main(["live", "live-demo", "--out", str(out)])
    assert exc.value.code == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "live"]


@pytest.mark.live
def test_an_interrupted_live_run_carries_on_from_its_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A controller stops half-way with its state at the default place, ``<out>/live/``; the
    same command, given the same ``--out`` and no ``--db``, carries on from there and writes the
    run folder around it."""
    pytest.importorskip("ray")
    pytest.importorskip("torch")
    from test_live_cli import _small_scenario

    from greenhop.cli import main
    from greenhop.live.cluster.local import LocalCluster
    from greenhop.live.control.controller import Controller
    from greenhop.live.control.scenario import LiveScenario
    from greenhop.live.jobs.driver import LiveJobs
    from greenhop.scenario import load_scenario

    scenario = _small_scenario(tmp_path)
    out = tmp_path / "run"
    db = live_state_db(out)
    live = LiveScenario.from_scenario(load_scenario(str(scenario)))
    slots = {s.name: s.gpu_slots for s in live.scenario.sites}
    with LocalCluster(slots, object_store_mb=100) as cluster:
        first = Controller(live, LiveJobs(cluster.sites), db, speedup=1e6)
        try:
            assert not first.run(until_tick=8)  # 08:00, before the afternoon's move
        finally:
            first.close()
        inode = db.stat().st_ino
        code = 0
        try:
            main(["live", str(scenario), "--speedup", "1000000", "--out", str(out),
                  "--address", str(cluster.address)])  # fmt: skip
        except SystemExit as exc:
            code = int(exc.code or 0)
        err = capsys.readouterr().err
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "small.toml"]
    assert db.stat().st_ino == inode
    assert (db.parent / "state.sqlite.checkpoints").is_dir()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["live"]["ticks_committed"] == live.inputs.n_steps
    moves = summary["live"]["migrations"]
    assert len(moves) == 1 and moves[0]["size_bytes"] > 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Measured / model" in page and "amsterdam → greensboro" in page
    assert os.fspath(db) in err
    shutil.rmtree(out)
