"""The energy ledger: renewables serve each site's IT load first, then the grid, and every
job's renewable + grid energy adds up to the energy it drew, per tick, job and site.

The sites' surplus is the real generation of the bundled live-demo scenario (typical-year
weather of three real sites); power comes from the nominal meter and from a replayed recording.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenhop.errors import InputError
from greenhop.live.cluster.power import NominalPowerMeter, PowerMeter, ReplayPowerMeter
from greenhop.live.control.ledger import EnergyLedger, JobUse, settle_tick
from greenhop.scenario import load_scenario
from greenhop.world.inputs import SimInputs


@pytest.fixture(scope="module")
def demo() -> SimInputs:
    return SimInputs.from_scenario(load_scenario("live-demo"))


class FakeClock:
    """Wall seconds that advance only when told."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _uses_at(k: int, n_sites: int, powers: list[float]) -> list[JobUse]:
    """A fixed, varied placement: job j at site (j + k) % n_sites, running part of the tick."""
    return [
        JobUse(job=j, site=(j + k) % n_sites, power_w=p, run_s=900.0 * (0.5 + 0.5 * ((k + j) % 2)))
        for j, p in enumerate(powers)
    ]


def test_ledger_adds_up_per_job_site_and_tick(demo: SimInputs) -> None:
    ledger = EnergyLedger(demo.site_names, demo.slots, demo.idle_slot_power_w, demo.step_s)
    powers = [350.0, 300.0, 420.0]
    for k in range(demo.n_steps):
        uses = _uses_at(k, len(demo.site_names), powers)
        jobs, sites = ledger.settle(k, demo.surplus_w[k], uses)
        for u, e in zip(uses, jobs, strict=True):
            assert e.energy_j == pytest.approx(u.power_w * u.run_s)  # = ∫ power over the tick
            assert e.renewable_j + e.grid_j == pytest.approx(e.energy_j)
            assert e.renewable_j >= 0 and e.grid_j >= 0
        for s in sites:
            here = [e for e in jobs if e.site == s.site]
            assert s.it_energy_j == pytest.approx(sum(e.energy_j for e in here) + s.idle_energy_j)
            assert s.renewable_j + s.grid_j == pytest.approx(s.it_energy_j)
            assert s.renewable_j <= max(s.surplus_w, 0.0) * demo.step_s + 1e-6
            # renewables first: the grid is drawn only when the surplus does not cover the load
            assert s.grid_j == pytest.approx(
                max(s.it_energy_j - max(s.surplus_w, 0.0) * demo.step_s, 0.0), abs=1e-6
            )
            assert sum(e.renewable_j for e in here) <= s.renewable_j + 1e-6
    totals = ledger.job_totals_j()
    for j, p in enumerate(powers):
        drawn = sum(
            p * u.run_s for k in range(demo.n_steps) for u in _uses_at(k, 3, powers)[j : j + 1]
        )
        energy, renewable, grid = totals[j]
        assert energy == pytest.approx(drawn)
        assert renewable + grid == pytest.approx(drawn)
    # a day of June: some of it on renewables, some on the grid
    assert 0 < sum(t[1] for t in totals.values()) < sum(t[0] for t in totals.values())


def test_same_split_as_the_simulator(demo: SimInputs) -> None:
    """One job running all day at one site: grid = max(IT load - surplus, 0), as the simulator
    settles it."""
    slots = demo.slots
    idle = demo.idle_slot_power_w
    for k in (0, 40, 60, 80):
        _, sites = settle_tick(
            k, demo.step_s, demo.surplus_w[k], slots, idle, [JobUse(0, 0, 350.0, 900.0)]
        )
        it_w = idle * slots + np.array([350.0 - idle[0], 0.0, 0.0])
        grid_w = np.maximum(it_w - np.maximum(demo.surplus_w[k], 0.0), 0.0)
        assert [s.grid_j / demo.step_s for s in sites] == pytest.approx(grid_w)


def test_nominal_meter_books_the_nominal_power(demo: SimInputs) -> None:
    clock = FakeClock()

    def meter(job: str, site: str, power_w: float) -> PowerMeter:
        return NominalPowerMeter(power_w, clock=clock)

    ledger = EnergyLedger(demo.site_names, demo.slots, demo.idle_slot_power_w, demo.step_s, meter)
    ledger.attach(0, "a", 1, 350.0)
    clock.t = 1.5  # wall seconds of one tick
    assert ledger.power_w(0) == pytest.approx(350.0)
    assert ledger.power_w(0) == pytest.approx(350.0)  # an empty window reads the power now


def test_measured_power_replaces_the_nominal_one(demo: SimInputs) -> None:
    """A recorded power trace (a GPU ramping up, then steady with dips) replayed by the test
    double: each tick books the recording's mean power over the tick's wall window × the
    tick's trace seconds, so the ledger's energy is the recording's integral × the speedup."""
    recording = pd.DataFrame(
        {
            "time_s": [0.0, 0.4, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0],
            "power_w": [80.0, 310.0, 295.0, 305.0, 180.0, 300.0, 298.0, 302.0, 299.0],
        }
    )
    clock = FakeClock()

    def meter(job: str, site: str, power_w: float) -> PowerMeter:
        return ReplayPowerMeter(recording, clock=clock)

    ledger = EnergyLedger(demo.site_names, demo.slots, demo.idle_slot_power_w, demo.step_s, meter)
    ledger.attach(0, "gpu-job", 2, 350.0)
    wall_per_tick = 0.75
    speedup = demo.step_s / wall_per_tick
    booked = []
    for k in range(8):
        clock.t += wall_per_tick
        p = ledger.power_w(0)
        assert p != pytest.approx(350.0)  # the measurement, not the nominal power
        jobs, _ = ledger.settle(40 + k, demo.surplus_w[40 + k], [JobUse(0, 2, p, demo.step_s)])
        booked.append(jobs[0])
    t = recording["time_s"].to_numpy()
    w = recording["power_w"].to_numpy()
    integral_j = float(np.trapezoid(w, t))  # 6 s of recording = 8 ticks of 0.75 s
    assert sum(e.energy_j for e in booked) == pytest.approx(integral_j * speedup)
    assert sum(e.renewable_j + e.grid_j for e in booked) == pytest.approx(integral_j * speedup)


def test_more_jobs_than_slots_is_refused(demo: SimInputs) -> None:
    uses = [JobUse(j, 0, 300.0, 900.0) for j in range(3)]  # site 0 has 2 slots
    with pytest.raises(InputError, match="slots"):
        settle_tick(0, demo.step_s, demo.surplus_w[0], demo.slots, demo.idle_slot_power_w, uses)
    with pytest.raises(InputError, match="outside"):
        settle_tick(
            0,
            demo.step_s,
            demo.surplus_w[0],
            demo.slots,
            demo.idle_slot_power_w,
            [JobUse(0, 0, 300.0, 2000.0)],
        )
