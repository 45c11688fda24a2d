"""A site's own weather: pvlib's real TMY3 and TMY2 files, a measured station made from them with
gaps, derived irradiance, clipped offsets, impossible values, and a scenario that runs on it."""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenhop.energy.generation import pv_power_w, wind_power_w
from greenhop.energy.modelchain import site_weather_on_grid_w, typical_year_on_grid_w
from greenhop.energy.sites import load_site_weather, site_metadata
from greenhop.energy.weather import (
    REFERENCE_YEAR,
    WeatherError,
    instantaneous_to_means,
    load_weather,
    prepare_weather,
    pvgis_hour_means,
    read_weather_file,
)
from greenhop.errors import InputError

PVLIB_DATA = Path(str(importlib.resources.files("pvlib") / "data"))
TMY3 = PVLIB_DATA / "723170TYA.CSV"  # NSRDB TMY3, Greensboro NC: the bundled 'greensboro'
TMY2 = PVLIB_DATA / "12839.tm2"  # NSRDB TMY2, Miami FL: the bundled 'miami'
PV = {"peak_kw": 30.0, "tilt_deg": 30.0, "azimuth_deg": 180.0}
GREENSBORO = {"latitude": 36.1, "longitude": -79.95}  # the TMY3 file's station


def _as_bundled(weather: pd.DataFrame) -> pd.DataFrame:
    """What scripts/make_site_data.py keeps of a reader's output: irradiance ≥ 0, 0.1 steps."""
    out = weather.copy()
    out[["ghi", "dni", "dhi"]] = out[["ghi", "dni", "dhi"]].clip(lower=0.0)
    return out.round(1)


@pytest.mark.parametrize(
    ("path", "kind", "site"), [(TMY3, "TMY3", "greensboro"), (TMY2, "TMY2", "miami")]
)
def test_real_tmy_files_read_to_the_bundled_weather(path: Path, kind: str, site: str) -> None:
    file = read_weather_file(path)
    bundled, meta = load_site_weather(site)
    assert file.typical and file.kind == kind
    # hour-ending local standard time → hour-starting UTC on the reference year, as bundled
    assert file.data.index.equals(bundled.index)
    pd.testing.assert_frame_equal(_as_bundled(file.data), bundled, check_names=False)
    assert (file.latitude, file.longitude) == pytest.approx((meta["latitude"], meta["longitude"]))
    assert file.altitude_m == meta["altitude_m"] and file.utc_offset_h == -5
    weather = prepare_weather(file, pv=True, wind=True)
    assert weather.step == pd.Timedelta(hours=1) and weather.one_year
    assert weather.notes[-1].endswith("m from the file")  # the location, and nothing repaired


def _station(tmp_path: Path, name: str = "my_station.csv", edit=None) -> Path:  # type: ignore[no-untyped-def]
    """A 'measured station' year from the real TMY3 file: no dhi column, UTC timestamps."""
    data = read_weather_file(TMY3).data.drop(columns=["dhi", "pressure"])
    if edit is not None:
        data = edit(data)
    path = tmp_path / name
    data.rename_axis("time_utc").reset_index().to_csv(
        path, index=False, date_format="%Y-%m-%dT%H:%MZ"
    )
    return path


def _with_gaps(data: pd.DataFrame) -> pd.DataFrame:
    data = data.copy()
    data.loc["2021-06-18 14:00":"2021-06-18 16:00", "ghi"] = np.nan  # a 3 h gap, daytime
    data.loc["2021-06-19 03:00", "temp_air"] = np.nan
    return data.drop(pd.DatetimeIndex(["2021-06-19 15:00", "2021-06-19 16:00"], tz="UTC"))


def test_gaps_are_refused_with_the_file_column_count_and_first_times(tmp_path: Path) -> None:
    path = _station(tmp_path, edit=_with_gaps)
    with pytest.raises(WeatherError) as err:
        load_weather(path)
    lines = str(err.value).splitlines()
    ghi = next(line for line in lines if "column 'ghi'" in line)
    assert ghi.startswith(f"{path}: column 'ghi': 5 missing values (3 NaN, 2 timestamps absent)")
    assert "at 2021-06-18 14:00, 2021-06-18 15:00, 2021-06-18 16:00, 2021-06-19 15:00" in ghi
    assert 'weather_gaps = "interpolate"' in ghi
    temp = next(line for line in lines if "column 'temp_air'" in line)
    assert "3 missing values (1 NaN, 2 timestamps absent) at 2021-06-19 03:00" in temp
    # columns with the same gaps share a line: here the two rows left out
    assert f"{path}: columns 'dni', 'wind_speed': 2 missing values (0 NaN, 2 timestamps absent)" + (
        " at 2021-06-19 15:00, 2021-06-19 16:00; fill them"
    ) in "\n".join(lines)


