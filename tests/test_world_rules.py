"""The world's rules: arrival steps, refusals and their order, targets, the wasted-move rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from test_sim_engine import STEP_S, hand_inputs

from greenhop.errors import InputError
from greenhop.policies import StayPolicy
from greenhop.policies.base import Action, JobState, Migrate, Pause, Resume, Start
from greenhop.sim.engine import Simulator
from greenhop.world.rules import action_target, arrival_steps, is_wasted_move, refusal

# ------------------------------------------------------------------ arrivals


def test_arrival_on_a_boundary_joins_that_step_inside_a_step_the_next() -> None:
    # 900 s steps: 0 -> 0; 1, 450, 899.9 lie inside step 0 -> 1; 900 is step 1's start -> 1;
    # 901 -> 2; 1800 -> 2; 2700.5 -> 4
    got = arrival_steps([0.0, 1.0, 450.0, 899.9, 900.0, 901.0, 1800.0, 2700.5], 900.0)
    assert got.tolist() == [0, 1, 1, 1, 1, 2, 2, 4]
    assert got.dtype == np.int64


def test_arrival_step_absorbs_rounding_at_a_boundary() -> None:
    # 0.1 + 0.2 = 0.30000000000000004 s: a step of 0.1 s puts it at step 3, not 4
    assert arrival_steps([0.1 + 0.2], 0.1).tolist() == [3]


def test_the_simulator_starts_jobs_at_their_arrival_step() -> None:
    # one site with 3 free slots and sun: a job starts as soon as it arrives
    jobs = [{"work_gpu_h": 0.5, "arrival_s": a} for a in (0.0, 900.0, 901.0)]
    r = Simulator(hand_inputs([[5.0] * 12], jobs, slots=3)).run(StayPolicy())
    assert r.job_start_s.tolist() == [0.0, STEP_S, 2 * STEP_S]


# ------------------------------------------------------------------ refusals

Q, R, P, C = JobState.QUEUED, JobState.RUNNING, JobState.PAUSED, JobState.CHECKPOINTING

# job 0 queued (nowhere), job 1 running at site 0, job 2 paused at site 1, job 3 checkpointing
# at site 2; free slots: site 0 one, site 1 none, site 2 one
STATE = np.array([Q, R, P, C], dtype=np.int64)
SITE = np.array([-1, 0, 1, 2], dtype=np.int64)
FREE = np.array([1, 0, 1], dtype=np.int64)


def why(act: Action, free: np.ndarray = FREE) -> str:
    return refusal(act, STATE, SITE, free)


@pytest.mark.parametrize(
    ("act", "reason"),
    [
        (Start(0, 0), ""),
        (Start(0, 2), ""),
        (Migrate(1, 2), ""),
        (Pause(1), ""),
        (Resume(2, 0), ""),
        (Resume(2, 2), ""),
        (Start(4, 0), "no such job"),
        (Start(-1, 0), "no such job"),
        (Pause(7), "no such job"),
        (Start(0, 3), "no such site"),
        (Start(0, -1), "no such site"),
        (Migrate(1, 5), "no such site"),
        (Resume(2, 3), "no such site"),
        (Start(0, 1), "no free slot at the site"),
        (Migrate(1, 1), "no free slot at the site"),
        (Resume(2, 1), "no free slot at the site"),
        (Start(1, 0), "job is RUNNING, not QUEUED"),
        (Start(2, 0), "job is PAUSED, not QUEUED"),
        (Migrate(0, 2), "job is QUEUED, not RUNNING"),
        (Migrate(2, 0), "job is PAUSED, not RUNNING"),
        (Migrate(3, 0), "job is CHECKPOINTING, not RUNNING"),
        (Pause(0), "job is QUEUED, not RUNNING"),
        (Pause(2), "job is PAUSED, not RUNNING"),
        (Resume(1, 0), "job is RUNNING, not PAUSED"),
        (Resume(0, 0), "job is QUEUED, not PAUSED"),
        (Migrate(1, 0), "already at that site"),
    ],
)
def test_refusal_reasons(act: Action, reason: str) -> None:
    assert why(act) == reason


def test_refusal_checks_the_job_before_the_site_before_the_slot_before_the_state() -> None:
    # no such job and no such site: the job comes first
    assert why(Start(9, 9)) == "no such job"
    # no such site and the wrong state: the site comes first
    assert why(Start(1, 9)) == "no such site"
    # a full site and the wrong state: the slot comes first
    assert why(Start(1, 1)) == "no free slot at the site"
    # the wrong state and a move to its own site: the state comes first (job 3 is at site 2)
    assert why(Migrate(3, 2)) == "job is CHECKPOINTING, not RUNNING"
    # a move to its own, full site: the slot comes first
    assert why(Migrate(1, 0), np.array([0, 1, 1])) == "no free slot at the site"


def test_a_pause_takes_no_slot() -> None:
    assert why(Pause(1), np.zeros(3, dtype=np.int64)) == ""


def test_every_state_is_named_in_the_refusal() -> None:
    for st in JobState:
        state = np.array([int(st)], dtype=np.int64)
        reason = refusal(Pause(0), state, np.array([0]), np.array([1]))
        if st == JobState.RUNNING:
            assert reason == ""
        else:
            assert reason == f"job is {st.name}, not RUNNING"


@dataclass(frozen=True)
class Stop:
    """Not an action the world knows."""

    job: int


def test_an_unknown_action_type_raises() -> None:
    with pytest.raises(InputError, match=r"unknown action Stop\(job=0\).*Start, Migrate"):
        refusal(Stop(0), STATE, SITE, FREE)  # type: ignore[arg-type]


def test_action_target_is_the_site_that_gives_a_slot() -> None:
    assert action_target(Start(0, 2)) == 2
    assert action_target(Resume(0, 1)) == 1
    assert action_target(Migrate(0, 3)) == 3
    assert action_target(Pause(0)) is None


# ------------------------------------------------------------------ wasted moves


def test_wasted_move_threshold() -> None:
    # 1000 W surplus, 600 W already drawn: 400 W left; the job needs 500 - 100 = 400 W more than
    # the idle slot it takes. Exactly covered: not wasted; a tenth of a watt short: wasted
    assert is_wasted_move(1000.0, 600.0, 500.0, 100.0) is False
    assert is_wasted_move(999.9, 600.0, 500.0, 100.0) is True
    assert is_wasted_move(1000.0, 600.1, 500.0, 100.0) is True
    assert is_wasted_move(1000.0, 600.0, 499.9, 100.0) is False
    # a site below its base load (negative surplus) wastes any move
    assert is_wasted_move(-50.0, 0.0, 10.0, 0.0) is True
