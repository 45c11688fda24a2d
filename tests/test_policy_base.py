"""The online policies' shared rules: admission, jobs in deficit, free slots after actions."""

from __future__ import annotations

import numpy as np
from test_sim_engine import hand_inputs

from greenhop.policies.base import (
    Action,
    JobState,
    Migrate,
    Pause,
    Resume,
    Start,
    View,
    admit_queued,
    free_slots_after,
    jobs_in_deficit,
)
from greenhop.world.inputs import SimInputs
from greenhop.world.jobs import JobTable
from greenhop.world.view import make_view

Q, R, P = JobState.QUEUED, JobState.RUNNING, JobState.PAUSED


def world(
    surplus_kw: list[float],
    jobs: list[dict[str, float]],
    *,
    slots: int = 2,
    state: list[JobState] | None = None,
    site: list[int] | None = None,
) -> tuple[SimInputs, JobTable]:
    """Sites with a constant surplus (kW, no base load) for 4 steps and slots idling at 50 W,
    and the jobs' table: every job queued unless ``state`` says otherwise."""
    inputs = hand_inputs([[kw] * 4 for kw in surplus_kw], jobs, slots=slots)
    table = JobTable.pending(len(jobs))
    table.state[:] = [int(s) for s in state] if state else int(Q)
    if site is not None:
        table.site[:] = site
    return inputs, table


def view_of(inputs: SimInputs, table: JobTable, *, it_load_w: list[float], free: list[int]) -> View:
    n = len(inputs.site_names)
    return make_view(
        inputs,
        0,
        jobs=table.view(inputs.jobs),
        it_load_w=np.array(it_load_w, dtype=float),
        free_slots=np.array(free, dtype=np.int64),
        bandwidth_gbps=inputs.bandwidth_gbps,
        battery_soc_kwh=np.zeros(n),
        battery_capacity_kwh=np.zeros(n),
    )


# ------------------------------------------------------------------ admission


def test_a_job_goes_to_its_preferred_site_when_it_has_a_free_slot() -> None:
    # site 1 has far more power, but job 0 prefers site 0
    inp, tab = world([0.5, 3.0], [{"work_gpu_h": 1.0, "site": 0}])
    view = view_of(inp, tab, it_load_w=[100.0, 100.0], free=[2, 2])
    assert admit_queued(view) == [Start(0, 0)]


def test_a_job_waits_when_its_preferred_site_is_full_and_others_go_on() -> None:
    # job 0 prefers the full site 0 and waits; job 1, arriving later, goes to site 1
    jobs = [{"work_gpu_h": 1.0, "site": 0}, {"work_gpu_h": 1.0, "arrival_s": 10.0}]
    inp, tab = world([3.0, 0.5], jobs)
    view = view_of(inp, tab, it_load_w=[100.0, 100.0], free=[0, 2])
    assert admit_queued(view) == [Start(1, 1)]


def test_the_site_with_the_most_renewable_power_left_wins() -> None:
    # 3 slots a site idling at 150 W: available = surplus - 150 + 50 = 900, 1900, 1500 W.
    # 500 W jobs in arrival order: j0 -> site 1 (1900, then 1400 left), j1 -> site 2 (1500, then
    # 1000), j2 -> site 1 (1400, then 900), j3 -> site 2 (1000 beats 900 at site 0)
    jobs = [{"work_gpu_h": 1.0, "arrival_s": float(a)} for a in range(4)]
    inp, tab = world([1.0, 2.0, 1.6], jobs, slots=3)
    view = view_of(inp, tab, it_load_w=[150.0] * 3, free=[3, 3, 3])
    assert admit_queued(view) == [Start(0, 1), Start(1, 2), Start(2, 1), Start(3, 2)]


def test_available_power_counts_what_the_site_draws_now() -> None:
    # equal surplus, but site 0 already draws 1 kW more: site 1 wins
    inp, tab = world([2.0, 2.0], [{"work_gpu_h": 1.0}])
    view = view_of(inp, tab, it_load_w=[1100.0, 100.0], free=[2, 2])
    np.testing.assert_allclose(view.available_w(), [950.0, 1950.0])
    assert admit_queued(view) == [Start(0, 1)]


