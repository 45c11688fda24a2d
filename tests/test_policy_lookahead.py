"""The lookahead policy's documented rules, on hand-built worlds."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from test_sim_engine import STEP_S, hand_inputs

from greenhop.energy.battery import BatterySpec
from greenhop.policies import FeasibilityAwarePolicy, LookaheadPolicy, StayPolicy
from greenhop.sim.engine import Simulator
from greenhop.sim.metrics import summary


def with_deadline(inputs, deadline_s: float):  # type: ignore[no-untyped-def]
    jobs = dataclasses.replace(inputs.jobs, deadline_s=np.full(len(inputs.jobs), deadline_s))
    return dataclasses.replace(inputs, jobs=jobs)


def test_waits_for_a_short_gap_instead_of_moving() -> None:
    # site 0 has a 30-minute gap (2 steps) at step 4; site 1 has surplus all along
    gen = [[2.0] * 4 + [0.0] * 2 + [2.0] * 58, [2.0] * 64]
    inp = hand_inputs(gen, [{"work_gpu_h": 6.0, "site": 0}])
    assert len(Simulator(inp).run(FeasibilityAwarePolicy()).migrations) >= 1
    assert Simulator(inp).run(LookaheadPolicy(patience_h=1.0)).migrations == []
    # a gap longer than its patience: it moves
    gen_long = [[2.0] * 4 + [0.0] * 60, [2.0] * 64]
    inp2 = hand_inputs(gen_long, [{"work_gpu_h": 6.0, "site": 0}])
    assert len(Simulator(inp2).run(LookaheadPolicy(patience_h=1.0)).migrations) == 1


def test_hysteresis_limits_moves_per_dwell_time() -> None:
    # surplus alternates between the two sites every 30 min (2 steps) for long stretches
    a = ([2.0] * 2 + [0.0] * 2) * 16
    b = ([0.0] * 2 + [2.0] * 2) * 16
    inp = hand_inputs([a, b], [{"work_gpu_h": 10.0, "site": 0, "size_gb": 1.0}])
    r = Simulator(inp).run(LookaheadPolicy(patience_h=0.25, min_dwell_h=2.0, gain_factor=0.0))
    starts = sorted(m.started_s for m in r.migrations)
    assert starts, "it should move at least once"
    assert all(t2 - t1 >= 2 * 3600 - 1e-6 for t1, t2 in itertools.pairwise(starts))


def test_deferrable_job_pauses_without_surplus_and_resumes_with_it() -> None:
    # 2 h of surplus, 8 h of darkness, then 10 h of surplus; job of 4 GPU-hours
    gen = [[2.0] * 8 + [0.0] * 32 + [2.0] * 40]
    inp = with_deadline(hand_inputs(gen, [{"work_gpu_h": 4.0}], slots=1), 80 * STEP_S)
    r = Simulator(inp).run(LookaheadPolicy())
    kinds = [e[2] for e in r.events]
    assert "pause" in kinds and "resume" in kinds
    assert r.job_done_s[0] <= inp.jobs.deadline_s[0]
    stay = summary(Simulator(inp).run(StayPolicy()))
    look = summary(r)
    # it saves the 2 h it would run on the grid: (500 W - 50 W idle) x 2 h = 0.9 kWh, less restore
    assert stay["grid_kwh"] - look["grid_kwh"] > 0.85
    assert r.job_progress_gpu_h[0] == pytest.approx(4.0)


def test_tight_deadline_is_not_paused() -> None:
    gen = [[2.0] * 8 + [0.0] * 32 + [2.0] * 40]
    # deadline right after the work would end if it never stops
    inp = with_deadline(hand_inputs(gen, [{"work_gpu_h": 4.0}], slots=1), 18 * STEP_S)
    r = Simulator(inp).run(LookaheadPolicy())
    assert "pause" not in [e[2] for e in r.events]
    assert r.job_done_s[0] <= 18 * STEP_S


def test_deferrable_queued_job_waits_for_surplus() -> None:
    gen = [[0.0] * 16 + [2.0] * 48]
    inp = with_deadline(hand_inputs(gen, [{"work_gpu_h": 4.0}], slots=1), 64 * STEP_S)
    r = Simulator(inp).run(LookaheadPolicy())
    assert r.job_start_s[0] == pytest.approx(16 * STEP_S)
    assert summary(r)["grid_kwh"] < summary(Simulator(inp).run(StayPolicy()))["grid_kwh"]


def test_a_charged_battery_keeps_the_job_home() -> None:
    gen = [[2.0] * 4 + [0.0] * 60, [0.0] * 4 + [2.0] * 60]
    bats = [BatterySpec(capacity_kwh=20.0, max_power_kw=5.0, initial_soc=1.0), None]
    inp = hand_inputs(gen, [{"work_gpu_h": 6.0, "site": 0}], batteries=bats)
    r = Simulator(inp).run(LookaheadPolicy())
    first_move = min((m.started_s for m in r.migrations), default=np.inf)
    # the battery (20 kWh) carries the 500 W job for hours before it needs to move
    assert first_move > 8 * STEP_S
