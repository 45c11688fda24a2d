"""The simulator on heterogeneous sites and with partially migratable jobs.

A job trains at its site's speed and draws its power there; the feasibility-aware policy moves a
job to an equal green site but not to a much slower one (the model says the move loses); a job
with a frozen part sends only what changed to a site that holds it (it ran there, or the base was
pre-staged), and the network energy counts the bytes sent.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import Scripted
from test_sim_engine import hand_inputs

from greenhop.accelerators import site_factors
from greenhop.policies import FeasibilityAwarePolicy, StayPolicy
from greenhop.policies.base import Migrate, Start
from greenhop.scenario import bundled_scenario, load_scenario
from greenhop.sim.engine import Simulator
from greenhop.sim.metrics import summary
from greenhop.world.inputs import SimInputs


def test_a_job_trains_at_its_sites_speed_and_draws_its_power() -> None:
    speed, power = site_factors(["h100-sxm", "l4"])
    inp = hand_inputs([[0.0] * 40, [0.0] * 40], [{"work_gpu_h": 1.0, "power_w": 700.0, "site": 1}])
    inp = dataclasses.replace(inp, site_speed=speed, site_power_factor=power)
    run = Simulator(inp).run(StayPolicy())
    start_s = float(run.job_start_s[0])
    run_s = float(run.job_done_s[0]) - start_s - inp.params.restart_s
    assert run_s == pytest.approx(3600.0 / speed[1], rel=1e-9)  # 1 h of H100 work on an L4
    job_kwh = run.job_energy[3].sum() / 3.6e6
    restart_kwh = inp.idle_slot_power_w[1] * inp.params.restart_s / 3.6e6
    assert job_kwh == pytest.approx(700.0 * power[1] * run_s / 3.6e6 + restart_kwh, rel=1e-9)


def test_feasibility_aware_moves_to_an_equal_site_but_not_to_a_far_slower_one() -> None:
    """Site 0 goes dark; sites 1 and 2 are green for the rest of the run. Site 1 is an L4 (an
    eighth of the reference's speed), site 2 the reference: the move goes to site 2, and with
    only the L4 on offer the job stays."""
    dark, green = [2.0] * 4 + [0.0] * 36, [5.0] * 40
    job = {"work_gpu_h": 8.0, "power_w": 700.0, "size_gb": 5.0, "site": 0}
    speed, power = site_factors([None, "l4", None])
    base = hand_inputs([dark, green, green], [job], slots=1)
    both = dataclasses.replace(base, site_speed=speed, site_power_factor=power)
    run = Simulator(both).run(FeasibilityAwarePolicy())
    assert [(m.src, m.dest) for m in run.migrations] == [(0, 2)]
    only_l4 = hand_inputs([dark, green], [job], slots=1)
    only_l4 = dataclasses.replace(only_l4, site_speed=speed[:2], site_power_factor=power[:2])
    assert Simulator(only_l4).run(FeasibilityAwarePolicy()).migrations == []
    equal = hand_inputs([dark, green], [job], slots=1)
    assert [(m.src, m.dest) for m in Simulator(equal).run(FeasibilityAwarePolicy()).migrations] == [
        (0, 1)
    ]


def _partial(prestaged: bool) -> SimInputs:
    inp = hand_inputs(
        [[5.0] * 60, [5.0] * 60], [{"work_gpu_h": 10.0, "size_gb": 14.0, "site": 0}], slots=1
    )
    jobs = dataclasses.replace(inp.jobs, frozen_gb=np.array([13.5]))  # a 7B base in bf16
    return dataclasses.replace(inp, jobs=jobs, prestaged=prestaged)


def test_a_job_returning_to_a_site_sends_only_what_changed() -> None:
    script = [(0, Start(0, 0)), (8, Migrate(0, 1)), (30, Migrate(0, 0))]
    run = Simulator(_partial(False)).run(Scripted(script))
    assert [m.size_gb for m in run.migrations] == [14.0, pytest.approx(0.5)]
    s = summary(run)
    assert s["network_kwh"] == pytest.approx(14.5 * run.inputs.params.network_kwh_per_gb)
    # the second transfer takes 0.5 GB over the link, not 14
    second = run.migrations[1]
    assert second.transfer_done_s - second.checkpoint_done_s == pytest.approx(8 * 0.5 / 1.0)
    pre = Simulator(_partial(True)).run(Scripted(script))
    assert [m.size_gb for m in pre.migrations] == [pytest.approx(0.5)] * 2


def test_the_scenario_carries_accelerators_frozen_parts_and_prestaging(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = bundled_scenario("default").read_text()
    head, jobs = text.split("[[jobs]]", 1)
    head = head.replace('name = "', 'prestage = true\nname = "', 1)
    path = tmp_path / "hetero.toml"
    path.write_text(head + "[[jobs]]" + jobs.replace("power_w", "frozen_gb = 0.5\npower_w", 1))
    sc = load_scenario(path)
    sc.sites[0].accelerator = "a100"
    inp = SimInputs.from_scenario(sc)
    assert inp.prestaged and inp.jobs.frozen_gb is not None and inp.jobs.frozen_gb[0] == 0.5
    assert inp.site_speed is not None and inp.site_speed[0] == pytest.approx(312.0 / 989.4)
    assert inp.site_speed[1:].tolist() == [1.0] * (len(inp.site_names) - 1)


def test_feasibility_aware_hints_where_a_frozen_base_is_worth_pre_staging() -> None:
    """A running LoRA job at site 0: the hint names the site with the longest window ahead
    that lacks its base (site 2 stays green longer than site 1); once the job ran at site 2,
    the hint moves on to site 1."""
    gen = [[5.0] * 40, [5.0] * 8 + [0.0] * 32, [5.0] * 40]
    inp = hand_inputs(gen, [{"work_gpu_h": 20.0, "size_gb": 14.0, "site": 0}], slots=1)
    inp = dataclasses.replace(inp, jobs=dataclasses.replace(inp.jobs, frozen_gb=np.array([13.5])))
    from greenhop.sim.engine import SimulatedWorld

    world = SimulatedWorld(inp)
    world.arrive(0, 0.0)
    world.carry_out(0, 0.0, Start(0, 0))
    world.advance(0, 0.0)
    policy = FeasibilityAwarePolicy()
    assert policy.prestage_hints(world.view(1, 900.0)) == [(0, 2)]
    assert world.jobs.frozen_at is not None
    world.jobs.frozen_at[0, 2] = True
    assert policy.prestage_hints(world.view(1, 900.0)) == [(0, 1)]
    assert StayPolicy().prestage_hints(world.view(1, 900.0)) == []
