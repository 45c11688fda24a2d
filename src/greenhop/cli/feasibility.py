"""``greenhop feasibility``: the verdict for one move, the domain plot, the catalog table."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from greenhop import checkpoints, feasibility
from greenhop.cli import _output
from greenhop.errors import InputError
from greenhop.feasibility import DEFAULTS, ModelParameters

app = typer.Typer(
    help=(
        "The feasibility-domain model. Without a subcommand: the verdict for one migration. "
        "Model parameters (--alpha ...) go before a subcommand and apply to it."
    ),
    invoke_without_command=True,
    no_args_is_help=False,
)

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


@dataclass
class _Context:
    params: ModelParameters
    setup: str


def _fmt_s(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "inf"
    if abs(seconds) < 120:
        return f"{seconds:.1f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _finite(name: str, value: float | None) -> None:
    if value is not None and (math.isnan(value) or math.isinf(value)):
        raise InputError(f"{name} must be a finite number, got {value}")


@app.callback()
def feasibility_command(
    ctx: typer.Context,
    checkpoint_gb: Annotated[
        float | None, typer.Option(help="Checkpoint size S in GB (1e9 bytes).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help=f"Catalog model instead of --checkpoint-gb: {', '.join(checkpoints.CATALOG)}."
        ),
    ] = None,
    setup: Annotated[
        str, typer.Option(help=f"Training set-up for --model: {', '.join(checkpoints.SETUPS)}.")
    ] = "mixed-adam",
    frozen_gb: Annotated[
        float | None,
        typer.Option(
            help="GB of the checkpoint that never change (a frozen base): also give the verdict "
            "for a destination that holds them already (S_eff = S - frozen)."
        ),
    ] = None,
    bandwidth_gbps: Annotated[float, typer.Option(help="WAN bandwidth B in Gbit/s.")] = 1.0,
    window_h: Annotated[
        float, typer.Option(help="Renewable window W left at the destination, hours.")
    ] = 2.5,
    alpha: Annotated[
        float, typer.Option(help="Disruption tolerance alpha in (0, 1].")
    ] = DEFAULTS.alpha,
    network_kwh_per_gb: Annotated[
        float, typer.Option(help="Network energy intensity e_net, kWh/GB.")
    ] = DEFAULTS.network_kwh_per_gb,
    job_power_w: Annotated[float, typer.Option(help="Job power P_job, W.")] = DEFAULTS.job_power_w,
    idle_power_w: Annotated[
        float, typer.Option(help="Power while the job makes no progress, P_idle, W.")
    ] = DEFAULTS.idle_power_w,
    disk_write_gb_per_s: Annotated[
        float, typer.Option(help="Checkpoint write speed, GB/s.")
    ] = DEFAULTS.disk_write_gb_per_s,
    disk_read_gb_per_s: Annotated[
        float, typer.Option(help="Checkpoint read speed, GB/s.")
    ] = DEFAULTS.disk_read_gb_per_s,
    restart_s: Annotated[float, typer.Option(help="Restart downtime, s.")] = DEFAULTS.restart_s,
    window_short_h: Annotated[
        float, typer.Option(help="Shortest window of the regime range, hours.")
    ] = DEFAULTS.window_short_s / 3600,
    window_long_h: Annotated[
        float, typer.Option(help="Longest window of the regime range, hours.")
    ] = DEFAULTS.window_long_s / 3600,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print the verdict as CSV (a header and one row).")
    ] = False,
) -> None:
    for name, value in (
        ("--checkpoint-gb", checkpoint_gb),
        ("--frozen-gb", frozen_gb),
        ("--bandwidth-gbps", bandwidth_gbps),
        ("--window-h", window_h),
        ("--window-short-h", window_short_h),
        ("--window-long-h", window_long_h),
    ):
        _finite(name, value)
    params = ModelParameters(
        alpha=alpha,
        network_kwh_per_gb=network_kwh_per_gb,
        job_power_w=job_power_w,
        idle_power_w=idle_power_w,
        disk_write_gb_per_s=disk_write_gb_per_s,
        disk_read_gb_per_s=disk_read_gb_per_s,
        restart_s=restart_s,
        window_short_s=window_short_h * 3600,
        window_long_s=window_long_h * 3600,
    )
    checkpoints.training_setup(setup)
    ctx.obj = _Context(params=params, setup=setup)
    if ctx.invoked_subcommand is not None:
        return
    fmt = _output.output_format(as_json, as_csv)
    if (checkpoint_gb is None) == (model is None):
        raise InputError("give exactly one of --checkpoint-gb or --model (with --setup)")
    if model is not None:
        size = checkpoints.checkpoint_size_gb(model, setup)
    else:
        assert checkpoint_gb is not None
        size = checkpoint_gb
    verdict = feasibility.assess(size, bandwidth_gbps, window_h * 3600.0, params)
    out = verdict.to_dict()
    effective = None
    if frozen_gb is not None:
        if not 0 <= frozen_gb < size:
            raise InputError(
                f"--frozen-gb must be >= 0 and below the checkpoint's {size:g} GB, "
                f"got {frozen_gb:g}"
            )
        effective = feasibility.assess(size - frozen_gb, bandwidth_gbps, window_h * 3600.0, params)
        out["frozen_gb"] = frozen_gb
        out["effective"] = {k: v for k, v in effective.to_dict().items() if k != "params"}
    if model is not None:
        out["model"] = checkpoints.model_spec(model).name
        out["setup"] = setup
    if fmt == "json":
        typer.echo(json.dumps(out, indent=2))
        return
    if fmt == "csv":
        flat = {k: v for k, v in out.items() if k not in ("params", "effective")}
        eff = {f"eff_{k}": v for k, v in out.get("effective", {}).items()}
        params_cols = {f"param_{k}": v for k, v in out["params"].items()}
        _output.echo_csv([{**flat, **eff, **params_cols}])
        return
    _print_verdict(out, verdict)
    if effective is not None:
        assert frozen_gb is not None
        _print_verdict(
            out | {"feasible": effective.feasible},
            effective,
            note=f"to a site holding its frozen {frozen_gb:g} GB: S_eff = {size - frozen_gb:g} GB",
        )


def _print_verdict(out: dict[str, Any], v: feasibility.Assessment, note: str = "") -> None:
    console = _output.stdout_console()
    ok = "[bold green]yes[/]"
    no = "[bold red]no[/]"
    title = (
        f"Migration of {v.size_gb:g} GB over {v.bandwidth_gbps:g} Gbit/s "
        f"into a {v.window_s / 3600:g} h window"
    )
    if "model" in out:
        title += f" ({out['model']}, {out['setup']})"
    if note:
        title += f"\n{note}"
    table = Table(title=title, show_header=True)
    table.add_column("term")
    table.add_column("value", justify="right")
    table.add_column("seconds", justify="right")
    for label, secs in (
        ("checkpoint write  S / disk_write", v.checkpoint_s),
        ("transfer          8 S / B", v.transfer_s),
        ("load              S / disk_read", v.load_s),
        ("restart", v.restart_s),
        ("disruption D", v.disruption_s),
        (f"budget alpha W (alpha = {v.params.alpha:g})", v.budget_s),
        ("slack alpha W - D", v.slack_s),
        ("break-even T_be = E_mig / P_job", v.break_even_s),
    ):
        table.add_row(label, _fmt_s(secs), f"{secs:.1f}")
    table.add_row("migration energy E_mig", f"{v.migration_energy_kwh:.4g} kWh", "")
    table.add_row("time-feasible  D < alpha W", ok if v.time_feasible else no, "")
    table.add_row("energy-feasible  D + T_be < W", ok if v.energy_feasible else no, "")
    lo, hi = v.params.window_short_s / 3600, v.params.window_long_s / 3600
    table.add_row(f"regime over W in [{lo:g}, {hi:g}] h", str(v.regime), "")
    console.print(table)
    verdict = "FEASIBLE" if out["feasible"] else "NOT FEASIBLE"
    style = "green" if out["feasible"] else "red"
    console.print(f"[bold {style}]{verdict}[/]")


@app.command("domain")
def domain_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Image to write (.png, .svg or .pdf).")] = Path(
        "domain.png"
    ),
    windows_h: Annotated[
        str, typer.Option(help="Comma-separated windows (hours) whose boundaries are drawn.")
    ] = "1,2.5,5,9.5",
) -> None:
    """Draw the (S, B) plane: regions A/B/C, boundaries per window, the catalog models."""
    from greenhop._io import check_writable
    from greenhop.report.domain import plot_domain

    c: _Context = ctx.obj
    if out.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(
            f"cannot write {str(out)!r}: unknown image type {out.suffix!r}; "
            f"use one of {', '.join(PLOT_SUFFIXES)}"
        )
    check_writable(out)
    windows = _parse_floats("--windows-h", windows_h)
    plot_domain(out, c.params, windows_h=windows, setup=c.setup)
    _output.note(f"wrote {out}")


def _parse_floats(option: str, text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{option} must be comma-separated numbers, got {text!r}") from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise InputError(f"{option} must be positive finite numbers, got {text!r}")
    return values


def catalog_rows(
    params: ModelParameters,
    setups: tuple[str, ...] = ("mixed-adam", "lora"),
    bandwidths_gbps: tuple[float, ...] = feasibility.TABLE_BANDWIDTHS_GBPS,
    windows_h: tuple[float, ...] = feasibility.TABLE_WINDOWS_H,
) -> list[dict[str, Any]]:
    """One record per catalog model, set-up, bandwidth and window."""
    rows: list[dict[str, Any]] = []
    for spec in checkpoints.CATALOG.values():
        for setup in setups:
            try:
                size = checkpoints.checkpoint_size_gb(spec.name, setup)
            except InputError:
                continue
            for b in bandwidths_gbps:
                for w in windows_h:
                    a = feasibility.assess(size, b, w * 3600.0, params).to_dict()
                    a.pop("params")
                    rows.append({"model": spec.name, "setup": setup, "window_h": w, **a})
    return rows


def _fmt_d(seconds: float) -> str:
    """A disruption in two or three digits: seconds, minutes or hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        minutes = seconds / 60
        return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"
    return f"{seconds / 3600:.1f} h"


