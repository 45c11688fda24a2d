# ruff: noqa: E501  (the Markdown template below has long table rows)
"""Write docs/energy.md: the energy layer, the bundled sites, weather files, and the forecasters'
measured error.

Every figure in the document is computed here from the bundled weather, the real weather files
that ship inside the installed pvlib (``pvlib/data``) and the real Solcast traces that ship with
greenhop (greenhop/data/solcast).

Usage: .venv/bin/python scripts/make_forecast_doc.py [--out docs/energy.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.resources
import os
import tempfile
from pathlib import Path

import numpy as np

from greenhop.energy.forecast import FORECASTERS, make_forecaster, window_end_error
from greenhop.energy.generation import pv_power_w, wind_power_w
from greenhop.energy.sites import bundled_sites, load_site_weather
from greenhop.energy.solcast import load_solcast
from greenhop.energy.weather import prepare_weather, read_weather_file
from greenhop.energy.windows import simultaneity, surplus_windows
from greenhop.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD = 0.3  # of peak
PEAK_W = 10_000.0
NOISY_SIGMA = 0.2


def sites_table() -> str:
    scenario = load_scenario("default")
    supply = {
        s.name: "hybrid" if s.pv and s.wind else ("PV" if s.pv else "wind") for s in scenario.sites
    }
    rows = [
        "| site | climate | lat, lon | alt m | source | GHI kWh/m²·yr | mean wind 10 m | "
        "PV kWh/kWp·yr | E-53/800 capacity factor | default scenario |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in bundled_sites():
        weather, meta = load_site_weather(name)
        pv = pv_power_w(
            weather,
            meta["latitude"],
            meta["longitude"],
            peak_kw=1.0,
            tilt_deg=min(abs(meta["latitude"]), 40.0),
            azimuth_deg=180.0 if meta["latitude"] >= 0 else 0.0,
            altitude_m=meta["altitude_m"],
        )
        wind = wind_power_w(weather, turbine_type="E-53/800", hub_height_m=73.0)
        rows.append(
            f"| {name} | {meta['climate']} | {meta['latitude']:.2f}, {meta['longitude']:.2f} | "
            f"{meta['altitude_m']:.0f} | {meta['source']} | {weather['ghi'].sum() / 1000:.0f} | "
            f"{weather['wind_speed'].mean():.1f} m/s | {pv.sum() / 1000:.0f} | "
            f"{wind.mean() / 800_000:.0%} | {supply.get(name, '—')} |"
        )
    return "\n".join(rows)


#: pvlib's own real weather files (pvlib/data) and the bundled site each became.
PVLIB_FILES = {"723170TYA.CSV": "greensboro", "703165TY.csv": "sand-point", "12839.tm2": "miami"}


def weather_files_table() -> str:
    """Annual PV yield from each of pvlib's real files: with the file's dhi, with dhi derived from
    ghi and dni (closure), and with dni and dhi derived from ghi alone (Erbs)."""
    folder = Path(str(importlib.resources.files("pvlib") / "data"))
    rows = [
        "| file (pvlib/data) | format | same as bundled | PV kWh/kWp·yr, file's dhi | "
        "dhi by closure | dni and dhi by Erbs |",
        "|---|---|---|---|---|---|",
    ]
    for name, site in PVLIB_FILES.items():
        file = read_weather_file(folder / name)
        bundled, _ = load_site_weather(site)
        kept = file.data.copy()
        kept[["ghi", "dni", "dhi"]] = kept[["ghi", "dni", "dhi"]].clip(lower=0.0)
        same = kept.index.equals(bundled.index) and kept.round(1).equals(bundled)
        yields = []
        for drop in ([], ["dhi"], ["dni", "dhi"]):
            weather = prepare_weather(dataclasses.replace(file, data=file.data.drop(columns=drop)))
            assert weather.latitude is not None and weather.longitude is not None
            pv = pv_power_w(
                weather.data,
                weather.latitude,
                weather.longitude,
                peak_kw=1.0,
                tilt_deg=min(abs(weather.latitude), 40.0),
                azimuth_deg=180.0,
                altitude_m=weather.altitude_m or 0.0,
            )
            yields.append(pv.sum() / 1000)
        own, closure, erbs = yields
        rows.append(
            f"| `{name}` | {file.kind} | {'yes, ' + site if same else 'no'} | {own:.0f} | "
            f"{closure:.0f} ({closure / own - 1:+.2%}) | {erbs:.0f} ({erbs / own - 1:+.2%}) |"
        )
    return "\n".join(rows)


def forecast_section() -> str:
    lines = [
        "| trace | forecaster | MAE of window end h | median abs. error h | bias h | "
        "steps × sites |",
        "|---|---|---|---|---|---|",
    ]
    facts = []
    for name in ("germany", "global"):
        data = load_solcast(name)
        actual_w = data.actual * PEAK_W
        for forecaster_name in FORECASTERS:
            forecaster = make_forecaster(
                forecaster_name, actual_w, solcast=data, peak_w=PEAK_W, sigma=NOISY_SIGMA, seed=0
            )
            err = window_end_error(forecaster, THRESHOLD * PEAK_W)
            label = (
                f"noisy (σ = {NOISY_SIGMA:g}, seed 0)"
                if forecaster_name == "noisy"
                else (forecaster_name)
            )
            lines.append(
                f"| {name} | {label} | {err['mae_s'] / 3600:.2f} | "
                f"{err['median_abs_s'] / 3600:.2f} | {err['bias_s'] / 3600:+.2f} | "
                f"{err['n']:.0f} |"
            )
        corr = data.actual.corr().to_numpy()
        mean_corr = corr[np.triu_indices_from(corr, k=1)].mean()
        together = simultaneity(data.actual, THRESHOLD)
        durations = np.concatenate(
            [
                surplus_windows(data.actual[c], THRESHOLD)["duration_s"].to_numpy()
                for c in data.sites
            ]
        )
        facts.append(
            f"| {name} | {mean_corr:.3f} | {together[1]:.0%} | {together[3]:.0%} | "
            f"{durations.mean() / 3600:.1f} | {np.quantile(durations, 0.9) / 3600:.1f} |"
        )
    fact_table = "\n".join(
        [
            "| trace | mean pairwise correlation | ≥ 1 site in a window | ≥ 3 sites | "
            "mean window h | p90 window h |",
            "|---|---|---|---|---|---|",
            *facts,
        ]
    )
    return fact_table + "\n\n" + "\n".join(lines)


TEMPLATE = """# Energy: sites, traces, windows, forecasts

