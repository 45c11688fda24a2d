"""``greenhop windows SCENARIO``: per-site surplus window statistics, with plots.

For every site of the scenario the surplus is its renewable generation minus its base load; a
window is a run of steps where the surplus covers one job of ``--job-power-w``. Prints a table of
window statistics and writes to ``--out`` (default ``runs/windows-<scenario>/``):
``surplus.png`` (each site's surplus over time, windows shaded), ``durations.png`` (the
distribution of window durations) and ``windows.csv`` (every window). All of it is computed
before the first file is written, and each file is written atomically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from greenhop.cli import _names, _output
from greenhop.cli._commands import NamedCommand
from greenhop.errors import InputError, OutputError

if TYPE_CHECKING:
    import pandas as pd


def _fmt_h(seconds: float) -> str:
    return f"{seconds / 3600:.1f}"


#: The statistics table, one column each: (key of window_stats, short header, full header,
#: format); the short headers are used where the full ones do not fit.
_COLUMNS: tuple[tuple[str, str, str, Any], ...] = (
    ("count", "windows", "windows", lambda v: f"{v:.0f}"),
    ("time_share", "time", "time in window", lambda v: f"{v:.0%}"),
    ("mean_duration_s", "mean", "mean h", _fmt_h),
    ("q10_duration_s", "p10", "p10 h", _fmt_h),
    ("q50_duration_s", "p50", "median h", _fmt_h),
    ("q90_duration_s", "p90", "p90 h", _fmt_h),
    ("max_duration_s", "max", "max h", _fmt_h),
    ("surplus_energy_kwh", "kWh", "surplus kWh", lambda v: f"{v:.0f}"),
    ("share_energy_long_windows", "≥{w:g} h", "energy in ≥{w:g} h", lambda v: f"{v:.0%}"),
)


def windows_command(
    scenario: Annotated[
        str,
        typer.Argument(
            metavar="SCENARIO",
            help="A scenario TOML file, or a bundled name: {scenarios}.",
            autocompletion=_names.complete_scenarios,
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Folder for the plots (default runs/windows-<name>/).")
    ] = None,
    job_power_w: Annotated[
        float, typer.Option(help="Power of one job, W: a window is where the surplus covers it.")
    ] = 500.0,
    min_window_h: Annotated[
        float, typer.Option(help="Window length a migration needs, h (for the energy share).")
    ] = 2.5,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the statistics per site as JSON.")
    ] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print the statistics as CSV, one row per site.")
    ] = False,
) -> None:
    """Surplus windows of every site of SCENARIO: statistics table and plots."""
    import pandas as pd

    from greenhop.energy.windows import simultaneity, surplus_windows, window_stats
    from greenhop.scenario import load_scenario

    fmt = _output.output_format(as_json, as_csv)
    for name, value in (("--job-power-w", job_power_w), ("--min-window-h", min_window_h)):
        if not math.isfinite(value) or value < 0:
            raise InputError(f"{name} must be a finite number ≥ 0, got {value}")
    loaded = load_scenario(scenario)
    out_dir = out if out is not None else Path("runs") / f"windows-{loaded.name}"
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {str(out_dir)!r} is a file, not a folder")

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    stats: dict[str, dict[str, float]] = {}
    windows: dict[str, pd.DataFrame] = {}
    with _output.stdout_to_stderr(), _output.progress(*columns) as progress:
        task = progress.add_task("generation", total=len(loaded.sites) + 3)
        generation = loaded.generation_w()
        surplus = generation - loaded.base_load_w()
        progress.advance(task)
        for site in loaded.sites:
            progress.update(task, description=f"windows {site.name}")
            windows[site.name] = surplus_windows(surplus[site.name], job_power_w)
            stats[site.name] = window_stats(
                surplus[site.name], job_power_w, min_window_s=min_window_h * 3600
            )
            progress.advance(task)
        together = simultaneity(surplus, job_power_w)
        progress.update(task, description="plots")
        surplus_png = _plot_surplus(surplus, windows, job_power_w, loaded.name)
        progress.advance(task)
        durations_png = _plot_durations(windows, loaded.name)
        progress.advance(task)
        table = pd.concat([w.assign(site=name) for name, w in windows.items()], ignore_index=True)[
            ["site", "start", "end", "duration_s", "energy_kwh", "mean_surplus_w", "truncated"]
        ]
        _write_outputs(
            out_dir,
            {"surplus.png": surplus_png, "durations.png": durations_png},
            table,
        )
        progress.advance(task)
    written = (
        f"wrote {out_dir / 'surplus.png'}, {out_dir / 'durations.png'}, {out_dir / 'windows.csv'}"
    )
    k_share = {int(k): float(v) for k, v in zip(together.index, together.to_numpy(), strict=True)}
    if fmt is not None:
        records = [{"site": name, **s} for name, s in stats.items()]
        if fmt == "json":
            doc = {
                "scenario": loaded.name,
                "job_power_w": job_power_w,
                "min_window_h": min_window_h,
                "sites": records,
                "time_share_with_surplus_at_least_k_sites": k_share,
            }
            typer.echo(json.dumps(doc, indent=2))
        else:
            _output.echo_csv(records)
        _output.note(written)
        return

    console = _output.stdout_console()
    grid = loaded.grid()
    title = (
        f"Surplus windows — {loaded.name}, {grid[0]:%Y-%m-%d} .. {grid[-1]:%Y-%m-%d}, "
        f"job {job_power_w:g} W"
    )

    def build(keys: list[str], full: bool = False) -> Table:
        rich_table = _output.compact_table(title=title)
        rich_table.add_column("site", no_wrap=True)
        for key, short, long_, _ in _COLUMNS:
            if key in keys:
                header = (long_ if full else short).format(w=min_window_h)
                rich_table.add_column(header, justify="right", no_wrap=True)
        for name, s in stats.items():
            rich_table.add_row(name, *(f(s[key]) for key, _, _, f in _COLUMNS if key in keys))
        return rich_table

    keys = [c[0] for c in _COLUMNS]
    whole = build(keys, full=True)
    unbounded = console.options.update_width(1_000_000)
    full = console.measure(whole, options=unbounded).maximum <= console.width
    for rich_table in [whole] if full else _output.fitting_tables(build, keys, console):
        console.print(rich_table)
    console.print(
        "windows: the number of runs of steps in which the surplus covers one job of "
        f"{job_power_w:g} W; time: the share of the time inside one; durations in hours; "
        f"kWh: all surplus energy above the base load; ≥{min_window_h:g} h: the share of it in "
        "windows at least that long.",
        style="dim",
        highlight=False,
    )
    k_text = ", ".join(f"≥{k}: {v:.0%}" for k, v in k_share.items() if k <= 3)
    console.print(f"time with surplus at k sites at once: {k_text}", highlight=False)
    _output.note(written)


def _plot_surplus(
    surplus: pd.DataFrame, windows: dict[str, pd.DataFrame], job_power_w: float, name: str
) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(surplus.columns)
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.6 * n + 1), sharex=True, squeeze=False)
    for ax, site in zip(axes[:, 0], surplus.columns, strict=True):
        values_kw = surplus[site] / 1000.0
        ax.plot(values_kw.index, values_kw.to_numpy(), lw=0.8, color="tab:green")
        ax.axhline(job_power_w / 1000.0, color="grey", lw=0.6, ls="--")
        for start, end in zip(windows[site]["start"], windows[site]["end"], strict=True):
            ax.axvspan(start, end, color="tab:green", alpha=0.15, lw=0)
        ax.set_ylabel(f"{site}\nkW", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_title(
        f"{name}: surplus (generation − base load), windows ≥ {job_power_w:g} W shaded"
    )
    axes[-1, 0].set_xlabel("time (UTC)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _plot_durations(windows: dict[str, pd.DataFrame], name: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    data = [w["duration_s"].to_numpy() / 3600.0 for w in windows.values()]
    longest = max((d.max() for d in data if len(d)), default=1.0)
    bins = list(range(0, int(longest) + 2))
    ax.hist(data, bins=bins, stacked=True, label=list(windows))
    ax.set_xlabel("window duration, h")
    ax.set_ylabel("windows")
    ax.set_title(f"{name}: distribution of window durations")
    ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _write_outputs(out_dir: Path, images: dict[str, bytes], table: pd.DataFrame) -> None:
    from greenhop._io import atomic_path

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create --out folder {str(out_dir)!r}: {exc.strerror}") from None
    for file_name, content in images.items():
        with atomic_path(out_dir / file_name) as tmp:
            tmp.write_bytes(content)
            tmp.chmod(0o644)  # mkstemp makes it private; these are ordinary outputs
    with atomic_path(out_dir / "windows.csv") as tmp:
        table.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        tmp.chmod(0o644)


def register(app: typer.Typer) -> None:
    """Add ``greenhop windows`` to the top-level CLI."""
    app.command("windows", cls=NamedCommand)(windows_command)
