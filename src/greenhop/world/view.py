"""Building the policy's :class:`~greenhop.policies.base.View`, the same way in both worlds.

What comes from the run's inputs (surplus now, slots, idle power, the forecast as known at the
step, the model's parameters) is filled here; what a world observes (its jobs, the last step's
IT load, free slots, its links' bandwidth estimates, the batteries' state of charge) is passed
in.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from greenhop.policies.base import JobsView, View
from greenhop.world.inputs import SimInputs

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


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
) -> View:
    """The world at step ``k``: ``it_load_w`` is the last step's IT load per site (W),
    ``bandwidth_gbps`` the world's estimate of its links."""
    return View(
        step=k,
        now_s=k * inputs.step_s,
        step_s=inputs.step_s,
        site_names=inputs.site_names,
        surplus_w=inputs.surplus_w[k],
        it_load_w=it_load_w,
        slots=inputs.slots,
        free_slots=free_slots,
        idle_slot_power_w=inputs.idle_slot_power_w,
        bandwidth_gbps=bandwidth_gbps,
        battery_soc_kwh=battery_soc_kwh,
        battery_capacity_kwh=battery_capacity_kwh,
        jobs=jobs,
        forecast=inputs.forecast_at(k),
        params=inputs.params,
    )
