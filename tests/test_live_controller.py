"""The live controller on a real 3-node Ray cluster (one node per site) with real training.

One run of the bundled live-demo scenario (a day of three real sites' generation, three jobs,
the feasibility-aware policy), replayed as fast as the jobs train, is stopped half-way and
carried on by a new controller on the same state database. The tests check that placement
follows the policy (the same moves the simulator makes), that jobs move when the surplus
moves, that the ledger adds up, and that the restarted controller resumed every job from its
last checkpoint and ended bit-identical to an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")
torch = pytest.importorskip("torch")

from greenhop.energy.battery import BatterySpec  # noqa: E402
from greenhop.errors import InputError  # noqa: E402
from greenhop.live.cluster.local import LocalCluster  # noqa: E402
from greenhop.live.control.controller import Controller  # noqa: E402
from greenhop.live.control.results import live_result  # noqa: E402
from greenhop.live.control.scenario import LiveScenario  # noqa: E402
from greenhop.live.control.state import ControllerState  # noqa: E402
from greenhop.live.jobs.checkpoint import Checkpoint  # noqa: E402
from greenhop.live.jobs.driver import LiveJobs  # noqa: E402
from greenhop.policies import make_policy  # noqa: E402
from greenhop.policies.base import JobState  # noqa: E402
from greenhop.scenario import load_scenario  # noqa: E402
from greenhop.sim import Simulator  # noqa: E402
from greenhop.world.ledger import check_conservation, non_renewable_kwh  # noqa: E402

pytestmark = pytest.mark.live

SPEEDUP = 1e6  # ticks are paced by the training alone: each ends once the jobs did its steps
STOP_AT = 55  # between the demo's second (tick 44) and third (tick 62) moves


BATTERY_SITE = "greensboro"


@pytest.fixture(scope="module")
def live() -> LiveScenario:
    """The demo with a quarter of its training steps (same work in GPU-hours), to keep it lean,
    and a battery at one site (the feasibility-aware policy does not read batteries, so the
    simulator's moves stay those of the demo)."""
    sc = load_scenario("live-demo")
    site = next(s for s in sc.sites if s.name == BATTERY_SITE)
    site.battery = BatterySpec(capacity_kwh=2.0, max_power_kw=1.0, name=BATTERY_SITE)
    for job in sc.jobs:
        job.live = {**(job.live or {}), "train_steps": (job.live or {}).get("train_steps", 40) // 4}
    return LiveScenario.from_scenario(sc)


@pytest.fixture(scope="module")
def cluster(live: LiveScenario) -> Iterator[LocalCluster]:
    slots = {s.name: s.gpu_slots for s in live.scenario.sites}
    with LocalCluster(slots, object_store_mb=100) as c:
        yield c


@pytest.fixture(scope="module")
def run(live: LiveScenario, cluster: LocalCluster, tmp_path_factory: Any) -> dict[str, Any]:
    """The demo run, stopped at STOP_AT and finished by a second controller."""
    db = tmp_path_factory.mktemp("controller") / "state.sqlite"
    placements: list[tuple[int, str, str, str]] = []  # tick, job, site, the actor's node

    def check_placement(c: Controller) -> None:
        for r in c.rows:
            if r.state == int(JobState.RUNNING):
                node = c.jobs.actor_info(r.name)["node_id"]
                placements.append((c.next_tick, r.name, c.site_names[r.site], node))

    first = Controller(live, LiveJobs(cluster.sites), db, speedup=SPEEDUP)
    try:
        assert not first.run(until_tick=STOP_AT, on_tick=check_placement)
        at_stop = [(r.steps_done, r.checkpoint_steps, r.state) for r in first.rows]
    finally:
        first.close()
    second = Controller(live, LiveJobs(cluster.sites), db, speedup=SPEEDUP)
    soc_at_restart = second.view(STOP_AT).battery_soc_kwh
    try:
        assert second.next_tick == STOP_AT
        assert second.run(on_tick=check_placement)
        rows = second.rows
    finally:
        second.close()
    state = ControllerState(db)
    out = {
        "db": db,
        "at_stop": at_stop,
        "rows": rows,
        "placements": placements,
        "migrations": state.migrations(),
        "events": state.events(),
        "job_energy": state.job_energy(),
        "site_energy": state.site_energy(),
        "links": state.links(),
        "soc_at_restart": soc_at_restart,
        "record": live_result(state, live, policy="feasibility-aware"),
    }
    state.close()
    return out


def test_placement_follows_the_policy(
    run: dict[str, Any], live: LiveScenario, cluster: LocalCluster
) -> None:
    # every running job's actor is on its site's node, at every tick
    assert run["placements"]
    for _tick, _job, site, node in run["placements"]:
        assert node == cluster.sites[site].node_id
    # the policy made the same moves, at the same times, as it does in the simulator
    sim = Simulator(live.inputs).run(make_policy("feasibility-aware"))
    expected = [(m.job, m.src, m.dest, m.started_s) for m in sim.migrations]
    got = [(m.job, m.src, m.dest, m.time_s) for m in run["migrations"] if m.ok]
    assert got == expected
    assert all(m.ok for m in run["migrations"])


def test_jobs_move_when_the_replayed_surplus_moves(run: dict[str, Any], live: LiveScenario) -> None:
    inp = live.inputs
    moves = [m for m in run["migrations"] if m.kind == "migrate"]
    assert len(moves) >= 2
    it_load = {(e.tick, e.site): e.it_energy_j / inp.step_s for e in run["site_energy"]}
    for m in moves:
        k = m.tick
        power = inp.jobs.power_w[m.job]
        # the source no longer covers its load; the destination has the job's power
        assert inp.surplus_w[k, m.src] < it_load[(k - 1, m.src)]
        assert inp.surplus_w[k, m.dest] >= power
        # the checkpoint really travelled: measured, and fed into the link's estimate
        assert m.size_bytes and m.size_bytes > 0 and m.bandwidth_gbps and m.bandwidth_gbps > 0
    for (a, b), (estimate, n) in run["links"].items():
        assert n >= 1
        assert estimate != pytest.approx(inp.bandwidth_gbps[a, b])
    # the sun moves west: the last move of the day goes to the westernmost site
    assert inp.site_names[moves[-1].dest] == "nw-colorado"


def test_ledger_adds_up_to_the_jobs_energy(run: dict[str, Any], live: LiveScenario) -> None:
    inp = live.inputs
    for e in run["job_energy"]:
        assert e.energy_j == pytest.approx(e.power_w * e.run_s)
        assert e.renewable_j + e.grid_j == pytest.approx(e.energy_j)
        assert e.power_w == inp.jobs.power_w[e.job]  # the nominal path
    by_tick_site: dict[tuple[int, int], float] = {}
    for e in run["job_energy"]:
        by_tick_site[(e.tick, e.site)] = by_tick_site.get((e.tick, e.site), 0.0) + e.energy_j
    assert len(run["site_energy"]) == inp.n_steps * len(inp.site_names)
    for s in run["site_energy"]:
        jobs_j = by_tick_site.get((s.tick, s.site), 0.0)
        assert s.it_energy_j == pytest.approx(jobs_j + s.idle_energy_j)
        assert s.renewable_j + s.battery_discharge_j + s.grid_j == pytest.approx(s.it_energy_j)
        assert s.renewable_j + s.battery_charge_j + s.curtailed_j == pytest.approx(
            max(s.surplus_w, 0.0) * inp.step_s
        )
    for j in range(len(inp.jobs)):
        mine = [e for e in run["job_energy"] if e.job == j]
        run_s = sum(e.run_s for e in mine)
        # a job that keeps up runs exactly its work, in trace time
        assert run_s >= inp.jobs.work_gpu_h[j] * 3600 * (1 - 1e-9)
        total = sum(e.renewable_j + e.grid_j for e in mine)
        assert total == pytest.approx(inp.jobs.power_w[j] * run_s)
        assert len({e.site for e in mine}) >= 2  # every demo job ran at two sites or more


def test_the_books_balance_with_a_battery(run: dict[str, Any], live: LiveScenario) -> None:
    """The live run's record passes the ledger's conservation check, the battery really
    charged and discharged, and a restarted controller carried on from its state of charge."""
    record = run["record"]
    check_conservation(record)
    b = live.inputs.site_names.index(BATTERY_SITE)
    soc = record.battery_soc_kwh[:, b]
    initial = 0.5 * 2.0  # initial_soc x capacity_kwh
    assert soc.min() < initial - 0.1  # idle slots drained it before sunrise
    assert soc.max() > soc.min() + 0.1  # and the surplus charged it again
    assert (record.battery_discharge_w[:, b] > 0).any()
    assert (record.battery_charge_w[:, b] > 0).any()
    assert run["soc_at_restart"][b] == pytest.approx(soc[STOP_AT - 1])
    # the battery's energy went to the load: the grid covered less than the deficit
    deficit_w = np.maximum(record.it_load_w[:, b] - np.maximum(live.inputs.surplus_w[:, b], 0), 0)
    assert record.grid_w[:, b].sum() < deficit_w.sum()
    assert non_renewable_kwh(record) > 0


def test_restarted_controller_resumes_from_checkpoints(
    run: dict[str, Any], live: LiveScenario
) -> None:
    recovered = [e for e in run["events"] if e[2] == "recovered"]
    running_at_stop = [i for i, (_, _, st) in enumerate(run["at_stop"]) if st == 2]
    assert sorted(e[1] for e in recovered) == running_at_stop
    assert all(e[0] == STOP_AT * live.inputs.step_s for e in recovered)
    for j in running_at_stop:
        steps, ckpt_steps, _ = run["at_stop"][j]
        assert ckpt_steps is not None and 0 < ckpt_steps < steps  # lost since, trained again
    for r, job in zip(run["rows"], live.live_jobs, strict=True):
        assert r.state == int(JobState.DONE)
        assert r.steps_done == job.total_steps


@pytest.mark.parametrize("job", [0, 1])
def test_moved_and_restarted_jobs_end_bit_identical(
    run: dict[str, Any], live: LiveScenario, job: int
) -> None:
    row = run["rows"][job]
    spec = live.live_jobs[job]
    final = Checkpoint.load(row.checkpoint_path)
    trainer = spec.make_trainer()
    for _ in range(spec.total_steps):
        trainer.step()
    expected = Checkpoint.capture(trainer, steps_done=spec.total_steps)
    assert final.steps_done == spec.total_steps
    assert final.to_bytes() == expected.to_bytes()


def test_a_state_database_of_another_run_is_refused(
    run: dict[str, Any], live: LiveScenario, cluster: LocalCluster
) -> None:
    with pytest.raises(InputError, match="give another --db"):
        Controller(live, LiveJobs(cluster.sites), Path(run["db"]), policy="energy-only")
    other = live.scenario.model_copy(update={"seed": 7})
    with pytest.raises(InputError, match="another --db"):
        Controller(LiveScenario.from_scenario(other), LiveJobs(cluster.sites), Path(run["db"]))


def test_a_slower_sites_speed_is_emulated_by_pacing_steps(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """One job at a site whose accelerator is an A100 (about a third of the reference's speed):
    the controller grants it a third of the steps per tick, so it finishes when the simulator
    says, and the ledger books its draw on that part."""
    sc = load_scenario("live-demo")
    site = next(s for s in sc.sites if s.name == BATTERY_SITE)
    site.accelerator = "a100"
    job = sc.jobs[0].model_copy(
        update={"work_gpu_h": 1.0, "site": BATTERY_SITE, "live": {"train_steps": 8}}
    )
    sc = sc.model_copy(update={"jobs": [job]})
    live = LiveScenario.from_scenario(sc)
    speed = float(live.inputs.site_speed[1])  # type: ignore[index]
    assert speed == pytest.approx(312.0 / 989.4)
    controller = Controller(
        live, LiveJobs(cluster.sites), tmp_path / "s.sqlite", policy="stay", speedup=SPEEDUP
    )
    try:
        assert controller.run()
        row = controller.rows[0]
    finally:
        controller.close()
    sim = Simulator(live.inputs).run(make_policy("stay"))
    assert row.state == int(JobState.DONE) and row.steps_done == 8
    step_s = live.inputs.step_s
    run_s = row.done_s - row.start_s  # type: ignore[operator]
    assert run_s == pytest.approx(3600.0 / speed, abs=step_s)  # ~3.2 h, not 1 h
    assert row.done_s == pytest.approx(float(sim.job_done_s[0]), abs=2 * step_s)
    state = ControllerState(tmp_path / "s.sqlite")
    try:
        powers = {e.power_w for e in state.job_energy()}
    finally:
        state.close()
    assert len(powers) == 1 and powers.pop() == pytest.approx(job.power_w * 400.0 / 700.0)


def test_the_controller_prestages_a_frozen_base_on_the_policys_hint(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """A job with a 20 MB frozen embedding table (FrozenBaseTrainer) under feasibility-aware,
    with chunk stores: the policy hints where its base is worth copying, the controller copies
    it there on a share of the link, records it, and a later move to a site that holds the base
    sends only what changed."""
    sc = load_scenario("live-demo")
    job = sc.jobs[0].model_copy(
        update={
            "work_gpu_h": 11.0,
            "arrival": sc.start,
            "checkpoint_gb": 0.025,
            "frozen_gb": 0.02,
            "live": {
                "trainer": "greenhop.live.jobs.examples:FrozenBaseTrainer",
                "trainer_args": {"base_mb": 20.0},
                "train_steps": 22,
            },
        }
    )
    start = sc.start.replace(hour=6)  # the morning, when the surplus moves west
    job = job.model_copy(update={"arrival": start})
    sc = sc.model_copy(
        update={"jobs": [job], "start": start, "end": sc.end.replace(day=18, hour=18)}
    )
    live = LiveScenario.from_scenario(sc)
    jobs = LiveJobs(cluster.sites, chunk_store_bytes=200_000_000)
    # 1.5 s of wall time per 15-min tick, and the whole link, so a pre-stage (about a second)
    # ends before the move it prepares, however loaded the machine
    controller = Controller(live, jobs, tmp_path / "p.sqlite", speedup=600.0, prestage_share=1.0)
    assert controller.prestages
    try:
        assert controller.run()
    finally:
        controller.close()
    state = ControllerState(tmp_path / "p.sqlite")
    try:
        staged = state.prestages()
        moves = [m for m in state.migrations() if m.ok]
        events = [e for e in state.events() if e[2] == "prestage"]
    finally:
        state.close()
    assert staged and events, "no pre-stage was hinted and started"
    done = [p for p in staged if p.completed]
    assert done, staged
    assert all(p.bytes_sent >= 19_900_000 for p in done)  # the ~20 MB table
    staged_at = {p.dest: p.end_tick for p in done}
    into_staged = [m for m in moves if m.tick > staged_at.get(m.dest, 10**9)]
    assert into_staged, "no move went to a site after its base was pre-staged there"
    for m in into_staged:  # only the classifier, its optimizer and the random states moved
        assert m.bytes_sent is not None and m.bytes_sent < 5_000_000 < m.size_bytes
