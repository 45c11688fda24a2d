"""The energy ledger of a live run: per tick, job and site, energy from renewables and the grid.

What a live tick drew is measured here; how it is settled is the world's one ledger
(:func:`greenhop.world.ledger.settle`, the simulator's): in each tick of ``step_s`` seconds of
trace time, a site's IT load is its jobs' energy plus its idle slots' energy; the site's
renewable surplus (generation minus base load, floored at 0) serves that IT load first, then
charges the site's battery; what is missing comes from the battery, then from the grid. Each
job's renewable and grid energy are its share of the site's, pro rata to its energy (every joule
drawn at a site in a tick is equally green).

A job's power comes from a :class:`~greenhop.live.cluster.power.PowerMeter`, one per job: the
nominal meter (the job's ``power_w``) where no device reports power, a measured one (NVML, or the
:class:`~greenhop.live.cluster.power.ReplayPowerMeter` test double) where one does. The meter's mean
power over the tick's wall-clock window replaces the nominal power; the energy booked is that power
times the job's running time in the tick, in trace seconds (a replay at ``speedup`` 600 books 600 s
of trace time per wall second).

Idle slots that sleep (the scenario's ``[sites.sleep]``, ``SimInputs.sleep``): in a tick, a
slot that holds a job draws the job's power while it runs and the idle power for the rest of the
tick; every other slot sleeps all tick at the sleep power. The slots awake at a tick's start are
those that held a job in the tick before; each job that takes a slot at a site beyond those
costs one wake-up, ``wake_j``, booked to that job (in its ``energy_j``, beside its power times
its running time). The wake-up time is not booked here: in a live run it is whatever the
hardware takes. A restarted controller starts with every slot asleep. Without sleep the
formulas are the ones above, unchanged.

Units: power W, energy J, time s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from greenhop.energy.battery import BatteryBank, BatterySpec
from greenhop.errors import InputError
from greenhop.live.cluster.power import NominalPowerMeter, PowerMeter
from greenhop.world.inputs import SlotSleep
from greenhop.world.ledger import Batteries, settle

MeterFactory = Callable[[str, str, float], PowerMeter]
"""``(job, site, nominal power W) -> PowerMeter`` for a job starting or arriving at a site."""


def nominal_meter(job: str, site: str, power_w: float) -> PowerMeter:
    """The default :data:`MeterFactory`: the job's nominal power."""
    return NominalPowerMeter(power_w)


@dataclass(frozen=True)
class JobUse:
    """What one job drew in one tick: ``power_w`` for ``run_s`` seconds at ``site`` (index)."""

    job: int
    site: int
    power_w: float
    run_s: float


@dataclass(frozen=True)
class JobEnergy:
    """A job's energy in one tick at one site, J; ``renewable_j + grid_j == energy_j``."""

    tick: int
    job: int
    site: int
    power_w: float
    run_s: float
    energy_j: float
    renewable_j: float
    grid_j: float


@dataclass(frozen=True)
class SiteEnergy:
    """A site's IT energy in one tick, J (jobs + idle slots): ``renewable_j +
    battery_discharge_j + grid_j == it_energy_j`` and ``renewable_j + battery_charge_j +
    curtailed_j == max(surplus_w, 0) * step_s``; ``battery_soc_kwh`` at the tick's end."""

    tick: int
    site: int
    surplus_w: float
    it_energy_j: float
    idle_energy_j: float
    renewable_j: float
    grid_j: float
    jobs: int
    battery_charge_j: float = 0.0
    battery_discharge_j: float = 0.0
    curtailed_j: float = 0.0
    battery_soc_kwh: float = 0.0


