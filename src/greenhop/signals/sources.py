"""Live sources: a site's meter read on the wall clock, through the one signal interface.

Three kinds, declared per site in a scenario's ``[sites.realtime]`` table (:class:`SiteFeed`):

- ``prometheus``: a PromQL query through a Prometheus server's HTTP API (``/api/v1/query``). The
  query must return one series (or a scalar); the sample's own time comes from ``timestamp(q)``
  (for a plain selector that is when the sample was scraped; for an expression Prometheus
  gives the evaluation time, so a dead target is seen when its series goes stale, after
  Prometheus' 5 min lookback or its staleness marker).
- ``http``: an endpoint returning JSON; ``field`` is a dotted path to the number
  (``"site.pv.power_w"``, list items by index: ``"readings.0.value"``), ``time_field`` the path
  to its time (ISO 8601 or POSIX seconds; without one, the time of the request).
- ``file``: a CSV or Parquet file a meter appends to; the newest complete row is read (a CSV is
  read from its end, so a file of years costs no more than one of minutes), its time from
  ``time_column`` (default: the first column).

Values are converted to W (``unit``: W, kW, MW, GW) and multiplied by ``scale``. Every source
raises :class:`~greenhop.signals.base.SignalUnavailable` when it cannot answer; what happens then
is :mod:`greenhop.signals.watch`'s business.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from greenhop.energy.traces import unit_factor_w
from greenhop.errors import InputError
from greenhop.signals.base import Sample, Signal, SignalUnavailable, check_value, utc

DEFAULT_TIMEOUT_S = 2.0
"""Seconds a request to a source may take before the reading counts as a timeout."""

DEFAULT_MAX_AGE = timedelta(minutes=15)
"""A sample older than this is stale (three 5-minute meter intervals)."""

CSV_TAIL_BYTES = 65536
"""How much of a CSV's end is read to find its newest complete row."""


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return pd.Timedelta(value).to_pytimedelta()
        except ValueError:
            raise ValueError(
                f"{value!r} is not a duration; write e.g. '90s', '5min' or '1h'"
            ) from None
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str = Field("W", description="unit of the source's values: W, kW, MW or GW")
    scale: float = Field(1.0, gt=0, description="factor applied after the unit conversion")
    timeout_s: float = Field(
        DEFAULT_TIMEOUT_S, gt=0, le=60, description="seconds a read may take before it times out"
    )
    max_age: timedelta = Field(
        DEFAULT_MAX_AGE,
        description="a newest sample older than this is stale, a duration like '90s' or '15min'",
    )

    @field_validator("max_age", mode="before")
    @classmethod
    def _parse_age(cls, value: Any) -> Any:
        return _duration(value)

    @field_validator("max_age")
    @classmethod
    def _positive_age(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("max_age must be longer than 0 s")
        return value

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, value: str) -> str:
        unit_factor_w(value)
        return value


class PrometheusSpec(_Spec):
    """A PromQL query through a Prometheus server's HTTP API."""

    kind: Literal["prometheus"]
    url: str = Field(description="the server, e.g. 'http://127.0.0.1:9090'")
    query: str = Field(min_length=1, description="a PromQL expression returning one series")


class HttpSpec(_Spec):
    """An HTTP endpoint returning JSON."""

    kind: Literal["http"]
    url: str = Field(description="the endpoint, e.g. 'http://meter.site-a.local/now'")
    field: str = Field(min_length=1, description="dotted path to the value in the JSON reply")
    time_field: str | None = Field(
        None, description="dotted path to the value's time (ISO 8601 or POSIX seconds)"
    )


class FileSpec(_Spec):
    """A CSV or Parquet file that a meter appends to."""

    kind: Literal["file"]
    path: str = Field(description="the file, relative to the scenario file")
    column: str = Field(min_length=1, description="the column holding the value")
    time_column: str | None = Field(None, description="the column of times (default: the first)")


SourceSpec = Annotated[PrometheusSpec | HttpSpec | FileSpec, Field(discriminator="kind")]


