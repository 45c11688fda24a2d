"""``greenhop simulate SCENARIO --policy all``: compare policies on the same traces."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from greenhop.errors import InputError


def policy_names(spec: str) -> list[str]:
    """``all`` or a comma-separated list → policy names (validated)."""
    from greenhop.runner import available_policies

    known = available_policies()
    names = known if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(
            f"unknown policy {', '.join(unknown) or repr(spec)}; use 'all' or some of: "
            f"{', '.join(known)}"
        )
    return names


def default_out(kind: str, scenario_name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{kind}-{scenario_name}-{stamp}"


def print_comparison(comparison: Any, title: str) -> None:
    table = Table(title=title)
    fmt = {
        "non_renewable_kwh": ("non-renew. kWh", "{:.1f}"),
        "oracle_bound_kwh": ("oracle bound kWh", "{:.1f}"),
        "jobs_non_renewable_kwh": ("jobs' non-renew. kWh", "{:.1f}"),
        "renewable_share": ("renew. share", "{:.1%}"),
        "jobs_renewable_share": ("jobs' renew. share", "{:.1%}"),
        "migration_energy_kwh": ("mig. kWh", "{:.2f}"),
        "bytes_moved": ("GB moved", None),
        "migrations": ("moves", "{:d}"),
        "wasted_migrations": ("wasted", "{:d}"),
        "jobs_done": ("done", "{:d}"),
        "jct_mean_h": ("JCT mean h", "{:.1f}"),
        "jct_p95_h": ("JCT p95 h", "{:.1f}"),
        "slowdown_mean": ("slowdown", "{:.3f}"),
        "stability_slowdown_std": ("stability σ", "{:.3f}"),
    }
    cols = ["policy"] + [c for c in fmt if c in comparison.columns]
    for c in cols:
        table.add_column(
            fmt[c][0] if c in fmt else c,
            justify="left" if c == "policy" else "right",
            no_wrap=c == "policy",
        )
    for _, row in comparison.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if c == "policy":
                cells.append(str(v))
            elif c == "bytes_moved":
                cells.append(f"{v / 1e9:.0f}")
            elif v != v:  # NaN
                cells.append("-")
            else:
                f = fmt[c][1] or "{}"
                cells.append(f.format(int(v)) if "d}" in f else f.format(float(v)))
        table.add_row(*cells)
    Console(width=max(Console().width, 150)).print(table)


def simulate_command(
    scenario: Annotated[str, typer.Argument(help="A scenario TOML file, or a bundled name.")],
    policy: Annotated[str, typer.Option(help="'all', or comma-separated policy names.")] = "all",
    out: Annotated[
        Path | None, typer.Option(help="Run folder to write (default runs/simulate-NAME-TIME).")
    ] = None,
    forecast: Annotated[
        str | None, typer.Option(help="Override the scenario's forecaster.")
    ] = None,
    bandwidth_gbps: Annotated[
        float | None, typer.Option(help="Set every link to this bandwidth, Gbit/s.")
    ] = None,
    checkpoint_gb: Annotated[
        float | None, typer.Option(help="Set every job's checkpoint to this size, GB.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """Simulate SCENARIO under each policy; print the comparison and write a run folder."""
    from greenhop.report.runfolder import prepare_folder, write_run_folder
    from greenhop.runner import run_policies
    from greenhop.scenario import load_scenario
    from greenhop.sim import with_overrides
    from greenhop.world.inputs import SimInputs

    names = policy_names(policy)
    sc = load_scenario(scenario)
    out_dir = out if out is not None else default_out("simulate", sc.name)
    prepare_folder(out_dir)
    inputs = with_overrides(
        SimInputs.from_scenario(sc, forecast=forecast),
        bandwidth_gbps=bandwidth_gbps,
        checkpoint_gb=checkpoint_gb,
    )
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks = {n: bar.add_task(n, total=inputs.n_steps) for n in names}

        def progress(name: str, done: int, total: int) -> None:
            bar.update(tasks[name], completed=done, total=total)

        skipped: dict[str, str] = {}
        results = run_policies(
            inputs, names, progress=progress, skipped=skipped if policy == "all" else None
        )
    for name, why in skipped.items():
        console.print(f"[yellow]{name} skipped:[/] {why}")
    title = f"greenhop simulate {sc.name}"
    notes = [
        f"Scenario {sc.name!r}: {len(inputs.site_names)} sites, {len(inputs.jobs)} jobs, "
        f"{inputs.n_steps} steps of {inputs.step_s / 60:g} min from {inputs.start}; "
        f"forecaster {inputs.meta.get('forecaster', 'perfect')!r}.",
        "Non-renewable energy = grid energy of the IT load + network energy of transfers.",
        *(f"{name} skipped: {why}" for name, why in skipped.items()),
    ]
    comparison = write_run_folder(out_dir, results, title=title, notes=notes)
    if as_json:
        typer.echo(json.dumps(json.loads((out_dir / "summary.json").read_text()), indent=2))
    else:
        print_comparison(comparison, f"{title} ({inputs.n_steps} steps)")
    console.print(f"wrote {out_dir}/ (report.html, summary.json, tables, plots)")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
