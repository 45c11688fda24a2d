"""Policies and the oracle on heterogeneous sites, and pre-staging on a policy's hints.

The lookahead, carbon-aware and demand-response rules count a destination's speed and power: a
move (or a start) at a much slower green site is refused when it loses and taken when it pays;
on sites that name no accelerator every figure is what it was (docs/results.json). The oracle's
program runs a job at each site's speed and power, so its bound stays below every online policy
on a fleet that mixes H100 SXM and L4 parts. A simulated world pre-stages a job's frozen part
where a policy hints: the bytes cross the link, cost network energy, and later moves send less.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import unpack_grid_data
from test_policy_grid import JOB, started_at, two_regions
from test_policy_oracle import ONLINE, make_inputs
from test_sim_engine import STEP_S, hand_inputs

from greenhop.accelerators import site_factors
from greenhop.energy.solcast import SolcastData, load_solcast
from greenhop.oracle import oracle_policy, solve_oracle
from greenhop.policies import EnergyOnlyPolicy, LookaheadPolicy
from greenhop.policies.base import Migrate, Policy, Start, View
from greenhop.runner import run_policies
from greenhop.scenario import load_scenario
from greenhop.sim.engine import Simulator
from greenhop.sim.metrics import summary
from greenhop.world import ledger
from greenhop.world.inputs import SimInputs
from greenhop.world.ledger import non_renewable_kwh

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # make_results_doc, make_partial_results
REL_TOL = 1e-6


# ------------------------------------------------------------------ the oracle's bound


def mixed_german_fleet(solcast: SolcastData) -> SimInputs:
    """Three days of real Solcast PV (5-minute steps) at four German cities, alternately an
    H100 SXM and an L4 site; four jobs whose work and power are given on the H100."""
    actual = solcast.actual
    cities = [c for c in ("Berlin", "Cologne", "Dresden", "Munich", "Hamburg") if c in actual]
    assert len(cities) >= 4
    days = actual.loc["2022-07-20":"2022-07-22 23:55", cities[:4]]
    gen = days.to_numpy(dtype=float) * np.array([1500.0, 2500.0, 1000.0, 2000.0])
    inputs = make_inputs(
        gen,
        300.0,
        arrival_s=[0.0, 3 * 3600.0, 6 * 3600.0, 9 * 3600.0],
        work_gpu_h=[3.0, 2.0, 3.0, 2.5],
        power_w=[400.0, 650.0, 500.0, 300.0],
        size_gb=[2.0, 40.0, 15.0, 90.0],
    )
    speed, power = site_factors(["h100-sxm", "l4", "h100-sxm", "l4"])
    return dataclasses.replace(inputs, site_speed=speed, site_power_factor=power)


def test_oracle_bound_holds_on_a_mixed_fleet(solcast_germany: SolcastData) -> None:
    inputs = mixed_german_fleet(solcast_germany)
    sol = solve_oracle(inputs, block_steps=6, mip_rel_gap=1e-3)
    assert sol.has_plan
    online = {}
    for policy in (*(cls() for cls in ONLINE), LookaheadPolicy()):
        run = Simulator(inputs).run(policy)
        assert np.isfinite(run.job_done_s).all(), policy.name
        online[policy.name] = non_renewable_kwh(run)
        assert sol.bound_kwh <= online[policy.name] * (1 + REL_TOL), (policy.name, sol.bound_kwh)
    # the replayed plan is a real schedule: every job done, nothing refused, above the bound
    replay = Simulator(inputs).run(oracle_policy(inputs, sol))
    assert np.isfinite(replay.job_done_s).all()
    assert replay.refused == []
    assert replay.job_progress_gpu_h == pytest.approx(inputs.jobs.work_gpu_h)
    assert non_renewable_kwh(replay) >= sol.bound_kwh * (1 - REL_TOL)
    # a program blind to the parts (every site an H100) would claim a "bound" above stay's
    blind = dataclasses.replace(inputs, site_speed=np.ones(4), site_power_factor=np.ones(4))
    assert solve_oracle(blind, block_steps=6, mip_rel_gap=1e-3).bound_kwh > online["stay"]


# ------------------------------------------------------------------ equal sites: unchanged


@pytest.mark.parametrize("scenario", ["default", "germany"])
def test_equal_sites_give_the_published_figures(scenario: str) -> None:
    """Sites naming no accelerator: lookahead's and feasibility-aware's summaries are those of
    docs/results.json."""
    published = json.loads((ROOT / "docs" / "results.json").read_text())[scenario]
    inputs = SimInputs.from_scenario(load_scenario(scenario))
    for name in ("lookahead", "feasibility-aware"):
        (run,) = run_policies(inputs, [name])
        got, want = summary(run), next(r for r in published if r["policy"] == name)
        for key in ("non_renewable_kwh", "migrations", "jct_mean_h", "bytes_moved"):
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9), (name, key)


def test_equal_sites_give_the_published_grid_figures() -> None:
    """carbon-aware and lookahead:carbon on the grid section's CAISO-North week (the real
    WattTime rates): the figures of docs/results.json."""
    import make_results_doc as doc

    folder = unpack_grid_data(Path(tempfile.mkdtemp()))
    name = "caiso-north-june-2023"
    path = doc._scenario(
        folder, name, "2023-06-12T00:00:00Z", "2023-06-19T00:00:00Z", doc.CARBON_GRID
    )
    inputs = doc._inputs(path)
    published = json.loads((ROOT / "docs" / "results.json").read_text())["grid"][name]
    for run in run_policies(inputs, ["carbon-aware", "lookahead:carbon"]):
        got, want = summary(run), next(r for r in published if r["policy"] == run.policy)
        for key in ("emissions_kgco2e", "non_renewable_kwh", "jct_mean_h"):
            assert got[key] == pytest.approx(want[key], rel=1e-9), (run.policy, key)


# ------------------------------------------------------------------ lookahead: a slower green site


def berlin_to_mexico_city(
    parts: list[str | None], speeds: list[float | None] | None = None
) -> SimInputs:
    """Real Solcast PV (5-minute steps) from 08:00 UTC on a sunny Berlin day: Berlin's sun sets
    while Mexico City's is up for hours more. One 700 W job of 10 GPU-h (on the H100) starts in
    Berlin; ``parts`` are the two sites' accelerators (``speeds``: measured speeds)."""
    actual = load_solcast("global").actual
    day = actual.loc["2022-06-10 08:00":"2022-06-11 07:55", ["Berlin", "Mexico City"]]
    inputs = make_inputs(
        day.to_numpy(dtype=float) * 4000.0,
        300.0,
        arrival_s=[0.0],
        work_gpu_h=[10.0],
        power_w=[700.0],
        size_gb=[20.0],
        slots=1,
        idle_w=50.0,
    )
    speed, power = site_factors(parts, speeds=speeds)
    return dataclasses.replace(inputs, site_speed=speed, site_power_factor=power)


