"""A signal under watch: every failure becomes an *unknown* reading and an episode, never an
exception.

:class:`Watched` asks its signal for the value at ``now`` and judges the answer: a sample
older than ``max_age`` is ``stale``; a source that raises
:class:`~greenhop.signals.base.SignalUnavailable` gives its reason (``unreachable``,
``timeout``, ``garbage``, ``no-data``); anything else a source raises counts as ``garbage`` (a
bug in a meter's reply must not stop a run). An *episode* is a maximal run of unknown readings
with the same reason: it opens at the first such reading, and closes at the first good one (the
source *recovers*) or when the reason changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from greenhop.signals.base import Reason, Sample, Signal, SignalUnavailable, utc


@dataclass(frozen=True)
class Reading:
    """What a watched signal gave at ``now``: a value (``known``) or a reason it has none."""

    now: pd.Timestamp
    value: float | None
    time: pd.Timestamp | None  # when the value was measured
    reason: Reason | None = None
    detail: str = ""

    @property
    def known(self) -> bool:
        return self.value is not None


@dataclass
class Episode:
    """A run of unknown readings of one signal with one reason."""

    signal: str
    reason: Reason
    start: pd.Timestamp
    detail: str
    end: pd.Timestamp | None = None  # None while it lasts
    readings: int = 1

    @property
    def open(self) -> bool:
        return self.end is None


@dataclass
class Watched:
    """``signal`` read through :meth:`read`, judged against ``max_age``."""

    signal: Signal
    max_age: pd.Timedelta
    episodes: list[Episode] = field(default_factory=list)
    last_good: Sample | None = None

    @property
    def name(self) -> str:
        return self.signal.name

    @property
    def current(self) -> Episode | None:
        """The episode going on now, if any."""
        return self.episodes[-1] if self.episodes and self.episodes[-1].open else None

    def read(self, now: pd.Timestamp) -> Reading:
        """The signal at ``now``, judged; opens or closes an episode as needed."""
        now = utc(now)
        try:
            sample = self.signal.at(now)
            age = now - sample.time
            if age > self.max_age:
                raise SignalUnavailable(
                    "stale",
                    f"{self.name}: newest sample is from {sample.time:%Y-%m-%d %H:%M:%S}, "
                    f"{age.total_seconds():.0f} s old (max_age {self.max_age.total_seconds():g} s)",
                )
        except SignalUnavailable as exc:
            return self._unknown(now, exc.reason, exc.detail)
        except Exception as exc:
            return self._unknown(now, "garbage", f"{self.name}: {type(exc).__name__}: {exc}")
        episode = self.current
        if episode is not None:
            episode.end = now
        self.last_good = sample
        return Reading(now, sample.value, sample.time)

    def _unknown(self, now: pd.Timestamp, reason: Reason, detail: str) -> Reading:
        episode = self.current
        if episode is not None and episode.reason == reason:
            episode.readings += 1
        else:
            if episode is not None:
                episode.end = now
            self.episodes.append(Episode(self.name, reason, now, detail))
        return Reading(now, None, None, reason, detail)
