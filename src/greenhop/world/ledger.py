"""The energy ledger: the one place where energy is settled, attributed and defined.

**Settlement**, per step and site (:func:`settle`), in this order of merit:

1. renewable surplus ``G`` (generation minus the site's base load, floored at 0: the base load
   is served first and is not ours) serves the IT load ``L``: ``renewable = min(G, L)``;
2. what is left of ``G`` charges the site's battery, within its limits; the rest is curtailed;
3. what is missing of ``L`` comes from the battery, within its limits, then from the grid.

So at every step and site ``renewable + battery_discharge + grid == L`` and
``renewable + battery_charge + curtailed == G`` (:func:`check_conservation`). The simulator
settles each step as it runs; the live controller settles each tick with the same function.

**Attribution**: every joule drawn at a site in a step is equally green, so a job's grid energy
is its energy times its site's grid share ``grid / L`` in that step (:func:`job_energy_j`).

**Non-renewable energy** (:func:`non_renewable_kwh`), the quantity every policy, the oracle's
bound, the metrics, the reports and live runs are judged by: the grid energy of the IT load plus
the network energy ``e_net * S`` of every checkpoint that crossed the WAN (a move whose transfer
completed). The idle power of slots during checkpoints and restores is part of the IT load.

**Grid accounting** (:func:`grid_accounts`), beside non-renewable energy:

- *facility* energy is IT energy times the site's PUE (``[[sites]] pue``, default 1.0: no
  overhead counted); the facility load is settled like the IT load (renewables, battery, grid).
  With every PUE at 1 the facility's books are the IT load's, step for step;
- **grid energy** (``grid_kwh``) is the facility's grid energy at the sites;
- **emissions** (kg CO2e) and **cost** (currency) are, per step and site, grid energy times the
  site's carbon intensity and price over that step, plus the network energy ``e_net * S`` of
  every transferred checkpoint charged at its **source** site's intensity and price in the step
  the transfer completed (the sending site's grid powers the uplink; a documented choice). A
  job is charged the facility grid share of every joule it draws, as above;
- **demand-response excess** (kWh): grid energy of the facility above a demand-response cap,
  summed over the steps of the events (0 when the sites complied).

Without a carbon (price) signal, emissions (cost) are absent (NaN), never 0.

Units: power W, energy J per step and kWh in totals, durations s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from greenhop.errors import GreenhopError
from greenhop.feasibility import ModelParameters
from greenhop.world.record import Migration, RunRecord

FloatArray = NDArray[np.float64]

J_PER_KWH = 3.6e6

#: Tolerances of :func:`check_conservation`, W.
CONSERVATION_ATOL_W = 1e-6
CONSERVATION_RTOL = 1e-9


class ConservationError(GreenhopError, RuntimeError):
    """The ledger's books do not balance (a bug, never bad input)."""


