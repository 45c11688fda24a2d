"""Heterogeneous sites: the accelerator catalog, and what the model says about a move to a
faster or slower part."""

from __future__ import annotations

import numpy as np
import pytest

from greenhop import feasibility
from greenhop.accelerators import (
    CATALOG,
    REFERENCE,
    accelerator,
    power_factor,
    site_factors,
    speed_factor,
)
from greenhop.errors import InputError, UnknownNameError


def test_the_catalog_names_parts_in_lower_case_with_hyphens_and_cites_sane_figures() -> None:
    for name, part in CATALOG.items():
        assert name == part.name and name == name.lower() and " " not in name
        assert 10.0 <= part.board_power_w <= 1000.0
        assert part.tensor_tflops > 0 and part.kind in ("datacenter", "edge")
    assert speed_factor(None) == 1.0 and power_factor(None) == 1.0
    assert speed_factor(REFERENCE) == 1.0 and power_factor(REFERENCE) == 1.0
    # the datasheets' ratios: an A100 SXM is about a third of an H100 SXM, at 400 of 700 W
    assert speed_factor("a100") == pytest.approx(312.0 / 989.4)
    assert power_factor("a100") == pytest.approx(400.0 / 700.0)
    # edge parts do far less work per hour; per joule, the L4 beats the reference on this proxy
    # (1.68 against 1.41 TFLOPS/W) and the Jetson AGX Orin does not (0.71)
    for edge in ("l4", "jetson-agx-orin"):
        assert speed_factor(edge) < 0.2
    assert speed_factor("l4") / power_factor("l4") == pytest.approx(1.19, abs=0.01)
    assert speed_factor("jetson-agx-orin") / power_factor("jetson-agx-orin") < 1.0
    # the H200 has the H100 SXM's compute and power limit (datasheets), so the same factors
    assert speed_factor("h200") == 1.0 and power_factor("h200") == 1.0
    with pytest.raises(UnknownNameError, match="known: h100-sxm"):
        accelerator("b200")


def test_site_factors_keep_measured_speeds() -> None:
    speed, power = site_factors([None, "l4", "a100"], speeds=[None, 0.2, None])
    assert speed.tolist() == [1.0, 0.2, pytest.approx(312.0 / 989.4)]
    assert power.tolist() == [1.0, pytest.approx(72.0 / 700.0), pytest.approx(400.0 / 700.0)]
    with pytest.raises(InputError, match="speed must be > 0"):
        site_factors(["l4"], speeds=[0.0])


def test_a_move_to_a_slower_green_site_can_lose_and_the_model_says_so() -> None:
    """A 40 GB checkpoint on 10 Gbit/s into a 4 h window: time-feasible between equal parts;
    to an L4 (an eighth of the speed) it loses most of the window's progress and is refused;
    from an A100 to an H100 it gains time even with a slow link."""
    size, bw, window = 40.0, 10.0, 4 * 3600.0
    d = feasibility.disruption_s(size, bw)
    assert feasibility.lost_time_s(size, bw, window) == pytest.approx(d)
    slow = speed_factor("l4") / speed_factor(REFERENCE)
    lost_slow = feasibility.lost_time_s(size, bw, window, slow)
    assert lost_slow == pytest.approx(d + (1 - slow) * (window - d))
    slack, t_ok, _ = feasibility.move_verdicts(
        size, np.array([bw, bw]), np.array([window, window]), speed_ratio=np.array([1.0, slow])
    )
    assert t_ok.tolist() == [True, False]
    assert slack[1] == pytest.approx(0.1 * window - lost_slow)
    fast = speed_factor("h100-sxm") / speed_factor("a100")
    lost_fast = feasibility.lost_time_s(size, 0.1, window, fast)
    assert lost_fast < 0  # 53 min of disruption, repaid by three times the speed
    _, t_fast, _ = feasibility.move_verdicts(
        size, np.array([0.1]), np.array([window]), speed_ratio=fast
    )
    assert t_fast.tolist() == [True]
    _, t_equal, _ = feasibility.move_verdicts(size, np.array([0.1]), np.array([window]))
    assert t_equal.tolist() == [False]


def test_the_break_even_uses_the_destinations_power() -> None:
    """An edge part draws a tenth of the reference's power: the move's energy takes ten times
    as long to repay there, which can make it energy-infeasible."""
    size, bw, window = 100.0, 0.5, 3 * 3600.0
    params = feasibility.DEFAULTS
    _, _, e_ref = feasibility.move_verdicts(size, np.array([bw]), np.array([window]), params)
    _, _, e_edge = feasibility.move_verdicts(
        size, np.array([bw]), np.array([window]), params, dest_power_w=params.job_power_w / 10
    )
    t_be_ref = feasibility.break_even_s(size, bw, params)
    assert e_ref.tolist() == [True] and e_edge.tolist() == [False]
    assert feasibility.disruption_s(size, bw) + 10 * t_be_ref > window
