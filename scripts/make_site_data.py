"""Regenerate the bundled site weather in src/greenhop/data/weather/ from pvlib's public data files.

The real weather files ship inside the pvlib 0.11.2 wheel on PyPI (``pvlib/data``). This script
downloads that wheel (``pip download pvlib==0.11.2 --no-deps``) into a temporary folder, reads six
files out of it with the *installed* pvlib's readers, and writes for each site one typical year of
hourly weather on a UTC grid of the reference year 2021 (period-start labels, greenhop's
convention), gzip CSV, plus ``sites.json`` with the metadata. greenhop never needs the old pvlib at
run time.

Each row of the output holds the mean over [t, t + 1 h). Sources label their hours differently
(TMY3, TMY2 and EPW at the end of the hour in local standard time, PVGIS as UTC samples at about
hh:10, NSRDB PSM3 as instantaneous half-hourly samples); the conversions are greenhop's own, the
ones a scenario's weather file goes through (``greenhop.energy.weather``: ``read_weather_file``,
``instantaneous_to_means``, ``to_reference_year``). The script then checks the convention against
a clear-sky model: the lag that best correlates measured and clear-sky GHI must be within
20 minutes of zero.

Usage: .venv/bin/python scripts/make_site_data.py [--wheel PATH_TO_pvlib-0.11.2-py3-none-any.whl]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

from greenhop.energy.weather import (
    REFERENCE_YEAR,
    WeatherFile,
    instantaneous_to_means,
    read_weather_file,
    to_reference_year,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "greenhop" / "data" / "weather"
PVLIB_VERSION = "0.11.2"
COLUMNS = ["ghi", "dni", "dhi", "temp_air", "wind_speed", "pressure"]


def _pvlib_file(name: str, raw: bytes) -> WeatherFile:
    """A TMY2, TMY3, EPW or PVGIS file of the wheel, read by greenhop's weather reader."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name  # the reader tells the formats apart by name and first lines
        path.write_bytes(raw)
        return read_weather_file(path)


def _psm3_test_file(name: str, raw: bytes) -> WeatherFile:
    """pvlib's PSM3 test file: NSRDB half-hourly instantaneous samples, local standard time
    (UTC-7), without the NSRDB header lines, so read here and converted by greenhop's functions.
    """
    data = pd.read_csv(io.BytesIO(raw), index_col=0)
    local = pd.to_datetime(data[["Year", "Month", "Day", "Hour", "Minute"]]).dt.tz_localize(
        "Etc/GMT+7"
    )
    half = pd.DataFrame(
        {
            "ghi": data["GHI"].to_numpy(),
            "dni": data["DNI"].to_numpy(),
            "dhi": data["DHI"].to_numpy(),
            "temp_air": data["Temperature"].to_numpy(),
            "wind_speed": data["Wind Speed"].to_numpy(),
            "pressure": data["Pressure"].to_numpy() * 100.0,  # mbar → Pa
        },
        index=pd.DatetimeIndex(local),
    ).astype(float)
    # the hour's mean by the trapezoid rule: hh:00, hh:30, (hh+1):00 weighted 1/4, 1/2, 1/4
    hourly = instantaneous_to_means(half, step=pd.Timedelta(hours=1), periodic=True)
    return WeatherFile(path=Path(name), kind="NSRDB", data=to_reference_year(hourly), typical=True)


# name → (file in the wheel, reader, how the reader labels rows, metadata)
SITES: dict[str, dict] = {
    "greensboro": {
        "file": "723170TYA.CSV",
        "reader": _pvlib_file,
        "source": "NSRDB TMY3 (1991–2005), station 723170 Greensboro Piedmont Triad Intl",
        "utc_offset_h": -5,
        "timezone": "America/New_York",
        "climate": "humid subtropical (Köppen Cfa)",
        "country": "US",
    },
    "miami": {
        "file": "12839.tm2",
        "reader": _pvlib_file,
        "source": "NSRDB TMY2 (1961–1990), WBAN 12839 Miami Intl",
        "utc_offset_h": -5,
        "timezone": "America/New_York",
        "climate": "tropical monsoon (Köppen Am)",
        "country": "US",
    },
    "sand-point": {
        "file": "703165TY.csv",
        "reader": _pvlib_file,
        "source": "NSRDB TMY3 (1991–2005), station 703165 Sand Point, Aleutians",
        "utc_offset_h": -9,
        "timezone": "America/Anchorage",
        "climate": "subpolar oceanic (Köppen Cfc), windy",
        "country": "US",
    },
    "amsterdam": {
        "file": "NLD_Amsterdam062400_IWEC.epw",
        "reader": _pvlib_file,
        "source": "ASHRAE IWEC typical year, WMO 062400 Amsterdam Schiphol (EnergyPlus EPW)",
        "utc_offset_h": 1,
        "timezone": "Europe/Amsterdam",
        "climate": "temperate oceanic (Köppen Cfb)",
        "country": "NL",
    },
    "piedmont": {
        "file": "tmy_45.000_8.000_2005_2023.csv",
        "reader": _pvlib_file,
        "source": "PVGIS 5.3 typical meteorological year 2005–2023 at 45.0 N 8.0 E (Piedmont, IT)",
        "utc_offset_h": 0,  # PVGIS rows are already UTC
        "timezone": "Europe/Rome",
        "climate": "humid subtropical, Po valley (Köppen Cfa)",
        "country": "IT",
    },
    "nw-colorado": {
        "file": "test_psm3_2017.csv",
        "reader": _psm3_test_file,
        "source": "NSRDB PSM3 physical solar model, calendar year 2017, 40.5137 N 108.5449 W",
        "utc_offset_h": -7,
        "timezone": "America/Denver",
        "climate": "cold semi-arid high plateau (Köppen BSk)",
        "country": "US",
        "latitude": 40.5137,
        "longitude": -108.5449,
    },
}


