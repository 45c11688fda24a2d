"""The signal interface and the live sources, against real servers and real files.

A replayed Solcast trace answers ``at(now)`` as the simulator reads it; an HTTP meter, a CSV a
thread appends to, and a real Prometheus scraping a ``prometheus-client`` exporter answer as live
sources; each fault (unreachable, timeout, garbage, negative, stale) becomes an unknown reading
and an episode that closes when the source recovers.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from signal_servers import (
    NO_PROMETHEUS,
    PROMETHEUS,
    JsonMeter,
    PrometheusServer,
    TraceExporter,
    free_port,
    json_meter,  # noqa: F401 (a fixture)
    wait_for,
)

from greenhop.signals import SignalUnavailable, TraceSignal, Watched
from greenhop.signals.feed import SiteFeeds
from greenhop.signals.sources import FileSpec, HttpSpec, PrometheusSpec, make_source

NOW = pd.Timestamp.now


def test_a_replayed_trace_answers_as_the_simulator_reads_it(solcast_germany) -> None:  # type: ignore[no-untyped-def]
    berlin = solcast_germany.actual["Berlin"] * 20_000.0  # a 20 kW array
    signal = TraceSignal(berlin, name="berlin")
    grid = berlin.index[100:400]
    assert np.array_equal(signal.on_grid(grid), berlin.to_numpy()[100:400])
    mid = grid[10] + pd.Timedelta(minutes=2)  # inside a step: the step's value holds
    sample = signal.at(mid)
    assert sample.value == berlin.iloc[110] and sample.time == grid[10]
    with pytest.raises(SignalUnavailable) as before:
        signal.at(berlin.index[0] - pd.Timedelta(seconds=1))
    assert before.value.reason == "no-data"
    with pytest.raises(SignalUnavailable):
        signal.at(berlin.index[-1] + pd.Timedelta(minutes=5))


def test_an_http_meter_and_each_of_its_faults(json_meter: JsonMeter) -> None:  # noqa: F811
    spec = HttpSpec(
        kind="http",
        url=json_meter.url,
        field="power.w",
        time_field="time",
        unit="kW",
        timeout_s=0.5,
        max_age="1min",
    )
    watched = Watched(make_source(spec, name="a.power"), pd.Timedelta(spec.max_age))
    json_meter.value_w = 1.5
    ok = watched.read(NOW(tz="UTC"))
    assert ok.known and ok.value == pytest.approx(1500.0)  # kW -> W
    for mode, reason in [
        ("garbage", "garbage"),
        ("nan", "garbage"),
        ("negative", "garbage"),
        ("slow", "timeout"),
        ("stale", "stale"),
        ("error", "unreachable"),
    ]:
        json_meter.mode = mode
        r = watched.read(NOW(tz="UTC"))
        assert not r.known and r.reason == reason, (mode, r)
    json_meter.mode = "ok"
    assert watched.read(NOW(tz="UTC")).known
    reasons = [e.reason for e in watched.episodes]
    assert reasons == ["garbage", "timeout", "stale", "unreachable"]  # garbage x3 is one episode
    assert watched.episodes[0].readings == 3
    assert all(not e.open for e in watched.episodes)  # recovered: every episode closed
    json_meter.close()
    gone = watched.read(NOW(tz="UTC"))
    assert gone.reason == "unreachable" and watched.current is not None


def test_a_csv_that_a_meter_appends_to(tmp_path: Path, solcast_germany) -> None:  # type: ignore[no-untyped-def]
    """A thread appends real 5-minute values to a CSV, the last line sometimes half written;
    the source reads the newest complete row; when the writer stops, the value goes stale."""
    values = (solcast_germany.actual["Munich"].to_numpy()[144:244] * 8000.0).round(1)
    path = tmp_path / "meter.csv"
    path.write_text("time,power_w\n")
    written = []
    stop = threading.Event()

    def writer() -> None:
        for v in values:
            if stop.is_set():
                return
            stamp = pd.Timestamp.now(tz="UTC").isoformat()
            line = f"{stamp},{v}\n"
            with path.open("a") as fh:  # in two writes: a reader may see half a line
                fh.write(line[:10])
                fh.flush()
                time.sleep(0.005)
                fh.write(line[10:])
            written.append(v)
            time.sleep(0.02)

    spec = FileSpec(kind="file", path="meter.csv", column="power_w", max_age="2s")
    source = make_source(spec, name="b.power", base_dir=tmp_path)
    watched = Watched(source, pd.Timedelta(spec.max_age))
    assert watched.read(NOW(tz="UTC")).reason == "no-data"  # a header, no rows yet
    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    while thread.is_alive():
        r = watched.read(NOW(tz="UTC"))
        if r.known:
            seen.append(r.value)
        time.sleep(0.003)
    thread.join()
    assert seen, "the source never read a row"
    assert set(seen) <= set(values)  # only complete rows, never half a number
    assert watched.read(NOW(tz="UTC")).value == written[-1]
    wait_for(lambda: watched.read(NOW(tz="UTC")).reason == "stale", timeout_s=10)
    # a Parquet file the meter rewrites
    pq = tmp_path / "meter.parquet"
    pd.DataFrame({"time": [pd.Timestamp.now(tz="UTC")], "power_w": [values[5]]}).to_parquet(pq)
    spec_pq = FileSpec(kind="file", path=str(pq), column="power_w")
    assert make_source(spec_pq, name="b.pq").at(NOW(tz="UTC")).value == values[5]


def test_site_feeds_hold_a_blind_sites_last_value_but_book_it_as_dark(
    json_meter: JsonMeter,  # noqa: F811
) -> None:
    spec = HttpSpec(
        kind="http", url=json_meter.url, field="power.w", time_field="time", timeout_s=0.5
    )
    closed = HttpSpec(kind="http", url=f"http://127.0.0.1:{free_port()}/", field="w", timeout_s=0.5)
    feeds = SiteFeeds(
        ["a", "b"],
        [
            Watched(make_source(spec, name="a"), pd.Timedelta("1min")),
            Watched(make_source(closed, name="b"), pd.Timedelta("1min")),
        ],
        [None, None],
        [100.0, 50.0],
    )
    json_meter.value_w = 900.0
    first = feeds.read(NOW(tz="UTC"))
    assert first.seen.tolist() == [True, False]
    assert first.view_surplus_w.tolist() == [800.0, -50.0]
    json_meter.mode = "error"
    dark = feeds.read(NOW(tz="UTC"))
    assert dark.blind.tolist() == [True, True]
    assert dark.view_surplus_w[0] == 800.0  # the last good value holds for the view
    assert dark.settled_surplus_w[0] == -100.0  # but the ledger books no renewable power
    fc = feeds.forecast_at(first, 60.0, run_left_s=1800.0)
    assert fc.remaining_window_s(500.0).tolist() == [1800.0, 0.0]  # to the run's end at most
    assert fc.surplus_w(3)[:, 0].tolist() == [800.0] * 3


@pytest.mark.skipif(PROMETHEUS is None, reason=NO_PROMETHEUS)
def test_a_real_prometheus_scraping_a_trace_exporter(tmp_path: Path, solcast_global) -> None:  # type: ignore[no-untyped-def]
    """A real Prometheus scrapes an exporter replaying two real cities' PV; the source reads
    each site's value and its scrape time; the exporter's death shows as no-data (the series
    goes stale) and its return as a recovery."""
    actual = solcast_global.actual
    traces = {
        "berlin": actual["Berlin"].to_numpy()[120:400] * 10_000.0,
        "sydney": actual["Sydney"].to_numpy()[120:400] * 10_000.0,
    }
    port = free_port()
    exporter = TraceExporter(traces, rows_per_s=2.0, port=port)
    prom = PrometheusServer(tmp_path, [f"127.0.0.1:{port}"])
    try:
        spec = PrometheusSpec(
            kind="prometheus",
            url=prom.url,
            query='greenhop_site_power_w{site="berlin"}',
            max_age="5s",
        )
        watched = Watched(make_source(spec, name="berlin.power"), pd.Timedelta("5s"))
        first = wait_for(lambda: (r := watched.read(NOW(tz="UTC"))).known and r, timeout_s=30)
        assert first.value in set(traces["berlin"])
        assert NOW(tz="UTC") - first.time < pd.Timedelta("5s")
        both = PrometheusSpec(kind="prometheus", url=prom.url, query="greenhop_site_power_w")
        r = Watched(make_source(both, name="x"), pd.Timedelta("1min")).read(NOW(tz="UTC"))
        assert r.reason == "garbage" and "2 series" in r.detail
        exporter.down()
        gone = wait_for(
            lambda: (r := watched.read(NOW(tz="UTC"))).reason in ("no-data", "stale") and r,
            timeout_s=30,
        )
        assert not gone.known
        exporter.serve()
        wait_for(lambda: watched.read(NOW(tz="UTC")).known, timeout_s=30)
        assert watched.episodes and not watched.episodes[-1].open
        dead = PrometheusSpec(
            kind="prometheus", url=f"http://127.0.0.1:{free_port()}", query="up", timeout_s=0.5
        )
        d = Watched(make_source(dead, name="dead"), pd.Timedelta("1min")).read(NOW(tz="UTC"))
        assert d.reason == "unreachable"
    finally:
        prom.close()
        exporter.close()


def test_forecasts_from_a_file_source_and_from_the_clear_sky(
    tmp_path: Path, solcast_germany
) -> None:  # type: ignore[no-untyped-def]
    """A site's forecast read from a file of real Solcast forecasts (the newest issue is used,
    held between its points); when the file goes, persistence, with the reason kept. A PV site's
    clear-sky forecast scales pvlib's clear sky to what is observed."""
    from greenhop.signals.sources import ForecastFileSpec, SiteFeed, make_forecast_source

    fc = solcast_germany.forecast
    berlin = fc[fc["site"] == "Berlin"]
    issues = berlin["issued_at"].drop_duplicates()
    noon = issues[issues.dt.hour == 10].iloc[:2]  # two issues on the first morning
    rows = berlin[berlin["issued_at"].isin(noon)]
    path = tmp_path / "forecast.csv"
    rows[["period_end", "issued_at", "value"]].to_csv(path, index=False)
    spec = SiteFeed.model_validate(
        {
            "power": {"kind": "file", "path": "meter.csv", "column": "w"},
            "forecast": "source",
            "forecast_source": {
                "kind": "file",
                "path": "forecast.csv",
                "column": "value",
                "issued_column": "issued_at",
                "unit": "kW",
                "scale": 20.0,
            },
        }
    )
    assert isinstance(spec.forecast_source, ForecastFileSpec)
    now = noon.iloc[1]
    (tmp_path / "meter.csv").write_text(f"time,w\n{now.isoformat()},7000\n")
    feeds = SiteFeeds(
        ["berlin"],
        [Watched(make_source(spec.power, name="p", base_dir=tmp_path), pd.Timedelta("1h"))],
        [None],
        [0.0],
        forecast=["source"],
        forecast_sources=[make_forecast_source(spec.forecast_source, name="f", base_dir=tmp_path)],
    )
    reading = feeds.read(now)
    assert reading.seen[0] and reading.generation_w[0] == 7000.0
    newest = rows[rows["issued_at"] == now].set_index("period_end")["value"] * 20_000.0
    got = feeds.forecast_at(reading, 300.0, run_left_s=1e9)
    path_w = got.surplus_w(6)[:, 0]
    assert path_w[0] == 7000.0  # now is observed
    expected = newest.reindex(pd.date_range(now, periods=6, freq="5min")).ffill().bfill()
    assert np.allclose(path_w[1:], expected.to_numpy()[1:])
    assert feeds.forecast_problem == [""]
    path.unlink()
    fallback = feeds.forecast_at(feeds.read(now), 300.0, run_left_s=1e9)
    assert "does not exist" in feeds.forecast_problem[0]
    assert fallback.surplus_w(4)[:, 0].tolist() == [7000.0] * 4