def verdict_mark(record: dict[str, Any]) -> str:
    """The table's mark for one window: ✓ feasible; e time-feasible, but the move's energy
    does not pay back in the window; ✗ not time-feasible."""
    if record["feasible"]:
        return "✓"
    return "e" if record["time_feasible"] else "✗"


def table_legend(params: ModelParameters) -> str:
    """What a cell of ``greenhop feasibility table`` says, marks and regimes."""
    short, long_ = params.window_short_s / 3600, params.window_long_s / 3600
    return (
        f"Each cell: the regime, the disruption D, then one mark for W = {short:g} h and one "
        f"for W = {long_:g} h: ✓ feasible (D < αW and D + T_be < W); e time-feasible, but the "
        f"move's energy does not pay back in W (D + T_be ≥ W); ✗ not time-feasible (D ≥ αW). "
        f"The regime is the time verdict alone (α = {params.alpha:g}): A time-feasible at "
        f"{short:g} h, B at {long_:g} h only, C at neither."
    )


@app.command("table")
def table_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the records as CSV.")] = False,
) -> None:
    """The catalog models over the default bandwidths, at the shortest and longest window of
    the regime range (--window-short-h, --window-long-h): regime, disruption, verdicts."""
    c: _Context = ctx.obj
    fmt = _output.output_format(as_json, as_csv)
    windows = (c.params.window_short_s / 3600, c.params.window_long_s / 3600)
    rows = catalog_rows(c.params, windows_h=windows)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    if fmt == "csv":
        _output.echo_csv(rows)
        return
    console = _output.stdout_console()
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        by_key.setdefault((r["setup"], r["model"]), []).append(r)
    setups = list(dict.fromkeys(r["setup"] for r in rows))
    groups = sorted(by_key.items(), key=lambda kv: setups.index(kv[0][0]))
    title = (
        "Catalog models: regime, disruption D and verdicts at "
        f"W = {' and '.join(f'{w:g} h' for w in windows)}"
    )

    def build(bandwidths: list[float]) -> Table:
        table = _output.compact_table(title=title)
        table.add_column("model", no_wrap=True)
        table.add_column("S GB", justify="right", no_wrap=True)
        for b in bandwidths:
            table.add_column(f"{b:g} Gbit/s", justify="right", no_wrap=True)
        setup = None
        for (row_setup, model), recs in groups:
            if row_setup != setup:
                setup = row_setup
                table.add_row(f"[bold]{setup}[/]")
            cells = []
            for b in bandwidths:
                at_b = [r for r in recs if r["bandwidth_gbps"] == b]
                marks = "".join(verdict_mark(r) for r in at_b)
                cells.append(f"{at_b[0]['regime']} {_fmt_d(at_b[0]['disruption_s'])} {marks}")
            table.add_row(f"  {model}", f"{recs[0]['size_gb']:.3g}", *cells)
        return table

    for table in _output.fitting_tables(build, list(feasibility.TABLE_BANDWIDTHS_GBPS), console):
        console.print(table)
    console.print(table_legend(c.params), highlight=False)
    feasible_be = [r["break_even_s"] for r in rows if r["time_feasible"]]
    time_only = sum(1 for r in rows if r["energy_feasible"] and not r["time_feasible"])
    energy_only = sum(1 for r in rows if r["time_feasible"] and not r["energy_feasible"])
    if feasible_be:
        console.print(
            f"Energy break-even of the time-feasible moves: at most {_fmt_s(max(feasible_be))}, "
            f"against windows of {' and '.join(f'{w:g} h' for w in windows)}. "
            f"Cases where time binds but energy does not: {time_only}; the reverse (e): "
            f"{energy_only}.",
            highlight=False,
        )
