"""Building the policy's :class:`~greenhop.policies.base.View`, the same way in both worlds
(:func:`make_view`; :class:`ViewBuilder` for a world that builds one every step).

What comes from the run's inputs (surplus now, slots, idle power, the forecast as known at the
step, the model's parameters) is filled here; what a world observes (its jobs, the last step's
IT load, free slots, its links' bandwidth estimates, the batteries' state of charge) is passed
in.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from greenhop.policies.base import ForecastView, JobsView, View, is_heterogeneous
from greenhop.world.inputs import ForecastAt, SimInputs
from greenhop.world.jobs import readonly

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class ViewBuilder:
    """Builds each step's :class:`View` of one run: what comes from the inputs is bound once
    (the simulator builds one View per step, so this is on its hot path)."""

    __slots__ = (
        "_forecast",
        "_hetero",
        "_idle",
        "_names",
        "_params",
        "_power_factor",
        "_slots",
        "_speed",
        "_step_s",
        "_surplus",
    )

    def __init__(self, inputs: SimInputs) -> None:
        assert inputs.forecast is not None  # set in SimInputs.__post_init__
        self._forecast = inputs.forecast
        self._surplus = readonly(inputs.surplus_w)  # rows a policy cannot write to
        self._step_s = float(inputs.step_s)
        self._names = inputs.site_names
        self._slots = inputs.slots
        self._idle = inputs.empty_slot_power_w  # the sleep power where idle slots sleep
        self._params = inputs.params
        self._speed = readonly(inputs.site_speed) if inputs.site_speed is not None else None
        pf = inputs.site_power_factor
        self._power_factor = readonly(pf) if pf is not None else None
        self._hetero = is_heterogeneous(self._speed, self._power_factor)

    def __call__(
        self,
        k: int,
        jobs: JobsView,
        it_load_w: FloatArray,
        free_slots: IntArray,
        bandwidth_gbps: FloatArray,
        battery_soc_kwh: FloatArray,
        battery_capacity_kwh: FloatArray,
    ) -> View:
        """The world at step ``k`` (arguments as :func:`make_view`'s)."""
        view = View(
            k,
            k * self._step_s,
            self._step_s,
            self._names,
            self._surplus[k],
            it_load_w,
            self._slots,
            free_slots,
            self._idle,
            bandwidth_gbps,
            battery_soc_kwh,
            battery_capacity_kwh,
            jobs,
            ForecastAt(self._forecast, k),
            self._params,
            self._speed,
            self._power_factor,
        )
        view._hetero = self._hetero  # known once for the run
        return view


def make_view(
    inputs: SimInputs,
    k: int,
    *,
    jobs: JobsView,
    it_load_w: FloatArray,
    free_slots: IntArray,
    bandwidth_gbps: FloatArray,
    battery_soc_kwh: FloatArray,
    battery_capacity_kwh: FloatArray,
    surplus_w: FloatArray | None = None,
    forecast: ForecastView | None = None,
) -> View:
    """The world at step ``k``: ``it_load_w`` is the last step's IT load per site (W),
    ``bandwidth_gbps`` the world's estimate of its links, ``jobs`` the jobs' read-only view,
    ``free_slots`` per site, the batteries' state of charge and capacity (kWh).

    ``surplus_w`` and ``forecast`` replace the inputs' surplus now and forecast (a live run on
    the wall clock reads them from its sites' meters)."""
    view = ViewBuilder(inputs)(
        k, jobs, it_load_w, free_slots, bandwidth_gbps, battery_soc_kwh, battery_capacity_kwh
    )
    if surplus_w is not None:
        view.surplus_w = readonly(np.asarray(surplus_w, dtype=np.float64).copy())
    if forecast is not None:
        view.forecast = forecast
    return view
