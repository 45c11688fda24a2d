"""Surplus windows: maximal runs of steps where a site's renewable surplus covers a job's power.

A site has *surplus* for a job at step ``t`` when ``surplus_w[t] - base_load_w >= job_power_w``,
where ``surplus_w`` is the renewable generation (or what is left of it after other loads). A
*window* is a maximal run of such steps; it starts at the first step's timestamp and ends at the
end of its last step. A window that touches the end of the trace is cut there (``truncated``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from greenhop.energy.traces import infer_step
from greenhop.errors import InputError

WINDOW_COLUMNS = ["start", "end", "duration_s", "energy_kwh", "mean_surplus_w", "truncated"]


def remaining_run_steps(mask: np.ndarray) -> np.ndarray:
    """For a boolean array ``[steps, ...]``: the number of consecutive True steps from each step on.

    0 where ``mask`` is False. O(steps × sites): a reverse cumulative sum that restarts after each
    False, computed with two accumulations, no Python loop over time.
    """
    m = np.asarray(mask, dtype=bool)
    reversed_mask = m[::-1]
    counts = np.cumsum(reversed_mask, axis=0, dtype=np.int64)
    # at each False the running count is frozen; subtracting the last frozen count restarts it
    frozen = np.where(reversed_mask, 0, counts)
    restart = np.maximum.accumulate(frozen, axis=0)
    return (counts - restart)[::-1]


def remaining_window_s(
    surplus: np.ndarray, threshold_w: float | np.ndarray, step_s: float
) -> np.ndarray:
    """Seconds until the current surplus run ends, for each step and site.

    Parameters
    ----------
    surplus : array ``[steps, sites]`` of surplus power, W.
    threshold_w : power a job needs, W (a scalar or one value per site).
    step_s : length of a step, s.

    Returns
    -------
    float array ``[steps, sites]``: ``step_s`` × (number of consecutive steps from this one on with
    ``surplus >= threshold_w``); 0 where there is no surplus now. Runs that reach the end of the
    array are counted up to the end.
    """
    values = np.asarray(surplus, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    mask = values >= np.asarray(threshold_w, dtype=float)
    return remaining_run_steps(mask).astype(float) * float(step_s)


def _step_s(index: pd.Index) -> float:
    return float(infer_step(index).total_seconds())


def surplus_windows(
    surplus_w: pd.Series,
    job_power_w: float,
    *,
    base_load_w: float = 0.0,
) -> pd.DataFrame:
    """The surplus windows of one site.

    Parameters
    ----------
    surplus_w : renewable power available to the site, W, on a regular UTC index.
    job_power_w : power one job draws, W; a step counts when the surplus covers it.
    base_load_w : the site's own load served first, W.

    Returns
    -------
    DataFrame with one row per window, sorted by start: ``start``, ``end`` (UTC timestamps; end =
    end of the last step), ``duration_s``, ``energy_kwh`` (the surplus energy ``surplus_w -
    base_load_w`` over the window), ``mean_surplus_w``, ``truncated`` (the window touches the end
    of the trace, so its true end is unknown).
    """
    if job_power_w < 0 or base_load_w < 0:
        raise InputError(
            f"job_power_w ({job_power_w}) and base_load_w ({base_load_w}) must be ≥ 0 W"
        )
    if not isinstance(surplus_w.index, pd.DatetimeIndex):
        raise InputError("surplus_w needs a DatetimeIndex")
    net = surplus_w.to_numpy(dtype=float) - base_load_w
    if len(net) < 2:
        return pd.DataFrame(columns=WINDOW_COLUMNS)
    step_s = _step_s(surplus_w.index)
    mask = net >= job_power_w
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)  # exclusive
    cumulative = np.concatenate(([0.0], np.cumsum(np.where(mask, net, 0.0))))
    energy_ws = (cumulative[stops] - cumulative[starts]) * step_s
    duration_s = (stops - starts) * step_s
    index = surplus_w.index
    step = pd.Timedelta(seconds=step_s)
    return pd.DataFrame(
        {
            "start": index[starts],
            "end": index[stops - 1] + step,
            "duration_s": duration_s,
            "energy_kwh": energy_ws / 3.6e6,
            "mean_surplus_w": np.divide(
                energy_ws, duration_s, out=np.zeros_like(energy_ws), where=duration_s > 0
            ),
            "truncated": stops == len(net),
        },
        columns=WINDOW_COLUMNS,
    )


def window_stats(
    surplus_w: pd.Series,
    job_power_w: float,
    *,
    base_load_w: float = 0.0,
    min_window_s: float = 0.0,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
) -> dict[str, float]:
    """Statistics of one site's windows.

    Returns a dict: ``count``; ``mean_duration_s`` and ``q10_duration_s``, ``q50_duration_s``,
    ``q90_duration_s`` (one per entry of ``quantiles``); ``max_duration_s``; ``time_share`` (the
    share of time inside a window); ``surplus_energy_kwh`` (all energy above the base load);
    ``window_energy_kwh``; and ``share_energy_long_windows`` — the share of all surplus energy that
    falls in windows at least ``min_window_s`` long (the windows long enough for a migration).
    """
    windows = surplus_windows(surplus_w, job_power_w, base_load_w=base_load_w)
    net = np.clip(surplus_w.to_numpy(dtype=float) - base_load_w, 0.0, None)
    step_s = _step_s(surplus_w.index) if len(surplus_w) > 1 else 0.0
    total_kwh = float(net.sum() * step_s / 3.6e6)
    durations = windows["duration_s"].to_numpy(dtype=float)
    stats: dict[str, float] = {"count": float(len(windows))}
    stats["mean_duration_s"] = float(durations.mean()) if len(durations) else 0.0
    for q in quantiles:
        key = f"q{round(q * 100):02d}_duration_s"
        stats[key] = float(np.quantile(durations, q)) if len(durations) else 0.0
    stats["max_duration_s"] = float(durations.max()) if len(durations) else 0.0
    stats["time_share"] = float(durations.sum() / (len(net) * step_s)) if step_s else 0.0
    stats["surplus_energy_kwh"] = total_kwh
    stats["window_energy_kwh"] = float(windows["energy_kwh"].sum())
    long_kwh = float(windows.loc[windows["duration_s"] >= min_window_s, "energy_kwh"].sum())
    stats["share_energy_long_windows"] = long_kwh / total_kwh if total_kwh > 0 else 0.0
    return stats


def simultaneity(
    surplus_df: pd.DataFrame,
    job_power_w: float | Sequence[float] | pd.Series,
    *,
    base_load_w: float | Sequence[float] | pd.Series = 0.0,
) -> pd.Series:
    """How often several sites have surplus at once.

    Returns a Series indexed by k = 1 .. number of sites: the fraction of steps in which at least
    k sites have ``surplus - base_load_w >= job_power_w`` (per-site values may be given as a
    sequence or a Series keyed by column). ``result[1]`` is how often at least one site has
    surplus.
    """
    columns = list(surplus_df.columns)

    def per_site(value: float | Sequence[float] | pd.Series) -> np.ndarray:
        if isinstance(value, pd.Series):
            return value.reindex(columns).to_numpy(dtype=float)
        return np.broadcast_to(np.asarray(value, dtype=float), (len(columns),))

    mask = surplus_df.to_numpy(dtype=float) - per_site(base_load_w) >= per_site(job_power_w)
    count = mask.sum(axis=1)
    ks = np.arange(1, len(columns) + 1)
    fractions = (count[:, None] >= ks[None, :]).mean(axis=0)
    return pd.Series(fractions, index=pd.Index(ks, name="k"), name="fraction_of_time")
