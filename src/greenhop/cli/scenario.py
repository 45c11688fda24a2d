"""``greenhop scenario``: the bundled scenarios, a starter file, and a check of every problem.

``list`` shows the bundled scenarios; ``init NAME`` writes a commented starter scenario that
``validate`` accepts; ``validate FILE`` checks the schema of every table, the jobs' ``[jobs.live]``
tables and the trace the sites read, and prints every problem at once, one line each (exit 2), or
a summary of the scenario. The fields are documented in docs/scenarios.md.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from greenhop.errors import InputError, OutputError, ScenarioError

if TYPE_CHECKING:
    from greenhop.scenario import ScenarioCheck

app = typer.Typer(
    help="Scenario files: list the bundled ones, write a starter, validate one.",
    no_args_is_help=True,
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

STARTER = """\
# @NAME@: a greenhop scenario. Check it with `greenhop scenario validate @FILE@`, run it with
# `greenhop simulate @FILE@`. Every field is described in docs/scenarios.md.
name = "@NAME@"
description = "Two bundled sites, one week of June, three training jobs"
start = 2024-06-17T00:00:00Z   # the run covers [start, end), UTC
end = 2024-06-24T00:00:00Z
step = "15min"                 # 1min .. 1h
forecaster = "persistence"     # what the policies know of generation ahead: perfect,
                               # persistence, noisy or solcast
seed = 0

[energy_source]
kind = "weather"               # generation from the bundled weather of each site
# Your own measurements instead: kind = "trace", trace = "my-trace.csv" (next to this file),
# unit = "kW", and each site gets trace_column, latitude, longitude and timezone in place of
# pv/wind (see examples/own-sites/).

[links]
default_gbps = 1.0             # Gbit/s between two sites not listed in pairs
pairs = [{ a = "greensboro", b = "amsterdam", gbps = 0.5 }]

[[sites]]
name = "greensboro"            # a bundled site: weather, location and time zone are known
gpu_slots = 4                  # at most 4 jobs run here at once
idle_power_w = 100.0           # W drawn by a GPU slot without a job
base_load_w = 0.0              # W of other load, served by the renewables first
pv = { peak_kw = 6.0, tilt_deg = 30.0, azimuth_deg = 180.0 }
# battery = { capacity_kwh = 20.0, max_power_kw = 5.0 }
# sleep = { sleep_power_w = 20.0, wake_s = 45.0, wake_j = 3000.0 }  # idle slots power down

[[sites]]
name = "amsterdam"
gpu_slots = 4
pv = { peak_kw = 8.0, tilt_deg = 35.0 }
# wind = { turbine_type = "E-53/800", hub_height_m = 73.0 }   # windpowerlib's turbines

[[jobs]]
name = "bert-finetune"
arrival = 2024-06-17T08:00:00Z
work_gpu_h = 6.0               # GPU-hours of work
power_w = 350.0                # W while it trains
model = "bert-base"            # the checkpoint size comes from the model and set-up ...
setup = "fp32-adam"

[[jobs]]
name = "vit-train"
arrival = 2024-06-18T06:00:00Z
work_gpu_h = 12.0
power_w = 400.0
checkpoint_gb = 3.0            # ... or is given, GB
site = "amsterdam"             # submitted here; without it, the policy places the job