def test_interpolation_fills_gaps_up_to_max_gap_and_refuses_longer_ones(tmp_path: Path) -> None:
    path = _station(tmp_path, edit=_with_gaps)
    weather = load_weather(path, gaps="interpolate", max_gap="3h", **GREENSBORO)
    assert not weather.data.isna().any().any() and len(weather.data) == 8760
    ghi_note = next(n for n in weather.notes if n.startswith("ghi:"))
    assert ghi_note.startswith("ghi: 5 missing values (3 NaN, 2 timestamps absent) filled")
    assert "gaps up to 3 h (max_gap 3 h), first at 2021-06-18 14:00" in ghi_note
    # interpolated in time between the neighbours: 13:00 and 17:00 of the file
    file = read_weather_file(TMY3).data
    ghi = weather.data["ghi"]
    expected = np.interp(
        [1, 2, 3], [0, 4], file.loc[["2021-06-18 13:00", "2021-06-18 17:00"], "ghi"]
    )
    np.testing.assert_allclose(ghi["2021-06-18 14:00":"2021-06-18 16:00"], expected)
    with pytest.raises(WeatherError, match=r"column 'ghi': 1 gap that interpolation may not"):
        load_weather(path, gaps="interpolate", max_gap="2h", **GREENSBORO)

    def long_gap(data: pd.DataFrame) -> pd.DataFrame:
        data = _with_gaps(data)
        data.loc["2021-07-01 10:00":"2021-07-01 14:00", "ghi"] = np.nan
        return data

    longer = _station(tmp_path, "longer.csv", edit=long_gap)
    with pytest.raises(WeatherError) as err:
        load_weather(longer, gaps="interpolate", max_gap="3h", **GREENSBORO)
    assert str(err.value) == (
        f"{longer}: column 'ghi': 1 gap that interpolation may not fill (longer than max_gap "
        "3 h, or at an end of the file): 5 h from 2021-07-01 10:00; fill them, or cut the file"
    )


def test_derived_dhi_gives_the_pv_of_the_files_own_dhi(tmp_path: Path) -> None:
    own = load_weather(TMY3)
    station = load_weather(_station(tmp_path), latitude=own.latitude, longitude=own.longitude)
    assert "dhi derived from ghi and dni (closure), 8760 hours" in station.notes
    where = (own.latitude, own.longitude)
    p_own = pv_power_w(own.data, *where, altitude_m=own.altitude_m or 0.0, **PV)  # type: ignore[arg-type]
    p_derived = pv_power_w(station.data, *where, altitude_m=own.altitude_m or 0.0, **PV)  # type: ignore[arg-type]
    # measured: 0.04 % more energy over the year (1355.8 vs 1356.4 kWh/kWp), 0.5 W mean hourly
    # difference for 1 kWp; the TMY3's own dhi obeys the closure equation up to rounding
    assert p_derived.sum() / p_own.sum() - 1 == pytest.approx(0.0004, abs=0.001)
    # from ghi alone (Erbs): 0.84 % less over the year
    erbs = load_weather(
        _station(tmp_path, "ghi_only.csv", edit=lambda d: d.drop(columns=["dni"])),
        latitude=own.latitude,
        longitude=own.longitude,
    )
    assert "dni and dhi derived from ghi (Erbs decomposition), 8760 hours" in erbs.notes
    p_erbs = pv_power_w(erbs.data, *where, altitude_m=own.altitude_m or 0.0, **PV)  # type: ignore[arg-type]
    assert p_erbs.sum() / p_own.sum() - 1 == pytest.approx(-0.0084, abs=0.002)


