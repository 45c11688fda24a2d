"""``greenhop simulate SCENARIO --policy all``: compare policies on the same traces."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

from greenhop.cli import _names, _output
from greenhop.cli._commands import NamedCommand
from greenhop.cli.runs import default_out, policy_names, print_comparison
from greenhop.errors import InputError

if TYPE_CHECKING:
    from greenhop.world.inputs import SimInputs


def simulate_command(
    scenario: Annotated[
        str,
        typer.Argument(
            help="A scenario TOML file, or a bundled name: {scenarios}.",
            autocompletion=_names.complete_scenarios,
        ),
    ],
    policy: Annotated[
        str,
        typer.Option(
            help=(
                "'all', or comma-separated policy names: {policies}; also carbon-aware "
                "(needs a carbon signal) and feasibility-aware or lookahead with an objective: "
                "lookahead:carbon, lookahead:cost."
            ),
            autocompletion=_names.complete_policies,
        ),
    ] = "all",
    out: Annotated[
        Path | None, typer.Option(help="Run folder to write (default runs/simulate-NAME-TIME).")
    ] = None,
    forecast: Annotated[
        str | None,
        typer.Option(
            help="Override the scenario's forecaster: {forecasters}.",
            autocompletion=_names.complete_forecasters,
        ),
    ] = None,
    bandwidth_gbps: Annotated[
        float | None, typer.Option(help="Set every link to this bandwidth, Gbit/s.")
    ] = None,
    checkpoint_gb: Annotated[
        float | None, typer.Option(help="Set every job's checkpoint to this size, GB.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print the comparison as CSV, one row per policy.")
    ] = False,
) -> None:
    """Simulate SCENARIO under each policy; print the comparison and write a run folder."""
    from greenhop.report.runfolder import prepare_folder, write_run_folder
    from greenhop.runner import run_policies
    from greenhop.scenario import load_scenario
    from greenhop.sim import with_overrides
    from greenhop.world.inputs import SimInputs

    fmt = _output.output_format(as_json, as_csv)
    names = simulate_policy_names(policy)
    sc = load_scenario(scenario)
    if not sc.jobs:
        raise InputError(
            f"scenario {sc.name!r} has no [[jobs]]; add at least one job to simulate "
            "(docs/scenarios.md)"
        )
    out_dir = out if out is not None else default_out("simulate", sc.name)
    prepare_folder(out_dir)
    inputs = with_overrides(
        SimInputs.from_scenario(sc, forecast=forecast),
        bandwidth_gbps=bandwidth_gbps,
        checkpoint_gb=checkpoint_gb,
    )
    console = Console(stderr=True)
    unrunnable = inputs.unrunnable_jobs()
    for name, why in unrunnable:
        console.print(f"[yellow]warning:[/] job {name!r} cannot run as given: {why}")
    with (
        _output.stdout_to_stderr(),
        _output.progress(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
        ) as bar,
    ):
        tasks = {n: bar.add_task(n, total=inputs.n_steps) for n in names}

        def progress(name: str, done: int, total: int) -> None:
            bar.update(tasks[name], completed=done, total=total)

        skipped: dict[str, str] = {}
        results = run_policies(
            inputs, names, progress=progress, skipped=skipped if policy == "all" else None
        )
    for name, why in skipped.items():
        console.print(f"[yellow]{name} skipped:[/] {why}")
    cannot = {n for n, _ in unrunnable}
    for r in results:
        late = [
            str(n)
            for n, t in zip(inputs.jobs.names, r.job_done_s, strict=True)
            if math.isnan(t) and n not in cannot
        ]
        if late:
            console.print(
                f"[yellow]warning:[/] {r.policy}: {len(late)} job(s) not done by the end of the "
                f"run, left out of its JCT and slowdown: {', '.join(late)}"
            )
    title = f"greenhop simulate {sc.name}"
    notes = [
        f"Scenario {sc.name!r}: {len(inputs.site_names)} sites, {len(inputs.jobs)} jobs, "
        f"{inputs.n_steps} steps of {inputs.step_s / 60:g} min from {inputs.start}; "
        f"forecaster {inputs.meta.get('forecaster', 'perfect')!r}.",
        "Non-renewable energy = grid energy of the IT load + network energy of transfers.",
        *(f"{name} skipped: {why}" for name, why in skipped.items()),
        *(f"Job {name!r} cannot run as given: {why}." for name, why in unrunnable),
        *(f"Weather: {note}." for note in inputs.meta.get("weather_notes", [])),
        *grid_notes(inputs),
    ]
    comparison = write_run_folder(
        out_dir,
        results,
        title=title,
        notes=notes,
        extra={"unrunnable_jobs": [{"job": n, "why": w} for n, w in unrunnable]},
    )
    if fmt == "json":
        typer.echo(json.dumps(json.loads((out_dir / "summary.json").read_text()), indent=2))
    elif fmt == "csv":
        typer.echo(comparison.to_csv(index=False), nl=False)
    else:
        print_comparison(comparison, f"{title} ({inputs.n_steps} steps)")
        if grid_notes(inputs):
            print_grid_table(json.loads((out_dir / "summary.json").read_text())["policies"])
    _output.note(f"wrote {out_dir}/ (report.html, summary.json, tables, plots)")


def simulate_policy_names(spec: str) -> list[str]:
    """``policy_names`` plus the policies ``all`` leaves out (:func:`greenhop.runner.
    is_grid_policy`: ``carbon-aware``, ``lookahead:carbon`` ...; the oracle with options,
    ``oracle:eps=0.1``), in the order given."""
    from greenhop.oracle.named import parse_oracle_name
    from greenhop.runner import is_grid_policy

    parts = [p.strip() for p in spec.split(",") if p.strip()]
    for p in parts:
        if p.startswith("oracle:"):  # the oracle with options: oracle:eps=0.1, oracle:window=24
            parse_oracle_name(p)
    grid = [p for p in parts if is_grid_policy(p) or p.startswith("oracle:")]
    rest = [p for p in parts if p not in grid]
    if not grid:
        return policy_names(spec)
    known = policy_names(",".join(rest)) if rest else []
    return [p for p in parts if p in grid or p in known] if spec.strip() != "all" else known


def grid_notes(inputs: SimInputs) -> list[str]:
    """Lines on the run's grid signals and PUE for the report; none without either."""
    grid = inputs.grid
    if grid is None:
        return []
    out = []
    names = inputs.site_names
    if grid.carbon is not None:
        sigs = sorted({n for n in grid.carbon.names if n})
        out.append(
            f"Carbon: {grid.carbon_kind} intensity (gCO2e/kWh) from {', '.join(sigs)}; "
            "emissions = grid energy x intensity, transfers at the source's."
        )
    if grid.price is not None:
        sigs = sorted({n for n in grid.price.names if n})
        out.append(f"Price: {grid.price.unit} from {', '.join(sigs)}.")
    if grid.dr_cap_w is not None:
        out.append(
            "Demand response: events from "
            + ", ".join(sorted(set(filter(None, grid.dr_names))))
            + "."
        )
    if grid.curtailment_w is not None:
        out.append(
            "Curtailment offered as supply: "
            + ", ".join(
                f"{n} ({c})" for n, c in zip(names, grid.curtailment_names, strict=True) if c
            )
            + "."
        )
    if not bool((grid.pue == 1.0).all()):
        out.append(
            "PUE: " + ", ".join(f"{n} {p:g}" for n, p in zip(names, grid.pue, strict=True)) + "."
        )
    return out