def test_lookahead_refuses_a_far_slower_green_site_and_takes_an_equal_or_faster_one() -> None:
    # equal parts: at Berlin's sunset the job follows the sun to Mexico City
    equal = Simulator(berlin_to_mexico_city([None, None])).run(LookaheadPolicy())
    assert [(m.src, m.dest) for m in equal.migrations] == [(0, 1)]
    # Mexico City an L4 (an eighth of the speed): the move would lose hours of progress over the
    # window (lost time >> alpha W); lookahead stays, energy-only (blind to it) goes
    slow = berlin_to_mexico_city([None, "l4"])
    look = Simulator(slow).run(LookaheadPolicy())
    assert look.migrations == []
    blind = Simulator(slow).run(EnergyOnlyPolicy())
    assert (0, 1) in [(m.src, m.dest) for m in blind.migrations]
    assert look.job_done_s[0] < blind.job_done_s[0] - 5 * 3600  # hours sooner
    # from Berlin's H100s measured at 0.95 of the reference to Mexico City's, the move gains
    # time: taken
    faster = berlin_to_mexico_city(["h100-sxm", "h100-sxm"], speeds=[0.95, None])
    fast = Simulator(faster).run(LookaheadPolicy())
    assert [(m.src, m.dest) for m in fast.migrations] == [(0, 1)]
    assert fast.job_progress_gpu_h[0] == pytest.approx(10.0)


# ------------------------------------------------------------------ grid side: carbon, demand


