"""What a run runs on: sites, links, jobs and forecasts as plain arrays.

:class:`SimInputs` is the world's own, scenario-independent description of a run (simulated or
live), so a world can be driven by a TOML scenario (:func:`inputs_from_scenario`, the one
Scenario -> inputs conversion), by a hand-built test case, or by a benchmark generator alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from greenhop.energy.battery import BatterySpec
from greenhop.energy.forecast import Forecaster, make_forecaster
from greenhop.errors import InputError
from greenhop.feasibility import DEFAULTS, ModelParameters
from greenhop.scenario import Scenario
from greenhop.world.grid import GridInputs, grid_from_scenario
from greenhop.world.rules import arrival_steps

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class JobSpecs:
    """The jobs of a run, one array entry per job."""

    names: tuple[str, ...]
    arrival_s: FloatArray  # seconds since the start of the run
    work_gpu_h: FloatArray
    power_w: FloatArray
    size_gb: FloatArray
    deadline_s: FloatArray  # inf for none
    preferred_site: NDArray[np.int64]  # -1 for none
    #: GB of the checkpoint that never change (frozen base weights): a site that holds them
    #: already is sent only the rest (``size_gb - frozen_gb``); None: every byte moves
    frozen_gb: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.names)
        if self.frozen_gb is not None:
            frozen = np.asarray(self.frozen_gb, dtype=np.float64)
            wrong = np.flatnonzero(~((frozen >= 0) & (frozen < np.asarray(self.size_gb))))
            if len(frozen) != n or wrong.size:
                j = int(wrong[0]) if wrong.size else 0
                raise InputError(
                    f"job {self.names[j]!r}: frozen_gb must be >= 0 and below its checkpoint's "
                    "size (something of a checkpoint always changes)"
                )
        for name in (
            "arrival_s",
            "work_gpu_h",
            "power_w",
            "size_gb",
            "deadline_s",
            "preferred_site",
        ):
            if len(getattr(self, name)) != n:
                raise InputError(f"jobs: {name} has {len(getattr(self, name))} entries, not {n}")
        for name in ("work_gpu_h", "power_w", "size_gb"):
            bad = ~(np.asarray(getattr(self, name)) > 0)
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"job {self.names[j]!r}: {name} must be > 0, got {getattr(self, name)[j]}"
                )

    def __len__(self) -> int:
        return len(self.names)


class ForecastAdapter:
    """The scenario's forecaster seen in the simulator's terms: surplus over the base load.

    ``remaining_window_s(threshold)`` gives, for every step and site, the window the forecaster
    predicted at that step for a job of ``threshold`` W (the site's base load is added to the
    threshold, since the forecaster forecasts generation). ``surplus_w(step, h)`` gives the
    forecast, made at ``step``, of the next ``h`` steps' surplus.
    """

    def __init__(
        self, forecaster: Forecaster, base_load_w: FloatArray, grid: GridInputs | None = None
    ) -> None:
        self.forecaster = forecaster
        self.base_load_w = np.asarray(base_load_w, dtype=np.float64)
        self._windows: dict[float, FloatArray] = {}
        #: the run's grid signals (set by :class:`SimInputs`); None: none
        self.grid = grid

    def remaining_window_s(self, threshold_w: float) -> FloatArray:
        key = float(threshold_w)
        if key not in self._windows:
            self._windows[key] = self.forecaster.predicted_remaining_window_s(
                key + self.base_load_w
            )
        return self._windows[key]

    def surplus_w(self, step: int, horizon_steps: int) -> FloatArray:
        ahead: FloatArray = self.forecaster.surplus_ahead_w(step, horizon_steps)
        return ahead - self.base_load_w[None, :]

    def at(self, step: int) -> ForecastAt:
        """The forecast as known at ``step`` (a policy's ForecastView)."""
        return ForecastAt(self, step)


class ForecastAt:
    """What the forecaster had predicted by one step, for every site: the
    :class:`~greenhop.policies.base.ForecastView` the policies read, in both worlds."""

    __slots__ = ("_adapter", "step")

    def __init__(self, adapter: ForecastAdapter, step: int) -> None:
        self._adapter = adapter
        self.step = step

    def remaining_window_s(self, threshold_w: float) -> FloatArray:
        """Predicted seconds until each site's surplus falls below ``threshold_w``."""
        res: FloatArray = self._adapter.remaining_window_s(threshold_w)[self.step]
        return res

    def surplus_w(self, horizon_steps: int) -> FloatArray:
        """Predicted surplus of the next ``horizon_steps`` steps, (horizon, sites), W."""
        return self._adapter.surplus_w(self.step, horizon_steps)

    @property
    def grid(self) -> GridAt | None:
        """The grid signals as known at this step (a policy's GridView), or None."""
        g = self._adapter.grid
        return None if g is None else GridAt(g, self.step)


class GridAt:
    """The grid signals as known at one step: the
    :class:`~greenhop.policies.base.GridView` the policies read."""

    __slots__ = ("_grid", "step")

    def __init__(self, grid: GridInputs, step: int) -> None:
        self._grid = grid
        self.step = step

    @property
    def has_carbon(self) -> bool:
        return self._grid.carbon is not None

    @property
    def has_price(self) -> bool:
        return self._grid.price is not None

    @property
    def has_demand_response(self) -> bool:
        return self._grid.dr_cap_w is not None

    def carbon_g_per_kwh(self, horizon_steps: int) -> FloatArray:
        """Forecast intensity of the next steps, (horizon, sites), gCO2e/kWh (row 0: now)."""
        return self._grid.forecast("carbon", self.step, horizon_steps)

    def price_per_mwh(self, horizon_steps: int) -> FloatArray:
        """Forecast price of the next steps, (horizon, sites), currency/MWh (row 0: now)."""
        return self._grid.forecast("price", self.step, horizon_steps)

    def dr_cap_w(self, horizon_steps: int) -> FloatArray:
        """Demand-response caps of the next steps (announced events), (horizon, sites), W;
        inf where no event."""
        caps = self._grid.dr_cap_w
        assert caps is not None
        idx = np.minimum(np.arange(self.step, self.step + horizon_steps), caps.shape[0] - 1)
        res: FloatArray = caps[idx]
        return res


@dataclass(frozen=True)
class SlotSleep:
    """Idle slots that sleep, one entry per site (the scenario's ``[sites.sleep]`` tables).

    ``power_w``: draw of a sleeping (empty) slot, W; ``wake_s``: time to wake a slot, s, during
    which the job that takes it makes no progress and its slot draws the idle power;
    ``wake_j``: energy of one wake-up, J, beyond that idle draw. A site without sleep has
    ``power_w`` = its idle power and no wake cost, so it behaves as if its slots never slept.
    The rule is in docs/energy.md ("Idle slots that sleep").
    """

    power_w: FloatArray
    wake_s: FloatArray
    wake_j: FloatArray

    @classmethod
    def none(cls, idle_slot_power_w: FloatArray) -> SlotSleep:
        """No site sleeps: every empty slot draws its idle power."""
        idle = np.asarray(idle_slot_power_w, dtype=np.float64)
        return cls(idle.copy(), np.zeros_like(idle), np.zeros_like(idle))


@dataclass
class SimInputs:
    """Everything the engine needs, as arrays on one time grid."""

    start: pd.Timestamp
    step_s: float
    site_names: tuple[str, ...]
    generation_w: FloatArray  # (steps, sites) renewable generation
    slots: NDArray[np.int64]
    idle_slot_power_w: FloatArray
    bandwidth_gbps: FloatArray  # (sites, sites)
    jobs: JobSpecs
    base_load_w: FloatArray | None = None  # (sites,)
    batteries: list[BatterySpec | None] | None = None
    forecast: ForecastAdapter | None = None  # default: perfect
    grid: GridInputs | None = None  # grid signals and PUE; default: none, PUE 1
    #: per site: training speed and power of its accelerator against the reference part
    #: (greenhop.accelerators); default: every site is the reference (1, 1)
    site_speed: FloatArray | None = None
    site_power_factor: FloatArray | None = None
    #: the jobs' frozen parts lie at every site before the run (pre-staged)
    prestaged: bool = False
    #: a world that acts on the policy's pre-stage hints copies a job's frozen part at this
    #: share of the link's bandwidth (0 < share <= 1); None: it does not pre-stage on hints
    prestage_share: float | None = None
    #: idle slots that sleep (per site); None: no slot ever sleeps, an empty slot idles
    sleep: SlotSleep | None = None
    params: ModelParameters = DEFAULTS
    name: str = "run"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_sites = len(self.site_names)
        self.generation_w = np.asarray(self.generation_w, dtype=np.float64)
        if self.generation_w.ndim != 2 or self.generation_w.shape[1] != n_sites:
            raise InputError(
                f"generation_w must have shape (steps, {n_sites}), got {self.generation_w.shape}"
            )
        if not np.isfinite(self.generation_w).all() or (self.generation_w < 0).any():
            raise InputError("generation_w must be finite and >= 0")
        self.slots = np.asarray(self.slots, dtype=np.int64)
        self.idle_slot_power_w = np.asarray(self.idle_slot_power_w, dtype=np.float64)
        self.bandwidth_gbps = np.asarray(self.bandwidth_gbps, dtype=np.float64)
        if self.bandwidth_gbps.shape != (n_sites, n_sites):
            raise InputError(f"bandwidth_gbps must have shape ({n_sites}, {n_sites})")
        off_diag = ~np.eye(n_sites, dtype=bool)
        if not (self.bandwidth_gbps[off_diag] > 0).all():
            raise InputError("every link between two sites needs a bandwidth > 0 Gbit/s")
        if self.base_load_w is None:
            self.base_load_w = np.zeros(n_sites)
        if self.prestage_share is not None and not 0 < self.prestage_share <= 1:
            raise InputError(f"prestage_share must be in (0, 1], got {self.prestage_share}")
        if self.sleep is not None:
            sl = self.sleep
            arrays = [np.asarray(a, dtype=np.float64) for a in (sl.power_w, sl.wake_s, sl.wake_j)]
            if any(a.shape != (n_sites,) or not (a >= 0).all() for a in arrays):
                raise InputError(
                    f"sleep: power_w, wake_s and wake_j must each hold {n_sites} values >= 0"
                )
            if (arrays[0] > self.idle_slot_power_w + 1e-9).any():
                raise InputError("sleep: a slot's sleep power must be at most its idle power")
            self.sleep = SlotSleep(*arrays)
        for name in ("site_speed", "site_power_factor"):
            value = getattr(self, name)
            arr = np.ones(n_sites) if value is None else np.asarray(value, dtype=np.float64)
            if arr.shape != (n_sites,) or not (arr > 0).all():
                raise InputError(f"{name} must hold one factor > 0 per site")
            setattr(self, name, arr)
        if self.grid is None:
            self.grid = GridInputs.empty(n_sites, pd.Timestamp(self.start), float(self.step_s))
        if self.forecast is None:
            self.forecast = self.make_forecast("perfect")
        self.forecast.grid = self.grid
        pref = self.jobs.preferred_site
        bad = np.flatnonzero((pref < -1) | (pref >= n_sites))
        if bad.size:
            j = int(bad[0])
            raise InputError(
                f"job {self.jobs.names[j]!r}: preferred site {int(pref[j])} is out of range; "
                f"use -1 (none) or a site index 0..{n_sites - 1}"
            )

    def unrunnable_jobs(self) -> list[tuple[str, str]]:
        """Jobs that no policy can run as given: ``(name, why)`` for each that arrives at or
        after the run's end, or needs more work (plus one restart) than the time between its
        arrival step and the run's end or its deadline (such a job runs on and finishes late)."""
        end_s = self.n_steps * self.step_s
        jobs = self.jobs
        arrival = arrival_steps(jobs.arrival_s, self.step_s) * self.step_s
        out = []
        for j, name in enumerate(jobs.names):
            if arrival[j] >= end_s:
                out.append(
                    (
                        name,
                        f"arrives {arrival[j] / 3600:g} h after the start, when the run "
                        f"({end_s / 3600:g} h) is over",
                    )
                )
                continue
            close_s = min(float(jobs.deadline_s[j]), end_s)
            need_h = float(jobs.work_gpu_h[j]) + self.params.restart_s / 3600.0
            have_h = (close_s - arrival[j]) / 3600.0
            if need_h > have_h + 1e-9:
                until = "its deadline" if close_s < end_s else "the end of the run"
                out.append(
                    (
                        name,
                        f"needs {need_h:.3g} h (work and one restart) but only {have_h:.3g} h "
                        f"lie between its arrival and {until}",
                    )
                )
        return out

    def forecast_at(self, step: int) -> ForecastAt:
        """The forecast as known at ``step`` (what a policy may read then)."""
        assert self.forecast is not None  # set in __post_init__
        return self.forecast.at(step)

    @property
    def empty_slot_power_w(self) -> FloatArray:
        """What a slot without a job draws, per site, W: the sleep power where the site's idle
        slots sleep (:attr:`sleep`), else the idle power."""
        return self.idle_slot_power_w if self.sleep is None else self.sleep.power_w

    @property
    def n_steps(self) -> int:
        return int(self.generation_w.shape[0])

    @cached_property
    def surplus_w(self) -> FloatArray:
        """Generation minus base load, (steps, sites), W; may be negative (computed once)."""
        assert self.base_load_w is not None
        return self.generation_w - self.base_load_w[None, :]

    def time_index(self) -> pd.DatetimeIndex:
        """The UTC time of each step's start."""
        return pd.date_range(
            self.start, periods=self.n_steps, freq=pd.Timedelta(seconds=self.step_s)
        )

    def make_forecast(self, name: str, **kwargs: Any) -> ForecastAdapter:
        """A forecaster of this run's generation by name (perfect, persistence, noisy)."""
        actual = pd.DataFrame(self.generation_w, index=self.time_index(), columns=self.site_names)
        assert self.base_load_w is not None
        return ForecastAdapter(make_forecaster(name, actual, **kwargs), self.base_load_w, self.grid)

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, forecast: str | None = None) -> SimInputs:
        """The arrays of a :class:`~greenhop.scenario.Scenario` (:func:`inputs_from_scenario`)."""
        return inputs_from_scenario(scenario, forecast=forecast)