[[jobs]]
name = "gpt2-xl-finetune"
arrival = 2024-06-19T12:00:00Z
work_gpu_h = 16.0
power_w = 600.0
model = "gpt2-xl"
setup = "mixed-adam"
deadline = 2024-06-23T00:00:00Z
"""


def starter_toml(name: str, file_name: str | None = None) -> str:
    """The commented starter scenario ``greenhop scenario init NAME`` writes."""
    if not _NAME.fullmatch(name):
        raise InputError(
            f"scenario name {name!r}: use letters, digits, '.', '_' and '-', starting with a "
            "letter or digit"
        )
    return STARTER.replace("@NAME@", name).replace("@FILE@", file_name or f"{name}.toml")


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g}"


def _step(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _supply(site: Any) -> str:
    if site.trace_column is not None:
        scaled = "" if site.trace_peak_kw is None else f" at {site.trace_peak_kw:g} kW peak"
        return f"trace column {site.trace_column!r}{scaled}"
    parts = [f"PV {site.pv.peak_kw:g} kW"] if site.pv is not None else []
    if site.wind is not None:
        parts.append(f"wind {site.wind.count} × {site.wind.turbine_type}")
    if site.weather is None:  # a live meter gives the power
        kind = site.realtime.power.kind if site.realtime is not None else "?"
        return " + ".join([*parts, f"live {kind} meter (0 W when replayed)"])
    return " + ".join(parts) + f" ({site.weather} weather)"


def scenario_summary(scenario: Any) -> dict[str, Any]:
    """What ``validate`` says about a valid scenario, as data: sites, jobs, period, step."""
    generation = scenario.generation_w()
    span_s = (scenario.end - scenario.start).total_seconds()
    step_s = scenario.step.total_seconds()
    source = scenario.energy_source
    if source.kind == "weather":
        energy = "bundled weather (pvlib, windpowerlib)"
    elif source.solcast is not None:
        energy = f"Solcast trace {source.solcast!r}"
    else:
        energy = f"trace {source.trace} ({source.unit})"
    return {
        "name": scenario.name,
        "description": scenario.description,
        "file": None if scenario.source is None else str(scenario.source),
        "start": scenario.start.isoformat(),
        "end": scenario.end.isoformat(),
        "days": span_s / 86400,
        "step_s": step_s,
        "steps": int(span_s // step_s),
        "sites": [
            {
                "name": s.name,
                "gpu_slots": s.gpu_slots,
                "supply": _supply(s),
                "generation_mean_kw": float(generation[s.name].mean()) / 1000.0,
                "generation_peak_kw": float(generation[s.name].max()) / 1000.0,
                "battery_kwh": None if s.battery is None else s.battery.capacity_kwh,
            }
            for s in scenario.sites
        ],
        "links": {"default_gbps": scenario.links.default_gbps, "pairs": len(scenario.links.pairs)},
        "jobs": [
            {
                "name": j.name,
                "arrival": j.arrival.isoformat(),
                "work_gpu_h": j.work_gpu_h,
                "power_w": j.power_w,
                "checkpoint_gb": j.checkpoint_gb,
            }
            for j in scenario.jobs
        ],
        "energy_source": energy,
        "forecaster": scenario.forecaster_name,
        "warnings": _job_warnings(scenario),
    }


def _job_warnings(scenario: Any) -> list[str]:
    """Jobs the scenario accepts but no policy can run as given (the warnings of simulate)."""
    from greenhop.world.inputs import inputs_from_scenario

    unrunnable = inputs_from_scenario(scenario).unrunnable_jobs()
    return [f"job {name!r} cannot run as given: {why}" for name, why in unrunnable]


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """Print :func:`scenario_summary` as ``validate`` does."""
    label = Path(summary["file"]).name if summary["file"] else summary["name"]
    console.print(f"{label}: valid scenario {summary['name']!r}", markup=False, highlight=False)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    if summary["description"]:
        grid.add_row("about", summary["description"])
    grid.add_row(
        "period",
        f"{_when(summary['start'])} .. {_when(summary['end'])} UTC "
        f"({_days(summary['days'] * 86400)} "
        f"days), step {_step(summary['step_s'])}, {summary['steps']} steps",
    )
    sites = summary["sites"]
    slots = sum(s["gpu_slots"] for s in sites)
    grid.add_row(f"sites ({len(sites)})", f"{slots} GPU slots in all")
    for site in sites:
        battery = f", battery {site['battery_kwh']:g} kWh" if site["battery_kwh"] else ""
        grid.add_row(
            "",
            f"{site['name']}: {site['gpu_slots']} slots, {site['supply']}, generation "
            f"{site['generation_mean_kw']:.3g} kW mean, {site['generation_peak_kw']:.3g} kW peak"
            f"{battery}",
        )
    links = summary["links"]
    n = links["pairs"]
    pairs = (
        f"; {n} pair{'s' if n != 1 else ''} with {'their' if n != 1 else 'its'} own" if n else ""
    )
    grid.add_row("links", f"{links['default_gbps']:g} Gbit/s between any two sites{pairs}")
    jobs = summary["jobs"]
    if jobs:
        work = sum(j["work_gpu_h"] for j in jobs)
        sizes = [j["checkpoint_gb"] for j in jobs]
        grid.add_row(
            f"jobs ({len(jobs)})",
            f"{work:g} GPU-h of work, checkpoints {min(sizes):.3g} .. {max(sizes):.3g} GB, "
            f"arriving {_when(min(j['arrival'] for j in jobs))} .. "
            f"{_when(max(j['arrival'] for j in jobs))}",
        )
    else:
        grid.add_row("jobs (0)", "none: simulate and live need at least one")
    grid.add_row("energy", summary["energy_source"])
    grid.add_row("forecaster", summary["forecaster"])
    for note in summary["warnings"]:
        grid.add_row("warning", note)
    console.print(grid, markup=False, highlight=False)


def problems_message(check: ScenarioCheck) -> str:
    """The last line of a failed ``validate``: the file and how many problems it has."""
    count = len(check.problems)
    return (
        f"{check.path.name}: {count} problem{'s' if count != 1 else ''}; fix "
        f"{'them' if count != 1 else 'it'} and validate again"
    )


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """The scenarios that ship with greenhop, with what each one is."""
    from greenhop.scenario import bundled_scenario, bundled_scenarios, load_scenario

    rows: list[dict[str, Any]] = []
    for name in bundled_scenarios():
        scenario = load_scenario(name)
        rows.append(
            {
                "name": name,
                "description": scenario.description,
                "sites": len(scenario.sites),
                "jobs": len(scenario.jobs),
                "days": (scenario.end - scenario.start).total_seconds() / 86400,
                "step_s": scenario.step.total_seconds(),
                "file": str(bundled_scenario(name)),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="bundled scenarios (greenhop simulate NAME)", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("sites", justify="right")
    table.add_column("jobs", justify="right")
    table.add_column("days", justify="right")
    table.add_column("step", no_wrap=True)
    table.add_column("description", ratio=1)
    for row in rows:
        table.add_row(
            row["name"],
            str(row["sites"]),
            str(row["jobs"]),
            _days(row["days"] * 86400),
            _step(row["step_s"]),
            row["description"],
        )
    Console().print(table, markup=False, highlight=False)


@app.command("init")
def init_command(
    name: Annotated[str, typer.Argument(help="Name of the new scenario.")],
    out: Annotated[
        Path | None,
        typer.Option(help="File to write (default NAME.toml; a folder gets NAME.toml inside)."),
    ] = None,
) -> None:
    """Write a commented, valid starter scenario NAME.toml; never overwrites a file."""
    from greenhop._io import atomic_path

    path = Path(f"{name}.toml") if out is None else out
    if path.is_dir():
        path = path / f"{name}.toml"
    text = starter_toml(name, path.name)
    if path.exists():
        raise OutputError(f"{str(path)!r} exists; choose another --out or remove it first")
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"wrote {path}; check it with: greenhop scenario validate {path}")


@app.command("validate")
def validate_command(
    file: Annotated[str, typer.Argument(help="A scenario TOML file, or a bundled name.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary or the problems as JSON.")
    ] = False,
) -> None:
    """Check FILE and print every problem at once (exit 2), or a summary of the scenario."""
    from greenhop.live.jobs.spec import LiveJobSpec
    from greenhop.scenario import check_scenario

    check = check_scenario(file, job_tables={"live": LiveJobSpec})
    if not check.ok:
        if as_json:
            print(json.dumps({"ok": False, "file": str(check.path), "problems": check.problems}))
        else:
            for line in check.problems:
                print(line, file=sys.stderr)
        raise ScenarioError(problems_message(check))
    assert check.scenario is not None
    summary = scenario_summary(check.scenario)
    if as_json:
        print(json.dumps({"ok": True, **summary}, indent=2))
        return
    print_summary(summary, Console(soft_wrap=False))


@app.command("meters")
def meters_command(
    file: Annotated[str, typer.Argument(help="A scenario TOML file with [sites.realtime] tables.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the readings as JSON.")] = False,
) -> None:
    """Read every site's live sources once (power, base load, forecast) and show what each
    gives now: value, age, or why it has none. Exit 1 when any source has no usable value."""
    import pandas as pd

    from greenhop.live.control.realtime import site_feeds
    from greenhop.scenario import load_scenario

    feeds = site_feeds(load_scenario(file))
    now = pd.Timestamp.now(tz="UTC")
    reading = feeds.read(now)
    rows: list[dict[str, Any]] = []
    for s, name in enumerate(feeds.site_names):
        pairs = [("power", reading.power[s], feeds.power[s].signal.describe())]
        base = reading.base_load[s]
        if base is not None and feeds.base_load[s] is not None:
            pairs.append(("base_load", base, feeds.base_load[s].signal.describe()))  # type: ignore[union-attr]
        for signal, got, source in pairs:
            rows.append(
                {
                    "site": name,
                    "signal": signal,
                    "source": source,
                    "ok": got.known,
                    "value_w": got.value,
                    "age_s": None if got.time is None else (now - got.time).total_seconds(),
                    "reason": got.reason,
                    "detail": got.detail,
                }
            )
    feeds.forecast_at(reading, 300.0, run_left_s=float("inf"))
    for s, name in enumerate(feeds.site_names):
        if feeds.forecast[s] == "source":
            problem = feeds.forecast_problem[s]
            rows.append(
                {
                    "site": name,
                    "signal": "forecast",
                    "source": "forecast_source",
                    "ok": not problem,
                    "value_w": None,
                    "age_s": None,
                    "reason": problem.split(": ", 1)[0] or None,
                    "detail": problem.split(": ", 1)[-1],
                }
            )
    ok = all(r["ok"] for r in rows)
    if as_json:
        print(json.dumps({"ok": ok, "time": now.isoformat(), "readings": rows}, indent=2))
    else:
        table = Table(title=f"live sources at {now:%Y-%m-%d %H:%M:%S} UTC", title_justify="left")
        for col in ("site", "signal", "value kW", "age s", "status"):
            table.add_column(col, justify="right" if col in ("value kW", "age s") else "left")
        for r in rows:
            table.add_row(
                r["site"],
                r["signal"],
                "-" if r["value_w"] is None else f"{r['value_w'] / 1000:.3f}",
                "-" if r["age_s"] is None else f"{r['age_s']:.0f}",
                "ok" if r["ok"] else f"{r['reason']}: {r['detail']}",
            )
        Console(soft_wrap=False).print(table)
    if not ok:
        raise typer.Exit(1)
