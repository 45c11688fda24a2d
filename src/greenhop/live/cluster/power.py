"""Power of the devices a job runs on, behind one small interface (as Zeus does for GPUs).

A :class:`PowerMeter` reports the electrical power a device draws now (W, >= 0) and the energy
it has drawn since the meter was created (J, never decreasing). Measurement windows
(:meth:`PowerMeter.begin_window` / :meth:`PowerMeter.end_window`) turn these into
:class:`Measurement` objects. Three meters:

- :class:`NominalPowerMeter`: a constant nominal power (a job's ``power_w`` in the scenario);
  the path used where no device reports power.
- :class:`ReplayPowerMeter`: replays a recorded power trace (CSV of ``time_s, power_w``); the
  test double of a real device.
- :class:`NvmlPowerMeter`: an NVIDIA GPU through NVML (``pynvml``); energy from the GPU's own
  energy counter (Volta and later).

Every meter reads time from an injectable ``clock`` (seconds, monotonic), so tests can drive it.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from greenhop.errors import InputError, MissingExtraError, TraceError

Clock = Callable[[], float]


@dataclass(frozen=True)
class Measurement:
    """Energy a device drew over a window of the meter's clock. Times in s, energy in J."""

    name: str
    start_s: float
    end_s: float
    energy_j: float
    source: str

    @property
    def duration_s(self) -> float:
        """Length of the window, s."""
        return self.end_s - self.start_s

    @property
    def mean_power_w(self) -> float:
        """Mean power over the window, W (0 for an empty window)."""
        return self.energy_j / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def energy_kwh(self) -> float:
        """Energy in kWh (1 kWh = 3.6e6 J)."""
        return self.energy_j / 3.6e6