def test_night_offsets_are_clipped_and_counted_impossible_values_refused(tmp_path: Path) -> None:
    def offsets(data: pd.DataFrame) -> pd.DataFrame:
        data = data.copy()
        night = data.index[data["ghi"] == 0][:40]  # the first 40 dark hours
        data.loc[night, "ghi"] = -3.5
        data.loc[night[:10], "dni"] = -0.5
        return data

    weather = load_weather(_station(tmp_path, edit=offsets), latitude=36.1, longitude=-79.95)
    assert "ghi: 40 negative values down to -3.5 W/m² (a sensor's offset) clipped to 0" in (
        weather.notes
    )
    assert any(n.startswith("dni: 10 negative values down to -0.5 W/m²") for n in weather.notes)
    assert (weather.data[["ghi", "dni", "dhi"]] >= 0).all().all()

    def impossible(data: pd.DataFrame) -> pd.DataFrame:
        data = data.copy()
        data.loc["2021-03-02 05:00", "ghi"] = -50.0
        data.loc["2021-07-04 17:00", "ghi"] = 1600.0
        data.loc["2021-08-01 12:00", "temp_air"] = 75.0
        data.loc["2021-08-01 13:00", "wind_speed"] = -1.0
        return data

    path = _station(tmp_path, "bad.csv", edit=impossible)
    with pytest.raises(WeatherError) as err:
        load_weather(path, latitude=36.1, longitude=-79.95)
    assert str(err.value).splitlines() == [
        f"{path}: column 'ghi': 2 values outside -10 .. 1500 W/m² (first -50 at 2021-03-02 "
        "05:00, 2021-07-04 17:00)",
        f"{path}: column 'temp_air': 1 value outside -90 .. 60 °C (first 75 at 2021-08-01 12:00)",
        f"{path}: column 'wind_speed': 1 value outside ≥ 0 m/s (first -1 at 2021-08-01 13:00)",
    ]


def test_pressure_in_hpa_and_a_csv_without_location_are_named(tmp_path: Path) -> None:
    hpa = _station(tmp_path, "hpa.csv", edit=lambda d: d.assign(pressure=1013.0))
    with pytest.raises(WeatherError, match=r"'pressure': 8760 values outside .* Pa \(1013 hPa"):
        load_weather(hpa, pv=False, wind=True)
    with pytest.raises(WeatherError, match=r"a CSV file carries no location; give the site's"):
        load_weather(_station(tmp_path))


def test_missing_weather_is_never_zero_watts() -> None:
    """pv_power_w used to return 0 W at NaN hours; it refuses them now, as wind_power_w does."""
    weather, meta = load_site_weather("greensboro")
    weather.loc["2021-06-18 15:00":"2021-06-18 17:00", "ghi"] = np.nan
    with pytest.raises(InputError) as err:
        pv_power_w(weather, meta["latitude"], meta["longitude"], **PV)  # type: ignore[arg-type]
    assert "column 'ghi': 3 NaN at 2021-06-18 15:00, 2021-06-18 16:00, 2021-06-18 17:00" in str(
        err.value
    )
    assert "would not be 0 W" in str(err.value)
    weather.loc["2021-06-18 15:00", "wind_speed"] = np.nan
    with pytest.raises(InputError, match=r"column 'wind_speed': 1 NaN at 2021-06-18 15:00"):
        wind_power_w(weather, turbine_type="E-53/800", hub_height_m=73.0)


def test_a_year_on_its_own_dates_is_also_a_typical_year(tmp_path: Path) -> None:
    """The station year (real dates of 2021) serves a 2021 run on its own dates, and a 2024 run
    as a typical year: there its power is the bundled greensboro's."""
    station = load_weather(_station(tmp_path), latitude=36.1, longitude=-79.95)
    own = load_weather(TMY3)
    grid = pd.date_range("2024-06-17", periods=96 * 3, freq="15min", tz="UTC")
    step = pd.Timedelta("15min")
    as_typical = site_weather_on_grid_w(grid, step, own, pv=PV)
    bundled = typical_year_on_grid_w(grid, "greensboro", *_where("greensboro"), pv=PV)
    np.testing.assert_allclose(as_typical, bundled, atol=1e-6)
    station_2024 = site_weather_on_grid_w(grid, step, station, pv=PV)
    assert station_2024.sum() == pytest.approx(bundled.sum(), rel=0.01)
    grid_2021 = grid - pd.DateOffset(years=3)
    on_dates = site_weather_on_grid_w(grid_2021, step, station, pv=PV)
    hourly = pv_power_w(station.data, 36.1, -79.95, **PV)  # type: ignore[arg-type]
    # each 15 min step holds its hour's mean power: the energy is kept
    np.testing.assert_allclose(on_dates.to_numpy()[::4], hourly.loc[grid_2021[::4]], atol=1e-6)
    np.testing.assert_allclose(on_dates.sum() / 4, hourly.loc[grid_2021[::4]].sum(), rtol=1e-9)


def _where(name: str) -> tuple[float, float, float]:
    meta = site_metadata(name)
    return meta["latitude"], meta["longitude"], meta["altitude_m"]


