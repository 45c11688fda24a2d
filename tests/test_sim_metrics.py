"""Metrics on small runs worked out by hand: the job table, the summary, the tables of moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import Scripted
from test_sim_engine import STEP_S, hand_inputs

from greenhop.feasibility import DEFAULTS
from greenhop.policies import StayPolicy
from greenhop.policies.base import Migrate, Start
from greenhop.sim.engine import Simulator
from greenhop.sim.metrics import job_table, migration_table, site_power_frame, summary
from greenhop.world.ledger import non_renewable_kwh
from greenhop.world.record import RunRecord

J_PER_KWH = 3.6e6
IDLE_W = 50.0  # hand_inputs' idle power per slot



# ------------------------------------------------------------------ one site, one job

# One site, one slot at 50 W idle, 300 W of surplus for 10 steps of 900 s. A 500 W job of
# 1 GPU-h arrives at 450 s, inside step 0, so it starts at step 1 (900 s): a 60 s restart at
# idle power, then 3600 s of work; done at 900 + 3660 = 4560 s, 60 s into step 5.
#
# IT load per step (W) and the grid's part (load above 300 W):
#   step 0: the slot idles                          50          0
#   step 1: 60 s at 50 W + 840 s at 500 W      (3000 + 420000) / 900 = 470     170
#   steps 2-4: 500                                 500         200 each
#   step 5: 60 s at 500 W + 840 s at 50 W      (30000 + 42000) / 900 = 80        0
#   steps 6-9: 50                                   50           0
# grid: (170 + 3 x 200) W x 900 s = 693 000 J = 0.1925 kWh
# IT energy: (50 + 470 + 1500 + 80 + 4 x 50) W x 900 s = 2 070 000 J = 0.575 kWh
# the job: 60 s x 50 W + 3600 s x 500 W = 1 803 000 J; its grid part: in step 1 it draws all of
# the site's 423 000 J at a grid share of 170/470 (153 000 J), in steps 2-4 450 000 J each at
# 200/500 (540 000 J), in step 5 nothing from the grid: 693 000 J, all the grid energy
GRID_J = 693_000.0
IT_J = 2_070_000.0
JOB_J = 1_803_000.0
JCT_S = 4560.0 - 450.0


@pytest.fixture(scope="module")
def lone() -> RunRecord:
    inp = hand_inputs(
        [[0.3] * 10], [{"work_gpu_h": 1.0, "power_w": 500.0, "arrival_s": 450.0}], slots=1
    )
    return Simulator(inp).run(StayPolicy())


def test_lone_job_per_step_load_matches_the_hand_count(lone: RunRecord) -> None:
    np.testing.assert_allclose(
        lone.it_load_w[:, 0], [50.0, 470.0, 500.0, 500.0, 500.0, 80.0, 50.0, 50.0, 50.0, 50.0]
    )
    np.testing.assert_allclose(lone.grid_w[:, 0], [0, 170, 200, 200, 200, 0, 0, 0, 0, 0], atol=1e-9)


def test_lone_job_table(lone: RunRecord) -> None:
    row = job_table(lone).iloc[0]
    assert row["job"] == "j0"
    assert row["arrival"] == pd.Timestamp("2024-06-01 00:07:30", tz="UTC")
    assert row["start"] == pd.Timestamp("2024-06-01 00:15:00", tz="UTC")
    assert row["done"] == pd.Timestamp("2024-06-01 01:16:00", tz="UTC")
    assert row["progress_gpu_h"] == pytest.approx(1.0)
    assert row["energy_kwh"] == pytest.approx(JOB_J / J_PER_KWH)
    assert row["non_renewable_kwh"] == pytest.approx(GRID_J / J_PER_KWH)
    assert row["renewable_share"] == pytest.approx((JOB_J - GRID_J) / JOB_J)
    # JCT 4110 s; alone it takes restart + work = 3660 s
    assert row["jct_h"] == pytest.approx(JCT_S / 3600.0)
    assert row["slowdown"] == pytest.approx(JCT_S / 3660.0)
    assert row["migrations"] == 0 and row["wasted_migrations"] == 0


def test_lone_job_summary(lone: RunRecord) -> None:
    s = summary(lone)
    assert s["policy"] == "stay"
    assert s["grid_kwh"] == pytest.approx(GRID_J / J_PER_KWH)  # 0.1925
    assert s["network_kwh"] == 0.0
    assert s["non_renewable_kwh"] == pytest.approx(0.1925)
    assert s["non_renewable_kwh"] == non_renewable_kwh(lone)
    assert s["it_energy_kwh"] == pytest.approx(IT_J / J_PER_KWH)  # 0.575
    assert s["renewable_share"] == pytest.approx(1 - GRID_J / IT_J)
    assert s["jobs_non_renewable_kwh"] == pytest.approx(GRID_J / J_PER_KWH)
    assert s["jobs_renewable_share"] == pytest.approx(1 - GRID_J / JOB_J)
    assert s["jobs"] == 1 and s["jobs_done"] == 1
    assert s["jct_mean_h"] == pytest.approx(JCT_S / 3600.0)
    assert s["jct_p50_h"] == pytest.approx(JCT_S / 3600.0)
    assert s["slowdown_mean"] == pytest.approx(JCT_S / 3660.0)
    assert s["stability_slowdown_std"] == 0.0
    assert s["migrations"] == 0 and s["migrations_started"] == 0
    assert s["bytes_moved"] == 0.0 and s["migration_energy_kwh"] == 0.0
    assert s["refused_actions"] == 0


def test_site_power_frame_is_long_per_step_and_site(lone: RunRecord) -> None:
    f = site_power_frame(lone)
    assert len(f) == 10
    assert f["surplus_w"].tolist() == [300.0] * 10
    assert f["jobs"].tolist() == [0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert (f["grid_w"] * STEP_S).sum() == pytest.approx(GRID_J)


# ------------------------------------------------------------------ two sites, one move

# Two sites, one slot each at 50 W idle, 1 Gbit/s between them. A 500 W job of 2 GPU-h with a
# 9 GB checkpoint starts at site 0 at step 0 and is moved to site 1 at step 2 (1800 s):
# checkpoint 9 / 4.1 s, transfer 9 x 8 / 1 = 72 s, restore 9 / 6.9 + 60 s.
CKPT_S = 9 / 4.1
XFER_S = 72.0
RESTORE_S = 9 / 6.9 + 60.0
MOVE_S = CKPT_S + XFER_S + RESTORE_S  # 135.499 s
NET_KWH = 9 * 0.001875  # e_net x S


def moved_run(dest_kw: float) -> RunRecord:
    """Site 0 always has 2 kW; site 1 has ``dest_kw``; 12 steps (3 h)."""
    inp = hand_inputs([[2.0] * 12, [dest_kw] * 12], [{"work_gpu_h": 2.0, "size_gb": 9.0}], slots=1)
    return Simulator(inp).run(Scripted([(0, Start(0, 0)), (2, Migrate(0, 1))]))


def test_a_move_in_the_tables() -> None:
    r = moved_run(dest_kw=2.0)
    assert DEFAULTS.network_kwh_per_gb == 0.001875
    # the job never stops working except during the move: done at 60 + 7200 + the move
    row = job_table(r).iloc[0]
    assert row["jct_h"] == pytest.approx((7260.0 + MOVE_S) / 3600.0)
    assert row["slowdown"] == pytest.approx((7260.0 + MOVE_S) / 7260.0)
    assert row["migrations"] == 1 and row["wasted_migrations"] == 0
    # its energy: restart, work, checkpoint and restore at idle power, and the network energy
    job_j = 60 * IDLE_W + 7200 * 500.0 + (CKPT_S + RESTORE_S) * IDLE_W
    assert row["energy_kwh"] == pytest.approx(job_j / J_PER_KWH + NET_KWH)
    # 2 kW at both sites covers every step: its only non-renewable energy is the network's
    assert row["non_renewable_kwh"] == pytest.approx(NET_KWH)
    s = summary(r)
    assert s["migrations"] == 1 and s["migrations_started"] == 1
    assert s["wasted_migrations"] == 0
    assert s["bytes_moved"] == 9e9
    assert s["network_kwh"] == pytest.approx(NET_KWH)
    assert s["grid_kwh"] == pytest.approx(0.0)
    assert s["non_renewable_kwh"] == pytest.approx(NET_KWH)
    assert s["non_renewable_kwh"] == non_renewable_kwh(r)
    assert s["migration_energy_kwh"] == pytest.approx(
        NET_KWH + (CKPT_S + RESTORE_S) * IDLE_W / J_PER_KWH
    )
    mt = migration_table(r)
    assert mt.loc[0, ["job", "kind", "src", "dest"]].tolist() == ["j0", "migrate", "s0", "s1"]
    assert mt.loc[0, "started_s"] == 2 * STEP_S
    assert mt.loc[0, "checkpoint_done_s"] == pytest.approx(2 * STEP_S + CKPT_S)
    assert mt.loc[0, "transfer_done_s"] == pytest.approx(2 * STEP_S + CKPT_S + XFER_S)
    assert mt.loc[0, "duration_s"] == pytest.approx(MOVE_S)
    assert not mt.loc[0, "wasted"]


def test_a_move_into_the_dark_is_wasted() -> None:
    # site 1 has no surplus at all: the job lands where nothing covers it
    r = moved_run(dest_kw=0.0)
    s = summary(r)
    assert s["migrations"] == 1 and s["wasted_migrations"] == 1
    assert job_table(r).loc[0, "wasted_migrations"] == 1
    assert bool(migration_table(r).loc[0, "wasted"])
    assert s["bytes_moved"] == 9e9 and s["network_kwh"] == pytest.approx(NET_KWH)
    # site 0 (2 kW) never needs the grid; site 1 takes all of its load from it: its slot at
    # 50 W for the 3 h, plus 450 W more for the 7200 - 1740 = 5460 s of work left after the move
    # (the restore draws idle power): 50 x 10 800 + 450 x 5460 = 2 997 000 J = 0.8325 kWh
    assert s["grid_kwh"] == pytest.approx(0.8325)
    assert s["non_renewable_kwh"] == pytest.approx(s["grid_kwh"] + NET_KWH)


def test_a_move_still_in_flight_is_started_not_counted() -> None:
    # a 1000 GB checkpoint takes 8000 s over 1 Gbit/s: moved at 1800 s, still in flight at the
    # end of 4 steps (3600 s); it costs no network energy yet and the job is not done
    inp = hand_inputs([[2.0] * 4, [2.0] * 4], [{"work_gpu_h": 2.0, "size_gb": 1000.0}], slots=1)
    r = Simulator(inp).run(Scripted([(0, Start(0, 0)), (2, Migrate(0, 1))]))
    s = summary(r)
    assert s["migrations_started"] == 1 and s["migrations"] == 0
    assert s["bytes_moved"] == 0.0 and s["network_kwh"] == 0.0
    assert s["jobs_done"] == 0
    assert np.isnan(s["jct_mean_h"])
    row = job_table(r).iloc[0]
    assert row["migrations"] == 0
    # it worked from 60 s to 1800 s
    assert row["progress_gpu_h"] == pytest.approx(1740.0 / 3600.0)


# ------------------------------------------------------------------ unfinished jobs


def test_a_job_that_never_finishes_has_no_jct_and_is_not_done() -> None:
    # two slots, 4 steps (1 h): a 0.5 GPU-h job finishes at 60 + 1800 = 1860 s, a 10 GPU-h job
    # cannot
    jobs = [{"work_gpu_h": 0.5}, {"work_gpu_h": 10.0}]
    r = Simulator(hand_inputs([[2.0] * 4], jobs, slots=2)).run(StayPolicy())
    t = job_table(r)
    assert t.loc[0, "jct_h"] == pytest.approx(1860.0 / 3600.0)
    assert np.isnan(t.loc[1, "jct_h"]) and np.isnan(t.loc[1, "slowdown"])
    assert t.loc[1, "done"] is pd.NaT
    assert t.loc[1, "progress_gpu_h"] == pytest.approx((3600.0 - 60.0) / 3600.0)
    s = summary(r)
    assert s["jobs"] == 2 and s["jobs_done"] == 1
    assert s["jct_mean_h"] == pytest.approx(1860.0 / 3600.0)
    # alone it takes restart + work = 60 + 1800 s too: it never waited
    assert s["slowdown_mean"] == pytest.approx(1.0)
