"""Grid signals on real data: WattTime's CAISO-North marginal emissions (with the forecasts
issued at the time) and a CAISO NP15 week of price and curtailment (tests/data: copies of the
project's shared test data, with their provenance)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import WATTTIME, unpack_grid_data

from greenhop.errors import ScenarioError, TraceError
from greenhop.runner import run_policies
from greenhop.scenario import load_scenario
from greenhop.signals.base import SignalUnavailable
from greenhop.signals.grid import (
    G_PER_LB,
    read_caiso_curtailments,
    read_carbon,
    read_curtailment,
    read_dr_events,
    read_issued_forecast,
    read_price,
)
from greenhop.sim.metrics import job_table, site_power_frame, summary
from greenhop.world import ledger
from greenhop.world.inputs import SimInputs


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real files, unpacked into a folder a scenario can point at."""
    return unpack_grid_data(tmp_path_factory.mktemp("grid"))


def carbon_scenario(folder: Path, *, pue: float = 1.0, extra: str = "") -> Path:
    text = f"""
name = "carbon-week"
start = 2023-06-12T00:00:00Z
end = 2023-06-14T00:00:00Z
step = "15min"
forecaster = "persistence"
[energy_source]
kind = "weather"
[[sites]]
name = "greensboro"
gpu_slots = 4
base_load_w = 6000.0
pv = {{ peak_kw = 10.0, tilt_deg = 30.0, azimuth_deg = 180.0 }}
pue = {pue}
[[sites]]
name = "piedmont"
gpu_slots = 4
base_load_w = 2000.0
pv = {{ peak_kw = 6.0, tilt_deg = 30.0, azimuth_deg = 180.0 }}
[[grid]]
signal = "carbon"
kind = "marginal"
file = "{WATTTIME}_actual.csv"
unit = "lbs/MWh"
label = "end"
forecast = "{WATTTIME}_forecast.csv"
[[jobs]]
name = "a"
arrival = 2023-06-12T02:00:00Z
work_gpu_h = 6.0
power_w = 400.0
checkpoint_gb = 2.0
deadline = 2023-06-13T12:00:00Z
[[jobs]]
name = "b"
arrival = 2023-06-12T20:00:00Z
work_gpu_h = 8.0
power_w = 400.0
checkpoint_gb = 2.0
{extra}
"""
    path = folder / f"carbon-{pue:g}.toml"
    path.write_text(text)
    return path


def test_watttime_lbs_per_mwh_become_grams_per_kwh(data: Path) -> None:
    raw = pd.read_csv(data / f"{WATTTIME}_actual.csv")
    sig = read_carbon(data / f"{WATTTIME}_actual.csv", unit="lbs/MWh", kind="marginal")
    assert sig.unit == "gCO2e/kWh" and sig.name == "carbon:marginal:Caiso_North"
    first = sig.at(pd.Timestamp(raw["time"].iloc[0], tz="UTC"))
    assert first.value == pytest.approx(raw["Caiso_North"].iloc[0] * G_PER_LB / 1000.0)
    # end labels move back one step (5 min)
    ended = read_carbon(data / f"{WATTTIME}_actual.csv", unit="lbs/MWh", label="end")
    assert ended._index[0] == sig._index[0] - pd.Timedelta("5min")
    with pytest.raises(SignalUnavailable):
        sig.at(pd.Timestamp("2023-06-01", tz="UTC"))


def test_issued_forecasts_are_the_ones_known_then(data: Path) -> None:
    fc = read_issued_forecast(data / f"{WATTTIME}_forecast.csv", factor=G_PER_LB / 1000.0)
    raw = pd.read_csv(data / f"{WATTTIME}_forecast.csv", parse_dates=["request_time"])
    now = pd.Timestamp("2023-06-20 12:02", tz="UTC")
    targets, values = fc.latest(now)
    issued = raw["request_time"][raw["request_time"] <= now.tz_localize(None)].max()
    rows = raw[raw["request_time"] == issued]
    assert len(values) == len(rows)
    np.testing.assert_allclose(values, rows["Caiso_North"].to_numpy() * G_PER_LB / 1000.0)
    assert (targets > now - pd.Timedelta("5min")).all()


