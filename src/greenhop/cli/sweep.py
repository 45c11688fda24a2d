"""``greenhop sweep SWEEP.toml``: many simulations over a grid or a sample of parameters."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from greenhop.cli import _output
from greenhop.cli._commands import NamedCommand


def sweep_command(
    sweep: Annotated[
        Path, typer.Argument(help="A sweep file (TOML): base scenario, policies, seeds, axes.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Sweep folder (default runs/sweep-NAME). Run again with the same folder to "
            "resume: finished cells are not run again."
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="Run on the Ray cluster at HOST:PORT instead of an embedded one."),
    ] = None,
    cpus: Annotated[
        int | None,
        typer.Option(min=1, help="CPUs of the embedded Ray (default: every core)."),
    ] = None,
    object_store_mb: Annotated[
        int, typer.Option(min=75, help="Object store of the embedded Ray, MiB.")
    ] = 200,
    inline: Annotated[
        bool, typer.Option("--inline", help="Run the cells in this process, one by one, no Ray.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check the file and count the cells to run; run none."),
    ] = False,
    report: Annotated[
        bool,
        typer.Option(
            "--report/--no-report", help="Write the report (heatmaps, intervals over seeds)."
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as JSON.")] = False,
) -> None:
    """Run every cell of SWEEP (each policy on each point and seed) and write one Parquet table,
    a row per cell and policy, and a report with heatmaps and 95 % intervals over seeds."""
    from greenhop.sweep import load_sweep, run_sweep, write_report
    from greenhop.sweep.execute import pending_cells
    from greenhop.sweep.store import RESULTS

    spec = load_sweep(sweep)
    folder = out if out is not None else Path("runs") / f"sweep-{spec.name}"
    if dry_run:
        todo, _, done = pending_cells(spec, folder)
        counts = {
            "sweep": spec.name,
            "out": str(folder),
            "cells": done + len(todo),
            "done": done,
            "to_run": len(todo),
            "policies": list(spec.policies),
            "simulations": len(todo) * len(spec.policies),
        }
        if as_json:
            typer.echo(json.dumps(counts, indent=2))
        else:
            typer.echo(
                f"{spec.name}: {counts['cells']} cells × {len(spec.policies)} policies; "
                f"{done} done in {folder}, {len(todo)} to run"
            )
        return
    columns = (
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("cells"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with _output.stdout_to_stderr(), _output.progress(*columns) as bar:
        task = bar.add_task("preparing", total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        try:
            run = run_sweep(
                spec,
                folder,
                inline=inline,
                address=address,
                cpus=cpus,
                object_store_mb=object_store_mb,
                progress=progress,
            )
        except KeyboardInterrupt:
            from greenhop.sweep.store import done_keys

            saved = len(done_keys(folder)) // max(len(spec.policies), 1)
            _output.stderr_console().print(
                f"interrupted: about {saved} of {len(spec.cells())} cells are saved in "
                f"{folder}/; run the same command again to finish the rest",
                highlight=False,
                soft_wrap=True,
            )
            raise
        page = write_report(folder, spec, run.results) if report else None
    results = run.results
    ok = results[results["status"] == "ok"] if "status" in results else results.iloc[0:0]
    info: dict[str, Any] = {
        "sweep": spec.name,
        "out": str(folder),
        "cells": run.cells,
        "already_done": run.skipped_done,
        "ran": run.ran,
        "rows": len(results),
        "rows_skipped": int((results.get("status") == "skipped").sum()) if len(results) else 0,
        "wall_s": round(run.wall_s, 3),
        "results": str(folder / RESULTS),
        "report": None if page is None else str(page),
        "ray": run.ray or None,
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        _print_means(ok, spec.report.metrics, spec.policies, spec.name)
    _output.note(
        f"{run.cells} cells ({run.ran} run now, {run.skipped_done} done before) in "
        f"{run.wall_s:.1f} s; wrote {folder / RESULTS}"
        + (f" and {page}" if page is not None else "")
    )


def _print_means(ok: Any, metrics: Any, policies: Any, name: str) -> None:
    console = _output.stdout_console()
    table = _output.compact_table(title=f"greenhop sweep {name}: mean over every cell")
    table.add_column("policy", no_wrap=True)
    table.add_column("rows", justify="right")
    for m in metrics:
        table.add_column(m, justify="right", no_wrap=True)
    for policy in policies:
        rows = ok[ok["policy"] == policy] if len(ok) else ok
        values = []
        for m in metrics:
            v = float(rows[m].mean()) if len(rows) else math.nan
            values.append("-" if not math.isfinite(v) else f"{v:.4g}")
        table.add_row(policy, str(len(rows)), *values)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("sweep", cls=NamedCommand)(sweep_command)
