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

A file's problems are reported all at once: one :class:`~greenhop.errors.ScenarioError` with a
line per problem, in the order of the file, each naming the file, the table and the field, e.g.
``default.toml: [[sites]] #3 'miami': field 'gpu_slots': must be > 0 (got 0)``. The checks across
fields and tables (a site's supply, unknown or repeated names, what the energy source must
provide) run beside pydantic's field errors (:class:`_Table`), so one run finds them all;
:func:`check_scenario` adds the jobs' sub-tables and the trace (``greenhop scenario validate``).
Every field is described in docs/scenarios.md, generated from the models here.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from greenhop._scenario_errors import describe_validation_error
from greenhop.energy.battery import BatterySpec
from greenhop.energy.weather import WEATHER_SUFFIXES
from greenhop.errors import GreenhopError, InputError, ScenarioError
from greenhop.signals.sources import SiteFeed

if TYPE_CHECKING:
    from greenhop.energy.forecast import Forecaster
    from greenhop.energy.solcast import SolcastData
    from greenhop.energy.weather import SiteWeather

_STRICT = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)
_TableT = TypeVar("_TableT", bound=BaseModel)
_KNOWN_ERRORS = frozenset(get_args(ErrorType))

Location = tuple[str | int, ...]
#: A problem found by a table's own checks: where (the field's path inside the table, empty for
#: the whole table) and what is wrong, with the fix.
Problem = tuple[Location, str]


def _utc(value: datetime) -> datetime:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def _get(table: Any, key: str) -> Any:
    """A field of a table given as read (a dict) or as validated (a model or dataclass)."""
    if isinstance(table, Mapping):
        return table.get(key)
    return getattr(table, key, None)


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _error_details(error: ErrorDetails) -> InitErrorDetails:
    """A reported error as it can be raised again (pydantic's own kinds keep their context)."""
    if error["type"] in _KNOWN_ERRORS:
        details = InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])
        if "ctx" in error:
            details["ctx"] = error["ctx"]
        return details
    custom = PydanticCustomError(error["type"], error["msg"])
    return InitErrorDetails(type=custom, loc=error["loc"], input=error["input"])


def _invalid(
    title: str, errors: list[ErrorDetails], problems: list[Problem], data: Any
) -> ValidationError:
    """One ValidationError holding pydantic's ``errors`` and the table's own ``problems``."""
    details = [_error_details(e) for e in errors]
    details += [
        InitErrorDetails(type=PydanticCustomError("scenario", message), loc=loc, input=data)
        for loc, message in problems
    ]
    return ValidationError.from_exception_data(title, details)


class _Table(BaseModel):
    """A table of the scenario file whose checks across fields run even when a field is wrong.

    pydantic reports every field error of a validation, but a model's own checks run only once
    all its fields are valid, so a file would reveal its problems a few at a time. Here each table
    states its checks once, in :meth:`_problems`, over its values as given or as validated: on
    valid fields they run on the validated values, otherwise on the values as read, beside the
    field errors. Then :meth:`_complete` fills what follows from the other fields.
    """

    model_config = _STRICT

    @classmethod
    def _problems(cls, values: Mapping[str, Any]) -> list[Problem]:
        """Problems across fields; ``values`` maps field names to values as read or validated."""
        return []

    def _complete(self) -> None:
        """Fill the fields whose defaults come from other fields (the checks have passed)."""

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            table = handler(data)
        except ValidationError as exc:
            if not isinstance(data, Mapping):
                raise
            errors = exc.errors()
            reported = {tuple(e["loc"]) for e in errors}
            aliases = {f.alias: name for name, f in cls.model_fields.items() if f.alias}
            given = {aliases.get(str(k), str(k)): v for k, v in data.items()}
            more = [p for p in cls._problems(given) if p[0] not in reported]
            if not more:
                raise
            raise _invalid(cls.__name__, errors, more, data) from None
        problems = cls._problems(dict(table))
        if problems:
            raise _invalid(cls.__name__, [], problems, data)
        table._complete()
        return table


class PV(_Table):
    """A fixed-tilt PV array at the site, modelled with pvlib's PVWatts chain from the site's
    weather."""

    peak_kw: float = Field(gt=0, description="DC nameplate power, kW")
    tilt_deg: float = Field(ge=0, le=90, description="tilt from horizontal, degrees")
    azimuth_deg: float = Field(
        180.0,
        ge=0,
        lt=360,
        description="direction the array faces, degrees from north, 180 = south",
    )
    losses_percent: float = Field(14.0, ge=0, lt=100, description="DC system losses, %")


class Wind(_Table):
    """Wind turbines of one type from windpowerlib's offline library, driven by the site's
    weather (wind speed at 10 m, extrapolated to the hub height)."""

    turbine_type: str = Field(
        description="a turbine of windpowerlib's offline library, e.g. 'E-53/800'"
    )
    hub_height_m: float = Field(gt=0, description="hub height above ground, m")
    count: int = Field(1, ge=1, description="number of turbines of this type")
    roughness_length_m: float = Field(
        0.15,
        gt=0,
        description="roughness length of the terrain, m (0.03 open water, 0.1 farmland)",
    )

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


class SlotSleep(_Table):
    """Idle GPU slots that power down: an empty slot sleeps, drawing ``sleep_power_w`` instead of
    the site's ``idle_power_w``; a job that takes a sleeping slot first wakes it, which costs
    ``wake_j`` of energy and ``wake_s`` during which the job makes no progress (its slot draws
    the idle power, as in a restore). The rule the simulator follows is in docs/energy.md
    ("Idle slots that sleep")."""

    sleep_power_w: float = Field(
        ge=0, description="draw of a sleeping GPU slot, W (at most the site's idle_power_w)"
    )
    wake_s: float = Field(
        ge=0, description="time to wake a slot, s: the job that takes it waits this long"
    )
    wake_j: float = Field(ge=0, description="energy of one wake-up, J (beyond the idle draw)")