def settle_tick(
    tick: int,
    step_s: float,
    surplus_w: NDArray[np.float64],
    slots: NDArray[np.int64],
    idle_slot_power_w: NDArray[np.float64],
    uses: Sequence[JobUse],
    batteries: Batteries | None = None,
    *,
    sleep: SlotSleep | None = None,
    last_sites: Mapping[int, int] | None = None,
) -> tuple[list[JobEnergy], list[SiteEnergy]]:
    """Split one tick's energy at every site into renewable, battery and grid (see the module
    docstring); ``batteries`` are stepped once.

    A job's slot draws the job's power while it runs and the idle power for the rest of the
    tick; slots without a job idle all tick, or, with ``sleep``, sleep all tick at its
    ``power_w``. ``last_sites``: each job's site in the tick before (the slots awake at this
    tick's start; none: all asleep); a job that takes a slot beyond those wakes one and is
    booked ``wake_j`` for it.
    """
    n_sites = len(slots)
    job_j = np.zeros(n_sites)
    busy_s = np.zeros(n_sites)
    jobs_at = np.zeros(n_sites, dtype=np.int64)
    for u in uses:
        if not 0 <= u.site < n_sites:
            raise InputError(f"job {u.job} runs at site index {u.site}; there are {n_sites} sites")
        if not (u.power_w >= 0 and 0 <= u.run_s <= step_s + 1e-9):
            raise InputError(
                f"job {u.job} in tick {tick}: power {u.power_w} W for {u.run_s} s is outside "
                f"[0, inf) W x [0, {step_s}] s"
            )
        job_j[u.site] += u.power_w * u.run_s
        busy_s[u.site] += u.run_s
        jobs_at[u.site] += 1
    over = np.flatnonzero(jobs_at > slots)
    if over.size:
        s = int(over[0])
        raise InputError(f"site {s} runs {jobs_at[s]} jobs in tick {tick} but has {slots[s]} slots")
    wake_of: dict[int, float] = {}  # job -> energy of the slot it woke, J
    if sleep is None:
        idle_j = idle_slot_power_w * (slots * step_s - busy_s)
    else:
        idle_j = idle_slot_power_w * (jobs_at * step_s - busy_s) + sleep.power_w * (
            (slots - jobs_at) * step_s
        )
        last = last_sites or {}
        awake = np.bincount(
            np.array([s for s in last.values() if 0 <= s < n_sites], dtype=np.int64),
            minlength=n_sites,
        )
        wakes = np.maximum(jobs_at - awake, 0)
        sleepy = (sleep.power_w < idle_slot_power_w) | (sleep.wake_j > 0) | (sleep.wake_s > 0)
        for u in uses:  # the first jobs new at a site take its sleeping slots
            if sleepy[u.site] and wakes[u.site] > 0 and last.get(u.job) != u.site:
                wakes[u.site] -= 1
                wake_of[u.job] = float(sleep.wake_j[u.site])
                job_j[u.site] += wake_of[u.job]
    it_j = job_j + idle_j
    flows = settle(np.asarray(surplus_w, dtype=np.float64), it_j / step_s, batteries)
    renewable_j = flows.renewable_w * step_s
    grid_j = flows.grid_w * step_s
    grid_fraction = np.divide(grid_j, it_j, out=np.zeros(n_sites), where=it_j > 0)
    soc = np.zeros(n_sites) if batteries is None else batteries.soc_kwh
    energy = [u.power_w * u.run_s + wake_of.get(u.job, 0.0) for u in uses]
    jobs = [
        JobEnergy(
            tick=tick,
            job=u.job,
            site=u.site,
            power_w=u.power_w,
            run_s=u.run_s,
            energy_j=e,
            renewable_j=e * (1.0 - grid_fraction[u.site]),
            grid_j=e * grid_fraction[u.site],
        )
        for u, e in zip(uses, energy, strict=True)
    ]
    sites = [
        SiteEnergy(
            tick=tick,
            site=s,
            surplus_w=float(surplus_w[s]),
            it_energy_j=float(it_j[s]),
            idle_energy_j=float(idle_j[s]),
            renewable_j=float(renewable_j[s]),
            grid_j=float(grid_j[s]),
            jobs=int(jobs_at[s]),
            battery_charge_j=float(flows.battery_charge_w[s] * step_s),
            battery_discharge_j=float(flows.battery_discharge_w[s] * step_s),
            curtailed_j=float(flows.curtailed_w[s] * step_s),
            battery_soc_kwh=float(soc[s]),
        )
        for s in range(n_sites)
    ]
    return jobs, sites