class PowerMeter(ABC):
    """The power of one device. Power in W and energy in J are what the device draws (>= 0)."""

    source = "abstract"
    """Name of the kind of meter, copied into each :class:`Measurement`."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[float, float]] = {}

    @abstractmethod
    def power_w(self) -> float:
        """The power the device draws now, W."""

    @abstractmethod
    def energy_j(self) -> float:
        """Energy the device drew since this meter was created, J (never decreases)."""

    def begin_window(self, name: str) -> None:
        """Start a measurement window called ``name``."""
        if name in self._windows:
            raise InputError(f"Measurement window {name!r} is already open.")
        self._windows[name] = (self.clock(), self.energy_j())

    def end_window(self, name: str) -> Measurement:
        """Close window ``name`` and return what was drawn during it."""
        try:
            start_s, start_j = self._windows.pop(name)
        except KeyError:
            raise InputError(
                f"Measurement window {name!r} was not opened; open ones: {sorted(self._windows)}."
            ) from None
        return Measurement(name, start_s, self.clock(), self.energy_j() - start_j, self.source)


class NominalPowerMeter(PowerMeter):
    """A device that draws a constant ``power_w`` (W): energy = power × elapsed time."""

    source = "nominal"

    def __init__(self, power_w: float, clock: Clock = time.monotonic) -> None:
        if not power_w >= 0:
            raise InputError(f"Nominal power {power_w} W must be >= 0.")
        super().__init__(clock)
        self.nominal_power_w = float(power_w)
        self._t0 = clock()

    def power_w(self) -> float:
        return self.nominal_power_w

    def energy_j(self) -> float:
        return self.nominal_power_w * (self.clock() - self._t0)


class ReplayPowerMeter(PowerMeter):
    """Replays a recorded power trace, starting at its first sample when the meter is created.

    ``trace`` is a CSV path or a DataFrame with a time column (s, strictly increasing) and a
    power column (W, finite, >= 0). Power between samples is interpolated linearly and energy
    is its exact integral (trapezoids). Past the last sample the meter raises TraceError, or
    starts the trace again if ``loop``.
    """

    source = "replay"

    def __init__(
        self,
        trace: str | os.PathLike[str] | pd.DataFrame,
        *,
        time_column: str = "time_s",
        power_column: str = "power_w",
        loop: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(clock)
        where = "the DataFrame" if isinstance(trace, pd.DataFrame) else f"file {trace}"
        frame = trace if isinstance(trace, pd.DataFrame) else _read_csv(Path(trace))
        for column in (time_column, power_column):
            if column not in frame.columns:
                raise TraceError(
                    f"Power trace in {where} has no column {column!r}; "
                    f"its columns are {list(frame.columns)}."
                )
        t = pd.to_numeric(frame[time_column], errors="coerce").to_numpy(float)
        p = pd.to_numeric(frame[power_column], errors="coerce").to_numpy(float)
        if len(t) < 2:
            raise TraceError(f"Power trace in {where} has {len(t)} rows; it needs at least 2.")
        for name, values in ((time_column, t), (power_column, p)):
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise TraceError(
                    f"Power trace in {where}, column {name!r}, row {bad[0] + 1}: "
                    "not a finite number."
                )
        bad = np.flatnonzero(p < 0)
        if bad.size:
            raise TraceError(
                f"Power trace in {where}, column {power_column!r}, row {bad[0] + 1}: "
                f"{p[bad[0]]} W is negative; power drawn is >= 0."
            )
        bad = np.flatnonzero(np.diff(t) <= 0)
        if bad.size:
            raise TraceError(
                f"Power trace in {where}, column {time_column!r}, row {bad[0] + 2}: time "
                f"{t[bad[0] + 1]} s does not increase after {t[bad[0]]} s."
            )
        self.times_s = t - t[0]
        self.powers_w = p
        # energy drawn from the first sample to each sample, J
        self._cumulative_j = np.concatenate(
            [[0.0], np.cumsum(np.diff(self.times_s) * (p[1:] + p[:-1]) / 2)]
        )
        self.loop = loop
        self._t0 = clock()

    @property
    def duration_s(self) -> float:
        """Length of the recorded trace, s."""
        return float(self.times_s[-1])

    def _trace_time(self) -> tuple[int, float]:
        """(full passes through the trace, time within it) now."""
        elapsed = self.clock() - self._t0
        if elapsed <= self.duration_s:
            return 0, elapsed
        if not self.loop:
            raise TraceError(
                f"The replayed power trace lasts {self.duration_s} s but {elapsed:.3f} s have "
                "passed; record a longer trace or pass loop=True."
            )
        laps, within = divmod(elapsed, self.duration_s)
        return int(laps), within

    def power_w(self) -> float:
        _, t = self._trace_time()
        return float(np.interp(t, self.times_s, self.powers_w))

    def energy_j(self) -> float:
        laps, t = self._trace_time()
        i = int(np.searchsorted(self.times_s, t, side="right")) - 1
        i = min(max(i, 0), len(self.times_s) - 2)
        p_t = float(np.interp(t, self.times_s, self.powers_w))
        partial = (t - self.times_s[i]) * (self.powers_w[i] + p_t) / 2
        return laps * float(self._cumulative_j[-1]) + float(self._cumulative_j[i]) + partial


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise TraceError(f"Power trace file {path} does not exist.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TraceError(f"Power trace file {path} is not a readable CSV: {exc}") from None


class NvmlPowerMeter(PowerMeter):
    """One NVIDIA GPU's power and energy through NVML (``pynvml``, from ``nvidia-ml-py``).

    Power from ``nvmlDeviceGetPowerUsage`` (mW), energy from the GPU's cumulative counter
    ``nvmlDeviceGetTotalEnergyConsumption`` (mJ; Volta and later).
    """

    source = "nvml"

    def __init__(self, index: int = 0, clock: Clock = time.monotonic) -> None:
        try:
            import pynvml
        except ImportError:
            raise MissingExtraError(
                "'pynvml' is not installed; install it with: pip install nvidia-ml-py"
            ) from None
        super().__init__(clock)
        self._nvml = pynvml
        pynvml.nvmlInit()
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self._e0_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)

    def power_w(self) -> float:
        return float(self._nvml.nvmlDeviceGetPowerUsage(self._handle)) / 1e3

    def energy_j(self) -> float:
        return (
            float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) - self._e0_mj) / 1e3
        )