<!-- Generated by scripts/make_forecast_doc.py; edit the script, not this file. -->

greenhop follows surplus renewable energy, so for every site and every step it needs the
renewable power there is, how long the current window will last, and what was forecast at the
time. That is the `greenhop.energy` package; `greenhop.scenario` ties it to sites, links and jobs.

Conventions: power in W, energy in kWh, durations in s; every time index is UTC and a value
labelled `t` is the mean over `[t, t + step)`. Files that label the end of a period (Solcast,
TMY3) are shifted on read.

| module | what |
|---|---|
| `energy/generation.py` | `pv_power_w` (pvlib: SPA sun position, Hay–Davies transposition, ASHRAE IAM, SAPM cell temperature, PVWatts DC + losses + inverter), `wind_power_w` (windpowerlib ModelChain: log wind profile, barometric density, power curve from the offline turbine library) |
| `energy/modelchain.py` | greenhop's ModelChain: `run_site` (weather → PV + wind power, W, kept apart in a `SitePower`), `typical_year_w`, `map_typical_year` (a typical year onto any grid by day of year), `typical_year_on_grid_w`; `weather_use`, `site_weather_on_grid_w` (a site's own weather on its own dates, or as a typical year) |
| `energy/sites.py` | `bundled_sites()`, `load_site_weather(name) -> (weather, metadata)` |
| `energy/weather.py` | a site's own weather: `read_weather_file` (EPW, TMY2, TMY3, PVGIS TMY, NSRDB PSM3 through `pvlib.iotools`; CSV/Parquet with pvlib's columns) → `WeatherFile`; `prepare_weather` (gaps refused or interpolated, offsets clipped, impossible values refused, missing irradiance derived) → `SiteWeather` with its notes; `load_weather` does both |
| `energy/traces.py` | `read_trace`, `write_trace` (CSV/Parquet, wide/long, atomic), `validate_trace`, `resample_trace`, `align`, `trace_on_grid` |
| `energy/solcast.py` | `read_solcast(path)`, `load_solcast(name)` → `SolcastData` (actuals, issued forecasts, name, path) |
| `energy/battery.py` | `BatterySpec` (a site battery; also the scenario's `[sites.battery]` table), `BatteryBank` (`step`, `run`), `soc_trajectory` |
| `energy/windows.py` | `surplus_windows`, `window_stats`, `simultaneity`, `remaining_window_s` (vectorised, O(steps × sites)) |
| `energy/forecast.py` | `Forecaster` (`surplus_w`, `window_end`, `predicted_remaining_window_s`), `PerfectForecaster`, `PersistenceForecaster`, `NoisyForecaster`, `SolcastForecaster`, `make_forecaster`, `window_end_error` |
| `scenario.py` | the schema: `Site`, `Links`, `Job`, `Scenario` (pydantic), `load_scenario`, `bundled_scenario`; `Scenario.generation_w()`, `.site_weather()`, `.weather_notes()`, `.forecaster()`, `.bandwidth_matrix_gbps()` (delegating to the modules above) |

## Bundled sites

Six real sites, one typical year of hourly weather each, from public files that ship inside the
pvlib 0.11.2 wheel on PyPI (see `src/greenhop/data/PROVENANCE.md`; `scripts/make_site_data.py`
regenerates them, about 0.5 MB in all). PV yield: 1 kWp facing the equator, tilted at the
latitude (at most 40°), 14 % losses. Wind: one Enercon E-53/800 at 73 m hub height, roughness
0.15 m. The default scenario (`greenhop windows default`) uses them for a week of June.

{sites}

A scenario maps the typical year onto its own dates by day of year and UTC time of day (29
February repeats 28 February), interpolating the hourly means to the middle of each step.

## Your own weather

A site's `weather` may be a file instead of a bundled site (`docs/scenarios.md`, "Weather
files"). `greenhop.energy.weather` reads EPW, TMY2, TMY3, PVGIS TMY (JSON, CSV) and NSRDB PSM3
files with `pvlib.iotools`, and CSV or Parquet files with pvlib's column names at any step from
1 min to 1 h. Everything becomes what the bundled weather is: pvlib's columns in W/m², °C, m/s and
Pa, UTC, each row the mean over `[t, t + step)`. Hour-ending labels (TMY2, TMY3, EPW) move back
an hour; local standard time becomes UTC; a typical year goes onto the UTC grid of 2021, the
hours that cross New Year wrapping round; PVGIS's satellite samples (about hh:10) become hourly
means by interpolating to hh:30; NSRDB's instantaneous samples become means by the trapezoid
rule. These are the conversions that made the bundled weather: `scripts/make_site_data.py` calls
them, and reading pvlib's own files gives the bundled weather again (table below).

Then `prepare_weather` checks the file, every problem at once, each naming the file, the column,
how many values and the first timestamps: gaps (NaN, empty cells, timestamps missing from the
step's grid) are refused, or filled by interpolation in time up to the site's `max_gap`;
irradiance from -10 W/m² to 0 (a sensor's offset at night) is clipped to 0 and counted;
irradiance below -10 or above 1500 W/m², air temperature outside -90..60 °C, negative wind and
pressure outside 30..110 kPa are refused. `pv_power_w` and `wind_power_w` refuse NaN themselves:
a missing hour is never a dark one. A missing `dhi` is derived from `ghi` and `dni` by closure,
`dhi = ghi − dni · cos(zenith)` (sun at the middle of the step, clipped at 0); `dni` and `dhi`
from `ghi` alone with the Erbs decomposition (`pvlib.irradiance.erbs`). What was derived,
clipped or filled is kept as notes (`SiteWeather.notes`, `Scenario.weather_notes()`).

What the derivation costs, on pvlib's own real files (1 kWp as in the table of bundled sites):
the annual PV yield with the file's own `dhi`, with `dhi` derived by closure, and with `dni` and
`dhi` both derived from `ghi` by Erbs. Weather with `ghi` and `dni` comes close to the file's
own yield; weather with `ghi` alone is further off.

{weather_files}

## Real traces and forecasters

The forecasters answer "at time t, how much surplus will site s have, and when does its current
window end?". The value of the current step is known; later steps are forecast.

- **perfect** — the oracle; an upper bound.
- **persistence** — the value 24 h earlier (beyond 24 h ahead, the last day repeats); no history
  in the first day.
- **noisy** — the truth × (1 + σ·e), e an AR(1) normal process with a 1 h correlation time;
  seeded. A bound with a tunable error, not a model of skill that decays with lead time.
- **solcast** — replays the forecasts Solcast issued: at t only the latest issue with
  `issued_at ≤ t`, which reaches 5 to 65 min ahead; further ahead it falls back to persistence
  (which is causal too). Tests check that nothing issued after t, and no actual after t, changes
  what it predicts at t.

Measured on the real traces that ship with greenhop (Solcast via Vessim, 10 cities each, 5 min):
a window is a run of output ≥ {threshold:.0%} of peak. The error is that of the predicted window
end, over every step inside a window (windows that reach the end of the trace are left out).

{forecast}

Reading the table: "like yesterday" misses the end of a solar window by more than an hour on
average; Solcast's issued forecasts improve on it because they see the next hour's clouds, but
beyond their 65 min horizon a several-hour window is again forecast by persistence. The negative
bias means windows are predicted to end too early more often than too late.

## Idle slots that sleep

By default an empty GPU slot stays awake and draws its site's `idle_power_w` all the time; over
a week or a month with few jobs that is most of the energy (docs/results.md). A site may let its
idle slots sleep instead, with a `[sites.sleep]` table (docs/scenarios.md):
`sleep_power_w` (W drawn by a sleeping slot, at most `idle_power_w`), `wake_s` (time to wake a
slot) and `wake_j` (energy of one wake-up beyond the idle draw). The bundled scenarios have none:
their slots stay awake and their numbers are those they always had.

The rule the simulator follows (`greenhop.sim.engine`), the simplest one we could state honestly:

- a slot that holds a job (restoring, running, checkpointing, waking) is awake; every other slot
  sleeps at `sleep_power_w`, except:
- a slot a job leaves (done, paused, or checkpointed away for a move) stays awake at
  `idle_power_w` for the rest of that step, and is still awake at the next step's decisions: a
  start or a resume in place there takes it without a wake-up. Not taken then, it sleeps from
  that step on;
- every other take of a slot wakes a sleeping one: a start or a resume in place when no awake
  slot is left, and **every landing of a move** (the slot reserved at the destination sleeps
  through the transfer; waking it during the transfer, which would hide the wake time, is not
  modelled);
- a wake-up adds `wake_s` before the job's restore (the job makes no progress and its slot draws
  `idle_power_w`, as in a restore) and books `wake_j` to the job in the step it takes the slot:
  it is part of the job's own energy, and of a move's migration energy for a landing.

Without a `[sites.sleep]` table at any site none of this runs and every number is unchanged (a
test compares the default scenario's summaries with docs/results.json). A site without the table
in a scenario where others have one keeps its slots awake.

Elsewhere:

- **policies** see the sleep power as the site's `idle_slot_power_w` in their view (what an empty
  slot draws), so a job's extra load at a site is its power less the sleep power;
- **the oracle's bound** counts an empty slot at its sleep power and ignores wake-ups (their
  energy, their time, and the slots awake after a job left them): they only add load, so the
  bound stays a lower bound (tested against every online policy with sleep);
- **the live ledger** (`greenhop.live.control.ledger`) books, per tick, a slot that holds a job
  at the job's power while it runs and at idle power for the rest of the tick, and every other
  slot at the sleep power; the slots awake at a tick's start are those that held a job in the
  tick before, and each job that takes a slot at a site beyond those is booked one `wake_j`. The
  wake-up time is not booked: in a live run it is whatever the hardware takes. (The controller
  passes the scenario's `SimInputs.sleep` to its `EnergyLedger`.)
- **the summary** reports `idle_slots_kwh` (IT energy less the jobs' own: the slots without a
  job, awake or asleep) for every run, and, when slots sleep, `sleep`, `wake_ups` and `wake_kwh`.
  docs/results.md ("Idle slots that sleep", `scripts/make_sleep_results.py`) runs the bundled
  scenarios both ways.

**Figures.** Measured: an idle NVIDIA H200 (SXM, 700 W limit; driver 580, persistence mode on,
no process, performance state P0, SM clock 345 MHz, 34 °C) drew 80.0–105.1 W, median 80.1 W,
over 60 `nvidia-smi` readings at 0.5 s intervals for 30 s (the first reading, 105 W, before it
settled), of which `nvidia-smi -q` put about 40 W in its memory. The bundled scenarios' 100 W per
awake slot is that order (the GPU plus a share of its host). **Assumed, not measured** (a slot
cannot be powered down from inside a shared machine): `sleep_power_w` = 20 W (a slot whose GPU
and share of the host are in a deep-idle or suspended state), `wake_s` = 45 s (resuming the
node and re-initialising the driver before the restore) and `wake_j` = 3 kJ (the draw above idle
while waking); docs/results.md uses them and says so.

## Regenerate

```
.venv/bin/python scripts/make_site_data.py      # bundled weather (downloads the pvlib 0.11.2 wheel)
.venv/bin/python scripts/make_forecast_doc.py   # this file
```
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "energy.md")
    args = parser.parse_args(argv)
    text = TEMPLATE.format(
        sites=sites_table(),
        weather_files=weather_files_table(),
        forecast=forecast_section(),
        threshold=THRESHOLD,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".energy.", suffix=".md", dir=args.out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