@pytest.fixture(scope="module")
def grid_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = unpack_grid_data(tmp_path_factory.mktemp("hetero-grid"))
    times = pd.date_range("2023-06-01", "2023-07-10", freq="5min")
    pd.DataFrame({"time": times, "hydro": 100.0}).to_csv(out / "flat.csv", index=False)
    (out / "dr.csv").write_text("start,end,cap_kw\n2023-06-12T07:00Z,2023-06-12T09:00Z,0.3\n")
    return out


def with_parts(path: Path, first: str | None, second: str | None) -> Path:
    """The two-site scenario of tests/test_policy_grid.py with accelerators on its sites."""
    text = path.read_text()
    head, sep, tail = text.partition('[[sites]]\nname = "nw-colorado"')
    if first:
        head = head.replace(
            'name = "greensboro"\n', f'name = "greensboro"\naccelerator = "{first}"\n'
        )
    if second:
        tail = f'\naccelerator = "{second}"' + tail
    path.write_text(head + sep + tail)
    return path


def test_lookahead_starts_a_job_on_a_time_feasible_part() -> None:
    """An A100 in Berlin's sun, an H100 SXM in Mexico City's night: on the A100 (a third of the
    speed) the job would lose more than alpha of its run, so lookahead starts it on the H100
    (energy-only, blind to speed, starts it in the sun and it finishes hours later)."""
    inputs = berlin_to_mexico_city(["a100", "h100-sxm"])
    look = Simulator(inputs).run(LookaheadPolicy())
    blind = Simulator(inputs).run(EnergyOnlyPolicy())
    assert look.events[1][2:] == ("start", 1) and blind.events[1][2:] == ("start", 0)
    assert look.job_done_s[0] < blind.job_done_s[0] - 3 * 3600


def test_carbon_aware_plans_for_a_slower_sites_longer_run(grid_data: Path) -> None:
    """One CAISO-North region: an L4 would stretch the 3 GPU-h job past its deadline, so
    carbon-aware starts it on the H100 (stay, admitting it to the L4's lower draw, misses the
    deadline); a short job on the cleaner region's L4 emits less over its whole run there, and
    goes there."""
    job = JOB.replace('"night"', '"flex"') + "deadline = 2023-06-13T03:00:00Z\n"
    path = two_regions(grid_data, jobs=job, name="ca-l4", second="caiso-north")
    inputs = SimInputs.from_scenario(load_scenario(with_parts(path, None, "l4")))
    stay, aware = run_policies(inputs, ["stay", "carbon-aware"])
    assert started_at(stay) == 1
    assert not stay.job_done_s[0] <= inputs.jobs.deadline_s[0]  # late, or not done in the run
    assert started_at(aware) == 0
    assert aware.job_done_s[0] <= inputs.jobs.deadline_s[0]
    # same start time as on equal sites: the plan is the fast part's
    equal = SimInputs.from_scenario(
        load_scenario(two_regions(grid_data, jobs=job, name="ca-eq", second="caiso-north"))
    )
    (plain,) = run_policies(equal, ["carbon-aware"])
    assert aware.job_start_s[0] == plain.job_start_s[0]
    # a 0.3 GPU-h job: 2.5 h on the L4 in the flat 100 g/kWh region emits less than on the
    # H100 in CAISO-North (above 100 g/kWh): it pays to go slow
    short = job.replace("work_gpu_h = 3.0", "work_gpu_h = 0.3")
    path = two_regions(grid_data, jobs=short, name="ca-short")
    inputs = SimInputs.from_scenario(load_scenario(with_parts(path, None, "l4")))
    (slow,) = run_policies(inputs, ["carbon-aware"])
    assert started_at(slow) == 1
    assert slow.job_done_s[0] <= inputs.jobs.deadline_s[0]
    path = two_regions(grid_data, jobs=short, name="ca-short-h100")
    fast_only = SimInputs.from_scenario(load_scenario(with_parts(path, None, "h100-sxm")))
    (fast,) = run_policies(fast_only, ["carbon-aware"])
    assert summary(slow)["emissions_kgco2e"] < summary(fast)["emissions_kgco2e"]


