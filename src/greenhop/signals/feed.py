"""The sites' meters read together, once per tick, and the forecast made from what they show.

:class:`SiteFeeds` holds, for every site, its watched power source and (optionally) its watched
base-load source. :meth:`SiteFeeds.read` gives a :class:`FeedReading`: per site the generation
and base load known now, whether the site is *seen* (its power signal gave a good, fresh value),
and the surplus two ways:

- ``view_surplus_w``: what a policy is shown. For a blind site, the last good value (0 if it
  never had one) holds: the world knows no better, and the rules keep jobs out of it
  (:func:`greenhop.world.rules.refusal`, ``blind``);
- ``settled_surplus_w``: what the ledger books. A blind site's generation counts as **0 W** while
  its meter is dark: energy nobody can see is not claimed as renewable, so the run's
  non-renewable energy is an upper bound over such episodes.

:class:`ObservedForecast` is the forecast of a tick, from what was observed (a
:class:`~greenhop.policies.base.ForecastView`, so every policy reads it unchanged):

- ``persistence``: the surplus now holds for :data:`PERSISTENCE_HORIZON_S` (a window ends
  there, so a policy never trusts a value further than that);
- ``source``: the newest forecast a forecast source gives (an HTTP endpoint or a file, like the
  power sources), held between its points, over its own span (at most
  :data:`SOURCE_HORIZON_S`); while the source fails, persistence, and
  :attr:`SiteFeeds.forecast_problem` says why;
- ``clear-sky``: the site's PV model under a clear sky (pvlib's Ineichen model at the site's
  place) over the next :data:`CLEAR_SKY_HORIZON_S`, scaled by what is observed now over what the
  model gives now (the ratio is kept between 0 and :data:`MAX_CLEAR_SKY_RATIO`; at night, or
  while the model gives under 5 % of its peak, the last daytime ratio holds, 1 at first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from greenhop.signals.base import SignalUnavailable, TraceSignal, utc
from greenhop.signals.sources import ForecastSource
from greenhop.signals.watch import Reading, Watched

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

PERSISTENCE_HORIZON_S = 3600.0
"""How far ahead a persistence forecast trusts the value now, s."""

CLEAR_SKY_HORIZON_S = 12 * 3600.0
"""How far ahead the clear-sky forecast looks, s."""

SOURCE_HORIZON_S = 48 * 3600.0
"""How far ahead a forecast source is read at most, s."""

MAX_CLEAR_SKY_RATIO = 1.2
"""Largest observed/clear-sky ratio used (cloud-edge enhancement, a model a little low)."""

#: ``model(times) -> W``: a site's generation under a clear sky at ``times`` (UTC).
ClearSkyModel = Callable[[pd.DatetimeIndex], FloatArray]


@dataclass(frozen=True)
class FeedReading:
    """All sites' meters at ``now``: see the module docstring."""

    now: pd.Timestamp
    generation_w: FloatArray  # known now, or the last good value for a blind site
    base_load_w: FloatArray
    seen: BoolArray  # the power signal gave a good, fresh value
    power: tuple[Reading, ...]
    base_load: tuple[Reading | None, ...]

    @property
    def blind(self) -> BoolArray:
        out: BoolArray = ~self.seen
        return out

    @property
    def view_surplus_w(self) -> FloatArray:
        out: FloatArray = self.generation_w - self.base_load_w
        return out

    @property
    def settled_surplus_w(self) -> FloatArray:
        out: FloatArray = np.where(self.seen, self.generation_w, 0.0) - self.base_load_w
        return out