def test_clear_sky_forecast_scales_the_model_to_what_is_observed() -> None:
    from greenhop.live.control.realtime import _clear_sky_w
    from greenhop.scenario import Site

    site = Site.model_validate(
        {
            "name": "greensboro",
            "gpu_slots": 1,
            "pv": {"peak_kw": 10.0, "tilt_deg": 30.0, "azimuth_deg": 180.0},
        }
    )
    now = pd.Timestamp("2024-06-18T16:00:00Z")  # noon in North Carolina
    times = pd.date_range(now, periods=4, freq="15min")
    clear = _clear_sky_w(times, site)
    assert 5000.0 < clear[0] < 10_000.0  # a 10 kWp array at noon in June under a clear sky
    model = lambda t: _clear_sky_w(t, site)  # noqa: E731
    observed = 0.5 * clear[0]
    feeds = SiteFeeds(
        ["greensboro"],
        [
            Watched(
                TraceSignal(pd.Series([observed], index=[now]), hold=pd.Timedelta("1h")),
                pd.Timedelta("1h"),
            )
        ],
        [None],
        [0.0],
        forecast=["clear-sky"],
        clear_sky=[model],
    )
    got = feeds.forecast_at(feeds.read(now), 900.0, run_left_s=1e9).surplus_w(4)[:, 0]
    assert got[0] == pytest.approx(observed)
    assert np.allclose(got[1:], 0.5 * clear[1:], rtol=1e-9)