def _download_wheel(tmp: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"pvlib=={PVLIB_VERSION}",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(tmp),
            "--quiet",
        ],
        check=True,
    )
    return next(tmp.glob(f"pvlib-{PVLIB_VERSION}-*.whl"))


def _best_lag_minutes(weather: pd.DataFrame, latitude: float, longitude: float) -> int:
    """Lag (min) of the sun model that best matches measured GHI; 0 when labels are right."""
    best, best_r = 0, -np.inf
    for lag in range(-60, 61, 10):
        times = weather.index + pd.Timedelta(minutes=30 + lag)
        loc = pvlib.location.Location(latitude, longitude)
        clear = loc.get_clearsky(times, model="haurwitz")["ghi"].to_numpy()
        r = float(np.corrcoef(clear, weather["ghi"].to_numpy())[0, 1])
        if r > best_r:
            best, best_r = lag, r
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a local pvlib 0.11.2 wheel (skips download)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        wheel = args.wheel or _download_wheel(Path(tmpdir))
        archive = zipfile.ZipFile(wheel)
        catalog: dict[str, dict] = {}
        for name, spec in SITES.items():
            raw = archive.read(f"pvlib/data/{spec['file']}")
            reader: Callable[[str, bytes], WeatherFile] = spec["reader"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                file = reader(spec["file"], raw)
            latitude = spec.get("latitude", file.latitude)
            longitude = spec.get("longitude", file.longitude)
            altitude = file.altitude_m
            if altitude is None:
                altitude = float(pvlib.location.lookup_altitude(latitude, longitude))
            weather = file.data[COLUMNS].copy()
            if len(weather) != 8760 or weather.index[0] != pd.Timestamp(
                f"{REFERENCE_YEAR}-01-01", tz="UTC"
            ):
                raise SystemExit(f"{name}: expected 8760 hours of {REFERENCE_YEAR} UTC")
            weather[["ghi", "dni", "dhi"]] = weather[["ghi", "dni", "dhi"]].clip(lower=0.0)
            lag = _best_lag_minutes(weather, latitude, longitude)
            status = "ok" if abs(lag) <= 20 else "CHECK LABELS"
            print(
                f"{name:12s} lat {latitude:8.3f} lon {longitude:9.3f} alt {altitude:6.0f} m  "
                f"clear-sky lag {lag:+d} min {status}  "
                f"mean wind {weather.wind_speed.mean():.1f} m/s  "
                f"GHI {weather.ghi.sum() / 1000:.0f} kWh/m²/yr"
            )
            if status != "ok":
                raise SystemExit(f"{name}: timestamps look shifted by {lag} min")
            path = OUT / f"{name}.csv.gz"
            text = weather.round(1).to_csv(index_label="time_utc", date_format="%Y-%m-%dT%H:%MZ")
            tmp_path = path.with_suffix(".tmp")
            with open(tmp_path, "wb") as fh:
                import gzip

                fh.write(gzip.compress(text.encode(), mtime=0))
            tmp_path.replace(path)
            catalog[name] = {
                "latitude": round(float(latitude), 4),
                "longitude": round(float(longitude), 4),
                "altitude_m": round(float(altitude), 1),
                "timezone": spec["timezone"],
                "utc_offset_h": spec["utc_offset_h"],
                "climate": spec["climate"],
                "country": spec["country"],
                "source": spec["source"],
                "source_file": f"pvlib/data/{spec['file']}",
                "source_package": f"pvlib=={PVLIB_VERSION} (PyPI wheel)",
                "reference_year": REFERENCE_YEAR,
                "step": "1h",
                "label": "left",
                "wind_speed_height_m": 10.0,
                "file": f"weather/{name}.csv.gz",
            }
        (OUT / "sites.json").write_text(json.dumps(catalog, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(catalog)} sites to {OUT}")


if __name__ == "__main__":
    main()
