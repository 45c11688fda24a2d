"""The energy balance of micro datacenters: per site and time step, who supplies the IT load.

Each step of length ``step_s`` and each site, in this order of merit:

1. renewable generation ``G`` serves the IT load ``L`` (``renewable_to_load = min(G, L)``);
2. a surplus ``G - L > 0`` charges the site's battery, within its power limit and up to its
   maximum state of charge; what the battery cannot take is curtailed (or exported);
3. a deficit ``L - G > 0`` is covered by the battery, within its power limit and down to its
   minimum state of charge; what is still missing comes from the grid (non-renewable).

Conventions, written down once for the whole module:

- Power is in W and is never negative: every flow has its own array, named after its direction
  (``battery_charge_w`` flows into the battery, ``battery_discharge_w`` out of it, ``grid_w``
  from the grid to the load, ``curtailed_w`` is renewable power nobody used). The one signed
  quantity is the surplus ``surplus_w = G - L``: positive means excess renewable power, negative
  a deficit.
- Energy is in kWh, durations in s. Arrays are ``[step, site]``; a power value at step ``t`` is
  held constant over ``[t, t + step_s)``.
- The battery's conventions (state of charge in kWh at the end of each step, power limits at
  the terminals, round-trip efficiency applied on charge) are those of
  :mod:`greenhop.energy.battery`, whose :class:`~greenhop.energy.battery.BatteryBank` does the
  charging and discharging here.

The energy balance is exact, at every step and site (:meth:`BalanceResult.check_conservation`)::

    renewable_to_load + battery_discharge + grid     == load
    renewable_to_load + battery_charge    + curtailed == generation

Two entry points share one battery model: :func:`balance` for whole traces (no Python loop over
steps, even with batteries: :meth:`BatteryBank.run`) and :meth:`BatteryBank.step`, stepped online
by the simulator. Both give the same results up to floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from greenhop.energy.battery import BatteryBank, BatterySpec, check_step_s
from greenhop.errors import GreenhopError, InputError

FloatArray = NDArray[np.float64]

#: Tolerance of :meth:`BalanceResult.check_conservation`, in W (absolute) and relative.
CONSERVATION_ATOL_W = 1e-6
CONSERVATION_RTOL = 1e-9


class ConservationError(GreenhopError, RuntimeError):
    """An energy balance does not add up (a bug, not a bad input)."""


# ---------------------------------------------------------------------------------- balance


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
        """Raise :class:`ConservationError` unless, at every step and site, within 1e-6 W:
        ``renewable_to_load + battery_discharge + grid == load`` and
        ``renewable_to_load + battery_charge + curtailed == generation`` (and no flow < 0)."""
        checks = {
            "renewable_to_load + battery_discharge + grid == load": (
                self.renewable_to_load_w + self.battery_discharge_w + self.grid_w,
                self.load_w,
            ),
            "renewable_to_load + battery_charge + curtailed == generation": (
                self.renewable_to_load_w + self.battery_charge_w + self.curtailed_w,
                self.generation_w,
            ),
        }
        for equation, (lhs, rhs) in checks.items():
            residual = np.abs(lhs - rhs)
            bad = residual > CONSERVATION_ATOL_W + CONSERVATION_RTOL * np.abs(rhs)
            if bad.any():
                step, site = (int(i) for i in np.argwhere(bad)[0])
                raise ConservationError(
                    f"energy balance broken: {equation} is off by {residual[step, site]:.3g} W "
                    f"at step {step}, site {site} ({int(bad.sum())} step-sites in all)"
                )
        for flow in self.FLOWS[2:]:
            power: FloatArray = getattr(self, f"{flow}_w")
            if (power < -CONSERVATION_ATOL_W).any():
                step, site = (int(i) for i in np.argwhere(power < -CONSERVATION_ATOL_W)[0])
                raise ConservationError(
                    f"{flow}_w is negative ({power[step, site]:.3g} W) at step {step}, site {site}"
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
    surplus = gen - load
    renewable_to_load = np.minimum(gen, load)
    excess = np.maximum(surplus, 0.0)
    deficit = np.maximum(-surplus, 0.0)

    if batteries is not None and len(batteries) != sites:
        raise InputError(
            f"batteries must have one entry (BatterySpec or None) per site: "
            f"{sites} sites, got {len(batteries)}"
        )
    if batteries is None or all(b is None for b in batteries):
        zeros = np.zeros_like(gen)
        return BalanceResult(
            step_s=dt,
            generation_w=gen,
            load_w=load,
            renewable_to_load_w=renewable_to_load,
            battery_charge_w=zeros,
            battery_discharge_w=zeros.copy(),
            grid_w=deficit,
            curtailed_w=excess,
            soc_kwh=np.zeros_like(gen),
            initial_soc_kwh=np.zeros(sites),
        )

    bank = BatteryBank(batteries, dt)
    charge_w, discharge_w, soc = bank.run(surplus)
    return BalanceResult(
        step_s=dt,
        generation_w=gen,
        load_w=load,
        renewable_to_load_w=renewable_to_load,
        battery_charge_w=charge_w,
        battery_discharge_w=discharge_w,
        grid_w=deficit - discharge_w,
        curtailed_w=excess - charge_w,
        soc_kwh=soc,
        initial_soc_kwh=bank.initial_soc_kwh.copy(),
    )
