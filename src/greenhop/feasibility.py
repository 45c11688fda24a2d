"""The feasibility-domain model: when can a training job cross the WAN, and does the move pay back?

Pure, vectorised functions in the style of pvlib: every size, bandwidth and window argument may
be a Python scalar or a numpy array, and arrays broadcast together (a column of sizes against a
row of bandwidths gives a grid). Units live in the names:

- ``size_gb``: checkpoint size S in gigabytes (1 GB = 1e9 bytes)
- ``bandwidth_gbps``: WAN bandwidth B in gigabits per second (1e9 bit/s)
- ``window_s``: renewable window W left at the destination, in seconds
- ``*_s``: durations in seconds; ``*_w``: power in watts; ``*_kwh``: energy in kilowatt-hours

The equations (docs/model.md has them with every symbol and source):

- transfer time ``T_transfer = 8 S / B``
- disruption ``D = T_checkpoint + T_transfer + T_load + T_restart``, with
  ``T_checkpoint = S / disk_write`` and ``T_load = S / disk_read``
- time-feasible when ``D < alpha W``; slack ``alpha W - D``
- migration energy ``E_mig = e_net S + P_idle D`` (all of it counted as non-renewable)
- break-even ``T_be = E_mig / P_job``; energy-feasible when ``D + T_be < W``
- regime over a window range ``[W_short, W_long]``: A when time-feasible even for W_short,
  C when not time-feasible even for W_long, B in between.

References
----------
.. [1] G. Tomei, A. Mayer, G. Alcini, S. Salsano, "Green Distributed AI Training: Orchestrating
   Compute Across Renewable-Powered Micro Datacenters", arXiv:2511.16182, 2025.
.. [2] J. Aslan, K. Mayers, J. G. Koomey, C. France, "Electricity Intensity of Internet Data
   Transmission: Untangling the Estimates", Journal of Industrial Ecology 22(4):785-798, 2018.
   doi:10.1111/jiec.12630
.. [3] NVIDIA H100 Tensor Core GPU datasheet (2023): H100 SXM5, max thermal design power 700 W.
.. [4] Samsung PM9A3 NVMe U.2 data-centre SSD datasheet (2021): sequential read 6,900 MB/s,
   sequential write 4,100 MB/s (3.84 TB model).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from greenhop.errors import InputError

#: Network energy intensity reported by Aslan et al. [2] for 2015, core and fixed-line access
#: networks, in kWh per GB.
NETWORK_KWH_PER_GB_2015 = 0.06
#: Aslan et al. [2] find the intensity halving about every 2 years since 2000.
NETWORK_INTENSITY_HALVING_YEARS = 2.0


def network_kwh_per_gb(year: float) -> float:
    """Network energy intensity for ``year`` in kWh/GB, by the trend of Aslan et al. (2018).

    ``0.06 kWh/GB`` in 2015, halving every 2 years. The trend is the paper's own; values for
    years after its data (2015) are an extrapolation and say so.
    """
    return NETWORK_KWH_PER_GB_2015 * 0.5 ** ((year - 2015.0) / NETWORK_INTENSITY_HALVING_YEARS)


@dataclass(frozen=True)
class ModelParameters:
    """Every constant of the model, each with where its default comes from.

    Attributes
    ----------
    alpha:
        Disruption tolerance, the fraction of the destination's renewable window that a
        migration may take (0, 1]. Default 0.1, the value used by Tomei et al. [1].
    network_kwh_per_gb:
        Energy e_net to move one GB across the WAN, kWh/GB. Default: Aslan et al. [2] give
        0.06 kWh/GB for 2015 and a halving every 2 years; extrapolated to 2025 that is
        0.06 / 2**5 = 0.001875 kWh/GB. ``network_kwh_per_gb(2015)`` gives the 2015 figure for a
        pessimistic bound (docs/model.md shows what it changes).
    job_power_w:
        Power P_job the job draws while training, W. Default 700 W: one NVIDIA H100 SXM5 at its
        thermal design power [3], which training holds it close to.
    idle_power_w:
        Power P_idle drawn while the job makes no progress during a migration, W. Default 200 W:
        the source and the destination GPU idling at about 100 W each (an idle H100 SXM draws
        in the order of 10-15 % of its 700 W TDP [3]); host power is left out on both sides.
    disk_write_gb_per_s:
        Sequential write speed used to write the checkpoint at the source, GB/s. Default 4.1,
        a PCIe 4.0 data-centre NVMe drive (Samsung PM9A3 [4]).
    disk_read_gb_per_s:
        Sequential read speed used to load the checkpoint at the destination, GB/s. Default 6.9,
        the same drive [4].
    restart_s:
        Downtime T_restart to start the process again at the destination (runtime, framework
        and CUDA context start, data loader warm-up), s. Default 60 s, a conservative round
        figure: greenhop's live orchestrator restores a CPU job in well under that (docs/live.md).
    window_short_s, window_long_s:
        The range of renewable windows over which regimes are drawn, s. Default 2.5 h to 9.5 h,
        the range of windows Tomei et al. [1] take from curtailment data.
    """

    alpha: float = 0.1
    network_kwh_per_gb: float = field(default_factory=lambda: network_kwh_per_gb(2025))
    job_power_w: float = 700.0
    idle_power_w: float = 200.0
    disk_write_gb_per_s: float = 4.1
    disk_read_gb_per_s: float = 6.9
    restart_s: float = 60.0
    window_short_s: float = 2.5 * 3600.0
    window_long_s: float = 9.5 * 3600.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
                raise InputError(f"model parameter {name!r} must be a finite number, got {value!r}")
        if not 0.0 < self.alpha <= 1.0:
            raise InputError(f"alpha must be in (0, 1], got {self.alpha}")
        for name in ("job_power_w", "disk_write_gb_per_s", "disk_read_gb_per_s", "window_short_s"):
            if getattr(self, name) <= 0:
                raise InputError(f"model parameter {name!r} must be > 0, got {getattr(self, name)}")
        for name in ("network_kwh_per_gb", "idle_power_w", "restart_s"):
            if getattr(self, name) < 0:
                raise InputError(
                    f"model parameter {name!r} must be >= 0, got {getattr(self, name)}"
                )
        if self.window_long_s < self.window_short_s:
            raise InputError(
                f"window range is reversed: window_long_s={self.window_long_s} < "
                f"window_short_s={self.window_short_s}"
            )

    def replace(self, **changes: Any) -> ModelParameters:
        """A copy with some parameters changed (validated again)."""
        return ModelParameters(**{**asdict(self), **changes})


DEFAULTS = ModelParameters()

FloatArray = NDArray[np.float64]


def _positive(name: str, value: ArrayLike, *, allow_inf: bool = False) -> FloatArray:
    """``value`` as a float array; raise InputError if any element is NaN, <= 0 (or inf)."""
    arr = np.asarray(value, dtype=np.float64)
    bad = np.isnan(arr) | (arr <= 0)
    if not allow_inf:
        bad |= np.isinf(arr)
    if bad.any():
        first = arr[bad].flat[0] if arr.ndim else float(arr)
        raise InputError(f"{name} must be a positive finite number, got {first}")
    return arr


def _size(size_gb: ArrayLike) -> FloatArray:
    return _positive("checkpoint size (GB)", size_gb)


def _bandwidth(bandwidth_gbps: ArrayLike) -> FloatArray:
    return _positive("bandwidth (Gbit/s)", bandwidth_gbps)


def _window(window_s: ArrayLike) -> FloatArray:
    return _positive("window (s)", window_s, allow_inf=True)


def _out(arr: FloatArray) -> Any:
    """Return a Python float for 0-d results, the array otherwise (numpy in, numpy out)."""
    return float(arr) if arr.ndim == 0 else arr


def transfer_time_s(size_gb: ArrayLike, bandwidth_gbps: ArrayLike) -> Any:
    """Time to send ``size_gb`` GB over ``bandwidth_gbps`` Gbit/s: ``8 S / B`` seconds."""
    s = _size(size_gb)
    b = _bandwidth(bandwidth_gbps)
    return _out(8.0 * s / b)


def checkpoint_time_s(size_gb: ArrayLike, params: ModelParameters = DEFAULTS) -> Any:
    """Time to write the checkpoint at the source, ``S / disk_write`` seconds."""
    return _out(_size(size_gb) / params.disk_write_gb_per_s)


def load_time_s(size_gb: ArrayLike, params: ModelParameters = DEFAULTS) -> Any:
    """Time to read the checkpoint at the destination, ``S / disk_read`` seconds."""
    return _out(_size(size_gb) / params.disk_read_gb_per_s)


def disruption_s(
    size_gb: ArrayLike, bandwidth_gbps: ArrayLike, params: ModelParameters = DEFAULTS
) -> Any:
    """Stop-the-world time of a migration: checkpoint + transfer + load + restart, seconds."""
    s = _size(size_gb)
    b = _bandwidth(bandwidth_gbps)
    return _out(_disruption(s, b, params))


def _disruption(s: FloatArray, b: FloatArray, params: ModelParameters) -> FloatArray:
    per_gb = 1.0 / params.disk_write_gb_per_s + 1.0 / params.disk_read_gb_per_s
    return s * per_gb + 8.0 * s / b + params.restart_s


def slack_s(
    size_gb: ArrayLike,
    bandwidth_gbps: ArrayLike,
    window_s: ArrayLike,
    params: ModelParameters = DEFAULTS,
) -> Any:
    """What is left of the budget ``alpha W`` after the disruption, seconds (negative: over)."""
    s = _size(size_gb)
    b = _bandwidth(bandwidth_gbps)
    w = _window(window_s)
    return _out(params.alpha * w - _disruption(s, b, params))


def time_feasible(
    size_gb: ArrayLike,
    bandwidth_gbps: ArrayLike,
    window_s: ArrayLike,
    params: ModelParameters = DEFAULTS,
) -> Any:
    """True where the disruption fits inside ``alpha W``: ``D < alpha W``."""
    slack = np.asarray(slack_s(size_gb, bandwidth_gbps, window_s, params))
    res = slack > 0
    return bool(res) if res.ndim == 0 else res


def migration_energy_kwh(
    size_gb: ArrayLike, bandwidth_gbps: ArrayLike, params: ModelParameters = DEFAULTS
) -> Any:
    """Energy of one migration, ``e_net S + P_idle D``, kWh; all of it non-renewable."""
    s = _size(size_gb)
    b = _bandwidth(bandwidth_gbps)
    return _out(_energy_kwh(s, b, params))


def _energy_kwh(s: FloatArray, b: FloatArray, params: ModelParameters) -> FloatArray:
    idle_kwh = params.idle_power_w * _disruption(s, b, params) / 3.6e6
    return params.network_kwh_per_gb * s + idle_kwh


def break_even_s(
    size_gb: ArrayLike, bandwidth_gbps: ArrayLike, params: ModelParameters = DEFAULTS
) -> Any:
    """Time the job must run on renewables at the destination to repay the move, seconds.

    ``T_be = E_mig / P_job``: every second on renewable power at the destination saves
    ``P_job`` of grid power.
    """
    s = _size(size_gb)
    b = _bandwidth(bandwidth_gbps)
    return _out(_energy_kwh(s, b, params) * 3.6e6 / params.job_power_w)


def energy_feasible(
    size_gb: ArrayLike,
    bandwidth_gbps: ArrayLike,
    window_s: ArrayLike,
    params: ModelParameters = DEFAULTS,
) -> Any:
    """True where the move pays back inside the window: ``D + T_be < W``."""
    s = _size(size_gb)
    b = _bandwidth(bandwidth_gbps)
    w = _window(window_s)
    d = _disruption(s, b, params)
    t_be = _energy_kwh(s, b, params) * 3.6e6 / params.job_power_w
    res = d + t_be < w
    return bool(res) if res.ndim == 0 else res


REGIMES = ("A", "B", "C")


def regime(
    size_gb: ArrayLike, bandwidth_gbps: ArrayLike, params: ModelParameters = DEFAULTS
) -> Any:
    """Regime of (S, B) over the window range ``[window_short_s, window_long_s]``.

    ``"A"``: time-feasible even for the shortest window; ``"C"``: not time-feasible even for the
    longest; ``"B"``: feasible for some windows of the range only. Returns a str for scalars,
    an array of one-letter strings otherwise.
    """
    s = _size(size_gb)
    b = _bandwidth(bandwidth_gbps)
    d = _disruption(s, b, params)
    res = np.where(
        d < params.alpha * params.window_short_s,
        "A",
        np.where(d < params.alpha * params.window_long_s, "B", "C"),
    )
    return str(res) if res.ndim == 0 else res


def max_checkpoint_gb(
    bandwidth_gbps: ArrayLike, window_s: ArrayLike, params: ModelParameters = DEFAULTS
) -> Any:
    """Largest checkpoint (GB) that is time-feasible for (B, W); 0 where none is.

    ``D`` is linear in S, so the boundary ``D = alpha W`` solves to
    ``S = (alpha W - T_restart) / (8/B + 1/disk_write + 1/disk_read)``. A checkpoint is feasible
    when strictly smaller.
    """
    b = _positive("bandwidth (Gbit/s)", bandwidth_gbps, allow_inf=True)
    w = _window(window_s)
    per_gb = 8.0 / b + 1.0 / params.disk_write_gb_per_s + 1.0 / params.disk_read_gb_per_s
    return _out(np.maximum((params.alpha * w - params.restart_s) / per_gb, 0.0))


def min_bandwidth_gbps(
    size_gb: ArrayLike, window_s: ArrayLike, params: ModelParameters = DEFAULTS
) -> Any:
    """Smallest bandwidth (Gbit/s) at which S is time-feasible in W; inf where none suffices.

    ``B = 8 S / (alpha W - T_restart - S/disk_write - S/disk_read)``; feasible when strictly
    larger. When the disk and restart terms alone exceed ``alpha W``, no bandwidth helps.
    """
    s = _size(size_gb)
    w = _window(window_s)
    per_gb = 1.0 / params.disk_write_gb_per_s + 1.0 / params.disk_read_gb_per_s
    room = params.alpha * w - params.restart_s - s * per_gb
    with np.errstate(divide="ignore", invalid="ignore"):
        res = np.where(room > 0, 8.0 * s / np.where(room > 0, room, 1.0), np.inf)
    return _out(res)


@dataclass(frozen=True)
class Assessment:
    """Every term of the model for one (S, B, W), or for grids of them (arrays)."""

    size_gb: Any
    bandwidth_gbps: Any
    window_s: Any
    checkpoint_s: Any
    transfer_s: Any
    load_s: Any
    restart_s: Any
    disruption_s: Any
    budget_s: Any
    slack_s: Any
    migration_energy_kwh: Any
    break_even_s: Any
    time_feasible: Any
    energy_feasible: Any
    regime: Any
    params: ModelParameters

    @property
    def feasible(self) -> Any:
        """Time- and energy-feasible."""
        return np.logical_and(self.time_feasible, self.energy_feasible)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict (scalars only; for a single assessment)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "params":
                continue
            out[key] = value.item() if isinstance(value, np.generic | np.ndarray) else value
        out["feasible"] = bool(self.feasible)
        out["params"] = asdict(self.params)
        return out


def assess(
    size_gb: ArrayLike,
    bandwidth_gbps: ArrayLike,
    window_s: ArrayLike,
    params: ModelParameters = DEFAULTS,
) -> Assessment:
    """The whole model at once, computing each term once; arrays broadcast together."""
    s = _size(size_gb)
    b = _bandwidth(bandwidth_gbps)
    w = _window(window_s)
    s, b, w = np.broadcast_arrays(s, b, w)
    ckpt = s / params.disk_write_gb_per_s
    transfer = 8.0 * s / b
    load = s / params.disk_read_gb_per_s
    d = ckpt + transfer + load + params.restart_s
    budget = params.alpha * w
    energy = params.network_kwh_per_gb * s + params.idle_power_w * d / 3.6e6
    t_be = energy * 3.6e6 / params.job_power_w
    reg = np.where(
        d < params.alpha * params.window_short_s,
        "A",
        np.where(d < params.alpha * params.window_long_s, "B", "C"),
    )
    scalar = s.ndim == 0

    def o(x: Any) -> Any:
        return x.item() if scalar else x

    return Assessment(
        size_gb=o(s),
        bandwidth_gbps=o(b),
        window_s=o(w),
        checkpoint_s=o(ckpt),
        transfer_s=o(transfer),
        load_s=o(load),
        restart_s=params.restart_s,
        disruption_s=o(d),
        budget_s=o(budget),
        slack_s=o(budget - d),
        migration_energy_kwh=o(energy),
        break_even_s=o(t_be),
        time_feasible=o(d < budget),
        energy_feasible=o(d + t_be < w),
        regime=o(reg),
        params=params,
    )


#: Bandwidths and windows of the worked table (docs/model.md) and of ``greenhop feasibility table``.
TABLE_BANDWIDTHS_GBPS = (0.1, 1.0, 10.0, 100.0)
TABLE_WINDOWS_H = (2.5, 9.5)


def move_verdicts(
    size_gb: float | FloatArray,
    bandwidth_gbps: FloatArray,
    window_s: FloatArray,
    params: ModelParameters = DEFAULTS,
    *,
    speed_ratio: FloatArray | float = 1.0,
    dest_power_w: FloatArray | float | None = None,
) -> tuple[FloatArray, NDArray[np.bool_], NDArray[np.bool_]]:
    """``(slack_s, time_feasible, energy_feasible)`` of moving one checkpoint to many sites.

    The same equations as :func:`assess`, for a policy's inner loop: no input validation and no
    regime, so it costs a few microseconds. Callers pass positive sizes and bandwidths.

    On heterogeneous sites, ``speed_ratio`` (destination over source speed) turns the
    disruption into the time the move costs (:func:`lost_time_s`), and ``dest_power_w`` (the
    job's draw at the destination) repays the move's energy; the defaults are the paper's
    equal sites. ``size_gb`` may be one size per destination (what each lacks).
    """
    s = np.asarray(size_gb, dtype=np.float64)
    d = _disruption(s, bandwidth_gbps, params)
    equal = speed_ratio == 1.0 if isinstance(speed_ratio, float) else None
    lost = (
        d
        if equal or (equal is None and np.all(np.asarray(speed_ratio) == 1.0))
        else (d + (1.0 - np.asarray(speed_ratio)) * np.maximum(window_s - d, 0.0))
    )
    slack = params.alpha * window_s - lost
    power = params.job_power_w if dest_power_w is None else np.asarray(dest_power_w)
    # _energy_kwh(s, b, params), on the disruption computed above
    e_kwh = params.network_kwh_per_gb * s + params.idle_power_w * d / 3.6e6
    t_be = e_kwh * 3.6e6 / power
    return slack, slack > 0, lost + t_be < window_s


def lost_time_s(
    size_gb: ArrayLike,
    bandwidth_gbps: ArrayLike,
    window_s: ArrayLike,
    speed_ratio: ArrayLike = 1.0,
    params: ModelParameters = DEFAULTS,
) -> Any:
    """Time a move costs the job over the destination's window, against staying, s.

    ``speed_ratio`` is the destination's training speed over the source's
    (:func:`greenhop.accelerators.speed_factor`). Over the window ``W`` the job makes no
    progress for the disruption ``D``, then runs at the destination's speed for ``W - D``;
    staying, it would have run at the source's speed all along. In source-seconds of progress:

        lost = D + (1 - speed_ratio) · (W - D)

    For equal speeds this is ``D``, the model's disruption; a slower destination adds the
    progress it gives up over the rest of the window, a faster one gives some back (negative:
    the move gains time). A move is time-feasible on heterogeneous sites when
    ``lost < alpha · W`` (:func:`move_verdicts` with ``speed_ratio``).
    """
    s, b, w = _size(size_gb), _bandwidth(bandwidth_gbps), _window(window_s)
    r = _positive("speed_ratio", speed_ratio)
    d = _disruption(s, b, params)
    return _out(d + (1.0 - r) * np.maximum(w - d, 0.0))