def test_ties_go_to_the_lower_index() -> None:
    inp, tab = world([1.0, 1.0, 1.0], [{"work_gpu_h": 1.0}])
    assert admit_queued(view_of(inp, tab, it_load_w=[100.0] * 3, free=[2, 2, 2])) == [Start(0, 0)]
    inp, tab = world([0.5, 1.0, 1.0], [{"work_gpu_h": 1.0}])
    assert admit_queued(view_of(inp, tab, it_load_w=[100.0] * 3, free=[2, 2, 2])) == [Start(0, 1)]


def test_a_full_site_is_never_chosen_however_sunny() -> None:
    inp, tab = world([9.0, 0.0], [{"work_gpu_h": 1.0}])
    assert admit_queued(view_of(inp, tab, it_load_w=[100.0, 100.0], free=[0, 1])) == [Start(0, 1)]


ARRIVALS = [{"work_gpu_h": 1.0, "arrival_s": a} for a in (600.0, 0.0, 300.0)]


def test_jobs_are_admitted_in_order_of_arrival_not_of_index() -> None:
    # one site, two free slots, three jobs arriving at 600, 0 and 300 s: jobs 1 and 2 get them
    inp, tab = world([5.0], ARRIVALS, slots=3)
    view = view_of(inp, tab, it_load_w=[150.0], free=[2])
    assert admit_queued(view) == [Start(1, 0), Start(2, 0)]


def test_excluded_jobs_are_deferred() -> None:
    inp, tab = world([5.0], ARRIVALS, slots=3)
    view = view_of(inp, tab, it_load_w=[150.0], free=[2])
    assert admit_queued(view, exclude=frozenset({1})) == [Start(2, 0), Start(0, 0)]
    assert admit_queued(view, exclude=frozenset({0, 1, 2})) == []


def test_admission_stops_when_no_slot_is_free() -> None:
    jobs = [{"work_gpu_h": 1.0, "arrival_s": float(a)} for a in range(3)]
    inp, tab = world([1.0, 2.0], jobs)
    assert admit_queued(view_of(inp, tab, it_load_w=[100.0, 100.0], free=[1, 0])) == [Start(0, 0)]
    assert admit_queued(view_of(inp, tab, it_load_w=[100.0, 100.0], free=[0, 0])) == []


def test_only_queued_jobs_are_admitted() -> None:
    jobs = [{"work_gpu_h": 1.0, "arrival_s": float(a)} for a in range(4)]
    state = [JobState.PENDING, R, P, Q]
    inp, tab = world([2.0], jobs, slots=4, state=state, site=[-1, 0, 0, -1])
    assert admit_queued(view_of(inp, tab, it_load_w=[600.0], free=[2])) == [Start(3, 0)]


def test_admission_reads_the_view_without_changing_it() -> None:
    inp, tab = world([1.0, 2.0], [{"work_gpu_h": 1.0}])
    view = view_of(inp, tab, it_load_w=[100.0, 100.0], free=[1, 1])
    admit_queued(view)
    assert view.free_slots.tolist() == [1, 1]
    assert tab.state.tolist() == [int(Q)]


# ------------------------------------------------------------------ jobs in deficit

# one 500 W job running at site 0 next to an idle slot: site 0 draws 550 W, site 1 two idle
# slots, 100 W
LOAD = [550.0, 100.0]


def test_no_deficit_without_a_running_job() -> None:
    inp, tab = world([0.0, 5.0], [{"work_gpu_h": 1.0}])
    assert jobs_in_deficit(view_of(inp, tab, it_load_w=[100.0, 100.0], free=[2, 2]), []) is None
    inp, tab = world([0.0, 5.0], [{"work_gpu_h": 1.0}], state=[P], site=[0])
    assert jobs_in_deficit(view_of(inp, tab, it_load_w=[100.0, 100.0], free=[2, 2]), []) is None


def test_no_deficit_when_the_renewables_cover_every_running_job() -> None:
    # 550 W of surplus for 550 W of load: covered exactly
    inp, tab = world([0.55, 5.0], [{"work_gpu_h": 1.0}], state=[R], site=[0])
    assert jobs_in_deficit(view_of(inp, tab, it_load_w=LOAD, free=[1, 2]), []) is None


def test_a_running_job_short_of_renewables_is_a_mover() -> None:
    # site 0: 200 W of surplus for 550 W: own = 200 - 550 = -350 W, available for one more job
    # -350 + 50 = -300 W; site 1: own 1000 - 100 = 900 W, available 950 W
    inp, tab = world([0.2, 1.0], [{"work_gpu_h": 1.0}], state=[R], site=[0])
    d = jobs_in_deficit(view_of(inp, tab, it_load_w=LOAD, free=[1, 2]), [])
    assert d is not None
    assert d.movers == [0]
    np.testing.assert_allclose(d.own_w, [-350.0, 900.0])
    np.testing.assert_allclose(d.available_w, [-300.0, 950.0])
    assert d.free.tolist() == [1, 2]