def test_np15_price_and_curtailment(data: Path) -> None:
    price = read_price(data / "np15.csv", column="LMP_NP15", unit="$/MWh")
    assert price.unit == "USD/MWh"
    raw = pd.read_csv(data / "np15.csv")
    assert price._values.max() == pytest.approx(raw["LMP_NP15"].max())
    cur = read_curtailment(data / "np15.csv", column="Total_Curtailment_NP15_MW", unit="MW")
    assert cur.unit == "W"
    assert cur._values.max() == pytest.approx(raw["Total_Curtailment_NP15_MW"].max() * 1e6)
    with pytest.raises(TraceError, match="unknown price unit"):
        read_price(data / "np15.csv", column="LMP_NP15", unit="dollars")
    with pytest.raises(TraceError, match="no column 'LMP'"):
        read_price(data / "np15.csv", column="LMP")


def test_a_gap_in_a_signal_is_named_with_its_file_line(data: Path, tmp_path: Path) -> None:
    lines = (data / "np15.csv").read_text().splitlines()
    del lines[10]
    bad = tmp_path / "gap.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"gap\.csv: 1 gaps in the 0 days 01:00:00 grid"):
        read_price(bad, column="LMP_NP15")


def test_caiso_curtailment_layout(tmp_path: Path, data: Path) -> None:
    """CAISO's sheet: Date, Hour (1..24, ending), Interval (1..12), MW; only curtailed
    intervals listed, one row per reason. Built from the NP15 week's real hourly values."""
    raw = pd.read_csv(data / "np15.csv", parse_dates=["datetime"])
    local = raw["datetime"].dt.tz_localize("UTC").dt.tz_convert("America/Los_Angeles")
    rows = []
    for t, mw in zip(local, raw["Total_Curtailment_NP15_MW"], strict=True):
        if mw <= 0:
            continue
        for interval in range(1, 13):  # split over two reasons, as the sheet does
            rows.append((t.strftime("%Y-%m-%d"), t.hour + 1, interval, 0.0, mw / 2, "Local"))
            rows.append((t.strftime("%Y-%m-%d"), t.hour + 1, interval, 0.0, mw / 2, "System"))
    sheet = pd.DataFrame(
        rows,
        columns=["Date", "Hour", "Interval", "Wind Curtailment", "Solar Curtailment", "Reason"],
    )
    sheet.to_csv(tmp_path / "curtail.csv", index=False)
    sig = read_caiso_curtailments(tmp_path / "curtail.csv")
    hourly = pd.Series(sig._values, index=sig._index).resample("1h").mean()
    want = raw.set_index(raw["datetime"].dt.tz_localize("UTC"))["Total_Curtailment_NP15_MW"]
    both = hourly.reindex(want.index).fillna(0.0)
    np.testing.assert_allclose(both.to_numpy(), want.to_numpy() * 1e6, rtol=1e-9)
    sheet.drop(columns=["Interval"]).to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(TraceError, match="missing columns \\['Interval'\\]"):
        read_caiso_curtailments(tmp_path / "broken.csv")


def test_demand_response_events(tmp_path: Path) -> None:
    path = tmp_path / "dr.csv"
    path.write_text("start,end,cap_kw\n2023-06-12T18:00Z,2023-06-12T20:00Z,0.5\n")
    sig = read_dr_events(path)
    assert sig.at(pd.Timestamp("2023-06-12T19:00Z")).value == 500.0
    assert math.isinf(sig.at(pd.Timestamp("2023-06-12T21:00Z")).value)
    path.write_text("start,end,cap_kw\n2023-06-12T18:00Z,2023-06-12T17:00Z,-1\n")
    with pytest.raises(TraceError, match=r"line 2: end .* is not after start"):
        read_dr_events(path)


def test_scenario_grid_signals_and_the_ledger(data: Path) -> None:
    sc = load_scenario(carbon_scenario(data))
    inputs = SimInputs.from_scenario(sc)
    grid = inputs.grid
    assert grid is not None and grid.carbon is not None and grid.carbon_kind == "marginal"
    # 15 min steps average three 5 min values of the real trace
    raw = read_carbon(data / f"{WATTTIME}_actual.csv", unit="lbs/MWh", label="end")
    t0 = pd.Timestamp("2023-06-12T00:00Z")
    three = [raw.at(t0 + pd.Timedelta(minutes=m)).value for m in (0, 5, 10)]
    assert grid.carbon.values[0, 0] == pytest.approx(np.mean(three))
    (rec,) = run_policies(inputs, ["stay"])
    s = summary(rec)
    acc = ledger.grid_accounts(rec)
    by_hand = (rec.grid_w * grid.carbon.values).sum() * inputs.step_s / 3.6e6 / 1000.0
    assert s["emissions_kgco2e"] == pytest.approx(by_hand)  # no transfers under stay
    assert s["grid_kwh"] == pytest.approx(ledger.grid_kwh(rec))  # PUE 1
    assert s["energy_cost"] is None  # no price signal: absent, not 0
    assert s["currency"] is None
    jobs = job_table(rec)
    assert jobs["emissions_kgco2e"].sum() <= acc.emissions_kg + 1e-9
    frame = site_power_frame(rec)
    assert "carbon_g_per_kwh" in frame and "grid_w" in frame


