"""The simulator: conservation, progress, placement, slots, policies' rules, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import Scripted

from greenhop.energy.battery import BatterySpec
from greenhop.feasibility import DEFAULTS
from greenhop.policies import EnergyOnlyPolicy, FeasibilityAwarePolicy, StayPolicy, make_policy
from greenhop.policies.base import Action, Migrate, Pause, Resume, Start
from greenhop.scenario import bundled_scenario, load_scenario
from greenhop.sim.engine import Simulator
from greenhop.sim.metrics import job_table, migration_table, summary
from greenhop.world.inputs import JobSpecs, SimInputs
from greenhop.world.record import RunRecord

STEP_S = 900.0


def hand_inputs(
    generation_kw: list[list[float]],
    jobs: list[dict[str, float]],
    *,
    slots: int | list[int] = 2,
    bandwidth_gbps: float = 1.0,
    idle_w: float = 50.0,
    batteries: list[BatterySpec | None] | None = None,
) -> SimInputs:
    """A small world: ``generation_kw[site]`` is a list of per-step kW values."""
    gen = np.array(generation_kw, dtype=float).T * 1000.0
    n_sites = gen.shape[1]
    spec = JobSpecs(
        names=tuple(f"j{i}" for i in range(len(jobs))),
        arrival_s=np.array([j.get("arrival_s", 0.0) for j in jobs]),
        work_gpu_h=np.array([j["work_gpu_h"] for j in jobs]),
        power_w=np.array([j.get("power_w", 500.0) for j in jobs]),
        size_gb=np.array([j.get("size_gb", 10.0) for j in jobs]),
        deadline_s=np.full(len(jobs), np.inf),
        preferred_site=np.array([int(j.get("site", -1)) for j in jobs], dtype=np.int64),
    )
    bw = np.full((n_sites, n_sites), bandwidth_gbps)
    np.fill_diagonal(bw, np.inf)
    return SimInputs(
        start=pd.Timestamp("2024-06-01", tz="UTC"),
        step_s=STEP_S,
        site_names=tuple(f"s{i}" for i in range(n_sites)),
        generation_w=gen,
        slots=np.array(slots if isinstance(slots, list) else [slots] * n_sites),
        idle_slot_power_w=np.full(n_sites, idle_w),
        bandwidth_gbps=bw,
        jobs=spec,
        batteries=batteries,
    )


@pytest.fixture(scope="module")
def default_runs() -> dict[str, RunRecord]:
    sc = load_scenario(bundled_scenario("default"))
    inputs = SimInputs.from_scenario(sc)
    return {
        name: Simulator(inputs, record_placement=True).run(make_policy(name))
        for name in ("stay", "energy-only", "feasibility-aware")
    }


def test_energy_is_conserved_per_site_and_step(default_runs: dict[str, RunRecord]) -> None:
    for r in default_runs.values():
        lhs = r.renewable_w + r.battery_discharge_w + r.grid_w
        np.testing.assert_allclose(lhs, r.it_load_w, rtol=1e-9, atol=1e-6)
        green = np.maximum(r.inputs.surplus_w, 0.0)
        np.testing.assert_allclose(
            r.renewable_w + r.battery_charge_w + r.curtailed_w, green, rtol=1e-9, atol=1e-6
        )
        assert (r.grid_w >= -1e-9).all() and (r.curtailed_w >= -1e-6).all()


def test_bundled_default_has_batteries_that_work(default_runs: dict[str, RunRecord]) -> None:
    r = default_runs["stay"]
    caps = r.inputs.batteries or []
    with_battery = [i for i, b in enumerate(caps) if b is not None]
    if not with_battery:
        pytest.skip("the bundled default scenario has no battery")
    i = with_battery[0]
    assert r.battery_discharge_w[:, i].sum() > 0
    assert (r.battery_soc_kwh[:, i] <= caps[i].capacity_kwh + 1e-9).all()


def test_progress_is_conserved_by_migrations(default_runs: dict[str, RunRecord]) -> None:
    for r in default_runs.values():
        jobs = r.inputs.jobs
        done = np.isfinite(r.job_done_s)
        np.testing.assert_allclose(r.job_progress_gpu_h[done], jobs.work_gpu_h[done])
        # every GPU-hour of progress was run somewhere, exactly once
        np.testing.assert_allclose(r.job_run_s_at.sum(axis=1) / 3600.0, r.job_progress_gpu_h)
        assert (r.job_progress_gpu_h <= jobs.work_gpu_h + 1e-9).all()


def test_a_job_is_never_at_two_sites(default_runs: dict[str, RunRecord]) -> None:
    r = default_runs["energy-only"]
    assert r.migrations, "energy-only should move jobs on the default scenario"
    for m in r.migrations:
        if np.isfinite(m.restored_s):
            assert m.started_s <= m.checkpoint_done_s <= m.transfer_done_s <= m.restored_s
    # per step, a job's running energy comes from one site only
    ks, js, ss, _ = r.job_energy or ((), (), (), ())
    pairs = pd.DataFrame({"k": ks, "j": js, "s": ss}).drop_duplicates()
    per_step = pairs.groupby(["k", "j"])["s"].nunique()
    # a move inside one step can touch two sites (checkpoint at one, restore at the other)
    two = per_step[per_step > 1]
    moving = {(int(m.started_s // r.inputs.step_s), m.job) for m in r.migrations}
    moving |= {(int(m.restored_s // r.inputs.step_s), m.job) for m in r.migrations}
    assert set(two.index) <= moving
    assert r.placement is not None
    assert ((r.placement >= -1) & (r.placement < len(r.inputs.site_names))).all()


def test_slots_are_never_oversubscribed(default_runs: dict[str, RunRecord]) -> None:
    for r in default_runs.values():
        assert (r.running_jobs <= r.inputs.slots[None, :]).all()
        assert r.placement is not None
        for s in range(len(r.inputs.site_names)):
            assert ((r.placement == s).sum(axis=1) <= r.inputs.slots[s]).all()


def test_same_inputs_same_results() -> None:
    sc = load_scenario(bundled_scenario("default"))
    a = summary(
        Simulator(SimInputs.from_scenario(sc, forecast="noisy")).run(FeasibilityAwarePolicy())
    )
    b = summary(
        Simulator(SimInputs.from_scenario(sc, forecast="noisy")).run(FeasibilityAwarePolicy())
    )
    a.pop("wall_s"), b.pop("wall_s")
    assert a == b


# --- policies' rules on hand-built worlds ---------------------------------------------------

# site 0 has 2 kW for 4 steps then nothing; site 1 has nothing for 4 steps then 2 kW for 40
SWITCH = [[2.0] * 4 + [0.0] * 44, [0.0] * 4 + [2.0] * 44]


def test_stay_never_moves() -> None:
    inp = hand_inputs(SWITCH, [{"work_gpu_h": 6.0, "site": 0}])
    r = Simulator(inp).run(StayPolicy())
    assert r.migrations == []
    assert r.job_run_s_at[0, 0] == pytest.approx(6 * 3600)


def test_a_job_still_running_at_the_end_has_its_run_time_recorded() -> None:
    # 48 steps of 15 min = 12 h: a 20 GPU-h job is still running when the run ends; the
    # seconds it ran (kept with the steady jobs while it runs) are in the record, and they
    # are its progress
    inp = hand_inputs(SWITCH, [{"work_gpu_h": 20.0, "site": 0}, {"work_gpu_h": 2.0, "site": 1}])
    r = Simulator(inp).run(StayPolicy())
    assert np.isnan(r.job_done_s[0]) and np.isfinite(r.job_done_s[1])
    assert r.job_run_s_at[0, 0] == pytest.approx(12 * 3600 - DEFAULTS.restart_s)
    assert r.job_run_s_at[0, 1] == 0.0
    np.testing.assert_allclose(r.job_run_s_at.sum(axis=1) / 3600.0, r.job_progress_gpu_h)


def test_energy_only_moves_to_the_most_surplus_even_when_infeasible() -> None:
    # site 1's window is one step (15 min): alpha W = 90 s, less than the 60 s restart plus
    # the 80 s transfer of 10 GB at 1 Gbit/s plus disk time.
    gen = [[2.0] * 4 + [0.0] * 44, [0.0] * 4 + [2.0] * 1 + [0.0] * 43]
    inp = hand_inputs(gen, [{"work_gpu_h": 6.0, "site": 0}])
    r = Simulator(inp).run(EnergyOnlyPolicy())
    assert len(r.migrations) >= 1
    first = r.migrations[0]
    assert (first.src, first.dest) == (0, 1)
    assert first.started_s == pytest.approx(4 * STEP_S)
    # and the feasibility-aware policy refuses the same move
    r2 = Simulator(inp).run(FeasibilityAwarePolicy())
    assert r2.migrations == []


def test_feasibility_aware_takes_a_feasible_move_to_the_largest_slack() -> None:
    # at step 4 site 0 ends; sites 1 and 2 both have surplus: site 1 for 2 h, site 2 for 10 h.
    gen = [
        [2.0] * 4 + [0.0] * 60,
        [0.0] * 4 + [2.0] * 8 + [0.0] * 52,
        [0.0] * 4 + [2.0] * 40 + [0.0] * 20,
    ]
    inp = hand_inputs(gen, [{"work_gpu_h": 6.0, "site": 0}])
    r = Simulator(inp).run(FeasibilityAwarePolicy())
    assert [(m.src, m.dest) for m in r.migrations] == [(0, 2)]
    m = r.migrations[0]
    # checkpoint 10 GB / 4.1 GB/s, transfer 80 s, restore 10/6.9 GB/s + 60 s
    assert m.checkpoint_done_s - m.started_s == pytest.approx(10 / 4.1)
    assert m.transfer_done_s - m.checkpoint_done_s == pytest.approx(80.0)
    assert m.restored_s - m.transfer_done_s == pytest.approx(10 / 6.9 + DEFAULTS.restart_s)
    assert not m.wasted


def test_feasibility_aware_respects_alpha_on_slow_links() -> None:
    # 100 GB at 0.1 Gbit/s takes 8000 s: infeasible for a 10 h window at alpha = 0.1
    gen = [[2.0] * 4 + [0.0] * 60, [0.0] * 4 + [2.0] * 40 + [0.0] * 20]
    inp = hand_inputs(gen, [{"work_gpu_h": 6.0, "site": 0, "size_gb": 100.0}], bandwidth_gbps=0.1)
    assert Simulator(inp).run(FeasibilityAwarePolicy()).migrations == []
    assert len(Simulator(inp).run(EnergyOnlyPolicy()).migrations) == 1


def test_concurrent_transfers_share_the_link() -> None:
    gen = [[4.0] * 4 + [0.0] * 60, [0.0] * 4 + [4.0] * 60]
    jobs = [{"work_gpu_h": 6.0, "site": 0, "size_gb": 45.0} for _ in range(2)]
    inp = hand_inputs(gen, jobs)
    r = Simulator(inp).run(EnergyOnlyPolicy())
    assert len(r.migrations) == 2
    for m in r.migrations:
        # two 45 GB transfers on one 1 Gbit/s link: each gets half, 720 s instead of 360 s
        assert m.transfer_done_s - m.checkpoint_done_s == pytest.approx(720.0)



def test_pause_and_resume_elsewhere_lose_nothing_and_refuse_the_impossible() -> None:
    gen = [[1.0] * 64, [1.0] * 64]
    inp = hand_inputs(gen, [{"work_gpu_h": 4.0}], slots=1)
    script: list[tuple[int, Action]] = [
        (0, Start(0, 0)),
        (0, Start(0, 1)),  # refused: already started
        (4, Pause(0)),
        (5, Migrate(0, 1)),  # refused: paused, not running
        (8, Resume(0, 1)),
    ]
    r = Simulator(inp).run(Scripted(script))
    assert len(r.refused) == 2
    assert np.isfinite(r.job_done_s[0])
    assert r.job_progress_gpu_h[0] == pytest.approx(4.0)
    assert [m.kind for m in r.migrations] == ["resume"]
    t = job_table(r)
    assert t.loc[0, "migrations"] == 1
    assert t.loc[0, "jct_h"] > 4.0 + 3 * STEP_S / 3600  # waited while paused
    mt = migration_table(r)
    assert mt.loc[0, "src"] == "s0" and mt.loc[0, "dest"] == "s1"


def test_hand_computed_energy_of_a_lone_job() -> None:
    # one site, 1 slot, 1 kW all the time; a 500 W job of 1 GPU-hour: no grid at all
    inp = hand_inputs([[1.0] * 16], [{"work_gpu_h": 1.0, "power_w": 500.0}], slots=1)
    r = Simulator(inp).run(StayPolicy())
    s = summary(r)
    assert s["grid_kwh"] == pytest.approx(0.0)
    # 60 s restart at idle 50 W, then 1 h at 500 W, then idle 50 W to the end of 4 h
    expected = (60 * 50 + 3600 * 500 + (4 * 3600 - 3660) * 50) / 3.6e6
    assert s["it_energy_kwh"] == pytest.approx(expected)
    assert s["renewable_share"] == pytest.approx(1.0)
    # without generation, all of it comes from the grid
    dark = hand_inputs([[0.0] * 16], [{"work_gpu_h": 1.0, "power_w": 500.0}], slots=1)
    s2 = summary(Simulator(dark).run(StayPolicy()))
    assert s2["grid_kwh"] == pytest.approx(expected)
    assert job_table(Simulator(dark).run(StayPolicy())).loc[0, "renewable_share"] == 0.0


def test_battery_carries_renewables_into_the_night() -> None:
    gen = [[3.0] * 8 + [0.0] * 8]
    bat = [
        BatterySpec(capacity_kwh=5.0, max_power_kw=5.0, round_trip_efficiency=1.0, initial_soc=0.0)
    ]
    jobs = [{"work_gpu_h": 3.5, "power_w": 1000.0}]
    with_b = summary(Simulator(hand_inputs(gen, jobs, slots=1, batteries=bat)).run(StayPolicy()))
    without = summary(Simulator(hand_inputs(gen, jobs, slots=1)).run(StayPolicy()))
    assert with_b["grid_kwh"] < without["grid_kwh"] - 1.0


def test_free_slots_track_held_and_reserved_at_every_step() -> None:
    """The engine keeps free slots as they change; they equal slots - held - reserved."""
    from greenhop.sim.engine import SimulatedWorld
    from greenhop.world.loop import run_steps

    inputs = SimInputs.from_scenario(load_scenario(bundled_scenario("default")))
    world = SimulatedWorld(inputs)
    seen: list[int] = []

    def check(k: int) -> None:
        expected = inputs.slots - world.held - world.reserved
        assert (world.free_slots() == expected).all(), k
        seen.append(int((world.reserved > 0).sum()))

    run_steps(world, FeasibilityAwarePolicy(), range(inputs.n_steps), on_step=check)
    assert len(seen) == inputs.n_steps and world.migrations  # moves did reserve slots