def test_scenario_meters_reads_every_sites_sources_once(
    tmp_path: Path,
    json_meter: JsonMeter,  # noqa: F811
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """`greenhop scenario meters` shows what each site's source gives now, and exits 1 when
    one gives nothing usable."""
    scenario = tmp_path / "sites.toml"
    dead = f"http://127.0.0.1:{free_port()}/"
    scenario.write_text(
        f"""
name = "meters"
start = 2024-06-18T00:00:00Z
end = 2024-06-18T01:00:00Z
step = "1min"
[[sites]]
name = "a"
gpu_slots = 1
[sites.realtime.power]
kind = "http"
url = "{json_meter.url}"
field = "power.w"
time_field = "time"
unit = "kW"
[[sites]]
name = "b"
gpu_slots = 1
realtime = {{ power = {{ kind = "http", url = "{dead}", field = "w", timeout_s = 0.5 }} }}
"""
    )
    json_meter.value_w = 2.5
    code, out, err = cli("scenario", "meters", str(scenario), "--json")
    assert code == 1, err
    doc = json.loads(out)
    by_site = {r["site"]: r for r in doc["readings"]}
    assert by_site["a"]["ok"] and by_site["a"]["value_w"] == 2500.0
    assert by_site["b"]["reason"] == "unreachable" and not doc["ok"]
    code, out, err = cli("scenario", "meters", str(scenario))
    assert code == 1 and "unreachable" in out and "2.500" in out
