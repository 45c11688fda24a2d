"""Grid signals on the run's grid, and their forecasts as a policy may know them.

:class:`GridInputs` holds, per step and site, the carbon intensity (g CO2e/kWh), the price
(currency/MWh), the demand-response cap (W, ``inf`` outside events) and the curtailed power
offered to each site (W), plus each site's PUE. :func:`grid_from_scenario` reads a scenario's
``[[grid]]`` signals (:mod:`greenhop.signals.grid`) and puts them on the run's grid through the
signal interface (:meth:`~greenhop.signals.base.Signal.on_grid`), so a live source can serve the
same signal later.

**Forecasts** (:meth:`GridInputs.forecast`): what a policy knows at step ``k`` of the next
steps' intensity or price. ``persistence`` (the default without issued forecasts) is *daily*
persistence: the value at the same time one day earlier (known at ``k``), and the value now
where a day earlier lies before the run; the step ``k`` itself is the value measured now. With
the trace's own **issued** forecasts (``forecast = 'file.csv'``) the newest forecast issued at
or before ``k`` gives the steps it reaches (WattTime's reach 5..85 min; the issued values whose
periods start within a run step are averaged), and daily persistence the steps beyond. A
signal declared ``known_ahead`` (a day-ahead price: ``'24h'``) gives its actual values that far
ahead. ``perfect`` reads the actual values (a bound, for comparisons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from greenhop.errors import ScenarioError
from greenhop.signals.base import SignalUnavailable, TraceSignal
from greenhop.signals.grid import (
    DemandResponseSignal,
    IssuedForecast,
    carbon_factor,
    price_unit,
    read_issued_forecast,
    signal_on_grid,
)

if TYPE_CHECKING:
    from greenhop.scenario import GridSignal, Scenario

FloatArray = NDArray[np.float64]
ForecastMethod = Literal["persistence", "perfect"]


@dataclass
class GridSeries:
    """One grid quantity on the run's grid: ``values`` (steps, sites), NaN at sites it does not
    apply to; the signals' names per site; issued forecasts per site where the trace has them."""

    values: FloatArray
    unit: str
    names: list[str | None]
    issued: list[IssuedForecast | None] = field(default_factory=list)
    known_ahead_steps: list[int] = field(default_factory=list)  # per site; 0: only now

    def covers(self) -> NDArray[np.bool_]:
        """Sites the signal applies to."""
        return np.asarray(~np.isnan(self.values).any(axis=0), dtype=bool)


@dataclass
class GridInputs:
    """Grid signals of a run on its grid (see the module docstring); every array is
    (steps, sites) unless noted, and any of them may be None (no such signal)."""

    start: pd.Timestamp
    step_s: float
    pue: FloatArray  # (sites,), >= 1
    carbon: GridSeries | None = None  # gCO2e/kWh
    carbon_kind: str | None = None  # "average" | "marginal"
    price: GridSeries | None = None  # currency/MWh
    currency: str | None = None
    dr_cap_w: FloatArray | None = None  # inf outside events
    dr_names: list[str | None] = field(default_factory=list)
    curtailment_w: FloatArray | None = None  # supply offered to each site (share, cap applied)
    curtailment_names: list[str | None] = field(default_factory=list)
    forecast_method: ForecastMethod = "persistence"
    _cache: dict[tuple[str, int, int], FloatArray] = field(default_factory=dict, repr=False)

    @classmethod
    def empty(cls, n_sites: int, start: pd.Timestamp, step_s: float) -> GridInputs:
        """No grid signals, PUE 1 everywhere."""
        return cls(start=start, step_s=step_s, pue=np.ones(n_sites))

    @property
    def has_signals(self) -> bool:
        return self.carbon is not None or self.price is not None or self.dr_cap_w is not None

    def series(self, name: str) -> GridSeries | None:
        """``carbon`` or ``price``."""
        if name == "carbon":
            return self.carbon
        if name == "price":
            return self.price
        raise KeyError(name)

    def forecast(self, name: str, step: int, horizon_steps: int) -> FloatArray:
        """The forecast known at ``step`` of ``name`` (carbon or price) for steps ``step ..
        step + horizon - 1``, shape (horizon, sites); NaN where a site has no such signal.
        Steps past the run's end repeat its last step."""
        key = (name, step, horizon_steps)
        if key in self._cache:
            return self._cache[key]
        ser = self.series(name)
        if ser is None:
            raise KeyError(f"no {name} signal in this run")
        vals = ser.values
        n = vals.shape[0]
        idx = np.minimum(np.arange(step, step + horizon_steps), n - 1)
        if self.forecast_method == "perfect":
            out = vals[idx].copy()
        else:
            day = round(86400.0 / self.step_s)
            back = idx - day
            # yesterday's value where it is known by now, else the value now
            out = np.where((back >= 0)[:, None], vals[np.maximum(back, 0)], vals[step][None, :])
            out[0] = vals[step]
            now = self.start + pd.Timedelta(seconds=step * self.step_s)
            for s, issued in enumerate(ser.issued):
                if issued is None:
                    continue
                got = issued.latest(now)
                if got is None:
                    continue
                targets, values = got
                # the issued values whose periods start within each run step, averaged
                k = np.floor((targets.asi8 - now.value) / (self.step_s * 1e9)).astype(np.int64)
                ok = (k >= 1) & (k < horizon_steps)
                if ok.any():
                    total = np.bincount(k[ok], weights=values[ok], minlength=horizon_steps)
                    count = np.bincount(k[ok], minlength=horizon_steps)
                    have = count > 0
                    out[have, s] = total[have] / count[have]
            for s, ahead in enumerate(ser.known_ahead_steps):
                if ahead > 0:
                    reach = min(horizon_steps, ahead + 1)
                    out[:reach, s] = vals[idx[:reach], s]
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = out
        return out