def test_ten_minute_weather_keeps_its_energy_on_a_fifteen_minute_grid(tmp_path: Path) -> None:
    hourly = read_weather_file(TMY3).data.loc["2021-06-16":"2021-06-21"]
    ten = hourly.reindex(pd.date_range(hourly.index[0], periods=len(hourly) * 6, freq="10min"))
    ten = ten.ffill()  # each hour's mean held over its six 10 min steps
    path = tmp_path / "ten.parquet"
    ten.rename_axis("time_utc").to_parquet(path)
    weather = load_weather(path, latitude=36.1, longitude=-79.95)
    assert weather.step == pd.Timedelta("10min") and not weather.one_year
    grid = pd.date_range("2021-06-17", "2021-06-20", freq="15min", inclusive="left", tz="UTC")
    power = site_weather_on_grid_w(grid, pd.Timedelta("15min"), weather, pv=PV)
    native = pv_power_w(weather.data, 36.1, -79.95, **PV)  # type: ignore[arg-type]
    inside = native.loc[grid[0] : grid[-1] + pd.Timedelta("5min")]
    assert power.sum() * 15 == pytest.approx(inside.sum() * 10, rel=1e-9)
    late = pd.date_range("2021-08-01", periods=4, freq="15min", tz="UTC")
    with pytest.raises(WeatherError, match=r"ten.parquet: holds 2021-06-16 00:00 \.\. "):
        site_weather_on_grid_w(late, pd.Timedelta("15min"), weather, pv=PV)


def test_an_epw_file_reads_to_the_weather_it_was_written_from(tmp_path: Path) -> None:
    """EPW: hour-ending local standard time with the offset in the header."""
    bundled, meta = load_site_weather("amsterdam")
    local = bundled.index.tz_convert("Etc/GMT-1")  # UTC+1, EPW's standard time
    order = np.argsort(local.strftime("%m%d%H").to_numpy(), kind="stable")
    rows = []
    for i in order:
        t, w = local[i], bundled.iloc[i]
        fields = [1995, t.month, t.day, t.hour + 1, 60, "?"] + [0] * 29
        fields[6], fields[9] = w["temp_air"], w["pressure"]
        fields[13], fields[14], fields[15] = w["ghi"], w["dni"], w["dhi"]
        fields[21] = w["wind_speed"]
        rows.append(",".join(str(f) for f in fields))
    header = ["LOCATION,AMSTERDAM,-,NLD,IWEC Data,062400,52.30,4.77,1.0,-2.0"]
    header += [f"LINE {n}" for n in range(2, 9)]
    path = tmp_path / "amsterdam.epw"
    path.write_text("\n".join(header + rows) + "\n")
    file = read_weather_file(path)
    assert file.kind == "EPW" and file.typical and file.utc_offset_h == 1.0
    assert (file.latitude, file.longitude, file.altitude_m) == (52.3, 4.77, -2.0)
    pd.testing.assert_frame_equal(_as_bundled(file.data), bundled, check_names=False)
    del meta


def test_an_nsrdb_file_of_instantaneous_samples_becomes_means(tmp_path: Path) -> None:
    """NSRDB PSM3: half-hourly instantaneous samples in local standard time (UTC-7). Clear-sky
    samples averaged by the trapezoid rule come close to the clear sky's own half-hour means."""
    import pvlib

    location = pvlib.location.Location(40.5, -108.5, altitude=2100)
    local = pd.date_range(
        "2017-01-01", "2018-01-01", freq="30min", inclusive="left", tz="Etc/GMT+7"
    )
    clear = location.get_clearsky(local, model="haurwitz")["ghi"].to_numpy()
    names = (
        "Source,Location ID,City,State,Country,Latitude,Longitude,Time Zone,Elevation,"
        "Local Time Zone"
    )
    values = "NSRDB,1,-,-,-,40.5,-108.5,-7,2100,-7"
    table = pd.DataFrame(
        {
            "Year": local.year,
            "Month": local.month,
            "Day": local.day,
            "Hour": local.hour,
            "Minute": local.minute,
            "GHI": clear,
            "DNI": 0.0,
            "DHI": clear,
            "Temperature": 5.0,
            "Pressure": 790.0,
            "Wind Speed": 3.0,
        }
    )
    path = tmp_path / "psm3.csv"
    path.write_text(f"{names}\n{values}\n" + table.to_csv(index=False))
    file = read_weather_file(path)
    assert file.kind == "NSRDB" and not file.typical
    assert (file.latitude, file.longitude, file.altitude_m, file.utc_offset_h) == (
        40.5, -108.5, 2100.0, -7.0,
    )  # fmt: skip
    assert file.data.index[0] == pd.Timestamp("2017-01-01 07:00", tz="UTC")
    assert file.data["pressure"].iloc[0] == 79_000.0  # mbar → Pa
    minutes = pd.date_range(file.data.index[0], periods=len(file.data) * 30, freq="1min")
    fine = location.get_clearsky(minutes, model="haurwitz")["ghi"].to_numpy()
    truth = fine.reshape(-1, 30).mean(axis=1)
    error = file.data["ghi"].to_numpy() - truth
    # measured: 0.88 W/m² mean, 10.3 W/m² at worst (the clear sky's kink at sunrise); labels
    # half an hour off would be 30 W/m² off on average
    assert np.abs(error).mean() < 1.0 and np.abs(error).max() < 12.0
    assert abs(error.sum() / truth.sum()) < 1e-4
    weather = prepare_weather(file)
    assert weather.one_year and weather.step == pd.Timedelta("30min")


