"""The energy balance of whole traces: per site and time step, who supplies a given load.

:func:`balance` is the energy ledger (:mod:`greenhop.world.ledger`) applied to whole traces of
generation ``G`` and load ``L`` that are known in advance, with no jobs and no policy (the
benchmark against Vessim uses it). Each step and site, in this order of merit:

1. renewable generation serves the load (``renewable_to_load = min(G, L)``);
2. a surplus ``G - L > 0`` charges the site's battery, within its power limit and up to its
   maximum state of charge; what the battery cannot take is curtailed (or exported);
3. a deficit ``L - G > 0`` is covered by the battery, within its power limit and down to its
   minimum state of charge; what is still missing comes from the grid (non-renewable).

Power is in W and never negative (one array per flow, named after its direction); energy in kWh;
arrays are ``[step, site]``; the battery's conventions are those of :mod:`greenhop.energy.battery`,
whose :meth:`~greenhop.energy.battery.BatteryBank.run` gives the whole trace without a Python loop
over steps. The balance is exact at every step and site (:meth:`BalanceResult.check_conservation`,
the ledger's :func:`~greenhop.world.ledger.check_flows`)::

    renewable_to_load + battery_discharge + grid     == load
    renewable_to_load + battery_charge    + curtailed == generation
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from greenhop.energy.battery import BatteryBank, BatterySpec, check_step_s
from greenhop.errors import InputError
from greenhop.world.ledger import ConservationError, check_flows, settle

FloatArray = NDArray[np.float64]

__all__ = ["BalanceResult", "ConservationError", "balance"]


@dataclass(frozen=True)
class BalanceResult:
    """Where every watt went, per step and site; arrays ``[steps, sites]`` in W unless noted.

    ``soc_kwh[t]`` is the stored energy at the end of step ``t`` (0 at sites without a battery);
    ``initial_soc_kwh`` the value before step 0. Per-site energy totals in kWh are properties
    named after the flow (``grid_kwh`` ...); :meth:`totals_kwh` sums them over sites.
    """

    step_s: float
    generation_w: FloatArray
    load_w: FloatArray
    renewable_to_load_w: FloatArray
    battery_charge_w: FloatArray
    battery_discharge_w: FloatArray
    grid_w: FloatArray
    curtailed_w: FloatArray
    soc_kwh: FloatArray
    initial_soc_kwh: FloatArray

    FLOWS = (
        "generation",
        "load",
        "renewable_to_load",
        "battery_charge",
        "battery_discharge",
        "grid",
        "curtailed",
    )

    @property
    def steps(self) -> int:
        return int(self.load_w.shape[0])

    @property
    def sites(self) -> int:
        return int(self.load_w.shape[1])

    def energy_kwh(self, flow: str) -> FloatArray:
        """Energy of ``flow`` (one of :attr:`FLOWS`) per site over the whole run, in kWh."""
        if flow not in self.FLOWS:
            raise InputError(f"unknown flow {flow!r}; use one of {', '.join(self.FLOWS)}")
        power: FloatArray = getattr(self, f"{flow}_w")
        return power.sum(axis=0) * (self.step_s / 3.6e6)

    @property
    def generation_kwh(self) -> FloatArray:
        return self.energy_kwh("generation")

    @property
    def load_kwh(self) -> FloatArray:
        return self.energy_kwh("load")

    @property
    def renewable_to_load_kwh(self) -> FloatArray:
        return self.energy_kwh("renewable_to_load")

    @property
    def battery_charge_kwh(self) -> FloatArray:
        return self.energy_kwh("battery_charge")

    @property
    def battery_discharge_kwh(self) -> FloatArray:
        return self.energy_kwh("battery_discharge")

    @property
    def grid_kwh(self) -> FloatArray:
        return self.energy_kwh("grid")

    @property
    def curtailed_kwh(self) -> FloatArray:
        return self.energy_kwh("curtailed")

    def totals_kwh(self) -> dict[str, float]:
        """Every flow summed over steps and sites, in kWh."""
        return {flow: float(self.energy_kwh(flow).sum()) for flow in self.FLOWS}

    def renewable_fraction(self) -> FloatArray:
        """Share of each site's load not taken from the grid (NaN where the load is 0)."""
        load = self.load_kwh
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(load > 0, 1.0 - self.grid_kwh / load, np.nan)

    def check_conservation(self) -> None:
        """Raise :class:`~greenhop.world.ledger.ConservationError` unless every step and site
        balances (:func:`~greenhop.world.ledger.check_flows`)."""
        check_flows(
            renewable_w=self.renewable_to_load_w,
            battery_charge_w=self.battery_charge_w,
            battery_discharge_w=self.battery_discharge_w,
            grid_w=self.grid_w,
            curtailed_w=self.curtailed_w,
            load_w=self.load_w,
            green_w=self.generation_w,
        )


def _power_array(values: ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise InputError(
            f"{name} must be a 2-D array [steps, sites], got shape {array.shape}; "
            "for one site pass values[:, None]"
        )
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        step, site = (int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            f"{name} at step {step}, site {site} is {array[step, site]}; "
            f"power must be finite and >= 0 W ({int(bad.sum())} bad values in all)"
        )
    return array


def balance(
    generation_w: ArrayLike,
    load_w: ArrayLike,
    step_s: float,
    batteries: Sequence[BatterySpec | None] | None = None,
) -> BalanceResult:
    """Energy balance of every site over whole traces (see the module docstring for the rules).

    Args:
        generation_w: renewable generation in W, ``[steps, sites]``, >= 0.
        load_w: IT load in W, ``[steps, sites]``, >= 0.
        step_s: step length in s.
        batteries: one :class:`BatterySpec` or ``None`` per site; ``None`` for no batteries.

    Without batteries this is a handful of array operations; with batteries the state of charge
    comes from :meth:`BatteryBank.run`, still without a Python loop over every step.
    """
    dt = check_step_s(step_s)
    gen = _power_array(generation_w, "generation_w")
    load = _power_array(load_w, "load_w")
    if gen.shape != load.shape:
        raise InputError(
            f"generation_w and load_w must have the same shape [steps, sites], "
            f"got {gen.shape} and {load.shape}"
        )
    sites = gen.shape[1]
    if batteries is not None and len(batteries) != sites:
        raise InputError(
            f"batteries must have one entry (BatterySpec or None) per site: "
            f"{sites} sites, got {len(batteries)}"
        )
    bank = BatteryBank(batteries or [None] * sites, dt)
    flows = settle(gen, load, bank)
    return BalanceResult(
        step_s=dt,
        generation_w=gen,
        load_w=load,
        renewable_to_load_w=flows.renewable_w,
        battery_charge_w=flows.battery_charge_w,
        battery_discharge_w=flows.battery_discharge_w,
        grid_w=flows.grid_w,
        curtailed_w=flows.curtailed_w,
        soc_kwh=flows.battery_soc_kwh,
        initial_soc_kwh=bank.initial_soc_kwh.copy(),
    )