def slot_sleep(scenario: Scenario) -> SlotSleep | None:
    """The sites' ``[sites.sleep]`` tables as arrays; None when no site's slots sleep (then
    every number of a run is what it was before sleep existed)."""
    if all(s.sleep is None for s in scenario.sites):
        return None
    rows = [
        (s.idle_power_w, 0.0, 0.0)
        if s.sleep is None
        else (s.sleep.sleep_power_w, s.sleep.wake_s, s.sleep.wake_j)
        for s in scenario.sites
    ]
    power, wake_s, wake_j = (np.array(c, dtype=np.float64) for c in zip(*rows, strict=True))
    return SlotSleep(power, wake_s, wake_j)


def inputs_from_scenario(scenario: Scenario, *, forecast: str | None = None) -> SimInputs:
    """Arrays of ``scenario``: generation on its grid, sites, links, jobs and its forecaster
    (``forecast`` overrides the scenario's forecaster by name)."""
    generation = scenario.generation_w()
    grid = grid_from_scenario(scenario)
    if grid.curtailment_w is not None:  # a share of a region's curtailment is supply too
        generation = generation + grid.curtailment_w
    names = tuple(scenario.site_names)
    start = pd.Timestamp(scenario.start)
    to_s = lambda t: (pd.Timestamp(t) - start).total_seconds()  # noqa: E731
    index = {n: i for i, n in enumerate(names)}
    jobs = JobSpecs(
        names=tuple(j.name for j in scenario.jobs),
        arrival_s=np.array([max(to_s(j.arrival), 0.0) for j in scenario.jobs]),
        work_gpu_h=np.array([j.work_gpu_h for j in scenario.jobs]),
        power_w=np.array([j.power_w for j in scenario.jobs]),
        size_gb=np.array([j.checkpoint_gb for j in scenario.jobs], dtype=float),
        deadline_s=np.array(
            [np.inf if j.deadline is None else to_s(j.deadline) for j in scenario.jobs]
        ),
        preferred_site=np.array(
            [-1 if j.site is None else index[j.site] for j in scenario.jobs], dtype=np.int64
        ),
        frozen_gb=(
            np.array([j.frozen_gb or 0.0 for j in scenario.jobs], dtype=float)
            if any(j.frozen_gb for j in scenario.jobs)
            else None
        ),
    )
    speed, power_factor = scenario.site_factors()
    batteries = [s.battery for s in scenario.sites]  # already BatterySpec, named after the site
    base = np.array([s.base_load_w for s in scenario.sites], dtype=float)
    if forecast is not None and forecast != scenario.forecaster_name:
        scenario = scenario.model_copy(update={"forecaster_name": forecast})
    fc = ForecastAdapter(scenario.forecaster(generation), base)
    bw = scenario.bandwidth_matrix_gbps()
    return SimInputs(
        start=start,
        step_s=pd.Timedelta(scenario.step).total_seconds(),
        site_names=names,
        generation_w=generation.to_numpy(dtype=float),
        slots=np.array([s.gpu_slots for s in scenario.sites]),
        idle_slot_power_w=np.array([s.idle_power_w for s in scenario.sites], dtype=float),
        sleep=slot_sleep(scenario),
        bandwidth_gbps=bw,
        jobs=jobs,
        base_load_w=base,
        batteries=batteries,
        forecast=fc,
        grid=grid,
        site_speed=speed,
        site_power_factor=power_factor,
        prestaged=scenario.prestage,
        prestage_share=scenario.prestage_share,
        name=scenario.name,
        meta={
            "forecaster": scenario.forecaster_name,
            "source": str(scenario.source or ""),
            "weather_notes": scenario.weather_notes(),
        },
    )
