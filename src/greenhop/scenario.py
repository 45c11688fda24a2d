"""Scenarios: sites, links, jobs, energy source and forecaster, validated, loaded from TOML.

A scenario file looks like this (see ``greenhop/scenarios/default.toml`` for a full one)::

    name = "default"
    start = 2024-06-17T00:00:00Z
    end = 2024-06-24T00:00:00Z
    step = "15min"
    forecaster = "persistence"
    seed = 0

    [energy_source]
    kind = "weather"                 # or "trace", with solcast = "germany" or trace = "file.csv"

    [links]
    default_gbps = 1.0
    pairs = [{ a = "greensboro", b = "miami", gbps = 10.0 }]

    [[sites]]
    name = "greensboro"              # weather defaults to the bundled site of the same name
    gpu_slots = 8
    idle_power_w = 100.0
    base_load_w = 6000.0
    pv = { peak_kw = 30.0, tilt_deg = 30.0, azimuth_deg = 180.0 }
    battery = { capacity_kwh = 40.0, max_power_kw = 10.0 }   # greenhop.energy.battery.BatterySpec

    [[jobs]]
    name = "bert-finetune"
    arrival = 2024-06-17T08:00:00Z
    work_gpu_h = 6.0
    power_w = 350.0
    model = "bert-base"
    setup = "fp32-adam"

    [jobs.live]                      # read only by greenhop live (greenhop.live.jobs.spec)
    trainer = "digits-cnn"

Generation from weather is :mod:`greenhop.energy.modelchain`'s, traces are read by
:mod:`greenhop.energy.traces` and :mod:`greenhop.energy.solcast`; this module holds the schema.

Every validation error becomes one :class:`~greenhop.errors.ScenarioError` whose lines name the
file, the table and the field, e.g. ``default.toml: [[sites]] #3 'miami': field 'gpu_slots':
must be > 0 (got 0)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from greenhop._scenario_errors import describe_validation_error
from greenhop.energy.battery import BatterySpec
from greenhop.errors import GreenhopError, ScenarioError, TraceError

if TYPE_CHECKING:
    from greenhop.energy.forecast import Forecaster
    from greenhop.energy.solcast import SolcastData

_STRICT = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)
_TableT = TypeVar("_TableT", bound=BaseModel)


def _utc(value: datetime) -> datetime:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


class PV(BaseModel):
    """A fixed-tilt PV array, modelled with pvlib's PVWatts chain."""

    model_config = _STRICT
    peak_kw: float = Field(gt=0, description="DC nameplate, kW")
    tilt_deg: float = Field(ge=0, le=90, description="tilt from horizontal, degrees")
    azimuth_deg: float = Field(180.0, ge=0, lt=360, description="degrees from north, 180 = south")
    losses_percent: float = Field(14.0, ge=0, lt=100, description="DC system losses, %")