def test_no_deficit_to_act_on_when_no_slot_is_free() -> None:
    inp, tab = world([0.2, 1.0], [{"work_gpu_h": 1.0}], state=[R], site=[0])
    assert jobs_in_deficit(view_of(inp, tab, it_load_w=LOAD, free=[0, 0]), []) is None
    # site 1's two free slots are taken by the policy's own starts this step
    view = view_of(inp, tab, it_load_w=LOAD, free=[0, 2])
    assert jobs_in_deficit(view, []) is not None
    assert jobs_in_deficit(view, [Start(5, 1), Start(6, 1)]) is None


def test_no_deficit_to_act_on_when_no_site_has_power_left() -> None:
    # site 1 without surplus: available = 0 - 100 + 50 = -50 W; site 0: -300 W
    inp, tab = world([0.2, 0.0], [{"work_gpu_h": 1.0}], state=[R], site=[0])
    assert jobs_in_deficit(view_of(inp, tab, it_load_w=LOAD, free=[1, 2]), []) is None


def test_whole_job_asks_for_power_enough_for_the_smallest_mover() -> None:
    # site 1: 400 W of surplus, 350 W available, less than the 500 W job
    inp, tab = world([0.2, 0.4], [{"work_gpu_h": 1.0}], state=[R], site=[0])
    view = view_of(inp, tab, it_load_w=LOAD, free=[1, 2])
    assert jobs_in_deficit(view, []) is not None
    assert jobs_in_deficit(view, [], whole_job=True) is None
    # 600 W of surplus: 550 W available, enough
    inp, tab = world([0.2, 0.6], [{"work_gpu_h": 1.0}], state=[R], site=[0])
    view = view_of(inp, tab, it_load_w=LOAD, free=[1, 2])
    assert jobs_in_deficit(view, [], whole_job=True) is not None


def test_movers_are_ordered_by_the_deficit_of_their_site() -> None:
    # 500 W jobs, 3 slots a site at 50 W idle:
    #   site 0: jobs 0 and 2 running, one idle slot: 1050 W for 950 W of surplus, own -100 W
    #   site 1: job 1 running, two idle slots: 600 W for 200 W, own -400 W
    #   site 2: job 3 running: 600 W for 3000 W, own 2400 W (not in deficit)
    #   job 4 is paused at site 1 and is no mover
    jobs = [{"work_gpu_h": 1.0} for _ in range(5)]
    inp, tab = world([0.95, 0.2, 3.0], jobs, slots=3, state=[R, R, R, R, P], site=[0, 1, 0, 2, 1])
    view = view_of(inp, tab, it_load_w=[1050.0, 600.0, 600.0], free=[1, 2, 2])
    d = jobs_in_deficit(view, [])
    assert d is not None
    # the largest deficit first (site 1), then site 0's jobs in index order
    assert d.movers == [1, 0, 2]
    np.testing.assert_allclose(d.own_w, [-100.0, -400.0, 2400.0])
    # a decided move of job 1 to site 2 updates the working copies, not the view
    d.moved(500.0, src=1, dest=2)
    assert d.free.tolist() == [1, 2, 1]
    np.testing.assert_allclose(d.available_w, [-50.0, 150.0, 1950.0])
    np.testing.assert_allclose(d.own_w, [-100.0, 100.0, 2400.0])
    assert view.free_slots.tolist() == [1, 2, 2]
    np.testing.assert_allclose(view.available_w(), [-50.0, -350.0, 2450.0])


# ------------------------------------------------------------------ free slots after actions


def test_free_slots_after_actions() -> None:
    inp, tab = world([1.0, 1.0, 1.0], [{"work_gpu_h": 1.0}] * 4, slots=3)
    view = view_of(inp, tab, it_load_w=[150.0] * 3, free=[2, 1, 3])
    # a start and a resume take their site's slot, a move its destination's, a pause none
    acts: list[Action] = [Start(0, 0), Migrate(1, 1), Resume(2, 0), Pause(3), Start(3, 2)]
    assert free_slots_after(view, acts).tolist() == [0, 0, 2]
    assert free_slots_after(view, []).tolist() == [2, 1, 3]
    assert view.free_slots.tolist() == [2, 1, 3]