class EnergyLedger:
    """Per-job power meters and the tick-by-tick split of energy into renewable and grid.

    Call :meth:`attach` when a job starts (or lands) at a site, :meth:`detach` when it stops,
    :meth:`power_w` once per tick to read each job's mean power over the tick, and
    :meth:`settle` to book the tick. Entries accumulate in :attr:`job_entries` and
    :attr:`site_entries`.
    """

    def __init__(
        self,
        site_names: Sequence[str],
        slots: NDArray[np.int64],
        idle_slot_power_w: NDArray[np.float64],
        step_s: float,
        meter_factory: MeterFactory = nominal_meter,
        *,
        batteries: Sequence[BatterySpec | None] | None = None,
        sleep: SlotSleep | None = None,
    ) -> None:
        if not step_s > 0:
            raise InputError(f"step_s must be > 0, got {step_s}")
        self.bank = BatteryBank(batteries or [None] * len(slots), step_s)
        self.site_names = tuple(site_names)
        self.slots = np.asarray(slots, dtype=np.int64)
        self.idle_slot_power_w = np.asarray(idle_slot_power_w, dtype=np.float64)
        self.step_s = float(step_s)
        self.meter_factory = meter_factory
        self.sleep = sleep  # idle slots that sleep (None: they idle)
        self._last_sites: dict[int, int] = {}  # each job's site in the last booked tick
        self._meters: dict[int, PowerMeter] = {}
        self.job_entries: list[JobEnergy] = []
        self.site_entries: list[SiteEnergy] = []

    def attach(self, job: int, job_name: str, site: int, nominal_power_w: float) -> None:
        """A new meter for ``job`` at ``site``; its first window opens now."""
        meter = self.meter_factory(job_name, self.site_names[site], nominal_power_w)
        meter.begin_window("tick")
        self._meters[job] = meter

    def detach(self, job: int) -> None:
        """Forget the meter of ``job`` (stopped, paused or done)."""
        self._meters.pop(job, None)

    def power_w(self, job: int) -> float:
        """Mean power of ``job`` since the last call (or :meth:`attach`), W; opens the next
        window. A window of zero length reads the meter's power now."""
        meter = self._meters[job]
        if isinstance(meter, NominalPowerMeter):  # constant: exact, without the clock's jitter
            return meter.power_w()
        m = meter.end_window("tick")
        meter.begin_window("tick")
        return m.mean_power_w if m.duration_s > 0 else meter.power_w()

    def settle(
        self, tick: int, surplus_w: NDArray[np.float64], uses: Sequence[JobUse]
    ) -> tuple[list[JobEnergy], list[SiteEnergy]]:
        """Book one tick (see :func:`settle_tick`) and return its entries."""
        jobs, sites = settle_tick(
            tick,
            self.step_s,
            surplus_w,
            self.slots,
            self.idle_slot_power_w,
            uses,
            self.bank,
            sleep=self.sleep,
            last_sites=self._last_sites,
        )
        self._last_sites = {u.job: u.site for u in uses}
        self.job_entries += jobs
        self.site_entries += sites
        return jobs, sites

    def soc_kwh(self) -> NDArray[np.float64]:
        """The batteries' state of charge now, kWh per site (0 without a battery)."""
        return self.bank.soc_kwh.copy()

    def capacity_kwh(self) -> NDArray[np.float64]:
        """The batteries' capacity, kWh per site (0 without a battery)."""
        return self.bank.capacity_kwh.copy()

    def set_soc_kwh(self, site: int, soc_kwh: float) -> None:
        """Carry on from a committed state of charge (a restarted controller)."""
        self.bank.soc_kwh[site] = soc_kwh

    def job_totals_j(self) -> dict[int, tuple[float, float, float]]:
        """Per job: (energy, renewable, grid), J, over every booked tick."""
        out: dict[int, tuple[float, float, float]] = {}
        for e in self.job_entries:
            a, r, g = out.get(e.job, (0.0, 0.0, 0.0))
            out[e.job] = (a + e.energy_j, r + e.renewable_j, g + e.grid_j)
        return out