class Wind(BaseModel):
    """Wind turbines of one type from windpowerlib's offline library."""

    model_config = _STRICT
    turbine_type: str
    hub_height_m: float = Field(gt=0)
    count: int = Field(1, ge=1)
    roughness_length_m: float = Field(0.15, gt=0)

    @field_validator("turbine_type")
    @classmethod
    def _known_turbine(cls, value: str) -> str:
        from greenhop.energy.generation import wind_turbine_types

        types = wind_turbine_types()
        if value not in types:
            close = difflib.get_close_matches(value, types, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown turbine type {value!r}{hint} (windpowerlib offline library)")
        return value


class Site(BaseModel):
    """A micro datacenter with its renewable supply.

    Supply: ``pv`` and/or ``wind`` computed from ``weather`` (a bundled site; defaults to the
    site's own name when that is a bundled site), or ``trace_column`` of the scenario's trace
    scaled by ``trace_peak_kw``. ``latitude``, ``longitude``, ``timezone`` and ``altitude_m``
    default to the bundled weather site's.

    ``battery`` (the ``[sites.battery]`` table) is a :class:`~greenhop.energy.battery.BatterySpec`
    (``capacity_kwh``, ``max_power_kw``, ``round_trip_efficiency``, ``initial_soc``, ``min_soc``,
    ``max_soc``), named after the site.
    """

    model_config = _STRICT
    name: str = Field(min_length=1)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    timezone: str | None = None
    altitude_m: float | None = None
    gpu_slots: int = Field(gt=0)
    idle_power_w: float = Field(100.0, ge=0, description="draw of a node with no job, W")
    base_load_w: float = Field(0.0, ge=0, description="other load served first, W")
    pv: PV | None = None
    wind: Wind | None = None
    battery: BatterySpec | None = None
    weather: str | None = None
    trace_column: str | None = None
    trace_peak_kw: float | None = Field(None, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r}; use an IANA name like 'Europe/Berlin'"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_supply(self) -> Site:
        from greenhop.energy.sites import bundled_sites, site_metadata

        from_weather = self.pv is not None or self.wind is not None
        if from_weather and self.trace_column is not None:
            raise ValueError("give either pv/wind (from weather) or trace_column, not both")
        if not from_weather and self.trace_column is None:
            raise ValueError(
                "needs a renewable supply: a [sites.pv] or [sites.wind] table, or a trace_column"
            )
        if self.trace_column is not None and self.trace_peak_kw is None:
            raise ValueError("trace_column needs trace_peak_kw (kW at a trace value of 1)")
        if from_weather:
            if self.weather is None:
                if self.name not in bundled_sites():
                    raise ValueError(
                        f"needs weather = one of the bundled sites ({', '.join(bundled_sites())})"
                    )
                self.weather = self.name
            if self.weather not in bundled_sites():
                raise ValueError(
                    f"weather {self.weather!r} is not a bundled site; use one of "
                    f"{', '.join(bundled_sites())}"
                )
            meta = site_metadata(self.weather)
            self.latitude = meta["latitude"] if self.latitude is None else self.latitude
            self.longitude = meta["longitude"] if self.longitude is None else self.longitude
            self.timezone = meta["timezone"] if self.timezone is None else self.timezone
            self.altitude_m = meta["altitude_m"] if self.altitude_m is None else self.altitude_m
        for field in ("latitude", "longitude", "timezone"):
            if getattr(self, field) is None:
                raise ValueError(f"field {field!r} is required for a site without bundled weather")
        if self.altitude_m is None:
            self.altitude_m = 0.0
        if self.battery is not None and self.battery.name == "battery":
            self.battery = dataclasses.replace(self.battery, name=self.name)
        return self


class LinkBandwidth(BaseModel):
    """The bandwidth of the link between two sites (both directions)."""

    model_config = _STRICT
    a: str
    b: str
    gbps: float = Field(gt=0)


class Links(BaseModel):
    """The WAN: one default bandwidth, overridden for some pairs."""

    model_config = _STRICT
    default_gbps: float = Field(1.0, gt=0)
    pairs: list[LinkBandwidth] = Field(default_factory=list)

    def bandwidth_gbps(self, a: str, b: str) -> float:
        """Bandwidth between sites ``a`` and ``b``, Gbit/s (symmetric; the last pair given wins)."""
        value = self.default_gbps
        for pair in self.pairs:
            if {pair.a, pair.b} == {a, b}:
                value = pair.gbps
        return value


class Job(BaseModel):
    """A training job: ``work_gpu_h`` of work at ``power_w``, checkpoint of ``checkpoint_gb``.

    Give ``checkpoint_gb``, or ``model`` and ``setup`` (catalog names of
    :mod:`greenhop.checkpoints`), from which ``checkpoint_gb`` is computed.

    ``live`` is the ``[jobs.live]`` sub-table, read only by ``greenhop live``, which validates it
    (:class:`greenhop.live.jobs.spec.LiveJobSpec`: the bundled example trainer that stands in for
    the job, and the number of its steps that make up ``work_gpu_h``). The schema keeps it as read.
    """

    model_config = _STRICT
    name: str = Field(min_length=1)
    arrival: datetime
    work_gpu_h: float = Field(gt=0)
    power_w: float = Field(gt=0)
    checkpoint_gb: float | None = Field(None, gt=0)
    model: str | None = None
    setup: str | None = None
    deadline: datetime | None = None
    site: str | None = None
    live: dict[str, Any] | None = Field(
        None, description="[jobs.live]: fields of live runs, validated by greenhop.live"
    )

    @field_validator("arrival", "deadline")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @model_validator(mode="after")
    def _checkpoint(self) -> Job:
        if self.checkpoint_gb is None:
            if self.model is None or self.setup is None:
                raise ValueError("give checkpoint_gb, or model and setup")
            from greenhop.checkpoints import checkpoint_size_gb

            try:
                self.checkpoint_gb = float(checkpoint_size_gb(self.model, self.setup))
            except GreenhopError as exc:
                raise ValueError(str(exc)) from None
        elif self.model is not None or self.setup is not None:
            raise ValueError("give either checkpoint_gb or model and setup, not both")
        if self.deadline is not None and self.deadline <= self.arrival:
            raise ValueError(f"deadline {self.deadline} is not after arrival {self.arrival}")
        return self


class EnergySource(BaseModel):
    """Where generation comes from: ``weather`` (bundled sites, pvlib/windpowerlib) or ``trace``.

    A trace is ``solcast = 'germany' | 'global'`` (the real traces in the shared data folder,
    0..1 of peak) or ``trace = 'path.csv|.parquet'`` (relative to the scenario file, wide or long,
    values in ``unit``).
    """

    model_config = _STRICT
    kind: Literal["weather", "trace"] = "weather"
    trace: str | None = None
    solcast: Literal["germany", "global"] | None = None
    unit: str = "fraction"

    @model_validator(mode="after")
    def _trace_given(self) -> EnergySource:
        if self.kind == "trace" and (self.trace is None) == (self.solcast is None):
            raise ValueError("kind = 'trace' needs exactly one of trace (a file) or solcast")
        if self.kind == "weather" and (self.trace is not None or self.solcast is not None):
            raise ValueError("kind = 'weather' takes no trace or solcast; set kind = 'trace'")
        from greenhop.energy.traces import UNITS_TO_W

        if self.unit not in UNITS_TO_W:
            raise ValueError(f"unknown unit {self.unit!r}; use one of {', '.join(UNITS_TO_W)}")
        return self


class Scenario(BaseModel):
    """Time range, step, sites, links, jobs, energy source and forecaster of one experiment.

    The grid is ``[start, end)`` at ``step`` (UTC); values on it are means over each step.
    """

    model_config = _STRICT
    name: str = Field(min_length=1)
    description: str = ""
    start: datetime
    end: datetime
    step: timedelta
    sites: list[Site] = Field(min_length=1)
    links: Links = Field(default_factory=lambda: Links.model_validate({}))
    jobs: list[Job] = Field(default_factory=list)
    energy_source: EnergySource = Field(default_factory=EnergySource)
    forecaster_name: str = Field("perfect", alias="forecaster")
    forecaster_sigma: float = Field(0.2, ge=0, description="relative error of 'noisy'")
    seed: int = 0
    _source: Path | None = PrivateAttr(default=None)
    _generation: pd.DataFrame | None = PrivateAttr(default=None)

    @field_validator("start", "end")
    @classmethod
    def _times_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @field_validator("step", mode="before")
    @classmethod
    def _parse_step(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return pd.Timedelta(value).to_pytimedelta()
            except ValueError:
                raise ValueError(f"cannot read step {value!r}; write e.g. '5min' or '1h'") from None
        return value

    @field_validator("step")
    @classmethod
    def _step_range(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= timedelta(hours=1):
            raise ValueError(f"step {value} is outside 1 min .. 1 h")
        return value

    @field_validator("forecaster_name")
    @classmethod
    def _known_forecaster(cls, value: str) -> str:
        from greenhop.energy.forecast import FORECASTERS

        if value not in FORECASTERS:
            raise ValueError(f"unknown forecaster {value!r}; use one of {', '.join(FORECASTERS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        if (self.end - self.start) % self.step:
            raise ValueError(
                f"the range {self.start} .. {self.end} is not a multiple of {self.step}"
            )
        names = [s.name for s in self.sites]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"site names must be unique; repeated: {duplicates}")
        for pair in self.links.pairs:
            for end_name in (pair.a, pair.b):
                if end_name not in names:
                    raise ValueError(f"[links] pair {pair.a}–{pair.b}: unknown site {end_name!r}")
        for job in self.jobs:
            if job.site is not None and job.site not in names:
                raise ValueError(f"job {job.name!r}: unknown site {job.site!r}; sites are {names}")
        job_names = [j.name for j in self.jobs]
        repeated = sorted({n for n in job_names if job_names.count(n) > 1})
        if repeated:
            raise ValueError(f"job names must be unique; repeated: {repeated}")
        trace_sites = [s.name for s in self.sites if s.trace_column is not None]
        if trace_sites and self.energy_source.kind != "trace":
            raise ValueError(
                f"sites {trace_sites} read a trace_column, but [energy_source] kind is "
                f"{self.energy_source.kind!r}; set kind = 'trace'"
            )
        if self.forecaster_name == "solcast":
            if self.energy_source.solcast is None:
                raise ValueError("forecaster 'solcast' needs [energy_source] solcast = '...'")
            if len(trace_sites) != len(self.sites):
                raise ValueError("forecaster 'solcast' needs every site to read a trace_column")
        return self

    # -- derived views -------------------------------------------------------------------------

    @property
    def site_names(self) -> list[str]:
        return [s.name for s in self.sites]

    @property
    def source(self) -> Path | None:
        """The file the scenario was loaded from, if any."""
        return self._source

    def grid(self) -> pd.DatetimeIndex:
        """The UTC time grid ``[start, end)`` at ``step``."""
        return pd.date_range(
            self.start, self.end, freq=pd.Timedelta(self.step), inclusive="left", name="time_utc"
        )

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        from greenhop.errors import UnknownNameError

        raise UnknownNameError(f"unknown site {name!r}; sites are {self.site_names}")

    def base_load_w(self) -> pd.Series:
        """Each site's base load, W, indexed by site name."""
        return pd.Series({s.name: s.base_load_w for s in self.sites}, name="base_load_w")

    def bandwidth_matrix_gbps(self) -> np.ndarray:
        """``[sites, sites]`` bandwidth in Gbit/s, in :attr:`site_names` order; diagonal = inf."""
        names = self.site_names
        matrix = np.array([[self.links.bandwidth_gbps(a, b) for b in names] for a in names])
        np.fill_diagonal(matrix, np.inf)
        return matrix

    def solcast_data(self) -> SolcastData:
        """The Solcast data named by the energy source (needs the shared data folder)."""
        from greenhop.energy.solcast import load_solcast

        if self.energy_source.solcast is None:
            raise ScenarioError(f"{self._label()}: [energy_source] names no solcast trace")
        return load_solcast(self.energy_source.solcast)

    def _label(self) -> str:
        return self._source.name if self._source is not None else f"scenario {self.name!r}"

    def _trace_w_per_unit(self) -> pd.DataFrame:
        """The scenario's trace (wide, UTC, in the trace's unit converted to W, or 0..1)."""
        from greenhop.energy.traces import read_trace

        if self.energy_source.solcast is not None:
            return self.solcast_data().actual
        assert self.energy_source.trace is not None
        path = Path(self.energy_source.trace)
        if not path.is_absolute() and self._source is not None:
            path = self._source.parent / path
        return read_trace(path, unit=self.energy_source.unit)

    def generation_w(self) -> pd.DataFrame:
        """Renewable generation of every site on :meth:`grid`, W, one column per site.

        Weather sites: the typical year's power (pvlib + windpowerlib) mapped onto the scenario's
        dates by day of year and UTC time of day (29 February reuses 28 February), interpolated to
        the middle of each step (:func:`greenhop.energy.modelchain.typical_year_on_grid_w`). Trace
        sites: the trace column × ``trace_peak_kw``, resampled to the step and cut to the range
        (:func:`greenhop.energy.traces.trace_on_grid`; the trace must cover it).
        """
        from greenhop.energy.modelchain import typical_year_on_grid_w
        from greenhop.energy.traces import trace_on_grid

        if self._generation is not None:
            return self._generation.copy()
        grid = self.grid()
        out = pd.DataFrame(index=grid)
        trace: pd.DataFrame | None = None
        for site in self.sites:
            if site.trace_column is None:
                assert site.weather is not None and site.latitude is not None
                assert site.longitude is not None and site.altitude_m is not None
                out[site.name] = typical_year_on_grid_w(
                    grid,
                    site.weather,
                    site.latitude,
                    site.longitude,
                    site.altitude_m,
                    pv=None if site.pv is None else site.pv.model_dump(),
                    wind=None if site.wind is None else site.wind.model_dump(),
                ).to_numpy()
                continue
            if trace is None:
                try:
                    trace = trace_on_grid(self._trace_w_per_unit(), grid, pd.Timedelta(self.step))
                except TraceError as exc:
                    raise ScenarioError(f"{self._label()}: {exc}; change start/end") from None
            if site.trace_column not in trace.columns:
                raise ScenarioError(
                    f"{self._label()}: [[sites]] {site.name!r}: field 'trace_column': the trace "
                    f"has no column {site.trace_column!r}; it has {list(trace.columns)}"
                )
            assert site.trace_peak_kw is not None
            out[site.name] = trace[site.trace_column].to_numpy() * site.trace_peak_kw * 1000.0
        self._generation = out
        return out.copy()

    def forecaster(self, actual_w: pd.DataFrame | None = None) -> Forecaster:
        """The scenario's forecaster (TOML key ``forecaster``) of ``actual_w`` (default: the
        generation on the grid, W); see :mod:`greenhop.energy.forecast`."""
        from greenhop.energy.forecast import make_forecaster

        actual = self.generation_w() if actual_w is None else actual_w
        solcast = None
        columns = None
        peak_w: dict[str, float] | float = 1.0
        if self.forecaster_name == "solcast":
            solcast = self.solcast_data()
            columns = {s.name: str(s.trace_column) for s in self.sites}
            peak_w = {s.name: float(s.trace_peak_kw or 0.0) * 1000.0 for s in self.sites}
        return make_forecaster(
            self.forecaster_name,
            actual,
            seed=self.seed,
            sigma=self.forecaster_sigma,
            solcast=solcast,
            solcast_columns=columns,
            peak_w=peak_w,
        )

    def job_tables(self, key: Literal["live"], model: type[_TableT]) -> list[_TableT]:
        """Every job's sub-table ``[jobs.<key>]`` validated by ``model``, in job order.

        The schema keeps such a table as it was read; the layer that reads it owns its model
        (``greenhop.live`` for ``[jobs.live]``). A job without the table gets ``model``'s
        defaults. Raises one :class:`~greenhop.errors.ScenarioError` with a line per error, each
        naming the file, the job and the field, like the errors of :func:`load_scenario`.
        """
        raw = {"jobs": [{"name": job.name} for job in self.jobs]}
        tables: list[_TableT] = []
        lines: list[str] = []
        for i, job in enumerate(self.jobs):
            try:
                tables.append(model.model_validate(getattr(job, key) or {}))
            except ValidationError as exc:
                lines += describe_validation_error(
                    exc, raw, source=self._label(), root=model, prefix=("jobs", i, key)
                )
        if lines:
            raise ScenarioError("\n".join(lines))
        return tables


# ---------------------------------------------------------------- loading


def scenario_from_dict(
    raw: dict[str, Any], *, source: str = "<scenario>", path: Path | None = None
) -> Scenario:
    """Validate a scenario given as a dict (as read from TOML); errors name ``source``."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        lines = describe_validation_error(exc, raw, source=source, root=Scenario)
        raise ScenarioError("\n".join(lines)) from None
    scenario._source = path
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario: a TOML file path, or the name of a bundled scenario."""
    file = resolve_scenario(path)
    try:
        raw = tomllib.loads(file.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{file.name}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read: {exc.strerror}") from None
    return scenario_from_dict(raw, source=file.name, path=file)


def bundled_scenarios() -> list[str]:
    """Names of the scenarios that ship with greenhop (``default``, ``germany``)."""
    folder = resources.files("greenhop") / "scenarios"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def bundled_scenario(name: str) -> Path:
    """Path of a bundled scenario file by name."""
    if name not in bundled_scenarios():
        from greenhop.errors import UnknownNameError

        raise UnknownNameError(
            f"unknown bundled scenario {name!r}; bundled: {', '.join(bundled_scenarios())}"
        )
    return Path(str(resources.files("greenhop") / "scenarios" / f"{name}.toml"))


def resolve_scenario(name_or_path: str | Path) -> Path:
    """A scenario argument → a file: an existing path, else a bundled scenario's name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix == "" and str(name_or_path) in bundled_scenarios():
        return bundled_scenario(str(name_or_path))
    raise ScenarioError(
        f"{name_or_path}: no such scenario file, and not a bundled scenario "
        f"({', '.join(bundled_scenarios())})"
    )
