"""The simulator's fast paths change nothing: quiet spans advanced at once (a policy's
``quiet_steps``) give the run that asking the policy at every step gives, bit for bit, and
``steps_without_deficit`` answers what ``jobs_in_deficit`` answers, step by step.

Real inputs: the bundled German scenario (real Solcast PV and issued forecasts), as it is and
with more jobs (so that jobs queue, finish and move while others run), awake and with idle slots
that sleep.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import WATTTIME, unpack_grid_data

from greenhop.policies import make_policy
from greenhop.policies.base import (
    JobState,
    Policy,
    View,
    jobs_in_deficit,
    steps_without_deficit,
)
from greenhop.scenario import load_scenario
from greenhop.sim.engine import SimulatedWorld, Simulator
from greenhop.sim.workload import generate_jobs
from greenhop.world.inputs import SimInputs, SlotSleep
from greenhop.world.loop import decide_and_act
from greenhop.world.record import RunRecord

POLICIES = ("stay", "energy-only", "feasibility-aware", "lookahead")


class Asked(Policy):
    """``inner``, counting how often it is asked to decide; ``spans`` False hides its
    ``quiet_steps`` (the world then asks it at every step)."""

    def __init__(self, inner: Policy, *, spans: bool) -> None:
        self.inner = inner
        self.name = inner.name
        self.asked = 0
        if not spans:
            self.quiet_steps = None  # type: ignore[assignment]

    def decide(self, now: float, view: View) -> list:  # type: ignore[type-arg]
        self.asked += 1
        return self.inner.decide(now, view)

    def quiet_steps(self, view: View, surplus_w: np.ndarray, it_load_w: np.ndarray) -> int:
        return self.inner.quiet_steps(view, surplus_w, it_load_w)


@pytest.fixture(scope="module")
def germany() -> SimInputs:
    return SimInputs.from_scenario(load_scenario("germany"))


def _busy(inputs: SimInputs, n_jobs: int = 120) -> SimInputs:
    """The German sites with ``n_jobs`` generated jobs over the run (some four at a time on
    the ten sites' 80 slots)."""
    jobs = generate_jobs(n_jobs, inputs.n_steps * inputs.step_s, seed=3, arrival_share=0.8)
    return dataclasses.replace(inputs, jobs=jobs)


def _crowded(inputs: SimInputs) -> SimInputs:
    """200 jobs on one slot per site: jobs queue for a slot."""
    crowded = _busy(inputs, 200)
    return dataclasses.replace(crowded, slots=np.ones_like(inputs.slots))


def _deadlines(inputs: SimInputs) -> SimInputs:
    """Every other job with a deadline of twice its work after its arrival (lookahead may
    defer, pause and resume those)."""
    jobs = inputs.jobs
    due = jobs.arrival_s + 2.0 * jobs.work_gpu_h * 3600.0
    deadline = np.where(np.arange(len(jobs)) % 2 == 0, due, np.inf)
    return dataclasses.replace(inputs, jobs=dataclasses.replace(jobs, deadline_s=deadline))


def _mixed_parts(inputs: SimInputs) -> SimInputs:
    """Every third site an A100 among H100s: 312 against 989.4 dense bf16 TFLOP/s, 400
    against 700 W at full load (the vendors' data sheets)."""
    third = np.arange(len(inputs.site_names)) % 3 == 0
    speed = np.where(third, 312.0 / 989.4, 1.0)
    power = np.where(third, 400.0 / 700.0, 1.0)
    return dataclasses.replace(inputs, site_speed=speed, site_power_factor=power)


def _slow(inputs: SimInputs) -> SimInputs:
    """Links at a tenth of their bandwidth: transfers last several steps."""
    return dataclasses.replace(inputs, bandwidth_gbps=inputs.bandwidth_gbps * 0.1)


def _asleep(inputs: SimInputs) -> SimInputs:
    n = len(inputs.site_names)
    sleep = SlotSleep(np.full(n, 20.0), np.full(n, 45.0), np.full(n, 3000.0))
    return dataclasses.replace(inputs, sleep=sleep)


def _same(a: RunRecord, b: RunRecord) -> None:
    assert a.events == b.events
    assert [dataclasses.astuple(m) for m in a.migrations] == [
        dataclasses.astuple(m) for m in b.migrations
    ]
    assert a.refused == b.refused
    for name in ("job_done_s", "job_progress_gpu_h", "job_run_s_at", "it_load_w", "grid_w"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.running_jobs, b.running_jobs)
    assert a.placement is not None and b.placement is not None
    np.testing.assert_array_equal(a.placement, b.placement)
    assert a.job_energy is not None and b.job_energy is not None
    for x, y in zip(a.job_energy, b.job_energy, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "case",
    [
        "as-bundled",
        "busy",
        "busy-asleep",
        "busy-slow-links",
        "busy-deadlines",
        "crowded",
        "mixed-parts",
    ],
)
@pytest.mark.parametrize("name", POLICIES)
def test_quiet_spans_give_the_run_of_every_step(
    germany: SimInputs, case: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = {
        "as-bundled": germany,
        "busy": _busy(germany),
        "busy-asleep": _asleep(_busy(germany)),
        "busy-slow-links": _slow(_busy(germany)),
        "busy-deadlines": _deadlines(_busy(germany)),
        "crowded": _crowded(germany),
        "mixed-parts": _mixed_parts(_deadlines(_crowded(germany))),
    }[case]
    # the steps that quiet spans advanced while transfers were under way, or jobs queued
    in_transfer, queued = [], []
    # the steps quiet_span advanced one by one, as advance does (a job finishes, lands or
    # restores in them, and the policy decides nothing)
    chained: list[int] = []
    quiet_span, advance = SimulatedWorld.quiet_span, SimulatedWorld.advance
    inside = [False]

    def counted(world: SimulatedWorld, k: int, stop: int, policy: Policy) -> int:
        moving = any(world.jobs.state[j] == JobState.TRANSFERRING for j in world._stepping)
        waiting = bool((world.jobs.state == JobState.QUEUED).any())
        inside[0] = True
        try:
            n = quiet_span(world, k, stop, policy)
        finally:
            inside[0] = False
        if moving:
            in_transfer.append(n)
        if waiting:
            queued.append(n)
        return n

    def advanced(world: SimulatedWorld, k: int, now_s: float) -> None:
        if inside[0]:
            chained.append(k)
        advance(world, k, now_s)

    monkeypatch.setattr(SimulatedWorld, "quiet_span", counted)
    monkeypatch.setattr(SimulatedWorld, "advance", advanced)
    sim = Simulator(inputs, record_placement=True)
    every = Asked(make_policy(name), spans=False)
    spans = Asked(make_policy(name), spans=True)
    a, b = sim.run(every), sim.run(spans)
    if case == "busy-deadlines" and name == "lookahead":  # it paused jobs for their deadline
        assert sum(1 for e in a.events if e[2] == "pause") > 0
    if case == "crowded":  # spans went on while jobs queued for a slot
        assert sum(queued) > 100, queued
    if case == "busy-slow-links" and name == "energy-only":
        # spans went on while checkpoints crossed the links (the same run, checked below)
        assert sum(in_transfer) > 20, in_transfer
    _same(a, b)
    assert every.asked > 0
    # the spans did skip steps (this is what makes them worth having)
    assert spans.asked < every.asked * 0.8, (spans.asked, every.asked)
    if case != "as-bundled":
        assert np.isfinite(a.job_done_s).sum() > 50  # jobs finished and ...
        if name != "stay":
            assert len(a.migrations) > 0  # ... moved while others ran
        # steps in which jobs finished were advanced without asking the policy
        step_s = inputs.step_s
        done_at = {int(t // step_s) for t, _, kind, _ in b.events if kind == "done"}
        assert len(done_at & set(chained)) > 10, (len(done_at), len(chained))
        if name != "stay" and case.startswith("busy"):
            # and steps in which moved jobs finished their restore (not where jobs crowd: a
            # queued job then takes the slot a move left, so the policy is asked there)
            restored_at = {int(t // step_s) for t, _, kind, _ in b.events if kind == "restored"}
            assert restored_at & set(chained), (len(restored_at), len(chained))


@pytest.mark.parametrize("whole_job", [False, True])
def test_steps_without_deficit_answers_as_jobs_in_deficit(
    germany: SimInputs, whole_job: bool
) -> None:
    """At every step of a busy run, the one-row answer of steps_without_deficit is whether
    jobs_in_deficit (no actions before it) finds nothing to decide."""
    inputs = _busy(germany)
    world = SimulatedWorld(inputs)
    policy = make_policy("feasibility-aware")
    checked = {True: 0, False: 0}
    for k in range(inputs.n_steps):
        now = k * inputs.step_s
        world.arrive(k, now)
        if world.has_active_jobs():
            view = world.view(k, now)
            rows = steps_without_deficit(
                view,
                inputs.surplus_w[k : k + 1],
                view.it_load_w,
                whole_job=whole_job,
            )
            none = jobs_in_deficit(view, [], whole_job=whole_job) is None
            assert rows == int(none), k
            checked[none] += 1
            decide_and_act(world, policy, k, now)
        world.advance(k, now)
    assert checked[True] > 100 and checked[False] > 100, checked


def test_a_span_stops_where_the_deficit_begins(germany: SimInputs) -> None:
    """Over many rows (several chunks): the count is the first row at which jobs_in_deficit,
    shown that row's surplus and load, finds something to decide."""
    inputs = _busy(germany)
    world = SimulatedWorld(inputs)
    policy = make_policy("stay")
    half = inputs.n_steps // 2
    for k in range(half):  # half-way: jobs run
        now = k * inputs.step_s
        world.arrive(k, now)
        if world.has_active_jobs():
            decide_and_act(world, policy, k, now)
        world.advance(k, now)
    view = world.view(half, half * inputs.step_s)
    assert view.jobs.in_state(JobState.RUNNING).size > 0 and (view.free_slots > 0).any()
    rows = 600
    surplus = inputs.surplus_w[half : half + rows]
    # the first row shows the view's load, every later one this load (as in a quiet span)
    load = view.it_load_w * 1.01
    want = next(
        i
        for i in range(rows)
        if jobs_in_deficit(
            dataclasses.replace(
                view, surplus_w=surplus[i], it_load_w=view.it_load_w if i == 0 else load
            ),
            [],
        )
        is not None
    )
    assert want > 4  # beyond the first chunk
    assert steps_without_deficit(view, surplus, load) == want
    assert steps_without_deficit(view, surplus[:want], load) == want


def test_carbon_aware_spans_give_the_run_of_every_step(tmp_path: Path) -> None:
    """The carbon-aware baseline on a real marginal-emissions signal (WattTime CAISO-North,
    with its issued forecasts) and PV from the bundled US sites' typical-year weather: jobs
    wait for their planned start, in quiet spans, and the run is the one asking at every
    step."""
    data = unpack_grid_data(tmp_path)
    sites = "\n".join(
        f"""[[sites]]
name = "site-{i}"
weather = "{weather}"
gpu_slots = 2
base_load_w = 3000.0
pv = {{ peak_kw = {6 + 2 * i}.0, tilt_deg = 30.0, azimuth_deg = 180.0 }}
region = "caiso-north"
"""
        for i, weather in enumerate(("greensboro", "nw-colorado", "piedmont", "sand-point"))
    )
    path = tmp_path / "carbon.toml"
    path.write_text(
        f"""name = "carbon-spans"
start = 2023-06-10T00:00:00Z
end = 2023-06-24T00:00:00Z
step = "15min"
forecaster = "persistence"
{sites}
[[grid]]
signal = "carbon"
kind = "marginal"
file = "{data / WATTTIME}_actual.csv"
unit = "lbs/MWh"
label = "end"
forecast = "{data / WATTTIME}_forecast.csv"
region = "caiso-north"
"""
    )
    inputs = _deadlines(_busy(SimInputs.from_scenario(load_scenario(path)), 60))
    sim = Simulator(inputs, record_placement=True)
    every = Asked(make_policy("carbon-aware"), spans=False)
    spans = Asked(make_policy("carbon-aware"), spans=True)
    a, b = sim.run(every), sim.run(spans)
    _same(a, b)
    waited = a.job_start_s - inputs.jobs.arrival_s
    assert (waited > 3600).sum() > 10  # starts were shifted (planned later than arrival)
    assert np.isfinite(a.job_done_s).sum() > 40
    assert spans.asked < every.asked * 0.5, (spans.asked, every.asked)