def test_instantaneous_samples_become_means_by_the_trapezoid_rule() -> None:
    samples = pd.DataFrame(
        {"ghi": [0.0, 100.0, 300.0, 200.0]},
        index=pd.date_range("2021-01-01", periods=4, freq="30min", tz="UTC"),
    )
    own_step = instantaneous_to_means(samples, periodic=False)
    np.testing.assert_allclose(own_step["ghi"], [50.0, 200.0, 250.0, 200.0])
    hourly = instantaneous_to_means(samples, step=pd.Timedelta("1h"), periodic=True)
    assert list(hourly.index.hour) == [0, 1]
    np.testing.assert_allclose(hourly["ghi"], [0 / 4 + 100 / 2 + 300 / 4, 300 / 4 + 200 / 2])


def test_a_pvgis_json_reads_with_its_location_and_hour_means(tmp_path: Path) -> None:
    bundled, _ = load_site_weather("piedmont")
    years = {1: 2018, 2: 2007}  # months from different years, as a TMY has them
    hourly = [
        {
            "time(UTC)": f"{years.get(t.month, 2010)}{t:%m%d:%H%M}",
            "T2m": w["temp_air"],
            "RH": 50,
            "G(h)": w["ghi"],
            "Gb(n)": w["dni"],
            "Gd(h)": w["dhi"],
            "IR(h)": 300,
            "WS10m": w["wind_speed"],
            "WD10m": 0,
            "SP": w["pressure"],
        }
        for t, w in bundled.iterrows()
    ]
    src = {
        "inputs": {"location": {"latitude": 45.0, "longitude": 8.0, "elevation": 250.0}},
        "outputs": {"months_selected": [], "tmy_hourly": hourly},
        "meta": {"inputs": {}},
    }
    path = tmp_path / "tmy.json"
    path.write_text(json.dumps(src))
    file = read_weather_file(path)
    assert file.kind == "PVGIS TMY" and file.typical
    assert (file.latitude, file.longitude, file.altitude_m) == (45.0, 8.0, 250.0)
    assert file.data.index[0] == pd.Timestamp(f"{REFERENCE_YEAR}-01-01", tz="UTC")
    expected = pvgis_hour_means(bundled)
    pd.testing.assert_frame_equal(file.data, expected, check_names=False, check_freq=False)


def test_unreadable_and_unknown_files_name_themselves(tmp_path: Path) -> None:
    with pytest.raises(WeatherError, match=r"nothing\.csv: weather file not found"):
        read_weather_file(tmp_path / "nothing.csv")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(WeatherError, match=r"notes\.txt: not a weather file; use \.epw"):
        read_weather_file(tmp_path / "notes.txt")
    (tmp_path / "noise.csv").write_text("ghi,dni\n1,2\n")
    with pytest.raises(WeatherError, match=r"noise\.csv: no time column"):
        read_weather_file(tmp_path / "noise.csv")
    (tmp_path / "names.csv").write_text("time,GHI,DNI\n2021-01-01T00:00Z,1,2\n")
    with pytest.raises(WeatherError, match=r"none of pvlib's weather columns"):
        read_weather_file(tmp_path / "names.csv")
    wind_only = dataclasses.replace(
        read_weather_file(TMY3), latitude=None, longitude=None, altitude_m=None
    )
    weather = prepare_weather(wind_only, pv=False, wind=True)  # wind needs no sun
    assert list(weather.data.columns) == ["temp_air", "wind_speed", "pressure"]
