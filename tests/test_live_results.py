"""A live run's state database read back as a RunRecord (live.control.results), without a cluster.

The database is written through the controller's own API (ControllerState, the live ledger's
settle_tick) for the bundled live-demo scenario with a battery at one site: a job runs at one
site, moves (one migration that worked and one that failed), and finishes. The record must
carry the ledger's flows, the moves' phase times in trace seconds, the wasted-move rule of the
simulator, and balance its books.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from greenhop.energy.battery import BatteryBank, BatterySpec
from greenhop.live.control.ledger import JobUse, settle_tick
from greenhop.live.control.results import live_result, live_summary
from greenhop.live.control.scenario import LiveScenario
from greenhop.live.control.state import ControllerState, JobRow, MigrationRow
from greenhop.policies.base import JobState
from greenhop.scenario import load_scenario
from greenhop.sim.metrics import summary
from greenhop.world.ledger import check_conservation, non_renewable_kwh
from greenhop.world.rules import is_wasted_move

SPEEDUP = 600.0
MOVE_TICK = 40  # 10:00 UTC: the sun is up in Amsterdam and North Carolina


@pytest.fixture(scope="module")
def live() -> LiveScenario:
    sc = load_scenario("live-demo")
    sc.sites[1].battery = BatterySpec(capacity_kwh=2.0, max_power_kw=1.0, name=sc.sites[1].name)
    return LiveScenario.from_scenario(sc)


@pytest.fixture(scope="module")
def db(live: LiveScenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Job 0 starts at site 0 on tick 20, moves to site 1 on MOVE_TICK (a failed attempt to
    site 2 first), runs there until tick 60 and is done; the other jobs never start."""
    inp = live.inputs
    path = tmp_path_factory.mktemp("live-results") / "state.sqlite"
    state = ControllerState(path)
    bank = BatteryBank(inp.batteries or [None] * len(inp.site_names), inp.step_s)
    power = float(inp.jobs.power_w[0])
    with state.transaction() as conn:
        ControllerState.set_meta(conn, speedup=SPEEDUP, wall_s=12.5, next_tick=inp.n_steps)
        for k in range(inp.n_steps):
            site = 0 if 20 <= k < MOVE_TICK else 1 if MOVE_TICK <= k < 60 else -1
            uses = [] if site < 0 else [JobUse(0, site, power, inp.step_s)]
            jobs, sites = settle_tick(
                k, inp.step_s, inp.surplus_w[k], inp.slots, inp.idle_slot_power_w, uses, bank
            )
            ControllerState.add_energy(conn, jobs, sites)
        rows = [JobRow(i, n, int(JobState.QUEUED)) for i, n in enumerate(inp.jobs.names)]
        rows[0] = JobRow(
            0, inp.jobs.names[0], int(JobState.DONE), site=1, steps_done=560,
            start_s=20 * inp.step_s, done_s=60 * inp.step_s, last_move_s=MOVE_TICK * inp.step_s,
        )  # fmt: skip
        ControllerState.put_jobs(conn, rows)
        t = MOVE_TICK * inp.step_s
        ControllerState.add_migration(
            conn, MigrationRow(MOVE_TICK, t, 0, "migrate", 0, 2, ok=False, error="link down")
        )
        ControllerState.add_migration(
            conn,
            MigrationRow(
                MOVE_TICK, t, 0, "migrate", 0, 1, ok=True, steps_done=320, size_bytes=2_000_000,
                bandwidth_gbps=0.8, checkpoint_s=0.05, transfer_s=0.1, load_s=0.02,
                downtime_s=0.25,
            ),
        )  # fmt: skip
        ControllerState.add_event(conn, 20, 20 * inp.step_s, 0, "start", 0)
    state.close()
    return path


def test_the_record_carries_the_ledger(live: LiveScenario, db: Path) -> None:
    inp = live.inputs
    state = ControllerState(db)
    record = live_result(state, live, policy="feasibility-aware")
    state.close()
    assert record.policy == "feasibility-aware-live"
    check_conservation(record)
    # the job's energy: its power for 40 ticks, 20 at each site
    _, js, ss, es = record.job_energy  # type: ignore[misc]
    assert set(js.tolist()) == {0}
    assert es.sum() == pytest.approx(float(inp.jobs.power_w[0]) * 40 * inp.step_s)
    assert (np.bincount(ss, minlength=3)[:2] == 20).all()
    assert record.job_run_s_at[0, 0] == pytest.approx(20 * inp.step_s)
    # the IT load is the job plus idle slots where it runs, idle slots elsewhere
    idle = inp.idle_slot_power_w * inp.slots
    assert record.it_load_w[10] == pytest.approx(idle)
    expected_30 = idle.copy()
    expected_30[0] += inp.jobs.power_w[0] - inp.idle_slot_power_w[0]
    assert record.it_load_w[30] == pytest.approx(expected_30)
    # the battery site's state of charge is the ledger's, not zero
    assert record.battery_soc_kwh[:, 1].max() > 0
    assert (record.battery_soc_kwh[:, [0, 2]] == 0).all()
    assert record.job_done_s[0] == 60 * inp.step_s
    assert np.isnan(record.job_done_s[1:]).all()
    assert record.job_progress_gpu_h[0] == pytest.approx(inp.jobs.work_gpu_h[0])


def test_moves_in_trace_seconds_and_the_wasted_rule(live: LiveScenario, db: Path) -> None:
    inp = live.inputs
    state = ControllerState(db)
    record = live_result(state, live, policy="feasibility-aware")
    state.close()
    assert len(record.migrations) == 1  # the failed attempt is not a move
    m = record.migrations[0]
    t = MOVE_TICK * inp.step_s
    assert (m.src, m.dest, m.size_gb) == (0, 1, inp.jobs.size_gb[0])
    assert m.checkpoint_done_s == pytest.approx(t + 0.05 * SPEEDUP)
    assert m.transfer_done_s == pytest.approx(t + 0.15 * SPEEDUP)
    assert m.restored_s == pytest.approx(t + 0.25 * SPEEDUP)
    assert m.transferred and m.completed
    prev = record.it_load_w[MOVE_TICK - 1, 1]
    assert m.wasted == is_wasted_move(
        inp.surplus_w[MOVE_TICK, 1], prev, inp.jobs.power_w[0], inp.idle_slot_power_w[1]
    )
    # one definition of non-renewable energy for live and simulated runs
    grid_kwh = record.grid_w.sum() * inp.step_s / 3.6e6
    net_kwh = inp.params.network_kwh_per_gb * inp.jobs.size_gb[0]
    assert non_renewable_kwh(record) == pytest.approx(grid_kwh + net_kwh)
    assert summary(record)["non_renewable_kwh"] == pytest.approx(non_renewable_kwh(record))
    assert summary(record)["migrations"] == 1


def test_live_summary_keeps_what_only_live_measures(live: LiveScenario, db: Path) -> None:
    state = ControllerState(db)
    out = live_summary(state, live)
    state.close()
    assert out["speedup"] == SPEEDUP and out["wall_s"] == 12.5
    moves = out["migrations"]
    assert [m["ok"] for m in moves] == [False, True]
    assert moves[0]["error"] == "link down" and moves[0]["dest"] == "nw-colorado"
    assert moves[1]["size_bytes"] == 2_000_000 and moves[1]["bandwidth_gbps"] == 0.8
    assert out["trainers"] == dict(zip(live.inputs.jobs.names, live.trainers, strict=True))
