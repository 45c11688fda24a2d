"""The one signal interface: ``at(now)`` -> the value known then, and when it was measured.

A *signal* is a time-varying quantity of one site or grid region: renewable power, base load,
and (for the grid side) carbon intensity or price. It has a name, a unit, and one question,
:meth:`Signal.at`: *what is the value now, and how old is it?* The same interface serves

- a replayed trace (:class:`TraceSignal`: the scenario's Solcast trace, a CSV a user gave, the
  power modelled from a weather file: each is a series on the scenario's grid);
- a live source read on the wall clock (:mod:`greenhop.signals.sources`: a PromQL query, an HTTP
  endpoint returning JSON, a CSV or Parquet file a meter appends to).

The simulator reads a signal on its whole grid at once (:meth:`Signal.on_grid`, which for a
trace is the same as calling :meth:`at` at each step's start); the live controller calls
:meth:`at` once per tick. A source that cannot answer raises :class:`SignalUnavailable` with a
reason (``unreachable``, ``timeout``, ``garbage``, ``stale``, ``no-data``);
:class:`~greenhop.signals.watch.Watched` turns that into an *unknown* reading and an episode,
and never lets it escape to the controller.

Modelled on Vessim's ``Signal`` (``signal.now(at)``), with the sample's own timestamp returned so
that a consumer can judge its age.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from greenhop.errors import GreenhopError, InputError

FloatArray = NDArray[np.float64]

Reason = Literal["unreachable", "timeout", "garbage", "stale", "no-data"]
REASONS: tuple[Reason, ...] = ("unreachable", "timeout", "garbage", "stale", "no-data")


class SignalUnavailable(GreenhopError):
    """A signal has no usable value now; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Sample:
    """One reading: ``value`` in the signal's unit, measured at ``time`` (UTC)."""

    value: float
    time: pd.Timestamp


def utc(now: pd.Timestamp | str | float) -> pd.Timestamp:
    """``now`` as a UTC timestamp (a float is POSIX seconds; a naive time is taken as UTC)."""
    if isinstance(now, int | float):
        return pd.Timestamp(float(now), unit="s", tz="UTC")
    stamp = pd.Timestamp(now)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


class Signal(abc.ABC):
    """A value that changes with time; see the module docstring.

    Subclasses implement :meth:`at`. ``unit`` names the unit of every value (``"W"`` for power).
    """

    name: str = "signal"
    unit: str = "W"

    @abc.abstractmethod
    def at(self, now: pd.Timestamp) -> Sample:
        """The newest value known at ``now`` (UTC) and when it was measured.

        Raises :class:`SignalUnavailable` when there is none.
        """

    def on_grid(self, index: pd.DatetimeIndex) -> FloatArray:
        """The value known at each time of ``index`` (the simulator's view of the signal)."""
        return np.array([self.at(t).value for t in index], dtype=np.float64)

    def describe(self) -> str:
        """One line for logs and the live view."""
        return f"{type(self).__name__} {self.name!r} ({self.unit})"


class TraceSignal(Signal):
    """A recorded series replayed: the value of the newest sample at or before ``now``
    (a sample holds until the next; the series' index is UTC and increasing).

    ``series`` may be on any step; a time before its first sample raises
    :class:`SignalUnavailable` (``no-data``), and so does one later than its last sample plus
    ``hold`` (default: the series' own step).
    """

    def __init__(
        self,
        series: pd.Series,
        *,
        name: str | None = None,
        unit: str = "W",
        hold: pd.Timedelta | None = None,
    ) -> None:
        index = series.index
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
            raise InputError(f"signal {name or series.name!r}: the series needs a UTC time index")
        if len(index) == 0:
            raise InputError(f"signal {name or series.name!r}: the series is empty")
        if not index.is_monotonic_increasing or index.has_duplicates:
            raise InputError(f"signal {name or series.name!r}: times must increase strictly")
        values = series.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise InputError(f"signal {name or series.name!r}: the series holds NaN or inf")
        self.name = str(name if name is not None else series.name)
        self.unit = unit
        self._index = index.tz_convert("UTC")
        self._ns = self._index.as_unit("ns").asi8
        self._values = values
        if hold is None:
            hold = pd.Timedelta(index[1] - index[0]) if len(index) > 1 else pd.Timedelta(seconds=1)
        self._hold_ns = int(pd.Timedelta(hold).value)

    def _position(self, now: pd.Timestamp) -> int:
        t = utc(now).value
        i = int(np.searchsorted(self._ns, t, side="right")) - 1
        if i < 0:
            raise SignalUnavailable("no-data", f"{self.name}: {now} is before the trace begins")
        if t >= self._ns[-1] + self._hold_ns:
            raise SignalUnavailable("no-data", f"{self.name}: {now} is after the trace ends")
        return i

    def at(self, now: pd.Timestamp) -> Sample:
        i = self._position(now)
        return Sample(float(self._values[i]), self._index[i])

    def on_grid(self, index: pd.DatetimeIndex) -> FloatArray:
        """Vectorised :meth:`at` over ``index`` (every time must be inside the trace)."""
        t = utc(index[0]).value if len(index) else 0
        grid_ns = index.tz_convert("UTC").as_unit("ns").asi8
        pos = np.searchsorted(self._ns, grid_ns, side="right") - 1
        if len(index) and (pos.min() < 0 or grid_ns.max() >= self._ns[-1] + self._hold_ns):
            raise SignalUnavailable(
                "no-data",
                f"{self.name}: the grid from {pd.Timestamp(t, tz='UTC')} leaves the trace",
            )
        out: FloatArray = self._values[pos]
        return out


def check_value(value: object, *, name: str, nonnegative: bool = True) -> float:
    """``value`` as a finite float (a number, or a string holding one); raises
    :class:`SignalUnavailable` (``garbage``) for anything else, or a negative value of a signal
    that cannot be negative."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SignalUnavailable("garbage", f"{name}: {str(value)[:60]!r} is not a number") from None
    if not math.isfinite(out):
        raise SignalUnavailable("garbage", f"{name}: {out} is not a finite number")
    if nonnegative and out < 0:
        raise SignalUnavailable("garbage", f"{name}: {out:g} is negative")
    return out