def print_grid_table(summaries: list[dict[str, Any]]) -> None:
    """The grid side of the comparison: grid energy, emissions, cost, demand-response excess
    (policies as columns, split over several tables when they do not fit side by side)."""
    console = _output.stdout_console()
    by_policy = {str(s["policy"]): s for s in summaries}
    currency = next((str(s["currency"]) for s in summaries if s.get("currency")), "")
    rows = [
        ("grid kWh", "grid_kwh", "{:.1f}"),
        ("kg CO2e", "emissions_kgco2e", "{:.2f}"),
        (f"cost {currency or '-'}", "energy_cost", "{:.2f}"),
        ("DR excess kWh", "dr_excess_kwh", "{:.2f}"),
    ]

    def cell(v: Any, spec: str) -> str:
        return "-" if v is None else spec.format(float(v))

    def build(names: list[str]) -> Any:
        table = _output.compact_table(title="grid side")
        table.add_column("metric", no_wrap=True)
        for name in names:
            table.add_column(name, justify="right", no_wrap=True)
        for label, key, spec in rows:
            table.add_row(label, *(cell(by_policy[n].get(key), spec) for n in names))
        return table

    for table in _output.fitting_tables(build, list(by_policy), console):
        console.print(table)
    console.print(
        "grid: the facility's grid energy (IT x PUE); kg CO2e and cost: grid energy x the "
        "site's intensity and price, transfers at the source's; DR excess: grid energy above "
        "demand-response caps; '-': no such signal in the scenario.",
        style="dim",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("simulate", cls=NamedCommand)(simulate_command)
