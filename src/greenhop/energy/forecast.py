"""Forecasters: "at time t, how much surplus will site s have, and when does its window end?"

Conventions, written once for every forecaster here:

- A forecaster is built on ``actual``: a wide trace (UTC, regular step, one column per site, W) of
  the quantity forecast — renewable generation, or surplus after other loads. It forecasts that
  same quantity, in W.
- At time ``t`` (the start of step ``i``), the value of step ``i`` itself is known (it is what the
  site measures now); steps ``i + 1, i + 2, ...`` are forecast.
- A window is the run of steps, from ``t`` on, with value ≥ ``threshold_w``. The predicted window
  end is ``t`` + the predicted remaining window; no window (``None``, 0 s) when the value at ``t``
  is below the threshold. Predictions never reach past the end of ``actual``.
- Every forecaster uses only what it would know at ``t`` — except :class:`PerfectForecaster` (an
  oracle) and :class:`NoisyForecaster` (the oracle with seeded errors), which exist as bounds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from greenhop.energy.solcast import SolcastData
from greenhop.energy.traces import infer_step, to_utc
from greenhop.energy.windows import remaining_run_steps
from greenhop.errors import InputError, UnknownNameError

DAY_S = 86400.0


def _threshold_row(
    threshold_w: float | np.ndarray | Mapping[str, float], sites: list[str]
) -> np.ndarray:
    if isinstance(threshold_w, Mapping):
        missing = [s for s in sites if s not in threshold_w]
        if missing:
            raise InputError(f"threshold_w has no value for sites {missing}")
        return np.array([float(threshold_w[s]) for s in sites])
    return np.broadcast_to(np.asarray(threshold_w, dtype=float), (len(sites),)).copy()


class Forecaster(ABC):
    """Base class: forecasts of a wide trace ``actual`` (W); see the module docstring."""

    name = "forecaster"

    def __init__(self, actual: pd.DataFrame) -> None:
        if not isinstance(actual.index, pd.DatetimeIndex) or actual.index.tz is None:
            raise InputError("a forecaster needs a trace with a UTC DatetimeIndex")
        self.actual = actual
        self.index: pd.DatetimeIndex = actual.index
        self.sites: list[str] = [str(c) for c in actual.columns]
        self.values: np.ndarray = actual.to_numpy(dtype=float)
        self.step = infer_step(actual.index)
        self.step_s = float(self.step.total_seconds())
        self.day_steps = max(1, round(DAY_S / self.step_s))
        self._cache: dict[tuple[float, ...], np.ndarray] = {}

    # -- the two questions --------------------------------------------------------------------

    def surplus_w(self, t: pd.Timestamp | str, site: str, horizon_s: float) -> pd.Series:
        """Forecast of the value at ``site`` over ``[t, t + horizon_s)``, W, one value per step.

        The first value (step of ``t``) is the measured one; the rest are forecast at ``t``.
        """
        i, j = self._position(t), self._site(site)
        n = int(np.ceil(horizon_s / self.step_s))
        path = self.surplus_ahead_w(i, n)[:, j]
        return pd.Series(path, index=self.index[i : i + len(path)], name=site)

    def surplus_ahead_w(self, i: int, n: int) -> np.ndarray:
        """:meth:`surplus_w` for every site at once, by step index: the value at step ``i``
        (measured) and the forecast, made at step ``i``, of the next steps, ``n`` rows in all
        (fewer at the end of the trace), ``[rows, sites]``, W."""
        if not 0 <= i < len(self.index):
            raise InputError(f"step {i} is outside the forecaster's trace of {len(self.index)}")
        n = min(n, len(self.index) - i)
        out = np.empty((max(n, 0), len(self.sites)))
        if n > 0:
            out[0] = self.values[i]
            out[1:] = self._forecast_paths(i, n - 1)
        return out

    def window_end(
        self, t: pd.Timestamp | str, site: str, threshold_w: float
    ) -> pd.Timestamp | None:
        """Predicted end of the current window at ``site``; None when there is no surplus now."""
        i, j = self._position(t), self._site(site)
        remaining = self._remaining_for(threshold_w)[i, j]
        if remaining <= 0:
            return None
        return self.index[i] + pd.Timedelta(seconds=float(remaining))

    def predicted_remaining_window_s(
        self, threshold_w: float | np.ndarray | Mapping[str, float]
    ) -> np.ndarray:
        """What the forecaster predicts, at every step, for the remaining window at every site.

        Returns float array ``[steps, sites]`` in s (0 where the value now is below threshold).
        """
        threshold = _threshold_row(threshold_w, self.sites)
        mask_now = self.values >= threshold
        steps = self._predicted_steps(threshold, mask_now)
        steps = np.where(mask_now, steps, 0)
        to_end = (len(self.index) - np.arange(len(self.index)))[:, None]
        return np.minimum(steps, to_end).astype(float) * self.step_s

    # -- what subclasses implement -----------------------------------------------------------

    @abstractmethod
    def _forecast_paths(self, i: int, n: int) -> np.ndarray:
        """Forecast, made at step ``i``, of every site for steps ``i + 1 .. i + n`` (fewer than
        ``n`` never asked: the caller stops at the end of the trace), ``[n, sites]``."""

    @abstractmethod
    def _predicted_steps(self, threshold: np.ndarray, mask_now: np.ndarray) -> np.ndarray:
        """Predicted remaining window in steps (current step included), ``[steps, sites]``."""

    def config(self) -> dict[str, Any]:
        """Static description, for logs and reports."""
        return {"forecaster": self.name, "step_s": self.step_s, "sites": self.sites}

    # -- helpers ------------------------------------------------------------------------------

    def _position(self, t: pd.Timestamp | str) -> int:
        stamp = to_utc(t)
        i = int(self.index.searchsorted(stamp, side="right")) - 1
        if i < 0 or stamp >= self.index[-1] + self.step:
            raise InputError(
                f"time {stamp} is outside the forecaster's trace "
                f"{self.index[0]} .. {self.index[-1] + self.step}"
            )
        return i

    def _site(self, site: str) -> int:
        if site not in self.sites:
            raise UnknownNameError(f"unknown site {site!r}; the forecaster knows {self.sites}")
        return self.sites.index(site)

    def _remaining_for(self, threshold_w: float) -> np.ndarray:
        key = tuple(_threshold_row(threshold_w, self.sites))
        if key not in self._cache:
            self._cache[key] = self.predicted_remaining_window_s(np.array(key))
        return self._cache[key]

    def _persistence_index(self, i: int, n: int) -> np.ndarray:
        """Indices of the values one day before steps ``i + 1 .. i + n``, repeating the last known
        day beyond 24 h ahead; negative where there is no history."""
        k = np.arange(1, n + 1)
        return i + ((k - 1) % self.day_steps) + 1 - self.day_steps

    def _persistence_run(
        self, start: np.ndarray, known_steps: np.ndarray, mask: np.ndarray
    ) -> np.ndarray:
        """Persistence's predicted run length from history position ``start`` (per step, site).

        ``known_steps``: how many history steps from ``start`` up to now exist; if the run covers
        all of them the last day was surplus throughout and the prediction never ends (a large
        number, cut to the end of the trace by the caller). Where ``start < 0``: 0.
        """
        runs = remaining_run_steps(mask)
        steps, sites = mask.shape
        safe = np.clip(start, 0, steps - 1)
        run = np.take_along_axis(runs, np.broadcast_to(safe, (steps, sites)), axis=0)
        run = np.where(run >= known_steps, np.iinfo(np.int64).max // 4, run)
        return np.where(start < 0, 0, run)


class PerfectForecaster(Forecaster):
    """Oracle: knows the future trace exactly. An upper bound, not a forecaster one can have."""

    name = "perfect"

    def _forecast_paths(self, i: int, n: int) -> np.ndarray:
        return self.values[i + 1 : i + 1 + n].copy()

    def _predicted_steps(self, threshold: np.ndarray, mask_now: np.ndarray) -> np.ndarray:
        return remaining_run_steps(mask_now)


class PersistenceForecaster(Forecaster):
    """Tomorrow is like today: the value at ``t + k`` is the value at ``t + k - 24 h``.

    Beyond 24 h ahead the last known day repeats. In the first day of the trace there is no
    history: the forecast is NaN and the predicted window is the current step only.
    """

    name = "persistence"

    def _forecast_paths(self, i: int, n: int) -> np.ndarray:
        idx = self._persistence_index(i, n)
        out = np.full((n, len(self.sites)), np.nan)
        ok = idx >= 0
        out[ok] = self.values[idx[ok]]
        return out

    def _predicted_steps(self, threshold: np.ndarray, mask_now: np.ndarray) -> np.ndarray:
        steps = len(self.index)
        i = np.arange(steps)[:, None]
        start = i + 1 - self.day_steps  # history position of step i + 1
        known = self.day_steps  # steps from `start` up to and including now
        return 1 + self._persistence_run(start, np.full_like(start, known), mask_now)


class NoisyForecaster(Forecaster):
    """The true trace with seeded multiplicative errors: ``actual × (1 + sigma · e)``.

    ``e`` is an AR(1) standard normal process per site with correlation time ``correlation_s``
    (default 1 h), so errors persist like weather-forecast errors do. The same realisation is used
    for every issue time (an error bound, not a model of forecast skill growing with lead time).
    """

    name = "noisy"

    def __init__(
        self,
        actual: pd.DataFrame,
        *,
        seed: int = 0,
        sigma: float = 0.2,
        correlation_s: float = 3600.0,
    ) -> None:
        super().__init__(actual)
        if sigma < 0:
            raise InputError(f"noisy forecaster sigma must be ≥ 0, got {sigma}")
        self.seed, self.sigma, self.correlation_s = seed, sigma, correlation_s
        rng = np.random.default_rng(seed)
        phi = float(np.exp(-self.step_s / correlation_s)) if correlation_s > 0 else 0.0
        shocks = rng.standard_normal(self.values.shape) * np.sqrt(1 - phi**2)
        shocks[0] = rng.standard_normal(self.values.shape[1])  # start in the stationary state
        from scipy.signal import lfilter  # here: importing scipy.signal takes seconds

        noise = lfilter([1.0], [1.0, -phi], shocks, axis=0)
        self.noisy = np.clip(self.values * (1 + sigma * noise), 0.0, None)

    def _forecast_paths(self, i: int, n: int) -> np.ndarray:
        return self.noisy[i + 1 : i + 1 + n].copy()

    def _predicted_steps(self, threshold: np.ndarray, mask_now: np.ndarray) -> np.ndarray:
        future = remaining_run_steps(self.noisy >= threshold)
        after = np.vstack([future[1:], np.zeros((1, future.shape[1]), dtype=future.dtype)])
        return 1 + after

    def config(self) -> dict[str, Any]:
        return super().config() | {
            "seed": self.seed,
            "sigma": self.sigma,
            "correlation_s": self.correlation_s,
        }


class SolcastForecaster(Forecaster):
    """Replays the forecasts Solcast actually issued: at ``t`` only issues with ``issued_at <= t``.

    The latest issue at or before ``t`` covers the 5 min periods starting 0 to 60 min after it
    (the file's period ends +5 .. +65 min). Further ahead, and wherever no
    issue is at hand, the forecaster falls back to persistence (the value 24 h earlier), which is
    also causal. So a window of several hours is predicted by Solcast's next hour, then persistence.

    Parameters
    ----------
    actual : the measured trace, W, on Solcast's 5 min grid.
    issues : issue times (UTC), sorted.
    cube_w : issued forecasts ``[issue, lead, site]`` in W, lead k = period starting k steps after
        the issue; sites in ``actual``'s column order.
    """

    name = "solcast"

    def __init__(self, actual: pd.DataFrame, issues: pd.DatetimeIndex, cube_w: np.ndarray) -> None:
        super().__init__(actual)
        if cube_w.ndim != 3 or cube_w.shape[0] != len(issues) or cube_w.shape[2] != len(self.sites):
            raise InputError(
                f"forecast cube shape {cube_w.shape} does not match {len(issues)} issues × leads × "
                f"{len(self.sites)} sites"
            )
        self.issues = issues
        self.cube_w = cube_w
        stamps = self.index.asi8
        issue_stamps = issues.asi8
        self._issue = np.searchsorted(issue_stamps, stamps, side="right") - 1  # latest issue <= t
        age = np.where(
            self._issue >= 0,
            stamps - issue_stamps[np.clip(self._issue, 0, None)],
            np.iinfo(np.int64).max,
        )
        step_ns = self.step.value
        self._age_steps = np.where(self._issue >= 0, age // step_ns, 10**9)
        self.leads = cube_w.shape[1]

    @classmethod
    def from_solcast(
        cls,
        data: SolcastData,
        *,
        columns: Mapping[str, str] | None = None,
        peak_w: Mapping[str, float] | float = 1.0,
        actual_w: pd.DataFrame | None = None,
    ) -> SolcastForecaster:
        """Build from :func:`~greenhop.energy.solcast.load_solcast` data.

        ``columns`` maps the forecaster's site names to the file's columns (default: the same);
        ``peak_w`` scales the 0..1 values to W per site; ``actual_w`` is the measured trace in W
        (default: the file's actuals scaled by ``peak_w``), which may cover a part of the file.
        """
        columns = dict(columns) if columns is not None else {s: s for s in data.sites}
        unknown = [c for c in columns.values() if c not in data.sites]
        if unknown:
            raise UnknownNameError(
                f"{data.path.name} has no columns {unknown}; it has {data.sites}"
            )
        names = list(columns)
        scale = np.array([peak_w[n] if isinstance(peak_w, Mapping) else peak_w for n in names])
        issues, cube = data.forecast_cube()
        file_sites = data.sites
        cube_w = cube[:, :, [file_sites.index(columns[n]) for n in names]] * scale
        if actual_w is None:
            actual_w = data.actual[[columns[n] for n in names]] * scale
            actual_w.columns = pd.Index(names)
        elif list(actual_w.columns) != names:
            actual_w = actual_w[names]
        step = infer_step(actual_w.index)
        if step != pd.Timedelta(minutes=5):
            raise InputError(
                f"the Solcast forecaster replays 5 min forecasts; the scenario step is {step}: "
                "use step = '5min'"
            )
        return cls(actual_w, issues, cube_w)

    def _forecast_paths(self, i: int, n: int) -> np.ndarray:
        lead = np.arange(1, n + 1) + self._age_steps[i]
        covered = (self._issue[i] >= 0) & (lead < self.leads)
        issued = np.full((n, len(self.sites)), np.nan)
        issued[covered] = self.cube_w[self._issue[i], lead[covered]]
        idx = self._persistence_index(i, n)
        fallback = np.where((idx >= 0)[:, None], self.values[np.clip(idx, 0, None)], np.nan)
        return np.where(covered[:, None], issued, fallback)

    def _predicted_steps(self, threshold: np.ndarray, mask_now: np.ndarray) -> np.ndarray:
        steps = self.values.shape[0]
        leads = self.leads
        i = np.arange(steps)
        # the next `leads` steps: issued where covered, persistence otherwise
        k = np.arange(1, leads + 1)
        lead = k[None, :] + self._age_steps[:, None]
        covered = (self._issue[:, None] >= 0) & (lead < leads)
        issue = np.clip(self._issue, 0, None)[:, None]
        issued = self.cube_w[issue, np.clip(lead, 0, leads - 1), :]  # [steps, leads, sites]
        hist = i[:, None] + k[None, :] - self.day_steps
        persist = np.where((hist >= 0)[:, :, None], self.values[np.clip(hist, 0, None), :], np.nan)
        path = np.where(covered[:, :, None], issued, persist)
        ok = np.nan_to_num(path, nan=-np.inf) >= threshold[None, None, :]
        all_ok = ok.all(axis=1)
        first_bad = np.where(all_ok, leads, np.argmin(ok, axis=1))  # steps of the path in surplus
        # after the path: persistence from history position i + leads + 1 - day
        start = (i + leads + 1 - self.day_steps)[:, None]
        known = np.full_like(start, self.day_steps - leads)
        tail = self._persistence_run(start, known, mask_now)
        return 1 + first_bad + np.where(all_ok, tail, 0)

    def config(self) -> dict[str, Any]:
        return super().config() | {"issues": len(self.issues), "leads": self.leads}


FORECASTERS = ("perfect", "persistence", "noisy", "solcast")


def make_forecaster(
    name: str,
    actual_df: pd.DataFrame,
    *,
    seed: int = 0,
    sigma: float = 0.2,
    solcast: SolcastData | None = None,
    solcast_columns: Mapping[str, str] | None = None,
    peak_w: Mapping[str, float] | float = 1.0,
) -> Forecaster:
    """A forecaster by name: ``perfect``, ``persistence``, ``noisy`` (``seed``, ``sigma``) or
    ``solcast`` (needs ``solcast`` data, ``solcast_columns`` site → file column, ``peak_w``)."""
    if name == "perfect":
        return PerfectForecaster(actual_df)
    if name == "persistence":
        return PersistenceForecaster(actual_df)
    if name == "noisy":
        return NoisyForecaster(actual_df, seed=seed, sigma=sigma)
    if name == "solcast":
        if solcast is None:
            raise InputError(
                "the solcast forecaster replays real issued forecasts; it needs a Solcast trace "
                "(energy_source = {kind = 'trace', solcast = 'germany'} in the scenario)"
            )
        return SolcastForecaster.from_solcast(
            solcast, columns=solcast_columns, peak_w=peak_w, actual_w=actual_df
        )
    raise UnknownNameError(f"unknown forecaster {name!r}; use one of {', '.join(FORECASTERS)}")


def window_end_error(
    forecaster: Forecaster, threshold_w: float | Mapping[str, float]
) -> dict[str, float]:
    """Error of the predicted window end against the truth, over all steps inside a window.

    Steps whose true window reaches the end of the trace are left out (their end is unknown).
    Returns ``mae_s`` (mean absolute error), ``median_abs_s``, ``bias_s`` (mean of predicted −
    true; negative = predicts too early) and ``n`` (steps × sites counted).
    """
    threshold = _threshold_row(threshold_w, forecaster.sites)
    truth = remaining_run_steps(forecaster.values >= threshold).astype(float) * forecaster.step_s
    predicted = forecaster.predicted_remaining_window_s(threshold)
    to_end = (len(forecaster.index) - np.arange(len(forecaster.index)))[:, None] * forecaster.step_s
    counted = (truth > 0) & (truth < to_end)
    error = (predicted - truth)[counted]
    if error.size == 0:
        return {
            "mae_s": float("nan"),
            "median_abs_s": float("nan"),
            "bias_s": float("nan"),
            "n": 0.0,
        }
    return {
        "mae_s": float(np.abs(error).mean()),
        "median_abs_s": float(np.median(np.abs(error))),
        "bias_s": float(error.mean()),
        "n": float(error.size),
    }
