"""The oracle: a MILP lower bound no online policy beats, and a replay of its plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenhop.energy.battery import BatterySpec
from greenhop.energy.solcast import SolcastData
from greenhop.errors import InputError
from greenhop.oracle import oracle_policy, solve_oracle, step_plan
from greenhop.policies.energy_only import EnergyOnlyPolicy
from greenhop.policies.feasibility_aware import FeasibilityAwarePolicy
from greenhop.policies.stay import StayPolicy
from greenhop.sim.engine import Simulator
from greenhop.world.inputs import JobSpecs, SimInputs
from greenhop.world.ledger import non_renewable_kwh

START = pd.Timestamp("2022-07-15", tz="UTC")
ONLINE = (StayPolicy, EnergyOnlyPolicy, FeasibilityAwarePolicy)
REL_TOL = 1e-6  # HiGHS's feasibility tolerances, relative to the energies compared
# The bound is HiGHS's proven dual bound, valid at any gap; a looser gap only stops the search
# for a better plan sooner, which keeps this module fast.
GAP = 1e-3


def bell_w(steps: int, step_s: float, peak_w: float, noon_h: float) -> np.ndarray:
    """A PV-like day: a Gaussian bell around ``noon_h`` (width 3 h), zero at night, W."""
    hour = (np.arange(steps) * step_s / 3600.0) % 24.0
    bell = np.exp(-0.5 * ((hour - noon_h) / 3.0) ** 2)
    return peak_w * np.where(np.abs(hour - noon_h) < 7.0, bell, 0.0)


def make_inputs(
    generation_w: np.ndarray,
    step_s: float,
    *,
    arrival_s: list[float],
    work_gpu_h: list[float],
    power_w: list[float],
    size_gb: list[float],
    slots: int | list[int] = 2,
    idle_w: float = 100.0,
    deadline_s: list[float] | None = None,
    batteries: list[BatterySpec | None] | None = None,
) -> SimInputs:
    n_sites = generation_w.shape[1]
    n_jobs = len(arrival_s)
    jobs = JobSpecs(
        names=tuple(f"job{j}" for j in range(n_jobs)),
        arrival_s=np.asarray(arrival_s, dtype=float),
        work_gpu_h=np.asarray(work_gpu_h, dtype=float),
        power_w=np.asarray(power_w, dtype=float),
        size_gb=np.asarray(size_gb, dtype=float),
        deadline_s=np.asarray(deadline_s if deadline_s else [np.inf] * n_jobs, dtype=float),
        preferred_site=np.full(n_jobs, -1, dtype=np.int64),
    )
    bw = np.full((n_sites, n_sites), 1.0)
    return SimInputs(
        start=START,
        step_s=step_s,
        site_names=tuple(f"site{s}" for s in range(n_sites)),
        generation_w=generation_w,
        slots=np.broadcast_to(np.asarray(slots), (n_sites,)).copy(),
        idle_slot_power_w=np.full(n_sites, idle_w),
        bandwidth_gbps=bw,
        jobs=jobs,
        batteries=batteries,
    )


def bell_instance(seed: int, *, batteries: bool = False) -> SimInputs:
    """Three PV sites with noons hours apart, four jobs arriving in the first 8 h, 36 h."""
    rng = np.random.default_rng(seed)
    step_s = 900.0
    steps = 36 * 4
    gen = np.stack(
        [
            bell_w(steps, step_s, rng.uniform(600.0, 2500.0), 12.0 + rng.uniform(-3.0, 3.0))
            for _ in range(3)
        ],
        axis=1,
    )
    n_jobs = 4
    bank: list[BatterySpec | None] | None = None
    if batteries:
        bank = [BatterySpec(capacity_kwh=3.0, max_power_kw=1.0, initial_soc=0.5), None, None]
    return make_inputs(
        gen,
        step_s,
        arrival_s=rng.uniform(0.0, 8 * 3600.0, n_jobs).tolist(),
        work_gpu_h=rng.uniform(2.0, 7.0, n_jobs).tolist(),
        power_w=rng.uniform(300.0, 700.0, n_jobs).tolist(),
        size_gb=rng.uniform(1.0, 60.0, n_jobs).tolist(),
        batteries=bank,
    )


def assert_bound_below_online(inputs: SimInputs, **solve_kwargs: object) -> float:
    """Solve, run every online policy, and check the bound against each; returns the bound."""
    sol = solve_oracle(inputs, mip_rel_gap=GAP, **solve_kwargs)  # type: ignore[arg-type]
    assert sol.has_plan
    assert sol.bound_kwh <= sol.objective_kwh * (1 + REL_TOL)
    for policy_cls in ONLINE:
        result = Simulator(inputs).run(policy_cls())
        assert np.isfinite(result.job_done_s).all(), f"{policy_cls.name} left jobs unfinished"
        online = non_renewable_kwh(result)
        assert sol.bound_kwh <= online * (1 + REL_TOL), (policy_cls.name, sol.bound_kwh, online)
    return sol.bound_kwh


# ------------------------------------------------------------------ the bound is a lower bound


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_never_above_an_online_policy_bell_days(seed: int) -> None:
    assert_bound_below_online(bell_instance(seed))


def test_bound_never_above_an_online_policy_with_a_battery() -> None:
    inputs = bell_instance(3, batteries=True)
    with_battery = assert_bound_below_online(inputs)
    inputs.batteries = None
    # a battery can only help
    assert with_battery <= solve_oracle(inputs, mip_rel_gap=GAP).bound_kwh * (1 + REL_TOL)


def test_bound_never_above_an_online_policy_on_real_german_pv(
    solcast_germany: SolcastData,
) -> None:
    """A day and a half of real Solcast PV (5-minute steps) at three German cities."""
    actual = solcast_germany.actual
    cities = [c for c in ("Berlin", "Cologne", "Dresden", "Munich", "Hamburg") if c in actual]
    assert len(cities) >= 3
    day = actual.loc["2022-07-20":"2022-07-21 11:55", cities[:3]]
    gen = day.to_numpy(dtype=float) * np.array([1500.0, 2500.0, 1000.0])
    inputs = make_inputs(
        gen,
        300.0,
        arrival_s=[0.0, 3 * 3600.0, 6 * 3600.0, 9 * 3600.0],
        work_gpu_h=[5.0, 3.0, 6.0, 4.0],
        power_w=[400.0, 650.0, 500.0, 300.0],
        size_gb=[2.0, 40.0, 15.0, 90.0],
    )
    assert_bound_below_online(inputs, block_steps=3)


def test_coarser_blocks_give_a_lower_bound() -> None:
    """Aggregating nested blocks relaxes the program further: the bound can only drop."""
    inputs = bell_instance(4)
    bounds = [solve_oracle(inputs, block_steps=b, mip_rel_gap=GAP).bound_kwh for b in (1, 2, 4)]
    assert bounds[1] <= bounds[0] * (1 + REL_TOL)
    assert bounds[2] <= bounds[1] * (1 + REL_TOL)


# ------------------------------------------------------------------ the plan and its replay


def test_plan_respects_slots_arrivals_and_work() -> None:
    inputs = bell_instance(5)
    sol = solve_oracle(inputs, block_steps=2, mip_rel_gap=GAP)
    frac = sol.run_fraction  # (jobs, sites, blocks)
    assert (frac.sum(axis=0) <= inputs.slots[:, None] + 1e-6).all()
    assert (frac.sum(axis=1) <= 1 + 1e-6).all()
    block_h = sol.block_steps * inputs.step_s / 3600.0
    np.testing.assert_array_less(inputs.jobs.work_gpu_h - 1e-6, frac.sum(axis=(1, 2)) * block_h)
    plan = step_plan(sol, inputs)  # (steps, jobs)
    arrival_step = np.ceil(inputs.jobs.arrival_s / inputs.step_s - 1e-9)
    for j in range(len(inputs.jobs)):
        ran = np.flatnonzero(plan[:, j] >= 0)
        assert ran.min() >= arrival_step[j]
        assert len(ran) * inputs.step_s / 3600.0 >= inputs.jobs.work_gpu_h[j] - 1e-6
    for s in range(len(inputs.site_names)):
        assert ((plan == s).sum(axis=1) <= inputs.slots[s]).all()


def test_replay_completes_jobs_and_stays_above_the_bound() -> None:
    inputs = bell_instance(1)
    solution = solve_oracle(inputs)
    policy = oracle_policy(inputs, solution)
    result = Simulator(inputs).run(policy)
    assert result.policy == "oracle"
    assert result.policy_config["bound_kwh"] == solution.bound_kwh
    assert np.isfinite(result.job_done_s).all()
    assert not result.refused
    replay = non_renewable_kwh(result)
    # the replay is a real simulated schedule: the bound holds for it too
    assert solution.bound_kwh <= replay * (1 + REL_TOL)
    best_online = min(non_renewable_kwh(Simulator(inputs).run(p())) for p in ONLINE)
    assert replay <= best_online * (1 + REL_TOL)


# ------------------------------------------------------------------ checked by hand


def half_day_site(deadline_s: float | None = None) -> SimInputs:
    """One site, two slots at 100 W idle, 10 steps of 1 h: no surplus in steps 0-4, 1 kW in
    steps 5-9; one 400 W job of 5 GPU-h arriving at 0."""
    gen = np.array([0.0] * 5 + [1000.0] * 5)[:, None]
    return make_inputs(
        gen,
        3600.0,
        arrival_s=[0.0],
        work_gpu_h=[5.0],
        power_w=[400.0],
        size_gb=[10.0],
        deadline_s=None if deadline_s is None else [deadline_s],
    )


@pytest.mark.parametrize("block_steps", [1, 5, 10])
def test_hand_checked_bound_is_the_idle_slots_before_the_surplus(block_steps: int) -> None:
    # the job runs in the sunny half, where 400 + 100 W < 1000 W: the grid only feeds the two
    # idle slots (2 x 100 W) for the five dark hours, 1.0 kWh; a single 10-h block still finds
    # it (the dark hours' deficit stays, the job's 2 kWh fit the 4 kWh of headroom)
    sol = solve_oracle(half_day_site(), block_steps=block_steps)
    assert sol.bound_kwh == pytest.approx(1.0, rel=1e-6)
    assert sol.moves.sum() == 0


def test_hand_checked_bound_with_a_deadline_in_the_dark() -> None:
    # due at 5 h, the job must run in the dark half: 5 h x (400 + 100) W = 2.5 kWh
    sol = solve_oracle(half_day_site(deadline_s=5 * 3600.0), block_steps=1)
    assert sol.bound_kwh == pytest.approx(2.5, rel=1e-6)


# ------------------------------------------------------------------ refusals


def test_a_job_that_cannot_finish_is_named() -> None:
    inputs = half_day_site(deadline_s=3 * 3600.0)
    with pytest.raises(InputError, match=r"job 'job0' cannot finish.*5 GPU-h.*3 h.*deadline"):
        solve_oracle(inputs)


def test_too_large_instances_are_refused_with_their_sizes() -> None:
    steps, n_sites, n_jobs = 576, 20, 100
    gen = np.zeros((steps, n_sites))
    inputs = make_inputs(
        gen,
        300.0,
        arrival_s=[0.0] * n_jobs,
        work_gpu_h=[1.0] * n_jobs,
        power_w=[300.0] * n_jobs,
        size_gb=[1.0] * n_jobs,
    )
    with pytest.raises(InputError, match=r"100 jobs x 20 sites x 576 steps"):
        solve_oracle(inputs)
    with pytest.raises(InputError, match=r"100 jobs x 20 sites x 288 blocks"):
        solve_oracle(inputs, block_steps=2)