class Batteries(Protocol):
    """The sites' batteries as the ledger steps them (a
    :class:`~greenhop.energy.battery.BatteryBank`)."""

    capacity_kwh: FloatArray
    soc_kwh: FloatArray

    def step(self, surplus_w: FloatArray) -> tuple[FloatArray, FloatArray]:
        """One step: charge from ``surplus_w`` > 0, discharge into deficits;
        ``(charge_w, discharge_w)``."""
        ...

    def run(self, surplus_w: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """A whole trace from the initial state of charge: ``(charge_w, discharge_w, soc_kwh)``."""
        ...


@dataclass(frozen=True)
class Settlement:
    """Who supplied the IT load in one step (arrays over sites) or many (steps, sites), W;
    ``battery_soc_kwh``: the batteries' state of charge at the end of each step."""

    renewable_w: FloatArray
    battery_charge_w: FloatArray
    battery_discharge_w: FloatArray
    grid_w: FloatArray
    curtailed_w: FloatArray
    battery_soc_kwh: FloatArray


def settle(
    surplus_w: FloatArray,
    it_load_w: FloatArray,
    bank: Batteries | None = None,
    *,
    pue: FloatArray | None = None,
) -> Settlement:
    """Settle one step (arrays over sites) or a whole trace ((steps, sites) arrays).

    ``surplus_w``: generation minus base load, W (may be negative); ``it_load_w``: the IT load
    (jobs, idle slots), W, same shape. ``bank``: the sites' batteries
    (:class:`~greenhop.energy.battery.BatteryBank`): one step moves its state of charge on (the
    simulator and the live controller step it as they go); a whole trace runs from its initial
    state of charge and leaves the bank as it is. None or a bank without capacity: no battery.
    ``pue`` (per site): settle the facility load ``it_load_w * pue`` instead (None: the IT load).
    """
    if pue is not None:
        it_load_w = it_load_w * np.asarray(pue, dtype=np.float64)
    green = np.maximum(surplus_w, 0.0)
    renewable = np.minimum(green, it_load_w)
    if bank is None or not bool((bank.capacity_kwh > 0).any()):
        # three arrays written, no temporaries: over a whole trace each is (steps, sites),
        # and first writes to fresh memory cost more than the arithmetic
        grid = np.asarray(np.subtract(it_load_w, green))  # an array, even for scalars
        np.maximum(grid, 0.0, out=grid)
        # green is not needed after: written over, unless the load broadcasts it wider
        curtailed = np.subtract(
            green,
            renewable,
            out=green if isinstance(green, np.ndarray) and green.shape == renewable.shape else None,
        )
        # np.zeros, not zeros_like: fresh zeroed memory, never written (zeros_like writes
        # every element)
        zeros = np.zeros(renewable.shape)
        return Settlement(
            renewable_w=renewable,
            battery_charge_w=zeros,
            battery_discharge_w=zeros,
            grid_w=grid,
            curtailed_w=curtailed,
            battery_soc_kwh=zeros,
        )
    net = green - it_load_w
    if net.ndim == 1:
        charge, discharge = bank.step(net)
        soc = bank.soc_kwh.copy()
    else:
        charge, discharge, soc = bank.run(net)
    return Settlement(
        renewable_w=renewable,
        battery_charge_w=charge,
        battery_discharge_w=discharge,
        grid_w=np.maximum(-net - discharge, 0.0),
        curtailed_w=green - renewable - charge,
        battery_soc_kwh=soc,
    )


def check_flows(
    *,
    renewable_w: FloatArray,
    battery_charge_w: FloatArray,
    battery_discharge_w: FloatArray,
    grid_w: FloatArray,
    curtailed_w: FloatArray,
    load_w: FloatArray,
    green_w: FloatArray,
    label: str = "energy balance",
) -> None:
    """Raise :class:`ConservationError` unless, at every step and site (within
    :data:`CONSERVATION_ATOL_W` + :data:`CONSERVATION_RTOL`): ``renewable + battery_discharge
    + grid == load``, ``renewable + battery_charge + curtailed == green`` and no flow < 0."""
    checks = {
        "renewable + battery_discharge + grid == load": (
            renewable_w + battery_discharge_w + grid_w,
            load_w,
        ),
        "renewable + battery_charge + curtailed == renewable supply": (
            renewable_w + battery_charge_w + curtailed_w,
            green_w,
        ),
    }
    for equation, (lhs, rhs) in checks.items():
        residual = np.abs(lhs - rhs)
        bad = residual > CONSERVATION_ATOL_W + CONSERVATION_RTOL * np.abs(rhs)
        if bad.any():
            k, s = (int(i) for i in np.argwhere(bad)[0])
            raise ConservationError(
                f"{label}: {equation} is off by {residual[k, s]:.3g} W at step {k}, site {s} "
                f"({int(bad.sum())} step-sites in all)"
            )
    flows = {
        "renewable_w": renewable_w,
        "battery_charge_w": battery_charge_w,
        "battery_discharge_w": battery_discharge_w,
        "grid_w": grid_w,
        "curtailed_w": curtailed_w,
    }
    for name, flow in flows.items():
        if (flow < -CONSERVATION_ATOL_W).any():
            k, s = (int(i) for i in np.argwhere(flow < -CONSERVATION_ATOL_W)[0])
            raise ConservationError(
                f"{label}: {name} is negative ({flow[k, s]:.3g} W) at step {k}, site {s}"
            )


def grid_share(it_load_w: FloatArray, grid_w: FloatArray) -> FloatArray:
    """Share of the IT load the grid covered, per step and site (0 where there is no load)."""
    zeros = np.zeros_like(it_load_w)
    res: FloatArray = np.divide(grid_w, it_load_w, out=zeros, where=it_load_w > 0)
    return res


def network_kwh(migrations: Iterable[Migration], params: ModelParameters) -> float:
    """Network energy of the moves whose checkpoint crossed the WAN, kWh (``e_net * S``)."""
    return float(params.network_kwh_per_gb * sum(m.size_gb for m in migrations if m.transferred))


def job_network_kwh(record: RunRecord) -> FloatArray:
    """Each job's network energy, kWh (its transferred checkpoints)."""
    out = np.zeros(len(record.inputs.jobs))
    e_net = record.inputs.params.network_kwh_per_gb
    for m in record.migrations:
        if m.transferred:
            out[m.job] += e_net * m.size_gb
    return out


def job_energy_j(record: RunRecord) -> tuple[FloatArray, FloatArray]:
    """Each job's energy drawn at the sites and the grid's part of it, J (attribution above)."""
    n = len(record.inputs.jobs)
    if record.job_energy is None or not len(record.job_energy[0]):
        return np.zeros(n), np.zeros(n)
    ks, js, ss, es = record.job_energy
    share = grid_share(record.it_load_w, record.grid_w)[ks, ss]
    energy = np.bincount(js, weights=es, minlength=n).astype(np.float64)
    grid = np.bincount(js, weights=es * share, minlength=n).astype(np.float64)
    return energy, grid


def grid_kwh(record: RunRecord) -> float:
    """Grid energy of the IT load over the run, kWh."""
    return float(record.grid_w.sum()) * float(record.inputs.step_s) / J_PER_KWH


def non_renewable_kwh(record: RunRecord) -> float:
    """Non-renewable energy of a run, kWh: grid energy of the IT load plus network energy."""
    return grid_kwh(record) + network_kwh(record.migrations, record.inputs.params)


def non_renewable_kwh_per_step(record: RunRecord) -> FloatArray:
    """Non-renewable energy of each step (summed over sites), kWh: the step's grid energy plus
    the network energy of the transfers that completed in it; sums to :func:`non_renewable_kwh`."""
    inp = record.inputs
    per_step: FloatArray = record.grid_w.sum(axis=1) * float(inp.step_s) / J_PER_KWH
    e_net = inp.params.network_kwh_per_gb
    for m in record.migrations:
        if m.transferred:
            k = min(max(int(m.transfer_done_s // inp.step_s), 0), inp.n_steps - 1)
            per_step[k] += e_net * m.size_gb
    return per_step


def check_conservation(record: RunRecord) -> None:
    """Raise :class:`ConservationError` unless the run's books balance at every step and site.

    ``renewable + battery_discharge + grid == it_load``, ``renewable + battery_charge +
    curtailed == max(surplus, 0)``, no flow below 0, and the jobs' energy at a site in a step
    never exceeds that site's IT energy.
    """
    check_flows(
        renewable_w=record.renewable_w,
        battery_charge_w=record.battery_charge_w,
        battery_discharge_w=record.battery_discharge_w,
        grid_w=record.grid_w,
        curtailed_w=record.curtailed_w,
        load_w=record.it_load_w,
        green_w=np.maximum(record.inputs.surplus_w, 0.0),
        label=record.policy,
    )
    if record.job_energy is not None and len(record.job_energy[0]):
        ks, _, ss, es = record.job_energy
        n_steps, n_sites = record.it_load_w.shape
        jobs_j = np.zeros(n_steps * n_sites)
        np.add.at(jobs_j, ks.astype(np.int64) * n_sites + ss, es)
        it_j = record.it_load_w.ravel() * float(record.inputs.step_s)
        over = jobs_j - it_j > CONSERVATION_ATOL_W * float(record.inputs.step_s) + 1e-9 * it_j
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise ConservationError(
                f"{record.policy}: the jobs drew {jobs_j[i]:.6g} J at step {i // n_sites}, site "
                f"{i % n_sites}, more than its IT energy {it_j[i]:.6g} J"
            )


# -- grid accounting --------------------------------------------------------------------------


@dataclass(frozen=True)
class GridAccounts:
    """A run's grid energy, emissions, cost and demand-response excess (see the module
    docstring). ``*_site`` arrays are per site, ``*_job`` per job; emissions in kg CO2e, cost in
    ``currency``; NaN where the signal is absent."""

    grid_kwh: float
    grid_kwh_site: FloatArray
    emissions_kg: float
    emissions_kg_site: FloatArray
    cost: float
    cost_site: FloatArray
    currency: str | None
    carbon_kind: str | None
    network_emissions_kg: float
    network_cost: float
    job_grid_kwh: FloatArray
    job_emissions_kg: FloatArray
    job_cost: FloatArray
    dr_excess_kwh: float
    dr_excess_kwh_site: FloatArray
    facility_grid_w: FloatArray  # (steps, sites)


def facility_grid_w(record: RunRecord) -> FloatArray:
    """The facility's grid power per step and site, W: the record's ``grid_w`` when every PUE
    is 1, else the facility load ``it_load * pue`` settled over the whole run (batteries from
    their initial state of charge)."""
    grid = record.inputs.grid
    pue = None if grid is None else np.asarray(grid.pue, dtype=np.float64)
    if pue is None or bool((pue == 1.0).all()):
        return record.grid_w
    from greenhop.energy.battery import BatteryBank

    inp = record.inputs
    bank = BatteryBank(inp.batteries or [None] * len(inp.site_names), float(inp.step_s))
    return settle(inp.surplus_w, record.it_load_w, bank, pue=pue).grid_w


def grid_accounts(record: RunRecord) -> GridAccounts:
    """Grid energy, emissions, cost and demand-response excess of a run, per site and job."""
    inp = record.inputs
    n_steps, n_sites = record.it_load_w.shape
    n_jobs = len(inp.jobs)
    dt_h = float(inp.step_s) / 3600.0
    grid_w = facility_grid_w(record)
    grid_kwh_ks = grid_w * dt_h / 1000.0
    g = record.inputs.grid
    carbon = None if g is None or g.carbon is None else g.carbon.values
    price = None if g is None or g.price is None else g.price.values
    nan_site = np.full(n_sites, np.nan)
    nan_job = np.full(n_jobs, np.nan)

    def charged(rate: FloatArray | None, per_kwh: float) -> tuple[FloatArray, float, FloatArray]:
        """Per site, network, per job: grid kWh times rate * per_kwh."""
        if rate is None:
            return nan_site, float("nan"), nan_job
        r = np.nan_to_num(rate, nan=0.0) * per_kwh
        site = (grid_kwh_ks * r).sum(axis=0)
        net = 0.0
        e_net = inp.params.network_kwh_per_gb
        for m in record.migrations:
            if m.transferred:
                k = min(max(int(m.transfer_done_s // inp.step_s), 0), n_steps - 1)
                net += e_net * m.size_gb * r[k, m.src]
        job = np.zeros(n_jobs)
        if record.job_energy is not None and len(record.job_energy[0]):
            ks, js, ss, es = record.job_energy
            share = grid_share(record.it_load_w, grid_w)[ks, ss]  # facility grid per IT joule
            job = np.bincount(js, weights=es * share * r[ks, ss], minlength=n_jobs) / J_PER_KWH
        for m in record.migrations:
            if m.transferred:
                k = min(max(int(m.transfer_done_s // inp.step_s), 0), n_steps - 1)
                job[m.job] += e_net * m.size_gb * r[k, m.src]
        return site, net, job.astype(np.float64)

    _, _, job_grid = charged(np.ones((n_steps, n_sites)), 1.0)
    job_grid = job_grid - job_network_kwh(record)  # grid kWh at the sites only
    em_site, em_net, em_job = charged(carbon, 1e-3)  # g/kWh -> kg/kWh
    cost_site, cost_net, cost_job = charged(price, 1e-3)  # per MWh -> per kWh
    excess_site = np.zeros(n_sites)
    if g is not None and g.dr_cap_w is not None:
        cap = g.dr_cap_w
        over = np.where(np.isfinite(cap), np.maximum(grid_w - cap, 0.0), 0.0)
        excess_site = over.sum(axis=0) * dt_h / 1000.0
    return GridAccounts(
        grid_kwh=float(grid_w.sum()) * float(inp.step_s) / J_PER_KWH,  # as grid_kwh()
        grid_kwh_site=grid_kwh_ks.sum(axis=0),
        emissions_kg=float(em_site.sum() + em_net),
        emissions_kg_site=em_site,
        cost=float(cost_site.sum() + cost_net),
        cost_site=cost_site,
        currency=None if g is None else g.currency,
        carbon_kind=None if g is None else g.carbon_kind,
        network_emissions_kg=em_net,
        network_cost=cost_net,
        job_grid_kwh=job_grid,
        job_emissions_kg=em_job,
        job_cost=cost_job,
        dr_excess_kwh=float(excess_site.sum()),
        dr_excess_kwh_site=excess_site,
        facility_grid_w=grid_w,
    )