def test_pue_scales_the_facility_load(data: Path) -> None:
    one = SimInputs.from_scenario(load_scenario(carbon_scenario(data, pue=1.0)))
    more = SimInputs.from_scenario(load_scenario(carbon_scenario(data, pue=1.5)))
    (r1,) = run_policies(one, ["stay"])
    (r2,) = run_policies(more, ["stay"])
    # the same decisions, the same IT load; the facility draws 1.5 x at greensboro
    np.testing.assert_array_equal(r1.it_load_w, r2.it_load_w)
    fac = ledger.facility_grid_w(r2)
    green = np.maximum(more.surplus_w, 0.0)
    want = np.maximum(r2.it_load_w * np.array([1.5, 1.0]) - green, 0.0)
    np.testing.assert_allclose(fac, want)
    assert summary(r2)["grid_kwh"] > summary(r1)["grid_kwh"]
    assert summary(r2)["non_renewable_kwh"] == pytest.approx(summary(r1)["non_renewable_kwh"])


def test_a_signal_that_misses_the_run_is_refused(data: Path) -> None:
    text = carbon_scenario(data).read_text().replace("2023-06-12T00", "2023-08-12T00")
    text = text.replace("2023-06-14T00", "2023-08-14T00")
    path = data / "late.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=r"late.toml: \[\[grid\]\] #1 \(carbon, .*cover"):
        SimInputs.from_scenario(load_scenario(path))


def test_default_scenario_has_no_grid_figures() -> None:
    sc = load_scenario("default")
    inputs = SimInputs.from_scenario(sc)
    assert inputs.grid is not None and not inputs.grid.has_signals
    assert (inputs.grid.pue == 1.0).all()


