"""Forecasters on the real Solcast traces: causality, determinism, and measured error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenhop.energy.forecast import (
    NoisyForecaster,
    PerfectForecaster,
    PersistenceForecaster,
    SolcastForecaster,
    make_forecaster,
    window_end_error,
)
from greenhop.energy.windows import remaining_window_s
from greenhop.errors import InputError, UnknownNameError

PEAK_W = 10_000.0
THRESHOLD_W = 3_000.0  # 30 % of peak


@pytest.fixture(scope="module")
def actual_w(solcast_germany) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return solcast_germany.actual * PEAK_W


def _solcast(data, actual: pd.DataFrame) -> SolcastForecaster:  # type: ignore[no-untyped-def]
    return SolcastForecaster.from_solcast(data, peak_w=PEAK_W, actual_w=actual)


def test_perfect_forecaster_is_the_truth(actual_w: pd.DataFrame) -> None:
    forecaster = PerfectForecaster(actual_w)
    truth = remaining_window_s(actual_w.to_numpy(), THRESHOLD_W, 300.0)
    np.testing.assert_array_equal(forecaster.predicted_remaining_window_s(THRESHOLD_W), truth)
    t = pd.Timestamp("2022-07-20 09:00", tz="UTC")
    path = forecaster.surplus_w(t, "Berlin", 3600)
    pd.testing.assert_series_equal(path, actual_w.loc[t:, "Berlin"].iloc[:12], check_freq=False)
    end = forecaster.window_end(t, "Berlin", THRESHOLD_W)
    assert end is not None and actual_w.loc[end - pd.Timedelta("5min"), "Berlin"] >= THRESHOLD_W
    assert actual_w.loc[end, "Berlin"] < THRESHOLD_W
    assert (
        forecaster.window_end(pd.Timestamp("2022-07-20 01:00", tz="UTC"), "Berlin", THRESHOLD_W)
        is None
    )


def test_persistence_repeats_yesterday(actual_w: pd.DataFrame) -> None:
    forecaster = PersistenceForecaster(actual_w)
    t = pd.Timestamp("2022-07-25 10:00", tz="UTC")
    path = forecaster.surplus_w(t, "Munich", 6 * 3600)
    assert path.iloc[0] == actual_w.loc[t, "Munich"]
    yesterday = actual_w.loc[t - pd.Timedelta("1D") + pd.Timedelta("5min") :, "Munich"].iloc[:71]
    np.testing.assert_array_equal(path.iloc[1:].to_numpy(), yesterday.to_numpy())


@pytest.mark.parametrize("kind", ["persistence", "solcast"])
def test_forecasts_at_t_do_not_depend_on_what_comes_after_t(
    solcast_germany,
    actual_w: pd.DataFrame,
    kind: str,  # type: ignore[no-untyped-def]
) -> None:
    t = pd.Timestamp("2022-07-27 11:00", tz="UTC")
    i = actual_w.index.get_loc(t)
    future_changed = actual_w.copy()
    future_changed.iloc[i + 1 :] = future_changed.iloc[i + 1 :][::-1].to_numpy()  # scramble it
    if kind == "solcast":
        original = _solcast(solcast_germany, actual_w)
        changed = _solcast(solcast_germany, future_changed)
        # forecasts issued after t are replaced by nonsense
        changed.cube_w = changed.cube_w.copy()
        changed.cube_w[changed.issues > t] = 1e9
    else:
        original = PersistenceForecaster(actual_w)
        changed = PersistenceForecaster(future_changed)
    a = original.predicted_remaining_window_s(THRESHOLD_W)
    b = changed.predicted_remaining_window_s(THRESHOLD_W)
    # predicted windows are cut at the end of the trace, which is known; compare what is causal
    np.testing.assert_array_equal(a[: i + 1], b[: i + 1])
    for site in ("Berlin", "Stuttgart"):
        pd.testing.assert_series_equal(
            original.surplus_w(t, site, 8 * 3600), changed.surplus_w(t, site, 8 * 3600)
        )


def test_solcast_uses_the_latest_issue_at_or_before_t(
    solcast_germany, actual_w: pd.DataFrame
) -> None:  # type: ignore[no-untyped-def]
    forecaster = _solcast(solcast_germany, actual_w)
    t = pd.Timestamp("2022-07-21 10:02", tz="UTC")  # between two issues: uses the 10:00 one
    path = forecaster.surplus_w(t, "Hamburg", 2 * 3600)
    forecast = solcast_germany.forecast
    issued = forecast[
        (forecast["issued_at"] == pd.Timestamp("2022-07-21 10:00", tz="UTC"))
        & (forecast["site"] == "Hamburg")
    ].set_index("period_end")["value"]
    # the step starting 10:05 ends 10:10: the 10:00 issue's period_end 10:10 row
    assert path.loc[pd.Timestamp("2022-07-21 10:05", tz="UTC")] == pytest.approx(
        issued.loc[pd.Timestamp("2022-07-21 10:10", tz="UTC")] * PEAK_W
    )
    # beyond the 65 min horizon: yesterday's value (persistence)
    later = pd.Timestamp("2022-07-21 11:30", tz="UTC")
    assert path.loc[later] == actual_w.loc[later - pd.Timedelta("1D"), "Hamburg"]


def test_noisy_forecaster_is_seeded(actual_w: pd.DataFrame) -> None:
    a = NoisyForecaster(actual_w, seed=1, sigma=0.2).predicted_remaining_window_s(THRESHOLD_W)
    b = NoisyForecaster(actual_w, seed=1, sigma=0.2).predicted_remaining_window_s(THRESHOLD_W)
    c = NoisyForecaster(actual_w, seed=2, sigma=0.2).predicted_remaining_window_s(THRESHOLD_W)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    exact = NoisyForecaster(actual_w, seed=1, sigma=0.0).predicted_remaining_window_s(THRESHOLD_W)
    np.testing.assert_array_equal(
        exact, PerfectForecaster(actual_w).predicted_remaining_window_s(THRESHOLD_W)
    )


def test_window_end_errors_rank_as_expected(solcast_germany, actual_w: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    errors = {
        name: window_end_error(
            make_forecaster(name, actual_w, solcast=solcast_germany, peak_w=PEAK_W), THRESHOLD_W
        )["mae_s"]
        for name in ("perfect", "persistence", "noisy", "solcast")
    }
    print({k: round(v / 3600, 2) for k, v in errors.items()})
    assert errors["perfect"] == 0.0
    # real issued forecasts beat "like yesterday" on the hour they cover
    assert 0 < errors["solcast"] < errors["persistence"]
    assert errors["persistence"] > 1800  # a day is not like the one before to the half hour


def test_predictions_are_zero_outside_windows_and_never_past_the_end(
    actual_w: pd.DataFrame,
) -> None:
    for forecaster in (PersistenceForecaster(actual_w), NoisyForecaster(actual_w, seed=0)):
        predicted = forecaster.predicted_remaining_window_s(THRESHOLD_W)
        assert (predicted[actual_w.to_numpy() < THRESHOLD_W] == 0).all()
        to_end = (len(actual_w) - np.arange(len(actual_w)))[:, None] * 300.0
        assert (predicted <= to_end).all()


def test_bad_requests(solcast_germany, actual_w: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownNameError, match="unknown forecaster 'oracle'"):
        make_forecaster("oracle", actual_w)
    with pytest.raises(InputError, match="needs a Solcast trace"):
        make_forecaster("solcast", actual_w)
    with pytest.raises(InputError, match="use step = '5min'"):
        SolcastForecaster.from_solcast(
            solcast_germany, peak_w=PEAK_W, actual_w=actual_w.resample("15min").mean()
        )
    forecaster = PerfectForecaster(actual_w)
    with pytest.raises(InputError, match="outside the forecaster's trace"):
        forecaster.window_end(pd.Timestamp("2023-01-01", tz="UTC"), "Berlin", THRESHOLD_W)
    with pytest.raises(UnknownNameError, match="unknown site 'Paris'"):
        forecaster.surplus_w(actual_w.index[0], "Paris", 3600)


def _path_per_site(fc, i: int, j: int, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The forecast of one site, as the forecasters computed it site by site before they
    forecast every site at once: the reference for :meth:`Forecaster.surplus_ahead_w`."""
    n = min(n, len(fc.index) - i)
    k = np.arange(1, n)
    hist = i + ((k - 1) % fc.day_steps) + 1 - fc.day_steps  # persistence's indices
    yesterday = np.where(hist >= 0, fc.values[np.clip(hist, 0, None), j], np.nan)
    if isinstance(fc, PerfectForecaster):
        ahead = fc.values[i + 1 : i + n, j]
    elif isinstance(fc, NoisyForecaster):
        ahead = fc.noisy[i + 1 : i + n, j]
    elif isinstance(fc, PersistenceForecaster):
        ahead = yesterday
    else:
        lead = k + fc._age_steps[i]
        covered = (fc._issue[i] >= 0) & (lead < fc.leads)
        issued = np.full(n - 1, np.nan)
        issued[covered] = fc.cube_w[fc._issue[i], lead[covered], j]
        ahead = np.where(covered, issued, yesterday)
    return np.concatenate([[fc.values[i, j]], ahead])


