"""The controller's bandwidth estimate of each link
(:class:`greenhop.live.control.links.LinkEstimates`): it starts at the scenario's bandwidths, moves
each link (both directions at once) by an exponentially weighted average of the measured transfers,
ignores measurements that say nothing, and comes back from the state database as it was."""

from __future__ import annotations

import numpy as np
import pytest

from greenhop.errors import InputError
from greenhop.live.control.links import DEFAULT_LINK_WEIGHT, LinkEstimates
from greenhop.scenario import load_scenario


@pytest.fixture
def scenario_gbps() -> np.ndarray:
    """The live demo's links: 1 Gbit/s, 0.5 between amsterdam (0) and nw-colorado (2)."""
    matrix = load_scenario("live-demo").bandwidth_matrix_gbps()
    assert matrix[0, 1] == 1.0 and matrix[0, 2] == 0.5
    return matrix


def test_starts_at_the_scenarios_bandwidths_with_an_infinite_diagonal(
    scenario_gbps: np.ndarray,
) -> None:
    np.testing.assert_array_equal(LinkEstimates(scenario_gbps).matrix(), scenario_gbps)
    zero_diagonal = scenario_gbps.copy()
    np.fill_diagonal(zero_diagonal, 0.0)
    links = LinkEstimates(zero_diagonal)
    np.testing.assert_array_equal(links.matrix(), scenario_gbps)
    zero_diagonal[0, 1] = 7.0  # the estimates own their copy
    assert links.matrix()[0, 1] == 1.0
    assert links.samples(0, 1) == links.samples(0, 2) == 0


def test_a_measurement_moves_its_link_by_half_in_both_directions(
    scenario_gbps: np.ndarray,
) -> None:
    assert DEFAULT_LINK_WEIGHT == 0.5
    links = LinkEstimates(scenario_gbps)
    assert links.update(0, 1, 0.2) == pytest.approx(0.6)  # 0.5 * 1.0 + 0.5 * 0.2
    assert links.update(1, 0, 0.4) == pytest.approx(0.5)  # 0.5 * 0.6 + 0.5 * 0.4
    assert links.update(2, 0, 0.1) == pytest.approx(0.3)  # 0.5 * 0.5 + 0.5 * 0.1
    m = links.matrix()
    assert m[0, 1] == m[1, 0] == pytest.approx(0.5)
    assert m[0, 2] == m[2, 0] == pytest.approx(0.3)
    assert m[1, 2] == m[2, 1] == 1.0  # not measured: still the scenario's
    assert np.isinf(np.diag(m)).all()
    assert links.samples(0, 1) == links.samples(1, 0) == 2
    assert links.samples(0, 2) == 1
    assert links.samples(1, 2) == 0


def test_the_weight_sets_the_share_of_a_new_measurement(scenario_gbps: np.ndarray) -> None:
    links = LinkEstimates(scenario_gbps, weight=0.25)
    assert links.update(0, 1, 0.2) == pytest.approx(0.8)  # 0.75 * 1.0 + 0.25 * 0.2
    assert links.update(0, 1, 0.2) == pytest.approx(0.65)  # 0.75 * 0.8 + 0.25 * 0.2
    replace = LinkEstimates(scenario_gbps, weight=1.0)
    assert replace.update(0, 1, 0.2) == pytest.approx(0.2)


@pytest.mark.parametrize("measured_gbps", [0.0, -0.3, np.nan, np.inf])
def test_a_measurement_that_says_nothing_leaves_the_estimate(
    scenario_gbps: np.ndarray, measured_gbps: float
) -> None:
    links = LinkEstimates(scenario_gbps)
    links.update(0, 1, 0.2)
    before = links.matrix()
    assert links.update(0, 1, measured_gbps) == pytest.approx(0.6)
    np.testing.assert_array_equal(links.matrix(), before)
    assert links.samples(0, 1) == 1


def test_a_transfer_within_a_site_is_not_a_link(scenario_gbps: np.ndarray) -> None:
    links = LinkEstimates(scenario_gbps)
    assert links.update(1, 1, 0.2) == np.inf
    np.testing.assert_array_equal(links.matrix(), scenario_gbps)
    assert links.samples(1, 1) == 0


@pytest.mark.parametrize("weight", [0.0, -0.5, 1.5, np.nan])
def test_a_weight_outside_0_1_is_refused(scenario_gbps: np.ndarray, weight: float) -> None:
    with pytest.raises(InputError, match=r"weight must be in \(0, 1\]"):
        LinkEstimates(scenario_gbps, weight=weight)


def test_measured_restores_the_estimates_and_their_sample_counts(
    scenario_gbps: np.ndarray,
) -> None:
    """What the controller keeps in its state database (estimate and count per measured link)
    brings back the same estimates, and later measurements go on from there."""
    run = LinkEstimates(scenario_gbps)
    for a, b, gbps in [(0, 1, 0.2), (1, 0, 0.4), (2, 0, 0.1)]:
        run.update(a, b, gbps)
    kept = {
        (0, 1): (float(run.matrix()[0, 1]), run.samples(0, 1)),
        (2, 0): (float(run.matrix()[2, 0]), run.samples(2, 0)),
    }
    restored = LinkEstimates(scenario_gbps, measured=kept)
    np.testing.assert_array_equal(restored.matrix(), run.matrix())
    assert restored.samples(0, 1) == 2 and restored.samples(0, 2) == 1
    assert restored.samples(1, 2) == 0
    assert restored.update(0, 2, 0.5) == pytest.approx(run.update(0, 2, 0.5))
    assert restored.samples(2, 0) == 2


def test_the_matrix_is_a_read_only_copy(scenario_gbps: np.ndarray) -> None:
    links = LinkEstimates(scenario_gbps)
    m = links.matrix()
    with pytest.raises(ValueError, match="read-only"):
        m[0, 1] = 0.1
    links.update(0, 1, 0.2)
    assert m[0, 1] == 1.0  # a snapshot: later updates do not reach it
    assert links.matrix()[0, 1] == pytest.approx(0.6)
