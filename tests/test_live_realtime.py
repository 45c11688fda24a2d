"""``greenhop live --realtime`` following a real Prometheus server.

A ``prometheus-client`` exporter replays two real Solcast afternoons and mornings (Berlin, June
2022) fast; a real Prometheus scrapes it every second; ``greenhop live --realtime`` reads each
site's power through PromQL every 2-second tick on an embedded Ray cluster. The sun sets at
site ``west-a`` while it rises at ``east-b``: the job moves. Then the exporter dies for a few
ticks: both sites' signals become unknown, the controller keeps running, books no renewable
power there, moves nothing, records the episodes, and recovers when the exporter comes back.
The job finishes, nothing lost.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from signal_servers import NO_PROMETHEUS, PROMETHEUS, PrometheusServer, TraceExporter, free_port

from greenhop.cli import main

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason=NO_PROMETHEUS)


def _scenario(tmp: Path, prom_url: str) -> Path:
    def feed(site: str) -> str:
        return (
            f'realtime = {{ power = {{ kind = "prometheus", url = "{prom_url}", '
            f'query = \'greenhop_site_power_w{{site="{site}"}}\', max_age = "4s", '
            "timeout_s = 1.0 } }"
        )

    text = f"""
name = "realtime-test"
start = 2024-06-18T00:00:00Z
end = 2024-06-18T00:01:40Z
step = "2s"

[links]
default_gbps = 1.0

[[sites]]
name = "west-a"
gpu_slots = 1
idle_power_w = 50.0
{feed("west-a")}

[[sites]]
name = "east-b"
gpu_slots = 1
idle_power_w = 50.0
{feed("east-b")}

[[jobs]]
name = "cnn"
arrival = 2024-06-18T00:00:00Z
work_gpu_h = 0.0139
power_w = 300.0
checkpoint_gb = 0.01

[jobs.live]
trainer = "digits-cnn"
train_steps = 25
"""
    path = tmp / "realtime.toml"
    path.write_text(text)
    return path


def _db_rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []


def test_realtime_follows_prometheus_moves_a_job_and_survives_a_dark_source(
    tmp_path: Path,
    solcast_global,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    berlin = solcast_global.actual["Berlin"]
    traces = {  # 2 kW arrays: the sun sets at west-a while it rises at east-b
        "west-a": berlin["2022-06-08 15:00":"2022-06-08 21:00"].to_numpy() * 2000.0,
        "east-b": berlin["2022-06-08 04:00":"2022-06-08 10:00"].to_numpy() * 2000.0,
    }
    port = free_port()
    exporter = TraceExporter(traces, rows_per_s=2.0, port=port)
    exporter.frozen = True  # the first rows until the run's first tick
    prom = PrometheusServer(tmp_path, [f"127.0.0.1:{port}"])
    out = tmp_path / "run"
    db = out / "live" / "state.sqlite"
    dark: dict[str, float] = {}
    done = threading.Event()

    def conductor() -> None:
        """Start the replay at the first tick; take the exporter down after the move."""
        while not done.is_set() and not _db_rows(db, "SELECT 1 FROM site_energy LIMIT 1"):
            time.sleep(0.2)
        exporter.t0 = time.monotonic()
        exporter.frozen = False
        while not done.is_set() and not _db_rows(db, "SELECT 1 FROM migrations WHERE ok = 1"):
            time.sleep(0.2)
        if done.is_set():
            return
        time.sleep(2.0)
        dark["down"] = time.monotonic()
        exporter.down()
        time.sleep(10.0)
        exporter.serve()
        dark["up"] = time.monotonic()

    thread = threading.Thread(target=conductor, daemon=True)
    try:
        # Prometheus has scraped both series before the run starts
        deadline = time.monotonic() + 30
        while len(prom.query("greenhop_site_power_w")["data"]["result"]) < 2:
            assert time.monotonic() < deadline, "prometheus never scraped the exporter"
            time.sleep(0.5)
        scenario = _scenario(tmp_path, prom.url)
        thread.start()
        with pytest.raises(SystemExit) as exc:
            main(
                [
                    "live",
                    str(scenario),
                    "--realtime",
                    "--policy",
                    "energy-only",
                    "--out",
                    str(out),
                    "--json",
                    "--object-store-mb",
                    "80",
                ]
            )
            raise SystemExit(0)
        done.set()
        captured = capsys.readouterr()
        assert int(exc.value.code or 0) == 0, captured.err[-3000:]
    finally:
        done.set()
        prom.close()
        exporter.close()
    thread.join(timeout=30)
    summary = json.loads(captured.out)
    live = summary["live"]
    assert live["realtime"] is True
    moves = [m for m in live["migrations"] if m["ok"]]
    assert moves and moves[0]["src"] == "west-a" and moves[0]["dest"] == "east-b"
    assert "down" in dark and "up" in dark, "the exporter was never taken down"
    episodes = live["signal_episodes"]
    print(json.dumps({"moves": moves, "episodes": episodes, "dark": dark}, indent=1))
    assert {e["site"] for e in episodes} == {"west-a", "east-b"}
    assert all(e["reason"] in ("no-data", "stale", "unreachable") for e in episodes)
    assert all(e["end"] is not None for e in episodes), "a source never recovered"
    # while dark: no job moved anywhere, and the ledger booked no renewable power
    first = min(e["start_tick"] for e in episodes)
    last = max(e["end_tick"] for e in episodes)
    assert not [m for m in live["migrations"] if first <= m["time_s"] / 2.0 < last]
    dark_ticks = _db_rows(
        db, f"SELECT renewable_j FROM site_energy WHERE tick > {first} AND tick < {last}"
    )
    assert dark_ticks and all(r[0] == 0.0 for r in dark_ticks)
    # the job finished every step, once
    jobs = _db_rows(db, "SELECT name, state, steps_done FROM jobs")
    assert jobs == [("cnn", 7, 25)]
    assert (out / "report.html").exists() and (out / "summary.json").exists()
