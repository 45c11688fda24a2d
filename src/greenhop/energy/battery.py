"""Site storage: a battery's parameters (:class:`BatterySpec`) and the batteries of all sites
stepped as arrays (:class:`BatteryBank`).

Conventions, written down once for the module:

- Power is in W and never negative: ``charge_w`` flows into a battery, ``discharge_w`` out of it.
  The one signed quantity is the surplus ``surplus_w = generation - load`` at a site: positive
  charges, negative discharges.
- Energy is in kWh, durations in s. A power value at step ``t`` is held over ``[t, t + step_s)``.
- State of charge is stored energy in kWh (``soc_kwh``); ``soc_kwh[t]`` is the value at the *end*
  of step ``t``. Fractions of capacity (``initial_soc``, ``min_soc``, ``max_soc``) are 0..1.
- Power limits (``max_power_kw``) apply at the battery's terminals, to charge and discharge as
  the site sees them.
- Round-trip efficiency is applied **on charge**: charging with ``P`` W for ``dt`` stores
  ``eta * P * dt``; discharging ``P`` W for ``dt`` removes exactly ``P * dt``. So ``soc_kwh`` is
  the energy the battery can still deliver to the load, which is what a scheduler asks ("how long
  can this job run on the battery?").

A bank is driven two ways with one model: :meth:`BatteryBank.step`, one step at a time (the
simulator), and :meth:`BatteryBank.run`, a whole trace at once without a Python loop over steps
(:func:`soc_trajectory`; :func:`greenhop.world.balance.balance` uses it). Both give the same results
up to floating-point rounding.

:class:`BatterySpec` is also the schema of a scenario's ``[sites.battery]`` table: pydantic
validates it from TOML with the bounds written on its fields, and ``__post_init__`` checks the
same when it is built in Python.

The battery follows the same semantics as Vessim's ``SimpleBattery`` [1]_ when the round-trip
efficiency is 1 and ``max_soc`` is 1 (its ``c_rate`` is ``max_power_kw / capacity_kwh``).

References
----------
.. [1] P. Wiesner et al., "Vessim: A Testbed for Carbon-Aware Applications and Systems",
   HotCarbon 2024; github.com/dos-group/vessim (``vessim.SimpleBattery``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import ConfigDict, Field

from greenhop.errors import InputError

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BatterySpec:
    """A site's battery.

    Attributes:
        capacity_kwh: usable energy capacity in kWh (> 0).
        max_power_kw: charge and discharge power limit in kW, at the terminals (> 0).
        round_trip_efficiency: fraction of charged energy that can be discharged (0 < eta <= 1),
            applied on charge (see the module docstring).
        initial_soc: state of charge at the start, as a fraction of capacity.
        min_soc: the battery is never discharged below this fraction of capacity.
        max_soc: the battery is never charged above this fraction of capacity.
        name: used in error messages only (a scenario names it after its site).

    The same bounds are written on the fields for pydantic, which validates a scenario's
    ``[sites.battery]`` table into this type and reports a bad field by its name.
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    capacity_kwh: Annotated[float, Field(gt=0, description="usable capacity, kWh")]
    max_power_kw: Annotated[float, Field(gt=0, description="charge/discharge limit, kW")]
    round_trip_efficiency: Annotated[
        float, Field(gt=0, le=1, description="share of charged energy that comes back, 0..1")
    ] = 0.9
    initial_soc: Annotated[
        float, Field(ge=0, le=1, description="state of charge at start, 0..1")
    ] = 0.5
    min_soc: Annotated[float, Field(ge=0, le=1, description="floor, fraction of capacity")] = 0.0
    max_soc: Annotated[float, Field(ge=0, le=1, description="ceiling, fraction of capacity")] = 1.0
    name: Annotated[str, Field(description="named after its site by a scenario; in messages")] = (
        "battery"
    )

    def __post_init__(self) -> None:
        where = f"battery {self.name!r}"
        for field_name in (
            "capacity_kwh",
            "max_power_kw",
            "round_trip_efficiency",
            "initial_soc",
            "min_soc",
            "max_soc",
        ):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise InputError(f"{where}: {field_name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise InputError(f"{where}: {field_name} must be finite, got {value}")
        if self.capacity_kwh <= 0:
            raise InputError(f"{where}: capacity_kwh must be > 0, got {self.capacity_kwh:g}")
        if self.max_power_kw <= 0:
            raise InputError(f"{where}: max_power_kw must be > 0, got {self.max_power_kw:g}")
        if not 0 < self.round_trip_efficiency <= 1:
            raise InputError(
                f"{where}: round_trip_efficiency must be in (0, 1], "
                f"got {self.round_trip_efficiency:g}"
            )
        if not 0 <= self.min_soc < self.max_soc <= 1:
            raise InputError(
                f"{where}: need 0 <= min_soc < max_soc <= 1, "
                f"got min_soc={self.min_soc:g}, max_soc={self.max_soc:g}"
            )
        if not self.min_soc <= self.initial_soc <= self.max_soc:
            raise InputError(
                f"{where}: initial_soc must be within [min_soc, max_soc] = "
                f"[{self.min_soc:g}, {self.max_soc:g}], got {self.initial_soc:g}"
            )

    @property
    def initial_soc_kwh(self) -> float:
        """Stored energy at the start, in kWh."""
        return self.initial_soc * self.capacity_kwh

    @property
    def c_rate(self) -> float:
        """Power limit over capacity, in 1/h (Vessim's ``c_rate``)."""
        return self.max_power_kw / self.capacity_kwh

    def config(self) -> dict[str, float | str]:
        """The static parameters as a plain dict (for logs and result files)."""
        return {
            "name": self.name,
            "capacity_kwh": self.capacity_kwh,
            "max_power_kw": self.max_power_kw,
            "round_trip_efficiency": self.round_trip_efficiency,
            "initial_soc": self.initial_soc,
            "min_soc": self.min_soc,
            "max_soc": self.max_soc,
        }


def check_step_s(step_s: float) -> float:
    """``step_s`` as a float; raises :class:`InputError` unless it is a positive finite number."""
    if isinstance(step_s, bool) or not isinstance(step_s, numbers.Real) or not step_s > 0:
        raise InputError(f"step_s must be a positive number of seconds, got {step_s!r}")
    if not math.isfinite(step_s):
        raise InputError(f"step_s must be finite, got {step_s}")
    return float(step_s)


class BatteryBank:
    """The batteries of all sites as arrays, stepped together; a site without one has capacity 0.

    Args:
        batteries: one entry per site, ``None`` where the site has no battery.
        step_s: default step length in s for :meth:`step`.

    Attributes:
        soc_kwh: stored energy per site in kWh, updated by :meth:`step` (shape ``[sites]``).
        capacity_kwh, min_soc_kwh, max_soc_kwh: per site, in kWh (0 without a battery).
        max_power_w: per site, in W (0 without a battery).
        charge_efficiency: per site, the round-trip efficiency (1 without a battery).
    """

    def __init__(self, batteries: Sequence[BatterySpec | None], step_s: float) -> None:
        self.step_s = check_step_s(step_s)
        specs = list(batteries)
        for i, spec in enumerate(specs):
            if spec is not None and not isinstance(spec, BatterySpec):
                raise InputError(
                    f"batteries[{i}] must be a BatterySpec or None, got {type(spec).__name__}"
                )
        self.specs: tuple[BatterySpec | None, ...] = tuple(specs)

        def per_site(value_of: str, absent: float) -> FloatArray:
            return np.array(
                [absent if s is None else float(getattr(s, value_of)) for s in specs],
                dtype=np.float64,
            )

        self.capacity_kwh = per_site("capacity_kwh", 0.0)
        self.max_power_w = per_site("max_power_kw", 0.0) * 1000.0
        self.charge_efficiency = per_site("round_trip_efficiency", 1.0)
        self.min_soc_kwh = per_site("min_soc", 0.0) * self.capacity_kwh
        self.max_soc_kwh = per_site("max_soc", 0.0) * self.capacity_kwh
        self.initial_soc_kwh = per_site("initial_soc_kwh", 0.0)
        self.soc_kwh: FloatArray = self.initial_soc_kwh.copy()
        self._rates = self.rates(self.step_s)

    @property
    def sites(self) -> int:
        return len(self.specs)

    def rates(self, step_s: float) -> _Rates:
        """Per-site constants of one step of ``step_s`` seconds."""
        kwh_per_w = step_s / 3.6e6
        return _Rates(-self.max_power_w, self.charge_efficiency * kwh_per_w, kwh_per_w)

    def reset(self) -> None:
        """Back to every battery's initial state of charge."""
        self.soc_kwh = self.initial_soc_kwh.copy()

    def step(
        self, surplus_w: ArrayLike, step_s: float | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Charge or discharge every battery for one step; returns ``(charge_w, discharge_w)``.

        Args:
            surplus_w: renewable generation minus load per site in W, held over the step;
                positive charges, negative discharges (shape ``[sites]``).
            step_s: step length in s; the bank's ``step_s`` if None.

        The grid then supplies ``max(-surplus_w, 0) - discharge_w`` and
        ``max(surplus_w, 0) - charge_w`` is curtailed.
        """
        dt = self.step_s if step_s is None else check_step_s(step_s)
        surplus = np.asarray(surplus_w, dtype=np.float64)
        if surplus.shape != self.soc_kwh.shape or not np.isfinite(surplus).all():
            self._reject(surplus)
        rates = self._rates if dt == self.step_s else self.rates(dt)
        pos_w, neg_w, delta_kwh = _requested(surplus, self.max_power_w, rates)
        before = self.soc_kwh
        after = np.minimum(np.maximum(before + delta_kwh, self.min_soc_kwh), self.max_soc_kwh)
        self.soc_kwh = after
        return _flows(after - before, pos_w, neg_w, rates)

    def run(
        self, surplus_w: ArrayLike, step_s: float | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """A whole trace from the initial state of charge, without a Python loop over steps.

        Args:
            surplus_w: renewable generation minus load in W, ``[steps, sites]``, finite.
            step_s: step length in s; the bank's ``step_s`` if None.

        Returns ``(charge_w, discharge_w, soc_kwh)``, each ``[steps, sites]``; ``soc_kwh[t]`` is
        the state at the end of step ``t``. The bank's own state (:attr:`soc_kwh`) is left as it
        is. Equal to calling :meth:`step` once per row after :meth:`reset`.
        """
        dt = self.step_s if step_s is None else check_step_s(step_s)
        surplus = np.asarray(surplus_w, dtype=np.float64)
        if surplus.ndim != 2 or surplus.shape[1] != self.sites:
            raise InputError(
                f"surplus_w must be [steps, sites] with {self.sites} sites, "
                f"got shape {surplus.shape}"
            )
        if not np.isfinite(surplus).all():
            step, site = (int(i) for i in np.argwhere(~np.isfinite(surplus))[0])
            raise InputError(
                f"surplus_w at step {step}, site {site} is {surplus[step, site]}; it must be finite"
            )
        rates = self._rates if dt == self.step_s else self.rates(dt)
        pos_w, neg_w, delta_kwh = _requested(surplus, self.max_power_w, rates)
        soc = soc_trajectory(self.initial_soc_kwh, delta_kwh, self.min_soc_kwh, self.max_soc_kwh)
        change = np.diff(soc, axis=0, prepend=self.initial_soc_kwh[None, :])
        charge_w, discharge_w = _flows(change, pos_w, neg_w, rates)
        return charge_w, discharge_w, soc

    def _reject(self, surplus: FloatArray) -> None:
        if surplus.shape != (self.sites,):
            raise InputError(
                f"surplus_w must have one value per site, shape ({self.sites},), "
                f"got shape {surplus.shape}"
            )
        bad = int(np.flatnonzero(~np.isfinite(surplus))[0])
        raise InputError(f"surplus_w at site {bad} is {surplus[bad]}; it must be finite")

    def state(self) -> dict[str, FloatArray]:
        """Changing state: ``soc_kwh``, and ``soc`` (fraction, NaN w/o battery)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            soc = np.where(self.capacity_kwh > 0, self.soc_kwh / self.capacity_kwh, np.nan)
        return {"soc_kwh": self.soc_kwh.copy(), "soc": soc}


@dataclass(frozen=True)
class _Rates:
    neg_max_power_w: FloatArray  # -max_power_w
    stored_kwh_per_w: FloatArray  # kWh stored per W charged over the step (efficiency applied)
    kwh_per_w: float  # kWh per W over the step


def _requested(
    surplus_w: FloatArray, max_power_w: FloatArray, rates: _Rates
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Charge power (W, >= 0) and discharge power (W, <= 0) the sites ask for within the power
    limits, and the SoC change in kWh they would cause before the SoC bounds."""
    held_w = np.minimum(np.maximum(surplus_w, rates.neg_max_power_w), max_power_w)
    pos_w = np.maximum(held_w, 0.0)
    neg_w = np.minimum(held_w, 0.0)
    return pos_w, neg_w, pos_w * rates.stored_kwh_per_w + neg_w * rates.kwh_per_w


def _flows(
    change_kwh: FloatArray, pos_w: FloatArray, neg_w: FloatArray, rates: _Rates
) -> tuple[FloatArray, FloatArray]:
    """Charge and discharge power in W from the SoC change; clipped to the requested power so
    that rounding never charges more than the surplus (or discharges more than the deficit)."""
    charge_w = np.minimum(np.maximum(change_kwh / rates.stored_kwh_per_w, 0.0), pos_w)
    discharge_w = np.negative(np.maximum(np.minimum(change_kwh / rates.kwh_per_w, 0.0), neg_w))
    return charge_w, discharge_w


def soc_trajectory(
    initial_kwh: FloatArray, delta_kwh: FloatArray, low_kwh: FloatArray, high_kwh: FloatArray
) -> FloatArray:
    """State of charge after each step of ``s[t] = clip(s[t-1] + delta[t], low, high)``, in kWh.

    Exact, with no Python loop over all steps: every step is a map ``x -> clip(x + a, l, h)``,
    and such maps are closed under composition::

        clip(clip(x + a1, l1, h1) + a2, l2, h2)
            == clip(x + a1 + a2, clip(l1 + a2, l2, h2), clip(h1 + a2, l2, h2))

    The steps are cut into about ``sqrt(steps)`` blocks. The prefix maps inside every block are
    built at once (one numpy pass per position in a block, over all blocks and sites), then the
    states at the block starts are chained (one pass per block), then every state is one map
    applied to its block's start. About ``2 sqrt(steps)`` numpy passes instead of ``steps``.

    Args:
        initial_kwh: state before the first step, shape ``[sites]``.
        delta_kwh: unconstrained change per step, shape ``[steps, sites]``.
        low_kwh, high_kwh: bounds per site, shape ``[sites]``, ``low <= high``.
    """
    steps, sites = delta_kwh.shape
    if steps == 0:
        return np.empty((0, sites))
    block = max(1, math.isqrt(steps))
    blocks = -(-steps // block)
    padded = np.zeros((blocks * block, sites))
    padded[:steps] = delta_kwh
    # [position in block, block, site], contiguous per position
    d = np.ascontiguousarray(padded.reshape(blocks, block, sites).transpose(1, 0, 2))
    shift = np.cumsum(d, axis=0)
    low = np.empty_like(d)
    high = np.empty_like(d)
    low[0] = low_kwh
    high[0] = high_kwh
    for j in range(1, block):
        np.add(low[j - 1], d[j], out=low[j])
        np.maximum(low[j], low_kwh, out=low[j])
        np.minimum(low[j], high_kwh, out=low[j])
        np.add(high[j - 1], d[j], out=high[j])
        np.maximum(high[j], low_kwh, out=high[j])
        np.minimum(high[j], high_kwh, out=high[j])
    start = np.empty((blocks, sites))
    state = np.asarray(initial_kwh, dtype=np.float64).copy()
    for b in range(blocks):
        start[b] = state
        state = np.minimum(np.maximum(state + shift[-1, b], low[-1, b]), high[-1, b])
    soc = np.minimum(np.maximum(start[None] + shift, low), high)
    return soc.transpose(1, 0, 2).reshape(blocks * block, sites)[:steps]