def test_demand_response_does_not_shed_to_a_far_slower_site(grid_data: Path) -> None:
    """Before greensboro's 2-hour event its job would move to nw-colorado (tests/test_policy_grid
    .py); on an L4 there its remaining 3 GPU-h would take a day, far more than waiting out the
    event: it pauses and resumes at home. To a faster part the move is still made."""
    job = JOB + 'site = "greensboro"\n'
    dr = '\n[[grid]]\nsignal = "demand_response"\nfile = "dr.csv"\nsites = ["greensboro"]\n'
    for policy in ("feasibility-aware", "lookahead"):
        path = two_regions(grid_data, jobs=job, extra=dr, name="dr-l4")
        inputs = SimInputs.from_scenario(load_scenario(with_parts(path, None, "l4")))
        (run,) = run_policies(inputs, [policy])
        kinds = [e for _, j, e, _ in run.events if j == 0]
        assert run.migrations == [] and "pause" in kinds and kinds[-1] == "done", policy
        assert summary(run)["dr_excess_kwh"] == pytest.approx(0.0)
        assert run.job_done_s[0] < 8 * 3600  # home after the event, not a day on the L4
        path = two_regions(grid_data, jobs=job, extra=dr, name="dr-fast")
        inputs = SimInputs.from_scenario(load_scenario(with_parts(path, "a100", "h100-sxm")))
        (run,) = run_policies(inputs, [policy])
        assert [(m.src, m.dest, m.kind) for m in run.migrations] == [(0, 1, "migrate")], policy
        assert summary(run)["dr_excess_kwh"] == pytest.approx(0.0)


# ------------------------------------------------------------------ pre-staging on hints


class HintedScript(Policy):
    """Plays ``(step, action)`` pairs and hints ``(job, site)`` from step ``hint_from`` on."""

    name = "hinted"

    def __init__(self, script: list[tuple[int, Any]], hint: tuple[int, int], hint_from: int):
        self.script, self.hint, self.hint_from = script, hint, hint_from

    def decide(self, now: float, view: View) -> list[Any]:
        return [a for k, a in self.script if k == view.step]

    def prestage_hints(self, view: View) -> list[tuple[int, int]]:
        return [self.hint] if view.step >= self.hint_from else []


def lora_pair(bandwidth_gbps: float, share: float | None) -> SimInputs:
    """Two green sites; a LoRA job of a 7B model (13.5 GB frozen base, 0.5 GB that changes)."""
    inp = hand_inputs(
        [[5.0] * 40, [5.0] * 40],
        [{"work_gpu_h": 6.0, "size_gb": 14.0, "site": 0}],
        slots=1,
        bandwidth_gbps=bandwidth_gbps,
    )
    jobs = dataclasses.replace(inp.jobs, frozen_gb=np.array([13.5]))
    return dataclasses.replace(inp, jobs=jobs, prestage_share=share)


def test_a_hinted_pre_stage_sends_the_base_costs_energy_and_shrinks_the_later_move() -> None:
    script = [(0, Start(0, 0)), (4, Migrate(0, 1))]
    run = Simulator(lora_pair(1.0, 0.25)).run(HintedScript(script, (0, 1), 1))
    pre = [m for m in run.migrations if m.kind == "prestage"]
    moves = [m for m in run.migrations if m.kind != "prestage"]
    assert [(p.src, p.dest, p.size_gb) for p in pre] == [(0, 1, 13.5)]
    # 13.5 GB at a quarter of 1 Gbit/s from the step-1 decisions: 432 s
    assert pre[0].transfer_done_s - pre[0].started_s == pytest.approx(8 * 13.5 / 0.25)
    assert [m.size_gb for m in moves] == [pytest.approx(0.5)]  # S_eff: the base lies there
    e_net = run.inputs.params.network_kwh_per_gb
    s = summary(run)
    assert s["network_kwh"] == pytest.approx(e_net * 14.0)
    assert s["non_renewable_kwh"] == pytest.approx(ledger.grid_kwh(run) + e_net * 14.0)
    assert s["prestages"] == 1 and s["prestage_gb"] == pytest.approx(13.5)
    assert s["migrations"] == 1 and s["migrations_started"] == 1
    # no share set: the world ignores hints, and the move sends the whole checkpoint
    plain = Simulator(lora_pair(1.0, None)).run(HintedScript(script, (0, 1), 1))
    assert [(m.kind, m.size_gb) for m in plain.migrations] == [("migrate", 14.0)]