def test_simulate_cli_shows_emissions(data: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = carbon_scenario(data)
    code, out, _ = cli("simulate", str(path), "--policy", "stay", "--out", str(tmp_path / "r"))
    assert code == 0
    assert "kg CO2e" in out and "grid side" in out
    saved = json.loads((tmp_path / "r" / "summary.json").read_text())["policies"][0]
    assert saved["carbon_signal"] == "marginal" and saved["emissions_kgco2e"] > 0
    assert saved["energy_cost"] is None
    html = (tmp_path / "r" / "report.html").read_text()
    assert 'href="#def-emissions">Emissions (kg CO2e)</a>' in html
    assert 'href="#def-energy-cost">Energy cost</a>' not in html  # no price: no row
    assert "<th>PUE</th>" in html or ">PUE<" in html  # the settings name the grid signals
    sites = pd.read_csv(tmp_path / "r" / "grid_sites.csv")
    assert list(sites["site"]) == ["greensboro", "piedmont"]
    assert sites["emissions_kgco2e"].sum() == pytest.approx(saved["emissions_kgco2e"])
    assert sites["energy_cost"].isna().all()


def test_a_live_source_serves_the_same_carbon_signal(data: Path, tmp_path: Path) -> None:
    """WattTime's rows appended to a file a live source reads: the same g/kWh as the trace."""
    from greenhop.signals.grid import live_grid_signal
    from greenhop.signals.sources import FileSpec

    rows = (data / f"{WATTTIME}_actual.csv").read_text().splitlines()
    meter = tmp_path / "moer-live.csv"
    meter.write_text("\n".join(rows[:101]) + "\n")  # the header and 100 readings so far
    spec = FileSpec(kind="file", path=str(meter), column="Caiso_North", time_column="time")
    live = live_grid_signal(spec, signal="carbon", unit="lbs/MWh", kind="marginal", name="moer")
    trace = read_carbon(data / f"{WATTTIME}_actual.csv", unit="lbs/MWh", kind="marginal")
    sample = live.at(pd.Timestamp("2023-06-20", tz="UTC"))
    assert live.unit == "gCO2e/kWh" and live.name == "carbon:marginal:moer"
    assert sample.value == pytest.approx(trace.at(sample.time).value)
    with pytest.raises(TraceError, match="unit = 'W' and scale = 1"):
        live_grid_signal(
            FileSpec(kind="file", path=str(meter), column="Caiso_North", unit="kW"),
            signal="carbon",
            unit="lbs/MWh",
            name="moer",
        )


def test_grid_forecast_is_issued_then_daily_persistence(data: Path) -> None:
    """Row 0 is the value now; WattTime's own forecast where it reaches (85 min); the value a
    day earlier beyond it."""
    inputs = SimInputs.from_scenario(load_scenario(carbon_scenario(data)))
    grid = inputs.grid
    assert grid is not None and grid.carbon is not None
    actual = grid.carbon.values[:, 0]
    k = 4 * 30  # 2023-06-13 06:00, a day and a half in
    fc = grid.forecast("carbon", k, 16)
    assert fc[0, 0] == actual[k]
    issued = grid.carbon.issued[0]
    assert issued is not None
    now = inputs.start + pd.Timedelta(seconds=k * inputs.step_s)
    targets, values = issued.latest(now)
    lo, hi = now + pd.Timedelta("30min"), now + pd.Timedelta("45min")
    in_step = values[(targets >= lo) & (targets < hi)]
    assert len(in_step) == 3  # three 5 min periods in the 15 min step
    assert fc[2, 0] == pytest.approx(in_step.mean())  # two steps ahead: issued, averaged
    assert fc[10, 0] == actual[k + 10 - 96]  # 150 min ahead: the same time yesterday
    grid.forecast_method = "perfect"
    grid._cache.clear()
    np.testing.assert_array_equal(grid.forecast("carbon", k, 16)[:, 0], actual[k : k + 16])


def test_grid_tables_are_checked(tmp_path: Path) -> None:
    text = """
name = "bad"
start = 2023-06-12T00:00:00Z
end = 2023-06-13T00:00:00Z
step = "15min"
[[sites]]
name = "greensboro"
gpu_slots = 2
pv = { peak_kw = 4.0, tilt_deg = 30.0, azimuth_deg = 180.0 }
curtailment_share = 0.5
[[grid]]
signal = "carbon"
file = "x.csv"
sites = ["nowhere"]
[[grid]]
signal = "price"
file = "x.csv"
[[grid]]
signal = "price"
file = "y.csv"
"""
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "bad.toml")
    lines = str(err.value).splitlines()
    assert any("field 'kind': required for carbon: 'average' or 'marginal'" in x for x in lines)
    assert any("unknown site 'nowhere'; sites are greensboro" in x for x in lines)
    assert any("already has a price signal ([[grid]] #2)" in x for x in lines)
    assert any(
        "'curtailment_share': no [[grid]] curtailment signal applies to this site" in x
        for x in lines
    )
    assert all(x.startswith("bad.toml: ") for x in lines)


def test_a_grid_policy_without_its_signal_is_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(
        "simulate", "default", "--policy", "stay,lookahead:carbon", "--out", str(tmp_path / "r")
    )
    assert code == 2
    assert "needs a carbon signal" in err and len(err.strip().splitlines()) == 1


def test_scenario_validate_reads_the_grid_files(data: Path, cli) -> None:  # type: ignore[no-untyped-def]
    good = carbon_scenario(data)
    code, _, _ = cli("scenario", "validate", str(good))
    assert code == 0
    bad = data / "bad-grid.toml"
    bad.write_text(good.read_text().replace('unit = "lbs/MWh"', 'unit = "lbs/kWh"'))
    code, out, err = cli("scenario", "validate", str(bad))
    assert code == 2
    assert "bad-grid.toml: [[grid]] #1 (carbon, " in out + err
    assert "unknown carbon intensity unit 'lbs/kWh'" in out + err


def test_a_parquet_signal_reads_as_its_csv(data: Path, tmp_path: Path) -> None:
    table = pd.read_csv(data / "np15.csv")
    table.to_parquet(tmp_path / "np15.parquet", index=False)
    from_csv = read_price(data / "np15.csv", column="LMP_NP15", unit="$/MWh")
    from_parquet = read_price(tmp_path / "np15.parquet", column="LMP_NP15", unit="$/MWh")
    np.testing.assert_array_equal(from_parquet._values, from_csv._values)
    assert (from_parquet._index == from_csv._index).all()
