"""Write own-trace.csv: three days of power at two sites of one's own, in kW.

The values stand in for measurements of your own: they are greenhop's bundled typical-year weather
of Greensboro (NC) and Amsterdam put through pvlib and windpowerlib, for 17-20 June 2024 at
15 min, as a 20 kWp PV roof (``roof_pv``) and one Enercon E-53/800 wind turbine (``farm_wind``).

Usage: python examples/own-sites/make_trace.py [--out PATH]   (default: own-trace.csv next to it)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from greenhop.energy.modelchain import typical_year_on_grid_w
from greenhop.energy.sites import site_metadata

HERE = Path(__file__).resolve().parent
GRID = pd.date_range(
    "2024-06-17", "2024-06-20", freq="15min", inclusive="left", tz="UTC", name="time_utc"
)
COLUMNS = {
    "roof_pv": ("greensboro", {"pv": {"peak_kw": 20.0, "tilt_deg": 25.0, "azimuth_deg": 180.0}}),
    "farm_wind": (
        "amsterdam",
        {"wind": {"turbine_type": "E-53/800", "hub_height_m": 73.0, "roughness_length_m": 0.1}},
    ),
}


def own_trace_kw() -> pd.DataFrame:
    """The two columns on :data:`GRID`, kW, rounded to 1 W."""
    out = pd.DataFrame(index=GRID)
    for column, (site, supply) in COLUMNS.items():
        meta = site_metadata(site)
        power_w = typical_year_on_grid_w(
            GRID, site, meta["latitude"], meta["longitude"], meta["altitude_m"], **supply
        )
        out[column] = (power_w / 1000.0).round(3)
    return out


def write(path: Path) -> Path:
    own_trace_kw().to_csv(path, date_format="%Y-%m-%dT%H:%M:%SZ", float_format="%.3f")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "own-trace.csv")
    print(f"wrote {write(parser.parse_args().out)}")
