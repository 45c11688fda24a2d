"""The oracle within a completion-time budget (eps), its frontier, the rolling horizon, names."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from test_policy_oracle import GAP, REL_TOL, half_day_site, make_inputs

from greenhop.energy.solcast import SolcastData
from greenhop.errors import InputError
from greenhop.oracle import (
    choose_block_steps,
    completion_limits_s,
    eps_needed,
    frontier,
    over_budget,
    parse_oracle_name,
    solve_oracle,
    solve_rolling,
    stay_completion_s,
    step_plan,
)
from greenhop.policies.energy_only import EnergyOnlyPolicy
from greenhop.policies.feasibility_aware import FeasibilityAwarePolicy
from greenhop.policies.stay import StayPolicy
from greenhop.runner import run_policies
from greenhop.sim.engine import Simulator
from greenhop.world.inputs import SimInputs
from greenhop.world.ledger import non_renewable_kwh

B = 6  # steps of 5 min per block


@pytest.fixture(scope="module")
def german(solcast_germany: SolcastData) -> SimInputs:
    """A day and a half of real Solcast PV (5-minute steps) at three German cities, five jobs
    arriving through the first morning. The programs below use blocks of 30 min (``B``): finer
    blocks give the same bounds here but take HiGHS minutes to prove."""
    actual = solcast_germany.actual
    cities = [c for c in ("Berlin", "Cologne", "Dresden", "Munich", "Hamburg") if c in actual]
    day = actual.loc["2022-07-20":"2022-07-21 11:55", cities[:3]]
    gen = day.to_numpy(dtype=float) * np.array([1500.0, 2500.0, 1000.0])
    return make_inputs(
        gen,
        300.0,
        arrival_s=[0.0, 3 * 3600.0, 6 * 3600.0, 9 * 3600.0, 10 * 3600.0],
        work_gpu_h=[5.0, 3.0, 6.0, 4.0, 2.0],
        power_w=[400.0, 650.0, 500.0, 300.0, 450.0],
        size_gb=[2.0, 40.0, 15.0, 90.0, 5.0],
    )


# ------------------------------------------------------------------ the budget


def test_limits_are_stay_completions_stretched_by_eps(german: SimInputs) -> None:
    done = stay_completion_s(german)
    arrival = german.jobs.arrival_s
    assert np.isfinite(done).all() and (done > arrival).all()
    for eps in (0.0, 0.5):
        limit = completion_limits_s(german, eps, stay_done_s=done)
        end = german.n_steps * german.step_s
        np.testing.assert_allclose(limit, np.minimum(arrival + (1 + eps) * (done - arrival), end))
    # no budget: the end of the run, as the plain oracle always had it
    assert (completion_limits_s(german, None) == german.n_steps * german.step_s).all()
    assert (completion_limits_s(german, math.inf) == completion_limits_s(german, None)).all()
    with pytest.raises(InputError, match="eps must be >= 0"):
        completion_limits_s(german, -0.1)


def test_the_bound_falls_as_the_budget_grows_and_stays_below_stay(german: SimInputs) -> None:
    """Each budget's bound is a lower bound for any schedule within it: stay meets every
    budget (it defines eps = 0), and a larger budget admits every schedule of a smaller one."""
    stay = Simulator(german).run(StayPolicy())
    done = np.asarray(stay.job_done_s)
    sols = [
        solve_oracle(german, eps=eps, stay_done_s=done, mip_rel_gap=GAP, block_steps=B)
        for eps in (0.0, 0.1, 0.5, math.inf)
    ]
    stay_kwh = non_renewable_kwh(stay)
    for sol in sols:
        assert sol.has_plan and sol.is_bound
        assert sol.bound_kwh <= stay_kwh * (1 + REL_TOL)
    for tight, loose in itertools.pairwise(sols):
        assert loose.bound_kwh <= tight.objective_kwh * (1 + REL_TOL)
    # eps = 0 leaves only where (and not when) jobs run: it must cost more than no budget here
    assert sols[0].bound_kwh > sols[-1].objective_kwh * (1 + 1e-3)
    # the plain oracle is unchanged by the new arguments
    plain = solve_oracle(german, mip_rel_gap=GAP, block_steps=B)
    assert plain.eps is None and sols[-1].eps is None
    assert plain.bound_kwh == pytest.approx(sols[-1].bound_kwh, rel=2 * GAP)
    # and so is its default choice of blocks (jobs x sites x blocks within the cap)
    n_jobs, n_sites = len(german.jobs), len(german.site_names)
    today = choose_block_steps(n_jobs, n_sites, german.n_steps, german.step_s)
    assert solve_oracle(german, eps=math.inf, time_limit_s=1).block_steps == today


def test_plan_and_steps_stay_within_each_jobs_limit(german: SimInputs) -> None:
    sol = solve_oracle(german, eps=0.1, mip_rel_gap=GAP, block_steps=B)
    assert sol.eps == 0.1
    limit = sol.done_by_s
    block_s = sol.block_steps * german.step_s
    for j in range(len(german.jobs)):
        after = np.flatnonzero(np.arange(sol.n_blocks) * block_s >= limit[j] - 1e-9)
        assert not sol.run_fraction[j, :, after].any()
    plan = step_plan(sol, german)
    for j in range(len(german.jobs)):
        ran = np.flatnonzero(plan[:, j] >= 0)
        assert ((ran + 1) * german.step_s <= limit[j] + 1e-6).all()


@pytest.mark.parametrize("policy_cls", [EnergyOnlyPolicy, FeasibilityAwarePolicy])
def test_same_service_bound_is_below_the_policy(
    german: SimInputs, policy_cls: type[EnergyOnlyPolicy]
) -> None:
    """With a policy's own completions as the limits, that policy's run is one of the
    schedules bounded: the bound must not exceed what it spent."""
    run = Simulator(german).run(policy_cls())
    assert np.isfinite(run.job_done_s).all()
    sol = solve_oracle(german, done_by_s=run.job_done_s, mip_rel_gap=GAP, block_steps=B)
    assert sol.bound_kwh <= non_renewable_kwh(run) * (1 + REL_TOL)


@pytest.mark.parametrize("eps", [0.0, 0.5, 1.0])
def test_hand_checked_bound_within_a_budget(eps: float) -> None:
    """One site, dark for 5 h then 1 kW of sun; a 400 W job of 5 GPU-h that stay runs at once.
    Within the budget the job can run ``budget - 5 h`` of its hours in the sun; the rest runs
    in the dark at 300 W above the two idle slots, which draw 1.0 kWh in the dark anyway."""
    inputs = half_day_site()
    done = stay_completion_s(inputs)
    limit = (1 + eps) * done[0]
    sun_h = min(max(limit / 3600.0 - 5.0, 0.0), 5.0)
    expected = 1.0 + 0.3 * max(5.0 - sun_h, 0.0)
    sol = solve_oracle(inputs, eps=eps, stay_done_s=done, block_steps=1)
    assert sol.bound_kwh == pytest.approx(expected, rel=1e-6)


def test_a_budget_a_job_cannot_meet_is_named() -> None:
    inputs = half_day_site()
    with pytest.raises(InputError, match=r"job 'job0' cannot finish.*completion budget"):
        solve_oracle(inputs, done_by_s=[4 * 3600.0])


# ------------------------------------------------------------------ the frontier


def test_frontier_replays_and_counts_late_jobs(german: SimInputs) -> None:
    points = frontier(german, (0.5, math.inf), mip_rel_gap=GAP, block_steps=B)
    assert [p.eps for p in points] == [0.5, math.inf]
    for p in points:
        assert np.isfinite(p.replay.job_done_s).all()
        # the replay is a real schedule; where it met its budget the bound holds for it
        if p.late_jobs == 0:
            assert p.bound_kwh <= non_renewable_kwh(p.replay) * (1 + REL_TOL)
    assert points[0].replay.policy == "oracle:eps=0.5"
    assert points[1].replay.policy == "oracle"
    assert points[0].replay.policy_config["eps"] == 0.5
    stay_done = stay_completion_s(german)
    stay = Simulator(german).run(StayPolicy())
    assert eps_needed(stay, stay_done) == 0.0
    assert over_budget(stay, stay_done) == 0
    assert over_budget(stay, stay_done - 600.0) == len(german.jobs)


# ------------------------------------------------------------------ the rolling horizon


def test_rolling_horizon_is_a_labelled_heuristic_above_the_bound(german: SimInputs) -> None:
    """Windows of 6 h (6 h ahead): a plan that completes every job within its budget, whose
    energy is that of a feasible schedule of the program, so never below the exact bound."""
    done = stay_completion_s(german)
    exact = solve_oracle(german, eps=0.5, stay_done_s=done, mip_rel_gap=GAP, block_steps=B)
    rolled = solve_rolling(
        german,
        eps=0.5,
        stay_done_s=done,
        window_h=6.0,
        lookahead_h=6.0,
        mip_rel_gap=GAP,
        block_steps=B,
    )
    assert not rolled.is_bound and math.isnan(rolled.bound_kwh)
    assert rolled.kind == "rolling" and "bound_kwh" not in rolled.summary()
    assert rolled.summary()["kind"] == "rolling-horizon heuristic"
    assert rolled.objective_kwh >= exact.bound_kwh * (1 - REL_TOL)
    block_h = rolled.block_steps * german.step_s / 3600.0
    work = rolled.run_fraction.sum(axis=(1, 2)) * block_h
    assert (work >= german.jobs.work_gpu_h - 1e-6).all()
    from greenhop.oracle import oracle_policy

    replay = Simulator(german).run(oracle_policy(german, rolled, name="rolling"))
    assert np.isfinite(replay.job_done_s).all()
    assert "bound_kwh" not in replay.policy_config
    assert non_renewable_kwh(replay) >= exact.bound_kwh * (1 - REL_TOL)


def test_rolling_horizon_solves_what_one_program_refuses(german: SimInputs) -> None:
    with pytest.raises(InputError, match="instance too large"):
        solve_oracle(german, max_binaries=100)
    rolled = solve_rolling(german, window_h=6.0, lookahead_h=6.0, max_binaries=100)
    assert rolled.n_binaries <= 100 and rolled.has_plan


# ------------------------------------------------------------------ by name


def test_oracle_names() -> None:
    assert parse_oracle_name("oracle") == {}
    assert parse_oracle_name("oracle:eps=0.1") == {"eps": 0.1}
    assert parse_oracle_name("oracle:eps=inf:window=24h") == {"eps": math.inf, "window_h": 24.0}
    for bad in ("oracle:epsilon=1", "oracle:eps", "oracle:eps=x", "oracle:eps=-1"):
        with pytest.raises(InputError, match="oracle option"):
            parse_oracle_name(bad)


def test_run_policies_takes_an_oracle_with_a_budget(german: SimInputs) -> None:
    (run,) = run_policies(german, ["oracle:eps=0.5:gap=0.001:time=20"])
    assert run.policy == "oracle:eps=0.5:gap=0.001:time=20"
    assert run.policy_config["eps"] == 0.5
    assert "bound_kwh" in run.policy_config
    assert np.isfinite(run.job_done_s).all()