@pytest.mark.parametrize("kind", ["perfect", "persistence", "noisy", "solcast"])
def test_every_site_at_once_is_each_site_alone(
    solcast_germany, actual_w: pd.DataFrame, kind: str
) -> None:  # type: ignore[no-untyped-def]
    """The forecast of all sites from one step (what the policies read at every step) equals
    each site's own path: in the first day (no history: NaN), within Solcast's hour of issued
    leads and beyond it, and cut at the end of the trace."""
    if kind == "solcast":
        fc = _solcast(solcast_germany, actual_w)
    else:
        fc = make_forecaster(kind, actual_w, seed=3)
    steps = len(fc.index)
    checked = 0
    for i in (0, 5, fc.day_steps - 1, fc.day_steps + 7, steps // 2 + 3, steps - 30, steps - 1):
        for n in (1, 13, 2 * fc.day_steps + 5):
            got = fc.surplus_ahead_w(i, n)
            assert got.shape == (min(n, steps - i), len(fc.sites))
            for j, site in enumerate(fc.sites):
                want = _path_per_site(fc, i, j, n)
                np.testing.assert_array_equal(got[:, j], want)
                series = fc.surplus_w(fc.index[i], site, n * fc.step_s)
                np.testing.assert_array_equal(series.to_numpy(), want)
                checked += 1
    assert checked == 7 * 3 * len(fc.sites)
    if kind in ("persistence", "solcast"):  # no history in the first day
        assert np.isnan(fc.surplus_ahead_w(5, fc.day_steps)[1:]).any()
    with pytest.raises(InputError, match="outside"):
        fc.surplus_ahead_w(steps, 3)