def _path(scenario: Scenario, file: str) -> Path:
    path = Path(file)
    if not path.is_absolute() and scenario.source is not None:
        path = scenario.source.parent / path
    return path


def _where(scenario: Scenario, i: int, sig: GridSignal) -> str:
    label = scenario.source.name if scenario.source is not None else f"scenario {scenario.name!r}"
    return f"{label}: [[grid]] #{i + 1} ({sig.signal}, {sig.file})"


def grid_from_scenario(scenario: Scenario) -> GridInputs:
    """The scenario's ``[[grid]]`` signals on its grid, and its sites' PUE.

    Raises :class:`~greenhop.errors.ScenarioError` naming the file, the ``[[grid]]`` table and
    what to do when a file cannot be read or does not cover the run."""
    index = scenario.grid()
    step = pd.Timedelta(scenario.step)
    sites = scenario.sites
    n_steps, n_sites = len(index), len(sites)
    out = GridInputs(
        start=pd.Timestamp(scenario.start),
        step_s=step.total_seconds(),
        pue=np.array([s.pue for s in sites], dtype=float),
    )
    nan = np.full((n_steps, n_sites), np.nan)
    carbon, price = nan.copy(), nan.copy()
    carbon_names: list[str | None] = [None] * n_sites
    price_names: list[str | None] = [None] * n_sites
    carbon_issued: list[IssuedForecast | None] = [None] * n_sites
    price_issued: list[IssuedForecast | None] = [None] * n_sites
    carbon_ahead = [0] * n_sites
    price_ahead = [0] * n_sites
    dr = np.full((n_steps, n_sites), np.inf)
    dr_names: list[str | None] = [None] * n_sites
    curtail = np.zeros((n_steps, n_sites))
    curtail_names: list[str | None] = [None] * n_sites
    kinds: set[str] = set()
    currencies: set[str] = set()
    for i, sig in enumerate(scenario.grid_signals):
        where = _where(scenario, i, sig)
        cols = [s for s, site in enumerate(sites) if sig.applies_to(site)]
        path = _path(scenario, sig.file)
        try:
            signal = sig.read(path)
            if isinstance(signal, DemandResponseSignal):
                cap = signal.events.cap_on_grid(index, step)
                for s in cols:
                    dr[:, s] = cap
                    dr_names[s] = signal.name
                continue
            factor = 1.0
            if sig.signal == "carbon":
                kinds.add(sig.kind or "average")
                factor = carbon_factor(sig.unit or "g/kWh")
            elif sig.signal == "price":
                currency, factor = price_unit(sig.unit or "USD/MWh")
                currencies.add(currency)
            values = signal_on_grid(signal, index, step)
            issued = None
            if sig.forecast is not None and isinstance(signal, TraceSignal):
                own_step = pd.Timedelta(signal._index[1] - signal._index[0])
                issued = read_issued_forecast(
                    _path(scenario, sig.forecast),
                    column=sig.column,
                    factor=factor,
                    unit=signal.unit,
                    tz=sig.tz,
                    label=sig.label,
                    step=own_step,
                )
        except SignalUnavailable as exc:
            raise ScenarioError(
                f"{where}: the signal does not cover the run {index[0]} .. {index[-1] + step} "
                f"({exc.detail}); give a file that covers it, or move start/end"
            ) from None
        except ScenarioError:
            raise
        except Exception as exc:  # TraceError and friends, named with the table
            from greenhop.errors import GreenhopError

            if not isinstance(exc, GreenhopError):
                raise
            raise ScenarioError(f"{where}: {exc}") from None
        ahead = 0 if sig.known_ahead is None else int(pd.Timedelta(sig.known_ahead) // step)
        for s in cols:
            if sig.signal == "carbon":
                carbon[:, s] = values
                carbon_names[s] = signal.name
                carbon_issued[s] = issued
                carbon_ahead[s] = ahead
            elif sig.signal == "price":
                price[:, s] = values
                price_names[s] = signal.name
                price_issued[s] = issued
                price_ahead[s] = ahead
            else:
                site = sites[s]
                share = site.curtailment_share if site.curtailment_share is not None else 0.0
                offered = values * share
                if site.curtailment_cap_kw is not None:
                    offered = np.minimum(offered, site.curtailment_cap_kw * 1e3)
                curtail[:, s] = offered
                curtail_names[s] = signal.name
    if len(kinds) > 1:
        raise ScenarioError(
            f"{_where(scenario, 0, scenario.grid_signals[0])}: carbon signals mix average and "
            "marginal intensities; emissions of one run add up one kind only"
        )
    if len(currencies) > 1:
        raise ScenarioError(
            f"{_where(scenario, 0, scenario.grid_signals[0])}: prices in several currencies "
            f"({', '.join(sorted(currencies))}); convert them to one"
        )
    if any(n is not None for n in carbon_names):
        out.carbon = GridSeries(carbon, "gCO2e/kWh", carbon_names, carbon_issued, carbon_ahead)
        out.carbon_kind = kinds.pop()
    if any(n is not None for n in price_names):
        out.price = GridSeries(
            price, f"{next(iter(currencies))}/MWh", price_names, price_issued, price_ahead
        )
        out.currency = currencies.pop()
    if any(n is not None for n in dr_names):
        out.dr_cap_w = dr
        out.dr_names = dr_names
    if any(n is not None for n in curtail_names):
        out.curtailment_w = curtail
        out.curtailment_names = curtail_names
    return out