class SiteFeeds:
    """Every site's watched sources; :meth:`read` them once per tick."""

    def __init__(
        self,
        site_names: Sequence[str],
        power: Sequence[Watched],
        base_load: Sequence[Watched | None],
        default_base_load_w: Sequence[float],
        *,
        forecast: Sequence[str] | None = None,
        clear_sky: Sequence[ClearSkyModel | None] | None = None,
        forecast_sources: Sequence[ForecastSource | None] | None = None,
    ) -> None:
        n = len(site_names)
        if not (len(power) == len(base_load) == len(default_base_load_w) == n):
            raise ValueError("one power source, base-load source and base load per site")
        self.site_names = tuple(site_names)
        self.power = list(power)
        self.base_load = list(base_load)
        self.default_base_load_w = np.asarray(default_base_load_w, dtype=np.float64)
        self.forecast = list(forecast) if forecast is not None else ["persistence"] * n
        self.clear_sky = list(clear_sky) if clear_sky is not None else [None] * n
        self.forecast_sources = (
            list(forecast_sources) if forecast_sources is not None else [None] * n
        )
        #: per site, the last reason its forecast source failed (persistence was used), or ""
        self.forecast_problem = [""] * n
        self._last_w = np.zeros(n)
        self._last_base_w = self.default_base_load_w.copy()
        self._ratio = np.ones(n)

    @classmethod
    def replay(
        cls,
        site_names: Sequence[str],
        index: pd.DatetimeIndex,
        generation_w: FloatArray,
        base_load_w: FloatArray | None,
    ) -> SiteFeeds:
        """Feeds that replay ``generation_w`` (steps x sites on ``index``, UTC): each site's
        power is a :class:`~greenhop.signals.base.TraceSignal`, read at a step's start it gives
        that step's value (what a simulation reads from the same array)."""
        step = pd.Timedelta(index[1] - index[0]) if len(index) > 1 else pd.Timedelta("1min")
        power = [
            Watched(TraceSignal(pd.Series(generation_w[:, s], index=index), name=name), step)
            for s, name in enumerate(site_names)
        ]
        base = np.zeros(len(site_names)) if base_load_w is None else base_load_w
        return cls(site_names, power, [None] * len(site_names), list(base))

    def read(self, now: pd.Timestamp) -> FeedReading:
        """Read every site's sources at ``now`` (never raises for a source's failure)."""
        now = utc(now)
        power = tuple(w.read(now) for w in self.power)
        base = tuple(None if w is None else w.read(now) for w in self.base_load)
        seen = np.array([r.known for r in power], dtype=bool)
        for s, r in enumerate(power):
            if r.value is not None:
                self._last_w[s] = r.value
        for s, b in enumerate(base):
            if b is not None and b.value is not None:
                self._last_base_w[s] = b.value
        return FeedReading(now, self._last_w.copy(), self._last_base_w.copy(), seen, power, base)

    def episodes(self) -> list[tuple[int, str, Watched]]:
        """``(site, 'power' | 'base_load', watched)`` for every watched source."""
        out: list[tuple[int, str, Watched]] = []
        for s in range(len(self.site_names)):
            out.append((s, "power", self.power[s]))
            b = self.base_load[s]
            if b is not None:
                out.append((s, "base_load", b))
        return out

    def forecast_at(
        self, reading: FeedReading, step_s: float, run_left_s: float
    ) -> ObservedForecast:
        """The forecast made at ``reading`` (see the module docstring); windows never reach
        past the run's end, ``run_left_s`` from now."""
        n = len(self.site_names)
        horizon_s = np.full(n, PERSISTENCE_HORIZON_S)
        paths: list[FloatArray | None] = [None] * n
        for s in range(n):
            source = self.forecast_sources[s]
            if self.forecast[s] == "source" and source is not None:
                try:
                    points = source.path(reading.now)
                except SignalUnavailable as exc:  # persistence until the source is back
                    self.forecast_problem[s] = f"{exc.reason}: {exc.detail}"
                    continue
                self.forecast_problem[s] = ""
                span_s = (points.index[-1] - reading.now).total_seconds() + step_s
                steps = int(min(max(span_s, step_s), SOURCE_HORIZON_S) // step_s)
                times = pd.date_range(reading.now, periods=steps, freq=pd.Timedelta(seconds=step_s))
                merged = points.reindex(points.index.union(times)).sort_index().ffill().bfill()
                paths[s] = merged.reindex(times).to_numpy(dtype=np.float64)
                horizon_s[s] = steps * step_s
                continue
            model = self.clear_sky[s]
            if self.forecast[s] != "clear-sky" or model is None:
                continue
            steps = max(1, int(CLEAR_SKY_HORIZON_S // step_s))
            times = pd.date_range(reading.now, periods=steps, freq=pd.Timedelta(seconds=step_s))
            clear = np.asarray(model(times), dtype=np.float64)
            peak = float(clear.max()) if clear.size else 0.0
            if peak > 0 and clear[0] >= 0.05 * peak and reading.seen[s]:
                ratio = reading.generation_w[s] / clear[0]
                self._ratio[s] = min(max(ratio, 0.0), MAX_CLEAR_SKY_RATIO)
            paths[s] = self._ratio[s] * clear
            horizon_s[s] = CLEAR_SKY_HORIZON_S
        return ObservedForecast(
            reading.view_surplus_w,
            reading.base_load_w,
            step_s,
            np.minimum(horizon_s, max(run_left_s, 0.0)),
            paths,
        )


class ObservedForecast:
    """A forecast made from what the meters show now (see the module docstring)."""

    def __init__(
        self,
        surplus_now_w: FloatArray,
        base_load_w: FloatArray,
        step_s: float,
        horizon_s: FloatArray,
        generation_paths_w: Sequence[FloatArray | None],
    ) -> None:
        self.surplus_now_w = np.asarray(surplus_now_w, dtype=np.float64)
        self.base_load_w = np.asarray(base_load_w, dtype=np.float64)
        self.step_s = float(step_s)
        self.horizon_s = np.asarray(horizon_s, dtype=np.float64)
        self.paths = list(generation_paths_w)

    def _path(self, s: int, steps: int) -> FloatArray:
        """Site ``s``'s forecast surplus for ``steps`` steps from now (now observed)."""
        out = np.full(steps, self.surplus_now_w[s])
        path = self.paths[s]
        if path is not None and steps > 1:
            ahead = path[1:steps] - self.base_load_w[s]
            out[1 : 1 + len(ahead)] = ahead
            out[1 + len(ahead) :] = ahead[-1] if len(ahead) else self.surplus_now_w[s]
        return out

    def remaining_window_s(self, threshold_w: float) -> FloatArray:
        """Seconds until each site's forecast surplus falls below ``threshold_w`` (0: not now),
        at most the site's horizon."""
        out = np.zeros(len(self.surplus_now_w))
        for s in range(len(out)):
            steps = max(1, round(float(self.horizon_s[s]) / self.step_s))
            path = self._path(s, steps)
            below = np.flatnonzero(path < threshold_w)
            run = below[0] if below.size else steps
            out[s] = min(run * self.step_s, self.horizon_s[s])
        return out

    def surplus_w(self, horizon_steps: int) -> FloatArray:
        """Forecast surplus for the next ``horizon_steps`` steps, (horizon, sites), W."""
        cols = [self._path(s, horizon_steps) for s in range(len(self.surplus_now_w))]
        return np.stack(cols, axis=1) if cols else np.zeros((horizon_steps, 0))