def test_a_move_takes_over_a_pre_stage_under_way() -> None:
    """Over 0.1 Gbit/s a quarter of the link copies 2.8125 GB a step: the move at step 2 finds
    one step's worth there, stops the pre-stage and sends the rest."""
    script = [(0, Start(0, 0)), (2, Migrate(0, 1))]
    run = Simulator(lora_pair(0.1, 0.25)).run(HintedScript(script, (0, 1), 1))
    pre = [m for m in run.migrations if m.kind == "prestage"]
    moves = [m for m in run.migrations if m.kind != "prestage"]
    staged = 0.1 * 0.25 / 8 * STEP_S  # GB in one step
    assert [p.size_gb for p in pre] == [pytest.approx(staged)]
    assert [m.size_gb for m in moves] == [pytest.approx(14.0 - staged)]
    e_net = run.inputs.params.network_kwh_per_gb
    assert summary(run)["network_kwh"] == pytest.approx(e_net * 14.0)


def test_pre_staging_on_hints_on_the_german_lora_jobs() -> None:
    """The 24 LoRA jobs on the German traces at 1 Gbit/s (scripts/make_partial_results.py):
    feasibility-aware's hints pre-stage bases; every completed pre-stage sent a whole base over
    at least its share's time, the ledger counts their bytes, and moves into a site holding the
    base send only the adapters."""
    from make_partial_results import _with_bandwidth, lora_inputs

    lora = _with_bandwidth(lora_inputs(), 1.0)
    assert lora.jobs.frozen_gb is not None
    (run,) = run_policies(dataclasses.replace(lora, prestage_share=0.25), ["feasibility-aware"])
    pre = [m for m in run.migrations if m.kind == "prestage" and m.transferred]
    moves = [m for m in run.migrations if m.kind != "prestage"]
    assert pre and moves
    frozen, size = lora.jobs.frozen_gb, lora.jobs.size_gb
    for p in pre:
        assert p.size_gb <= frozen[p.job] + 1e-9
        if p.size_gb == pytest.approx(frozen[p.job]):
            assert p.transfer_done_s - p.started_s >= 8 * p.size_gb / (0.25 * 1.0) - 1e-6
    e_net = lora.params.network_kwh_per_gb
    sent = sum(m.size_gb for m in run.migrations if m.transferred)
    assert summary(run)["network_kwh"] == pytest.approx(e_net * sent)
    assert non_renewable_kwh(run) == pytest.approx(ledger.grid_kwh(run) + e_net * sent)
    # a move into a site whose pre-stage completed before it sends only what changes
    done = {(p.job, p.dest): p.transfer_done_s for p in pre if p.size_gb == frozen[p.job]}
    into_staged = [m for m in moves if done.get((m.job, m.dest), np.inf) <= m.started_s]
    assert into_staged
    for m in into_staged:
        assert m.size_gb == pytest.approx(size[m.job] - frozen[m.job])


def test_a_pre_stage_waits_while_a_move_uses_its_link() -> None:
    """Over 0.1 Gbit/s job 1's move (10 GB, 800 s on the wire) crosses the link in step 1; job
    0's pre-stage, hinted from step 1, copies nothing in that step and takes its 4 320 s after:
    it lands one step later than on a free link."""
    inp = hand_inputs(
        [[5.0] * 40, [5.0] * 40],
        [
            {"work_gpu_h": 8.0, "size_gb": 14.0, "site": 0},
            {"work_gpu_h": 8.0, "size_gb": 10.0, "site": 0},
        ],
        slots=2,
        bandwidth_gbps=0.1,
    )
    jobs = dataclasses.replace(inp.jobs, frozen_gb=np.array([13.5, 0.0]))
    inp = dataclasses.replace(inp, jobs=jobs, prestage_share=0.25)
    starts = [(0, Start(0, 0)), (0, Start(1, 0))]
    copy_s = 8 * 13.5 / (0.1 * 0.25)
    for script, landed_s in (
        (starts, STEP_S + copy_s),
        ([*starts, (1, Migrate(1, 1))], 2 * STEP_S + copy_s),
    ):
        run = Simulator(inp).run(HintedScript(script, (0, 1), 1))
        (pre,) = [m for m in run.migrations if m.kind == "prestage"]
        assert pre.transfer_done_s == pytest.approx(landed_s)
