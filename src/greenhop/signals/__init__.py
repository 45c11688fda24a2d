"""Signals: one small interface, ``at(now)``, for every time-varying input of a run.

- :mod:`greenhop.signals.base`: :class:`Signal`, :class:`Sample`, :class:`SignalUnavailable`,
  :class:`TraceSignal` (a recorded series replayed);
- :mod:`greenhop.signals.sources`: live sources (Prometheus, HTTP JSON, an appended CSV/Parquet
  file) and their scenario tables;
- :mod:`greenhop.signals.watch`: a signal under watch (stale, unreachable, garbage readings
  become unknown readings and episodes, never exceptions).
"""

from greenhop.signals.base import Sample, Signal, SignalUnavailable, TraceSignal
from greenhop.signals.watch import Episode, Reading, Watched

__all__ = [
    "Episode",
    "Reading",
    "Sample",
    "Signal",
    "SignalUnavailable",
    "TraceSignal",
    "Watched",
]