class Site(_Table):
    """A micro datacenter with its renewable supply.

    Supply: ``pv`` and/or ``wind`` computed from ``weather`` (a bundled site, by default the
    site's own name when that is a bundled site, or a weather file relative to the scenario file:
    :mod:`greenhop.energy.weather`), or ``trace_column`` of the scenario's trace
    (``[energy_source]``). ``latitude``, ``longitude``, ``timezone`` and ``altitude_m``
    default to the bundled weather site's; with a weather file, to the file's, filled in when the
    scenario reads it (:meth:`Scenario.site_weather`). ``weather_gaps`` and ``max_gap`` say
    whether gaps in a weather file are refused or filled.

    ``battery`` (the ``[sites.battery]`` table) is a :class:`~greenhop.energy.battery.BatterySpec`
    (``capacity_kwh``, ``max_power_kw``, ``round_trip_efficiency``, ``initial_soc``, ``min_soc``,
    ``max_soc``), named after the site.
    """

    name: str = Field(min_length=1, description="unique name of the site, used by links and jobs")
    latitude: float | None = Field(
        None,
        ge=-90,
        le=90,
        description="degrees north; defaults to the weather's (bundled site or file)",
    )
    longitude: float | None = Field(
        None,
        ge=-180,
        le=180,
        description="degrees east; defaults to the weather's (bundled site or file)",
    )
    timezone: str | None = Field(
        None,
        description=(
            "IANA time zone, e.g. 'Europe/Berlin'; defaults to the weather's (a file's UTC "
            "offset as 'Etc/GMT+5')"
        ),
    )
    altitude_m: float | None = Field(
        None, description="altitude above sea level, m; defaults to the weather's, else 0"
    )
    gpu_slots: int = Field(gt=0, description="GPUs at the site: at most this many jobs run there")
    idle_power_w: float = Field(100.0, ge=0, description="draw of a GPU slot with no job, W")
    sleep: SlotSleep | None = Field(
        None,
        description=(
            "idle slots that power down ([sites.sleep]: sleep_power_w, wake_s, wake_j); none: "
            "an empty slot stays awake at idle_power_w"
        ),
    )
    base_load_w: float = Field(
        0.0, ge=0, description="other load at the site, served by the renewables first, W"
    )
    pv: PV | None = Field(None, description="PV array computed from the site's weather")
    wind: Wind | None = Field(None, description="wind turbines computed from the site's weather")
    battery: BatterySpec | None = Field(None, description="the site's battery (none by default)")
    weather: str | None = Field(
        None,
        description=(
            "weather behind pv and wind: a bundled site, or a weather file relative to the "
            "scenario file (EPW, TMY2, TMY3, PVGIS TMY, NSRDB PSM3, or CSV/Parquet with pvlib's "
            "columns); defaults to the site's own name"
        ),
    )
    weather_gaps: Literal["refuse", "interpolate"] = Field(
        "refuse",
        description=(
            "gaps in a weather file (NaN, missing timestamps): refused, or filled by "
            "interpolation in time when they last at most max_gap"
        ),
    )
    max_gap: timedelta | None = Field(
        None,
        description=(
            "longest gap that weather_gaps = 'interpolate' fills, a duration like '3h'; "
            "longer gaps are still refused"
        ),
    )
    trace_column: str | None = Field(
        None, description="column of the [energy_source] trace that is this site's generation"
    )
    trace_peak_kw: float | None = Field(
        None,
        gt=0,
        description=(
            "peak power of the site, kW: a 'fraction' trace (0..1 of peak) is multiplied by it; "
            "required with 'fraction', refused with a trace in W..GW (that is power already)"
        ),
    )
    scale: float = Field(
        1.0,
        gt=0,
        description=(
            "factor on the site's trace column, with any unit (e.g. 0.001: a site taking 0.1 % "
            "of a region's curtailment)"
        ),
    )
    realtime: SiteFeed | None = Field(
        None,
        description=(
            "live sources of the site's power (and base load) for 'greenhop live --realtime': "
            "a Prometheus query, an HTTP JSON endpoint or an appended CSV/Parquet file"
        ),
    )
    pue: float = Field(
        1.0,
        ge=1.0,
        description=(
            "power usage effectiveness: facility energy = IT energy x pue (cooling, power "
            "conversion); 1.0 by default, i.e. no overhead counted"
        ),
    )
    region: str | None = Field(
        None, description="grid region whose [[grid]] signals (region = ...) apply to the site"
    )
    curtailment_share: float | None = Field(
        None,
        gt=0,
        le=1,
        description=(
            "share of its [[grid]] curtailment signal offered to the site as renewable supply "
            "(added to pv/wind/trace)"
        ),
    )
    curtailment_cap_kw: float | None = Field(
        None, gt=0, description="most curtailed power the site takes, kW (none: no cap)"
    )
    accelerator: str | None = Field(
        None,
        description=(
            "the part of the site's GPU slots (greenhop.accelerators: h100-sxm, h100-pcie, a100, "
            "a100-pcie, l40s, l4, rtx-4090, jetson-agx-orin, v100); a job trains at its speed "
            "and draws its power relative to the scenario's reference_accelerator; none: the "
            "reference part"
        ),
    )
    accelerator_speed: float | None = Field(
        None,
        gt=0,
        description=(
            "the site's measured training speed relative to the reference part, instead of the "
            "catalog's datasheet proxy"
        ),
    )

    @field_validator("accelerator")
    @classmethod
    def _known_accelerator(cls, value: str | None) -> str | None:
        from greenhop.accelerators import accelerator

        if value is not None:
            accelerator(value)
        return value

    @field_validator("max_gap", mode="before")
    @classmethod
    def _parse_max_gap(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return pd.Timedelta(value).to_pytimedelta()
            except ValueError:
                raise ValueError("not a duration; write e.g. '3h'") from None
        return value

    @field_validator("max_gap")
    @classmethod
    def _positive_gap(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError(f"max_gap must be > 0, got {value}")
        return value

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

    @classmethod
    def _problems(cls, values: Mapping[str, Any]) -> list[Problem]:
        from greenhop.energy.sites import bundled_sites

        problems: list[Problem] = []
        from_weather = values.get("pv") is not None or values.get("wind") is not None
        from_trace = values.get("trace_column") is not None
        if from_weather and from_trace:
            problems.append(
                (("trace_column",), "give either pv/wind (from weather) or trace_column, not both")
            )
        from_meter = values.get("realtime") is not None
        from_curtailment = values.get("curtailment_share") is not None
        if not from_weather and not from_trace and not from_meter and not from_curtailment:
            problems.append(
                (
                    (),
                    "needs a renewable supply: a [sites.pv] or [sites.wind] table, a "
                    "trace_column of the [energy_source] trace, a share of a [[grid]] "
                    "curtailment (curtailment_share) or a live meter ([sites.realtime])",
                )
            )
        bundled = bundled_sites()
        weather = values.get("weather")
        name = values.get("name")
        files = ", ".join(WEATHER_SUFFIXES)
        if from_weather and weather is None and name not in bundled and not from_meter:
            problems.append(
                (
                    ("weather",),
                    f"required: pv and wind are computed from weather and {name!r} is not a "
                    f"bundled site; set weather = one of {', '.join(bundled)}, or a weather file "
                    f"({files})",
                )
            )
        elif from_weather and isinstance(weather, str) and not _weather_name_ok(weather):
            problems.append(
                (
                    ("weather",),
                    f"{weather!r} is neither a bundled site ({', '.join(bundled)}) nor a weather "
                    f"file ({files})",
                )
            )
        sleep, idle = values.get("sleep"), values.get("idle_power_w", 100.0)
        sleep_w = _get(sleep, "sleep_power_w") if sleep is not None else None
        if isinstance(sleep_w, int | float) and isinstance(idle, int | float) and sleep_w > idle:
            problems.append(
                (
                    ("sleep", "sleep_power_w"),
                    f"must be at most the site's idle_power_w ({idle:g} W), got {sleep_w:g} W",
                )
            )
        gaps, max_gap = values.get("weather_gaps", "refuse"), values.get("max_gap")
        if gaps == "interpolate" and max_gap is None:
            problems.append(
                (("max_gap",), "required with weather_gaps = 'interpolate', e.g. max_gap = '3h'")
            )
        elif gaps == "refuse" and max_gap is not None:
            problems.append(
                (("max_gap",), "applies only with weather_gaps = 'interpolate'; set that too")
            )
        if not from_weather and not from_meter:
            for field in ("latitude", "longitude", "timezone"):
                if values.get(field) is None:
                    problems.append(
                        ((field,), "required for a site without bundled weather (pv/wind)")
                    )
        return problems

    def _complete(self) -> None:
        from greenhop.energy.sites import bundled_sites, site_metadata

        meter_only = self.realtime is not None and self.weather is None
        if meter_only and self.name not in bundled_sites():
            pass  # pv/wind describe the plant (a clear-sky forecast); the meter gives the power
        elif self.pv is not None or self.wind is not None:
            self.weather = self.name if self.weather is None else self.weather
        plant = self.pv is not None or self.wind is not None
        if plant and self.weather is not None and self.weather_file is None:
            meta = site_metadata(self.weather)
            self.latitude = meta["latitude"] if self.latitude is None else self.latitude
            self.longitude = meta["longitude"] if self.longitude is None else self.longitude
            self.timezone = meta["timezone"] if self.timezone is None else self.timezone
            self.altitude_m = meta["altitude_m"] if self.altitude_m is None else self.altitude_m
        if self.altitude_m is None and self.weather_file is None:
            self.altitude_m = 0.0  # a weather file's altitude fills it when the file is read
        if self.battery is not None and self.battery.name == "battery":
            self.battery = dataclasses.replace(self.battery, name=self.name)

    @property
    def weather_file(self) -> str | None:
        """``weather`` when it names a file rather than a bundled site (for pv/wind), else None."""
        from greenhop.energy.sites import bundled_sites

        if self.pv is None and self.wind is None:
            return None
        if self.weather is None or self.weather in bundled_sites():
            return None
        return self.weather


def _weather_name_ok(weather: str) -> bool:
    """A bundled site's name, or a name with a weather file's suffix."""
    from greenhop.energy.sites import bundled_sites

    return weather in bundled_sites() or weather.lower().endswith(WEATHER_SUFFIXES)


class LinkBandwidth(_Table):
    """The bandwidth of the link between two sites (both directions)."""

    a: str = Field(description="a site at one end")
    b: str = Field(description="the site at the other end")
    gbps: float = Field(gt=0, description="bandwidth of the link, Gbit/s (1e9 bit/s)")


class Links(_Table):
    """The WAN: one default bandwidth between any two sites, overridden for some pairs."""

    default_gbps: float = Field(
        1.0, gt=0, description="bandwidth between two sites not named in pairs, Gbit/s"
    )
    pairs: list[LinkBandwidth] = Field(
        default_factory=list,
        description="inline tables { a, b, gbps }: the bandwidth between sites a and b, Gbit/s",
    )

    def bandwidth_gbps(self, a: str, b: str) -> float:
        """Bandwidth between sites ``a`` and ``b``, Gbit/s (symmetric; the last pair given wins)."""
        value = self.default_gbps
        for pair in self.pairs:
            if {pair.a, pair.b} == {a, b}:
                value = pair.gbps
        return value


class Job(_Table):
    """A training job: ``work_gpu_h`` of work at ``power_w``, checkpoint of ``checkpoint_gb``.

    Give ``checkpoint_gb``, or ``model`` and ``setup`` (catalog names of
    :mod:`greenhop.checkpoints`), from which ``checkpoint_gb`` is computed.

    ``live`` is the ``[jobs.live]`` sub-table, read only by ``greenhop live``, which validates it
    (:class:`greenhop.live.jobs.spec.LiveJobSpec`: the bundled example trainer that stands in for
    the job, and the number of its steps that make up ``work_gpu_h``). The schema keeps it as read.
    """

    name: str = Field(min_length=1, description="unique name of the job")
    arrival: datetime = Field(
        description="when the job is submitted (TOML date-time, UTC if naive)"
    )
    work_gpu_h: float = Field(gt=0, description="work of the job, GPU-hours at full speed")
    power_w: float = Field(gt=0, description="power the job draws while it trains, W")
    checkpoint_gb: float | None = Field(
        None, gt=0, description="size of the job's checkpoint, GB (1e9 bytes)"
    )
    model: str | None = Field(
        None, description="catalog model (greenhop.checkpoints) the checkpoint size comes from"
    )
    setup: str | None = Field(
        None, description="training set-up of the catalog (precision, optimizer), with model"
    )
    deadline: datetime | None = Field(
        None, description="when the job should be done (TOML date-time); none by default"
    )
    site: str | None = Field(
        None, description="site the job is submitted at; by default the policy places it"
    )
    frozen_gb: float | None = Field(
        None,
        ge=0,
        description=(
            "GB of the checkpoint that never change (a frozen base model under LoRA or "
            "frozen-base fine-tuning): a site that holds them already is sent only the rest"
        ),
    )
    live: dict[str, Any] | None = Field(
        None, description="[jobs.live]: fields of live runs, validated by greenhop.live"
    )

    @field_validator("arrival", "deadline")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @classmethod
    def _problems(cls, values: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        size, model, setup = values.get("checkpoint_gb"), values.get("model"), values.get("setup")
        if size is not None and (model is not None or setup is not None):
            problems.append(((), "give either checkpoint_gb or model and setup, not both"))
        elif size is None and model is None and setup is None:
            problems.append(((), "give checkpoint_gb, or model and setup"))
        elif size is None and (model is None or setup is None):
            missing, given = ("setup", "model") if setup is None else ("model", "setup")
            problems.append(((missing,), f"required with {given} (or give checkpoint_gb)"))
        elif size is None and isinstance(model, str) and isinstance(setup, str):
            from greenhop.checkpoints import checkpoint_size_gb

            try:
                checkpoint_size_gb(model, setup)
            except GreenhopError as exc:
                problems.append(((), str(exc)))
        arrival, deadline = values.get("arrival"), values.get("deadline")
        if isinstance(arrival, datetime) and isinstance(deadline, datetime):
            arrival, deadline = _utc(arrival), _utc(deadline)
            if deadline <= arrival:
                problems.append((("deadline",), f"{deadline} is not after arrival {arrival}"))
        return problems

    def _complete(self) -> None:
        if self.checkpoint_gb is None and self.model is not None and self.setup is not None:
            from greenhop.checkpoints import checkpoint_size_gb

            self.checkpoint_gb = float(checkpoint_size_gb(self.model, self.setup))


class EnergySource(_Table):
    """Where generation comes from: ``weather`` (bundled sites, pvlib/windpowerlib) or ``trace``.

    A trace is ``solcast = 'germany' | 'global'`` (the real traces that ship with greenhop,
    0..1 of peak) or ``trace = 'path.csv|.parquet'`` (relative to the scenario file, wide or long,
    values in ``unit``).
    """

    kind: Literal["weather", "trace"] = Field(
        "weather",
        description="'weather': sites with pv/wind tables; 'trace': sites read a trace_column",
    )
    trace: str | None = Field(
        None, description="CSV or Parquet file of the trace, relative to the scenario file"
    )
    solcast: Literal["germany", "global"] | None = Field(
        None, description="a real Solcast trace that ships with greenhop, instead of a file"
    )
    unit: str = Field(
        "fraction", description="unit of the trace's values: W, kW, MW, GW, or 0..1 of peak"
    )

    @classmethod
    def _problems(cls, values: Mapping[str, Any]) -> list[Problem]:
        from greenhop.energy.traces import UNITS_TO_W

        problems: list[Problem] = []
        kind = values.get("kind", "weather")
        trace, solcast = values.get("trace"), values.get("solcast")
        unit = values.get("unit", "fraction")
        if kind == "trace" and (trace is None) == (solcast is None):
            problems.append(((), "kind = 'trace' needs exactly one of trace (a file) or solcast"))
        if kind == "weather" and (trace is not None or solcast is not None):
            problems.append(((), "kind = 'weather' takes no trace or solcast; set kind = 'trace'"))
        if isinstance(unit, str) and unit not in UNITS_TO_W:
            energy = "; a trace holds power, not energy" if unit.endswith("h") else ""
            problems.append(
                (("unit",), f"unknown unit {unit!r}; use one of {', '.join(UNITS_TO_W)}{energy}")
            )
        elif solcast is not None and unit != "fraction":
            problems.append((("unit",), "a Solcast trace is 0..1 of peak; set unit = 'fraction'"))
        return problems


class GridSignal(_Table):
    """A grid signal of a site or of a grid region several sites share: carbon intensity, price,
    curtailment or demand-response events, read by :mod:`greenhop.signals.grid`.

    It applies to the sites named in ``sites``, else to the sites whose ``region`` is its
    ``region``, else to every site. The file is relative to the scenario file.
    """

    signal: Literal["carbon", "price", "curtailment", "demand_response"] = Field(
        description="what the file holds"
    )
    file: str = Field(description="CSV or Parquet file (CAISO's layout: .csv or .xlsx)")
    column: str | None = Field(
        None, description="column of the value (default: the one column besides time)"
    )
    unit: str | None = Field(
        None,
        description=(
            "unit of the values: carbon g/kWh, kg/MWh, lbs/MWh ...; price e.g. 'USD/MWh', "
            "'$/MWh', 'EUR/kWh'; curtailment W, kW, MW (default), GW; demand response: cap_kw "
            "column in kW"
        ),
    )
    kind: Literal["average", "marginal"] | None = Field(
        None, description="carbon only: an average or a marginal intensity (required)"
    )
    forecast: str | None = Field(
        None,
        description=(
            "issued forecasts of the signal (columns request_time, forecast_time, value); "
            "policies read them, else a persistence forecast"
        ),
    )
    known_ahead: timedelta | None = Field(
        None,
        description=(
            "how far ahead the values are known when they hold, a duration like '24h' (a "
            "day-ahead price is published the day before); the forecast reads them that far"
        ),
    )
    format: Literal["table", "caiso"] = Field(
        "table",
        description="'table': time and value columns; 'caiso': CAISO's curtailment sheet layout",
    )
    which: Literal["total", "solar", "wind"] = Field(
        "total", description="format = 'caiso': solar, wind or total curtailment"
    )
    tz: str = Field("UTC", description="time zone of naive timestamps")
    label: Literal["start", "end"] = Field(
        "start", description="a timestamp marks its period's start or end"
    )
    region: str | None = Field(None, description="the grid region it describes")
    sites: list[str] | None = Field(None, description="the sites it applies to (default: all)")

    @field_validator("known_ahead", mode="before")
    @classmethod
    def _parse_ahead(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return pd.Timedelta(value).to_pytimedelta()
            except ValueError:
                raise ValueError("not a duration; write e.g. '24h'") from None
        return value

    @classmethod
    def _problems(cls, values: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        signal = values.get("signal")
        if signal == "carbon" and values.get("kind") is None:
            problems.append((("kind",), "required for carbon: 'average' or 'marginal'"))
        if signal != "carbon" and values.get("kind") is not None:
            problems.append((("kind",), "applies to carbon signals only"))
        if values.get("format") == "caiso" and signal != "curtailment":
            problems.append((("format",), "CAISO's layout holds curtailment; set signal"))
        if values.get("sites") is not None and values.get("region") is not None:
            problems.append((("sites",), "give sites or region, not both"))
        return problems

    def read(self, path: Path) -> Any:
        """The signal this table declares, read from ``path`` (its file, resolved) by
        :func:`greenhop.signals.grid.read_grid_signal`."""
        from greenhop.signals.grid import read_grid_signal

        return read_grid_signal(
            self.signal,
            path,
            column=self.column,
            unit=self.unit,
            kind=self.kind or "average",
            tz=self.tz,
            label=self.label,
            format=self.format,
            which=self.which,
        )

    def applies_to(self, site: Site) -> bool:
        """Whether the signal applies to ``site``."""
        if self.sites is not None:
            return site.name in self.sites
        if self.region is not None:
            return site.region == self.region
        return True


class Scenario(_Table):
    """Time range, step, sites, links, jobs, energy source and forecaster of one experiment.

    The grid is ``[start, end)`` at ``step`` (UTC); values on it are means over each step.
    """

    name: str = Field(min_length=1, description="name of the scenario, used in run folders")
    description: str = Field("", description="one line on what the scenario is")
    start: datetime = Field(description="first instant of the run (TOML date-time, UTC if naive)")
    end: datetime = Field(description="end of the run, excluded (TOML date-time, UTC if naive)")
    step: timedelta = Field(
        description="time step of the run, 1 min .. 1 h, as a string like '15min' or '1h'"
    )
    sites: list[Site] = Field(min_length=1, description="the micro datacenters, [[sites]] tables")
    links: Links = Field(
        default_factory=lambda: Links.model_validate({}), description="the WAN, a [links] table"
    )
    jobs: list[Job] = Field(default_factory=list, description="the training jobs, [[jobs]] tables")
    energy_source: EnergySource = Field(
        default_factory=lambda: EnergySource.model_validate({}),
        description="where generation comes from, [energy_source]",
    )
    forecaster_name: str = Field(
        "perfect",
        alias="forecaster",
        description="forecast of generation the policies see (greenhop.energy.forecast)",
    )
    forecaster_sigma: float = Field(
        0.2, ge=0, description="relative error of the 'noisy' forecaster (0.2 = 20 %)"
    )
    prestage: bool = Field(
        False,
        description=(
            "the jobs' frozen parts (frozen_gb) are copied to every site ahead of time, so a "
            "move sends only what changes (their bytes are counted once per site)"
        ),
    )
    prestage_share: float | None = Field(
        None,
        gt=0,
        le=1,
        description=(
            "pre-stage on the policy's hints: a running job's frozen part is copied to the "
            "hinted site at this share of the link's bandwidth (paused while a move uses the "
            "link), its bytes counted as network energy; unset: no pre-staging on hints"
        ),
    )
    reference_accelerator: str = Field(
        "h100-sxm",
        description=(
            "the part the jobs' work_gpu_h and power_w refer to (sites with another "
            "accelerator scale both)"
        ),
    )

    @field_validator("reference_accelerator")
    @classmethod
    def _known_reference(cls, value: str) -> str:
        from greenhop.accelerators import accelerator

        accelerator(value)
        return value

    def site_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """Per site ``(speed, power factor)`` against :attr:`reference_accelerator`
        (:func:`greenhop.accelerators.site_factors`); all 1 when no site names a part."""
        from greenhop.accelerators import site_factors

        return site_factors(
            [s.accelerator for s in self.sites],
            reference=self.reference_accelerator,
            speeds=[s.accelerator_speed for s in self.sites],
        )

    seed: int = Field(0, description="seed of every random choice (the 'noisy' forecaster)")
    grid_signals: list[GridSignal] = Field(
        default_factory=list,
        alias="grid",
        description=(
            "grid signals: carbon intensity, price, curtailment, demand-response events, "
            "[[grid]] tables"
        ),
    )
    _source: Path | None = PrivateAttr(default=None)
    _generation: pd.DataFrame | None = PrivateAttr(default=None)
    _weather: dict[str, SiteWeather] = PrivateAttr(default_factory=dict)

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
        if not timedelta(seconds=1) <= value <= timedelta(hours=1):
            raise ValueError(f"step {value} is outside 1 s .. 1 h")
        return value

    @field_validator("forecaster_name")
    @classmethod
    def _known_forecaster(cls, value: str) -> str:
        from greenhop.energy.forecast import FORECASTERS

        if value not in FORECASTERS:
            raise ValueError(f"unknown forecaster {value!r}; use one of {', '.join(FORECASTERS)}")
        return value

    @classmethod
    def _problems(cls, values: Mapping[str, Any]) -> list[Problem]:
        """Checks across tables: names, the range, and what the energy source must provide."""
        return [
            *_range_problems(values.get("start"), values.get("end"), values.get("step")),
            *_name_problems(values),
            *_source_problems(values),
            *_grid_problems(values),
        ]

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
        """The Solcast data named by the energy source (see :mod:`greenhop.energy.solcast`)."""
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

        Bundled weather sites: the typical year's power (pvlib + windpowerlib) mapped onto the
        scenario's dates by day of year and UTC time of day (29 February reuses 28 February),
        interpolated to the middle of each step
        (:func:`greenhop.energy.modelchain.typical_year_on_grid_w`). Sites with a weather file
        (:meth:`site_weather`): the power at the file's step, on the file's own dates when it
        covers the range, else as a typical year when it is one year long
        (:func:`greenhop.energy.modelchain.site_weather_on_grid_w`). Trace sites: the trace column
        resampled to the step and cut to the range (:func:`greenhop.energy.traces.trace_on_grid`;
        the trace must cover it), times ``trace_peak_kw`` for a ``fraction`` trace (a trace in
        W..GW is power as it is), times the site's ``scale``. Raises one
        :class:`~greenhop.errors.ScenarioError` with every problem of the trace and of the weather
        files (:meth:`trace_problems`, :meth:`weather_problems`).
        """
        from greenhop.energy.modelchain import site_weather_on_grid_w, typical_year_on_grid_w

        if self._generation is not None:
            return self._generation.copy()
        traced, problems = self._trace_generation_w()
        problems += self.weather_problems()
        if problems:
            raise ScenarioError("\n".join(problems))
        grid = self.grid()
        out = pd.DataFrame(index=grid)
        for site in self.sites:
            if site.trace_column is not None:
                out[site.name] = traced[site.name].to_numpy()
                continue
            if site.weather_file is not None:
                out[site.name] = site_weather_on_grid_w(
                    grid,
                    pd.Timedelta(self.step),
                    self._weather[site.name],
                    pv=None if site.pv is None else site.pv.model_dump(),
                    wind=None if site.wind is None else site.wind.model_dump(),
                ).to_numpy()
                continue
            if (site.pv is None and site.wind is None) or site.weather is None:
                # a live meter only: no replayed supply
                out[site.name] = 0.0
                continue
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
        self._generation = out
        return out.copy()

    def grid_problems(self) -> list[str]:
        """Problems of the ``[[grid]]`` signals' files: unreadable, or not covering the run
        (``greenhop scenario validate``; :func:`greenhop.world.grid.grid_from_scenario` reads
        them for a run)."""
        from greenhop.signals.base import SignalUnavailable
        from greenhop.signals.grid import signal_on_grid

        problems: list[str] = []
        index, step = self.grid(), pd.Timedelta(self.step)
        for i, sig in enumerate(self.grid_signals):
            where = f"{self._label()}: [[grid]] #{i + 1} ({sig.signal}, {sig.file})"
            path = Path(sig.file)
            if not path.is_absolute() and self._source is not None:
                path = self._source.parent / path
            try:
                signal = sig.read(path)
                if sig.signal != "demand_response":
                    signal_on_grid(signal, index, step)
            except SignalUnavailable as exc:
                problems.append(
                    f"{where}: the signal does not cover the run ({exc.detail}); give a file "
                    "that covers it, or move start/end"
                )
            except GreenhopError as exc:
                problems.append(f"{where}: {exc}")
        return problems

    def weather_path(self, site: Site) -> Path | None:
        """The weather file of ``site`` (relative paths from the scenario file's folder), or None
        for bundled weather or a trace site."""
        if site.weather_file is None:
            return None
        path = Path(site.weather_file)
        if not path.is_absolute() and self._source is not None:
            path = self._source.parent / path
        return path

    def site_weather(self, name: str) -> SiteWeather:
        """The checked weather of the site ``name`` read from its weather file
        (:func:`greenhop.energy.weather.load_weather`), read once.

        Fills the site's ``latitude``, ``longitude``, ``altitude_m`` and ``timezone`` (as
        ``Etc/GMT±h``) from the file where the site leaves them out. Raises one
        :class:`~greenhop.errors.ScenarioError` naming the file, the site and the field, or
        :class:`~greenhop.errors.InputError` when the site has no weather file.
        """
        index = self.site_names.index(self.site(name).name)
        weather, problems = self._site_weather(index)
        if problems:
            raise ScenarioError("\n".join(problems))
        if weather is None:
            raise InputError(
                f"site {name!r} has no weather file (weather = {self.site(name).weather!r})"
            )
        return weather

    def weather_problems(self) -> list[str]:
        """Every problem of the sites' weather files, one line each naming the scenario file, the
        site and the field: a file that cannot be read, gaps, impossible values, a missing
        location, a period that neither covers the range nor is one year. Empty when there is
        none (or no site reads a weather file)."""
        problems: list[str] = []
        for i in range(len(self.sites)):
            problems += self._site_weather(i)[1]
        return problems

    def weather_notes(self) -> list[str]:
        """What was done to the sites' weather files, one line each, for the run folder: which
        file, how it is used (on its own dates or as a typical year), the components derived,
        the values clipped, the gaps filled, where the location came from. E.g. ``site 'x': dhi
        derived from ghi and dni (closure), 8760 hours``. Empty without weather files. Raises
        :class:`~greenhop.errors.ScenarioError` as :meth:`site_weather` does."""
        from greenhop.energy.modelchain import weather_use

        notes: list[str] = []
        for site in self.sites:
            if site.weather_file is None:
                continue
            weather = self.site_weather(site.name)
            use = weather_use(weather, self.grid(), pd.Timedelta(self.step))
            steps = f"{weather.step / pd.Timedelta(minutes=1):g} min steps"
            if weather.typical:
                what = f"{weather.kind}, a typical year of {steps}"
            else:
                what = (
                    f"{weather.kind}, {steps}, {weather.start:%Y-%m-%d %H:%M} .. "
                    f"{weather.end:%Y-%m-%d %H:%M} UTC"
                )
            how = (
                "used on its own dates"
                if use == "own dates"
                else "mapped onto the run's dates by day of year and UTC time of day"
                + ("" if weather.typical else " as a typical year")
            )
            notes.append(f"site {site.name!r}: weather {site.weather_file} ({what}), {how}")
            notes += [f"site {site.name!r}: {note}" for note in weather.notes]
        return notes

    def _site_weather(self, index: int) -> tuple[SiteWeather | None, list[str]]:
        """The weather of site ``index`` from its file (cached), or the problems that prevent it;
        (None, []) for a site without a weather file."""
        from greenhop.energy.modelchain import weather_use
        from greenhop.energy.weather import prepare_weather, read_weather_file

        site = self.sites[index]
        path = self.weather_path(site)
        if path is None:
            return None, []
        if site.name in self._weather:
            return self._weather[site.name], []
        at = f"{self._label()}: [[sites]] #{index + 1} {site.name!r}"
        try:
            file = read_weather_file(path)
        except InputError as exc:
            return None, [f"{at}: field 'weather': {line}" for line in str(exc).splitlines()]
        if site.pv is not None and file.latitude is None:
            missing = [f for f in ("latitude", "longitude") if getattr(site, f) is None]
            if missing:
                return None, [
                    f"{at}: field {f!r}: required: {site.weather_file} ({file.kind}) carries no "
                    "location, and PV needs the sun's position"
                    for f in missing
                ]
        try:
            weather = prepare_weather(
                file,
                pv=site.pv is not None,
                wind=site.wind is not None,
                gaps=site.weather_gaps,
                max_gap=None if site.max_gap is None else pd.Timedelta(site.max_gap),
                latitude=site.latitude,
                longitude=site.longitude,
                altitude_m=site.altitude_m,
            )
            weather_use(weather, self.grid(), pd.Timedelta(self.step))
        except InputError as exc:
            return None, [f"{at}: field 'weather': {line}" for line in str(exc).splitlines()]
        site.latitude = weather.latitude if site.latitude is None else site.latitude
        site.longitude = weather.longitude if site.longitude is None else site.longitude
        site.altitude_m = (
            (weather.altitude_m or 0.0) if site.altitude_m is None else site.altitude_m
        )
        offset = weather.utc_offset_h
        if site.timezone is None and offset is not None and offset == int(offset):
            site.timezone = "UTC" if offset == 0 else f"Etc/GMT{-int(offset):+d}"
        self._weather[site.name] = weather
        return weather, []

    def trace_problems(self) -> list[str]:
        """Every problem of the trace the sites read, one line each naming the file, the table and
        the field: the file cannot be read or is malformed, a site's column is missing, the trace
        does not cover the range. Empty when there is none (or no site reads a trace)."""
        return self._trace_generation_w()[1]

    def _trace_generation_w(self) -> tuple[pd.DataFrame, list[str]]:
        """The trace sites' generation on the grid, W, and the problems that prevent it."""
        from greenhop.energy.traces import trace_on_grid

        grid = self.grid()
        out = pd.DataFrame(index=grid)
        sites = [(i, s) for i, s in enumerate(self.sites) if s.trace_column is not None]
        if not sites:
            return out, []
        label = self._label()
        key = "solcast" if self.energy_source.solcast is not None else "trace"
        where = f"{label}: [energy_source]: field {key!r}"
        try:
            trace = self._trace_w_per_unit()
        except InputError as exc:
            return out, [f"{where}: {line}" for line in str(exc).splitlines()]
        fraction = self.energy_source.unit == "fraction"
        problems: list[str] = []
        for i, site in sites:
            column = str(site.trace_column)
            at = f"{label}: [[sites]] #{i + 1} {site.name!r}"
            if column not in trace.columns:
                problems.append(
                    f"{at}: field 'trace_column': the trace has no column {column!r}; it has "
                    f"{list(trace.columns)}"
                )
        try:
            on_grid = trace_on_grid(trace, grid, pd.Timedelta(self.step))
        except InputError as exc:
            problems.append(f"{where}: {exc}; change start/end, or give a trace that covers them")
        if problems:
            return out, problems
        for _, site in sites:
            values = on_grid[str(site.trace_column)].to_numpy() * site.scale
            if fraction:
                assert site.trace_peak_kw is not None
                values = values * site.trace_peak_kw * 1000.0
            out[site.name] = values
        return out, []

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


def _range_problems(start: Any, end: Any, step: Any) -> list[Problem]:
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        return []
    start, end = _utc(start), _utc(end)
    if end <= start:
        return [(("end",), f"{end} is not after start {start}")]
    if isinstance(step, str):
        try:
            step = pd.Timedelta(step).to_pytimedelta()
        except ValueError:
            return []
    if isinstance(step, timedelta) and step > timedelta(0) and (end - start) % step:
        return [(("end",), f"the range {start} .. {end} is not a multiple of the step {step}")]
    return []


def _repeated(names: list[Any], table: str, what: str) -> list[Problem]:
    problems: list[Problem] = []
    for i, name in enumerate(names):
        if isinstance(name, str) and name in names[:i]:
            first = names.index(name) + 1
            problems.append(
                (
                    (table, i, "name"),
                    f"{what} name {name!r} is taken by [[{table}]] #{first}; names must be unique",
                )
            )
    return problems


def _name_problems(values: Mapping[str, Any]) -> list[Problem]:
    sites = _items(values.get("sites"))
    names = [_get(site, "name") for site in sites]
    known = [n for n in names if isinstance(n, str)]
    listed = ", ".join(dict.fromkeys(known))
    problems = _repeated(names, "sites", "site")
    for j, pair in enumerate(_items(_get(values.get("links"), "pairs"))):
        for end in ("a", "b"):
            name = _get(pair, end)
            if isinstance(name, str) and name not in known:
                problems.append(
                    (("links", "pairs", j, end), f"unknown site {name!r}; sites are {listed}")
                )
        if _get(pair, "a") == _get(pair, "b") and isinstance(_get(pair, "a"), str):
            problems.append((("links", "pairs", j, "b"), "a link joins two different sites"))
    jobs = _items(values.get("jobs"))
    for i, job in enumerate(jobs):
        site = _get(job, "site")
        if isinstance(site, str) and site not in known:
            problems.append((("jobs", i, "site"), f"unknown site {site!r}; sites are {listed}"))
    problems += _repeated([_get(job, "name") for job in jobs], "jobs", "job")
    return problems


def _grid_problems(values: Mapping[str, Any]) -> list[Problem]:
    """[[grid]] signals name known sites, and no site gets two signals of one kind."""
    sites = _items(values.get("sites"))
    names = [_get(s, "name") for s in sites]
    listed = ", ".join(str(n) for n in names)
    problems: list[Problem] = []
    seen: dict[tuple[Any, Any], int] = {}
    signals = _items(values.get("grid_signals", values.get("grid")))
    for i, sig in enumerate(signals):
        named = _get(sig, "sites")
        for name in named or []:
            if name not in names:
                problems.append(
                    (("grid", i, "sites"), f"unknown site {name!r}; sites are {listed}")
                )
        for site in sites:
            name = _get(site, "name")
            if named is not None:
                hit = name in named
            elif _get(sig, "region") is not None:
                hit = _get(site, "region") == _get(sig, "region")
            else:
                hit = True
            key = (name, _get(sig, "signal"))
            if hit and key in seen:
                problems.append(
                    (
                        ("grid", i),
                        f"site {name!r} already has a {key[1]} signal ([[grid]] #{seen[key] + 1}); "
                        "give each site at most one signal of each kind (sites = [...], region)",
                    )
                )
            elif hit:
                seen[key] = i
    for i, site in enumerate(sites):
        if (
            _get(site, "curtailment_share") is not None
            and (
                _get(site, "name"),
                "curtailment",
            )
            not in seen
        ):
            problems.append(
                (
                    ("sites", i, "curtailment_share"),
                    "no [[grid]] curtailment signal applies to this site; add one "
                    "(signal = 'curtailment') for its region",
                )
            )
    return problems


def _source_problems(values: Mapping[str, Any]) -> list[Problem]:
    source = values.get("energy_source")
    kind = _get(source, "kind") or "weather"
    unit = _get(source, "unit") or "fraction"
    sites = _items(values.get("sites"))
    trace_sites = [(i, s) for i, s in enumerate(sites) if _get(s, "trace_column") is not None]
    problems: list[Problem] = []
    if trace_sites and kind != "trace":
        names = ", ".join(repr(_get(s, "name")) for _, s in trace_sites)
        problems.append(
            (
                ("energy_source", "kind"),
                f"sites {names} read a trace_column, but kind is {kind!r}; set kind = 'trace' "
                "and name the trace (trace = 'file.csv')",
            )
        )
    for i, site in trace_sites:
        if unit == "fraction" and _get(site, "trace_peak_kw") is None:
            problems.append(
                (
                    ("sites", i, "trace_peak_kw"),
                    "required with a trace in unit 'fraction' (0..1 of peak): the site's "
                    "peak power, kW",
                )
            )
        elif unit != "fraction" and _get(site, "trace_peak_kw") is not None:
            problems.append(
                (
                    ("sites", i, "trace_peak_kw"),
                    f"the trace is power already (unit {unit!r}): trace_peak_kw would scale it "
                    "a second time; leave it out, or use scale = ... for a share of the trace",
                )
            )
    if values.get("forecaster_name") == "solcast":
        if _get(source, "solcast") is None:
            problems.append(
                (("forecaster",), "'solcast' needs [energy_source] solcast = 'germany' or 'global'")
            )
        if len(trace_sites) != len(sites):
            problems.append((("forecaster",), "'solcast' needs every site to read a trace_column"))
    return problems


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
    return scenario_from_dict(_read_toml(file), source=file.name, path=file)


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(file.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{file.name}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ScenarioError(f"{file}: cannot read: {reason}") from None


@dataclasses.dataclass(frozen=True)
class ScenarioCheck:
    """What :func:`check_scenario` found in a scenario file.

    ``scenario`` is None when the schema does not hold; ``problems`` holds every problem found,
    one line each naming the file, the table, the field and what to change.
    """

    path: Path
    scenario: Scenario | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.scenario is not None and not self.problems


def check_scenario(
    path: str | Path,
    *,
    job_tables: Mapping[str, type[BaseModel]] | None = None,
    data: bool = True,
) -> ScenarioCheck:
    """Every problem of a scenario file at once (what ``greenhop scenario validate`` reports).

    Checks the schema (every field of every table, and the checks across tables), the jobs'
    sub-tables given in ``job_tables`` by key and model, e.g. ``{"live": LiveJobSpec}`` (the
    layers that read them own their models), and with ``data`` the trace the sites read
    (:meth:`Scenario.trace_problems`). A file that does not exist or is not TOML raises
    :class:`~greenhop.errors.ScenarioError`: there is nothing more to check in it.
    """
    file = resolve_scenario(path)
    raw = _read_toml(file)
    problems: list[str] = []
    scenario: Scenario | None = None
    try:
        scenario = scenario_from_dict(raw, source=file.name, path=file)
    except ScenarioError as exc:
        problems += str(exc).splitlines()
    for key, model in (job_tables or {}).items():
        for i, job in enumerate(_items(raw.get("jobs"))):
            table = job.get(key) if isinstance(job, dict) else None
            if not isinstance(table, dict):
                continue  # absent, or not a table: the schema has said so
            try:
                model.model_validate(table)
            except ValidationError as exc:
                problems += describe_validation_error(
                    exc, raw, source=file.name, root=model, prefix=("jobs", i, key)
                )
    if scenario is not None and data:
        problems += scenario.trace_problems()
        problems += scenario.weather_problems()
        problems += scenario.grid_problems()
    return ScenarioCheck(file, scenario, tuple(problems))


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
