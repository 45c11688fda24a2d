"""Numbers as a person reads them: fixed-point with units and thousands separators, never
``1.2e+12`` or ``nan``; a missing number is a dash, and the page says why.

Each formatter takes a float (or None) and returns text; :func:`is_missing` says when the dash
is due. Units: energy kWh, durations s or h, shares as fractions (0.43 is shown "43.0 %"), data
in bytes or GB (1 GB = 1e9 bytes), bandwidth Gbit/s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

DASH = "–"


def is_missing(value: Any) -> bool:
    """True for None and for a float that is NaN or infinite."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def decimals_for(value: float) -> int:
    """Decimals that show ``value`` with at least three significant digits (at most one decimal
    from 10 up, none from 10,000 up)."""
    a = abs(float(value))
    if a == 0 or a >= 10_000:
        return 0
    if a >= 10:
        return 1
    if a >= 1:
        return 2
    return 2 - math.floor(math.log10(a))


def decimals_for_all(values: Iterable[Any]) -> int:
    """One number of decimals for a row of values: enough for the smallest non-zero one."""
    nonzero = [abs(float(v)) for v in values if not is_missing(v) and float(v) != 0]
    return decimals_for(min(nonzero)) if nonzero else 0


def number(value: Any, decimals: int | None = None) -> str:
    """``value`` in fixed point with thousands separators (``1,167.3``); ``decimals`` defaults to
    :func:`decimals_for`."""
    if is_missing(value):
        return DASH
    d = decimals_for(value) if decimals is None else decimals
    text = f"{float(value):,.{d}f}"
    return text[1:] if text.startswith("-") and float(text[1:].replace(",", "")) == 0 else text


def with_unit(value: Any, unit: str, decimals: int | None = None) -> str:
    """``number(value)`` and its unit, joined by a no-break space: ``435.1 kWh``."""
    if is_missing(value):
        return DASH
    return f"{number(value, decimals)}\u00a0{unit}"


def kwh(value: Any, decimals: int | None = None) -> str:
    return with_unit(value, "kWh", decimals)


def hours(value: Any, decimals: int | None = None) -> str:
    return with_unit(value, "h", decimals)


def percent(fraction: Any, decimals: int = 1) -> str:
    """A fraction as a percentage: ``0.429`` → ``42.9 %``."""
    if is_missing(fraction):
        return DASH
    return with_unit(100.0 * float(fraction), "%", decimals)


def gigabytes(n_bytes: Any) -> str:
    """A byte count in GB (1e9 bytes)."""
    if is_missing(n_bytes):
        return DASH
    return with_unit(float(n_bytes) / 1e9, "GB", None if n_bytes else 0)


def data_size(n_bytes: Any) -> str:
    """A byte count in the largest decimal unit that keeps it above 1: B, kB, MB or GB."""
    if is_missing(n_bytes):
        return DASH
    b = float(n_bytes)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(b) >= scale:
            return with_unit(b / scale, unit, min(decimals_for(b / scale), 2))
    return with_unit(b, "B", 0)


def duration(seconds: Any) -> str:
    """A duration in the unit that suits it: ``0.53 ms``, ``12.4 s``, ``4.2 min``, ``67.8 h``."""
    if is_missing(seconds):
        return DASH
    s = float(seconds)
    a = abs(s)
    if a == 0:
        return "0\u00a0s"
    if a < 1:
        return with_unit(s * 1e3, "ms", min(decimals_for(s * 1e3), 3))
    if a < 120:
        return with_unit(s, "s", min(decimals_for(s), 2))
    if a < 2 * 3600:
        return with_unit(s / 60, "min", 1)
    return with_unit(s / 3600, "h", 1)


def count(value: Any) -> str:
    """A whole number with thousands separators."""
    if is_missing(value):
        return DASH
    return f"{round(float(value)):,d}"


def signed_percent(fraction: Any, decimals: int = 1) -> str:
    """A relative change with its sign: ``-0.063`` → ``−6.3 %``, ``0.002`` → ``+0.2 %``."""
    if is_missing(fraction):
        return DASH
    text = percent(abs(float(fraction)), decimals)
    if float(text.split("\u00a0")[0].replace(",", "")) == 0:
        return text
    return ("+" if fraction > 0 else "\u2212") + text