class ForecastHttpSpec(_Spec):
    """An HTTP endpoint returning a forecast as JSON: a list of points at ``field``."""

    kind: Literal["http"]
    url: str = Field(description="the endpoint")
    field: str = Field(
        "forecast", description="dotted path to the list of points in the JSON reply"
    )
    time_key: str = Field("time", description="each point's time (ISO 8601 or POSIX seconds)")
    value_key: str = Field("value", description="each point's value")


class ForecastFileSpec(_Spec):
    """A CSV or Parquet file of forecasts that is rewritten or appended to."""

    kind: Literal["file"]
    path: str = Field(description="the file, relative to the scenario file")
    column: str = Field(min_length=1, description="the column of forecast values")
    time_column: str | None = Field(
        None, description="the column of the times forecast (default: the first)"
    )
    issued_column: str | None = Field(
        None, description="the column of issue times; the newest issue is used (default: all)"
    )


ForecastSpec = Annotated[ForecastHttpSpec | ForecastFileSpec, Field(discriminator="kind")]


class SiteFeed(BaseModel):
    """What ``greenhop live --realtime`` reads for one site: ``[sites.realtime]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    power: SourceSpec = Field(description="the site's renewable power now")
    base_load: SourceSpec | None = Field(
        None, description="the site's other load now (default: the site's base_load_w)"
    )
    forecast: Literal["persistence", "clear-sky", "source"] = Field(
        "persistence",
        description=(
            "how the coming hours are forecast: 'persistence' (the value now holds for the "
            "forecast horizon), 'clear-sky' (the site's PV model under a clear sky, scaled to "
            "what is observed; needs latitude, longitude and [sites.pv]), or 'source' (read "
            "from forecast_source)"
        ),
    )
    forecast_source: ForecastSpec | None = Field(
        None, description="where forecasts of the site's power come from (forecast = 'source')"
    )

    @model_validator(mode="after")
    def _source_given(self) -> SiteFeed:
        if (self.forecast == "source") != (self.forecast_source is not None):
            raise ValueError(
                "forecast = 'source' needs a forecast_source table, and a forecast_source "
                "needs forecast = 'source'"
            )
        return self


# -- the sources ------------------------------------------------------------------------------


def _get_json(url: str, timeout_s: float, name: str) -> Any:
    failure: SignalUnavailable | None = None
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            body = reply.read(1 << 20)
    except TimeoutError:
        failure = SignalUnavailable("timeout", f"{name}: no answer from {url} in {timeout_s:g} s")
    except urllib.error.HTTPError as exc:
        failure = SignalUnavailable("unreachable", f"{name}: {url} answered HTTP {exc.code}")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            failure = SignalUnavailable(
                "timeout", f"{name}: no answer from {url} in {timeout_s:g} s"
            )
        else:
            failure = SignalUnavailable("unreachable", f"{name}: {url}: {exc.reason}")
    except (OSError, ValueError) as exc:
        failure = SignalUnavailable("unreachable", f"{name}: {url}: {exc}")
    if failure is not None:
        raise failure
    try:
        return json.loads(body)
    except ValueError:
        raise SignalUnavailable("garbage", f"{name}: {url} did not return JSON") from None


def _parse_time(value: Any, name: str) -> pd.Timestamp:
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return utc(float(value))
        return utc(str(value))
    except (TypeError, ValueError):
        raise SignalUnavailable("garbage", f"{name}: {str(value)[:60]!r} is not a time") from None


class _Source(Signal):
    def __init__(self, spec: _Spec, name: str) -> None:
        self.spec = spec
        self.name = name
        self.unit = "W"
        self._factor = unit_factor_w(spec.unit) * spec.scale

    def _watts(self, raw: Any) -> float:
        return check_value(raw, name=self.name) * self._factor


class PrometheusSource(_Source):
    """:class:`PrometheusSpec` read through ``/api/v1/query``."""

    spec: PrometheusSpec

    def _instant(self, query: str, now: pd.Timestamp) -> Any:
        url = (
            self.spec.url.rstrip("/")
            + "/api/v1/query?"
            + urllib.parse.urlencode({"query": query, "time": f"{now.timestamp():.3f}"})
        )
        reply = _get_json(url, self.spec.timeout_s, self.name)
        if not isinstance(reply, dict) or reply.get("status") != "success":
            error = reply.get("error") if isinstance(reply, dict) else None
            raise SignalUnavailable("garbage", f"{self.name}: Prometheus says {error!r}")
        data = reply.get("data") or {}
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar":
            return result
        if kind != "vector" or not isinstance(result, list):
            raise SignalUnavailable(
                "garbage", f"{self.name}: {query!r} gives a {kind}, not one value"
            )
        if not result:
            raise SignalUnavailable("no-data", f"{self.name}: {query!r} returns no series now")
        if len(result) > 1:
            raise SignalUnavailable(
                "garbage",
                f"{self.name}: {query!r} returns {len(result)} series; make it return one "
                "(e.g. with a label matcher or sum(...))",
            )
        return result[0].get("value")

    def at(self, now: pd.Timestamp) -> Sample:
        now = utc(now)
        value = self._instant(self.spec.query, now)
        stamp = self._instant(f"timestamp({self.spec.query})", now)
        try:
            when = utc(float(stamp[1]))
            raw = value[1]
        except (TypeError, ValueError, IndexError):
            raise SignalUnavailable("garbage", f"{self.name}: unexpected reply {value!r}") from None
        return Sample(self._watts(raw), when)


def _dig(doc: Any, path: str, name: str) -> Any:
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif (
            isinstance(doc, list)
            and part.lstrip("-").isdigit()
            and -len(doc) <= int(part) < len(doc)
        ):
            doc = doc[int(part)]
        else:
            raise SignalUnavailable("garbage", f"{name}: the reply has no {path!r}")
    return doc


class HttpSource(_Source):
    """:class:`HttpSpec`: one GET per reading."""

    spec: HttpSpec

    def at(self, now: pd.Timestamp) -> Sample:
        doc = _get_json(self.spec.url, self.spec.timeout_s, self.name)
        value = self._watts(_dig(doc, self.spec.field, self.name))
        if self.spec.time_field is None:
            return Sample(value, utc(now))
        return Sample(value, _parse_time(_dig(doc, self.spec.time_field, self.name), self.name))


class FileSource(_Source):
    """:class:`FileSpec`: the newest complete row of a file that grows."""

    spec: FileSpec

    def __init__(self, spec: FileSpec, name: str, path: Path) -> None:
        super().__init__(spec, name)
        self.path = path

    def _last_row(self) -> pd.Series:
        if not self.path.exists():
            raise SignalUnavailable("unreachable", f"{self.name}: {self.path} does not exist")
        try:
            if self.path.suffix.lower() in (".parquet", ".pq"):
                frame = pd.read_parquet(self.path)
            else:
                frame = self._csv_tail()
        except SignalUnavailable:
            raise
        except Exception as exc:  # a file half-written by its meter, or not a table
            raise SignalUnavailable("garbage", f"{self.name}: {self.path}: {exc}") from None
        if frame.empty:
            raise SignalUnavailable("no-data", f"{self.name}: {self.path} has no rows yet")
        return frame.iloc[-1]

    def _csv_tail(self) -> pd.DataFrame:
        with self.path.open("rb") as fh:
            header = fh.readline()
            size = fh.seek(0, io.SEEK_END)
            start = max(len(header), size - CSV_TAIL_BYTES)
            fh.seek(start)
            tail = fh.read()
        if start > len(header):  # drop the partial first line of the tail
            tail = tail.split(b"\n", 1)[1] if b"\n" in tail else b""
        if not tail.endswith(b"\n"):  # the meter is writing its last line: use the one before
            tail = tail.rsplit(b"\n", 1)[0] + b"\n" if b"\n" in tail else b""
        return pd.read_csv(io.BytesIO(header + tail))

    def at(self, now: pd.Timestamp) -> Sample:
        row = self._last_row()
        if self.spec.column not in row.index:
            raise SignalUnavailable(
                "garbage", f"{self.name}: {self.path} has no column {self.spec.column!r}"
            )
        time_col = self.spec.time_column or str(row.index[0])
        if time_col not in row.index:
            raise SignalUnavailable(
                "garbage", f"{self.name}: {self.path} has no column {time_col!r}"
            )
        return Sample(self._watts(row[self.spec.column]), _parse_time(row[time_col], self.name))


class ForecastSource:
    """A forecast read live: :meth:`path` gives the newest forecast, W, from ``now`` on."""

    def __init__(
        self, spec: ForecastHttpSpec | ForecastFileSpec, name: str, path: Path | None = None
    ) -> None:
        self.spec = spec
        self.name = name
        self.file = path
        self._factor = unit_factor_w(spec.unit) * spec.scale

    def _points(self) -> pd.Series:
        spec = self.spec
        if isinstance(spec, ForecastHttpSpec):
            points = _dig(_get_json(spec.url, spec.timeout_s, self.name), spec.field, self.name)
            if not isinstance(points, list) or not points:
                raise SignalUnavailable("garbage", f"{self.name}: {spec.field!r} holds no points")
            try:
                times = [_parse_time(p[spec.time_key], self.name) for p in points]
                values = [check_value(p[spec.value_key], name=self.name) for p in points]
            except (KeyError, TypeError):
                raise SignalUnavailable(
                    "garbage", f"{self.name}: points need {spec.time_key!r} and {spec.value_key!r}"
                ) from None
            return pd.Series(values, index=pd.DatetimeIndex(times))
        assert self.file is not None
        if not self.file.exists():
            raise SignalUnavailable("unreachable", f"{self.name}: {self.file} does not exist")
        try:
            if self.file.suffix.lower() in (".parquet", ".pq"):
                frame = pd.read_parquet(self.file)
            else:
                frame = pd.read_csv(self.file)
            time_col = spec.time_column or str(frame.columns[0])
            if spec.issued_column is not None:
                issued = pd.to_datetime(frame[spec.issued_column], utc=True)
                frame = frame[issued == issued.max()]
            index = pd.DatetimeIndex(pd.to_datetime(frame[time_col], utc=True))
            values = [check_value(v, name=self.name) for v in frame[spec.column]]
        except SignalUnavailable:
            raise
        except Exception as exc:  # a file half-written, a column missing
            raise SignalUnavailable("garbage", f"{self.name}: {self.file}: {exc}") from None
        return pd.Series(values, index=index)

    def path(self, now: pd.Timestamp) -> pd.Series:
        """The newest forecast's points at or after ``now`` (W, UTC, sorted); raises
        :class:`SignalUnavailable` when there is none (``stale``: it ends before ``now``)."""
        points = self._points().sort_index() * self._factor
        points = points[~points.index.duplicated(keep="last")]
        ahead = points[points.index >= utc(now) - pd.Timedelta(self.spec.max_age)]
        if ahead.empty:
            raise SignalUnavailable("stale", f"{self.name}: the forecast ends before {now}")
        return ahead


def make_forecast_source(
    spec: ForecastHttpSpec | ForecastFileSpec, *, name: str, base_dir: Path | None = None
) -> ForecastSource:
    """The forecast source ``spec`` describes (a file is relative to ``base_dir``)."""
    path = None
    if isinstance(spec, ForecastFileSpec):
        path = Path(spec.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
    return ForecastSource(spec, name, path)


def make_source(
    spec: PrometheusSpec | HttpSpec | FileSpec, *, name: str, base_dir: Path | None = None
) -> Signal:
    """The live source ``spec`` describes, named ``name`` (a file is relative to ``base_dir``)."""
    if isinstance(spec, PrometheusSpec):
        return PrometheusSource(spec, name)
    if isinstance(spec, HttpSpec):
        return HttpSource(spec, name)
    if isinstance(spec, FileSpec):
        path = Path(spec.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return FileSource(spec, name, path)
    raise InputError(f"unknown source {spec!r}")
