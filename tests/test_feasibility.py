"""The feasibility-domain model: hand-computed values, properties, broadcasting, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhop import feasibility as fz
from greenhop.errors import InputError
from greenhop.feasibility import DEFAULTS

P = DEFAULTS


def test_transfer_time_hand_computed() -> None:
    # 40 GB = 320 Gbit; at 1 Gbit/s that is 320 s.
    assert fz.transfer_time_s(40, 1) == pytest.approx(320.0)
    assert fz.transfer_time_s(1, 0.1) == pytest.approx(80.0)
    assert fz.transfer_time_s(140, 100) == pytest.approx(11.2)


def test_disruption_and_energy_hand_computed() -> None:
    # 40 GB at 1 Gbit/s: 40/4.1 write + 320 transfer + 40/6.9 read + 60 restart.
    d = 40 / 4.1 + 320 + 40 / 6.9 + 60
    assert fz.disruption_s(40, 1) == pytest.approx(d)
    e = 0.001875 * 40 + 200 * d / 3.6e6
    assert fz.migration_energy_kwh(40, 1) == pytest.approx(e)
    assert fz.break_even_s(40, 1) == pytest.approx(e * 3.6e6 / 700)
    # alpha W = 900 s for 2.5 h; slack is what is left.
    assert fz.slack_s(40, 1, 2.5 * 3600) == pytest.approx(900 - d)
    assert fz.time_feasible(40, 1, 2.5 * 3600) is True
    assert fz.energy_feasible(40, 1, 2.5 * 3600) is True
    assert fz.regime(40, 1) == "A"


def test_network_intensity_trend_from_aslan_2018() -> None:
    assert fz.network_kwh_per_gb(2015) == pytest.approx(0.06)
    assert fz.network_kwh_per_gb(2017) == pytest.approx(0.03)
    assert P.network_kwh_per_gb == pytest.approx(0.06 / 32)


def test_disk_and_restart_terms_follow_parameters() -> None:
    fast = P.replace(disk_write_gb_per_s=100.0, disk_read_gb_per_s=100.0, restart_s=0.0)
    assert fz.disruption_s(10, 1, fast) == pytest.approx(80 + 0.2)
    assert fz.checkpoint_time_s(41, P) == pytest.approx(10.0)
    assert fz.load_time_s(69, P) == pytest.approx(10.0)


def test_shapes_broadcast_grid() -> None:
    sizes = np.array([1, 10, 40, 100, 140.0])[:, None]
    bws = np.array([0.1, 1, 10, 100.0])[None, :]
    t = fz.transfer_time_s(sizes, bws)
    assert t.shape == (5, 4)
    assert t[2, 1] == pytest.approx(320.0)
    w = np.array([2.5, 9.5])[:, None, None] * 3600
    feas = fz.time_feasible(sizes, bws, w)
    assert feas.shape == (2, 5, 4)
    a = fz.assess(sizes, bws, w)
    assert a.disruption_s.shape == (2, 5, 4)
    np.testing.assert_array_equal(a.time_feasible, feas)
    np.testing.assert_allclose(a.slack_s, fz.slack_s(sizes, bws, w))
    np.testing.assert_allclose(a.break_even_s, fz.break_even_s(sizes, bws) * np.ones_like(w))
    np.testing.assert_array_equal(a.regime[0], fz.regime(sizes, bws))


def test_longer_window_only_helps() -> None:
    # 94 GB (Llama-2-7B, mixed-adam) at 1 Gbit/s: infeasible at 1 h, feasible at 2.5 h.
    assert fz.time_feasible(94.34, 1, 3600) is False
    assert fz.time_feasible(94.34, 1, 2.5 * 3600) is True


def test_max_checkpoint_and_min_bandwidth_are_the_boundary() -> None:
    w = 2.5 * 3600
    s_max = fz.max_checkpoint_gb(1.0, w)
    assert fz.slack_s(s_max, 1.0, w) == pytest.approx(0.0, abs=1e-6)
    assert fz.time_feasible(s_max * 0.999, 1.0, w) is True
    assert fz.time_feasible(s_max * 1.001, 1.0, w) is False
    b_min = fz.min_bandwidth_gbps(40.0, w)
    assert fz.slack_s(40.0, b_min, w) == pytest.approx(0.0, abs=1e-6)
    assert fz.time_feasible(40.0, b_min * 1.001, w) is True
    assert fz.time_feasible(40.0, b_min * 0.999, w) is False
    # When restart alone eats the budget, nothing is feasible.
    assert fz.max_checkpoint_gb(100.0, 300.0) == 0.0
    assert math.isinf(fz.min_bandwidth_gbps(1.0, 300.0))


def test_regimes_over_window_range() -> None:
    assert fz.regime(1, 10) == "A"
    assert fz.regime(21.8, 0.1) == "B"  # GPT-2 XL, mixed-adam, 0.1 Gbit/s: 30 min
    assert fz.regime(94.3, 0.1) == "C"  # Llama-2-7B at 0.1 Gbit/s: 2.1 h
    grid = fz.regime(np.logspace(-1, 3, 50)[:, None], np.logspace(-2, 2, 40)[None, :])
    assert set(np.unique(grid)) == {"A", "B", "C"}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 1, 3600), "checkpoint size"),
        ((-5, 1, 3600), "checkpoint size"),
        ((float("nan"), 1, 3600), "checkpoint size"),
        ((10, 0, 3600), "bandwidth"),
        ((10, 1, -1), "window"),
        ((np.array([1.0, -1.0]), 1, 3600), "got -1.0"),
    ],
)
def test_bad_inputs_raise(args: tuple[float, float, float], match: str) -> None:
    with pytest.raises(InputError, match=match):
        fz.assess(*args)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("alpha", 0.0),
        ("alpha", 1.5),
        ("alpha", float("nan")),
        ("job_power_w", 0.0),
        ("idle_power_w", -1.0),
        ("window_long_s", 10.0),
    ],
)
def test_bad_parameters_raise(field: str, value: float) -> None:
    with pytest.raises(InputError, match=field if field != "window_long_s" else "reversed"):
        P.replace(**{field: value})


pos = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)
grow = st.floats(min_value=1.0, max_value=100.0)


@settings(max_examples=300, deadline=None)
@given(
    s=pos,
    b=pos,
    w=st.floats(min_value=60, max_value=1e6),
    k=grow,
    alpha=st.floats(min_value=0.01, max_value=1.0),
)
def test_feasibility_is_monotone(s: float, b: float, w: float, k: float, alpha: float) -> None:
    """Feasibility never improves when S grows or when B, W or alpha shrink."""
    p = P.replace(alpha=alpha)
    base_t = fz.time_feasible(s, b, w, p)
    base_e = fz.energy_feasible(s, b, w, p)
    for worse in (
        (s * k, b, w, p),
        (s, b / k, w, p),
        (s, b, w / k, p),
        (s, b, w, p.replace(alpha=alpha / k)),
    ):
        if not base_t:
            assert not fz.time_feasible(*worse)
        if not base_e:
            assert not fz.energy_feasible(*worse)
        assert fz.slack_s(*worse) <= fz.slack_s(s, b, w, p) + 1e-9


@settings(max_examples=300, deadline=None)
@given(s=pos, b=pos)
def test_regime_agrees_with_pointwise_verdicts(s: float, b: float) -> None:
    r = fz.regime(s, b)
    short = fz.time_feasible(s, b, P.window_short_s)
    long_ = fz.time_feasible(s, b, P.window_long_s)
    assert r == ("A" if short else "B" if long_ else "C")
    mid = 0.5 * (P.window_short_s + P.window_long_s)
    if r == "A":
        assert fz.time_feasible(s, b, mid)
    if r == "C":
        assert not fz.time_feasible(s, b, mid)


@settings(max_examples=200, deadline=None)
@given(b=pos, w=st.floats(min_value=700, max_value=1e6))
def test_max_checkpoint_is_consistent_with_pointwise(b: float, w: float) -> None:
    s_max = fz.max_checkpoint_gb(b, w)
    if s_max > 1e-6:
        assert fz.time_feasible(s_max * 0.99, b, w)
        assert not fz.time_feasible(s_max * 1.01, b, w)
        assert fz.min_bandwidth_gbps(s_max * 0.99, w) < b
