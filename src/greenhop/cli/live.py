"""``greenhop live SCENARIO``: run a scenario's jobs as real training on a Ray cluster.

The policy drives real jobs on a replayed clock (``--speedup`` trace seconds per wall second);
a live view shows the sites' surplus, the jobs and the migrations as they happen. The run folder
is the one ``greenhop simulate`` writes, with the live run (policy ``<name>-live``) beside the
simulator's prediction for the same policy (``--no-compare`` leaves that out). The controller's
state and checkpoints live in the run folder (``<out>/live/state.sqlite``) or in ``--db``;
running the same command with the same ``--out`` (or ``--db``) after an interruption carries on
where it stopped.

``--realtime`` runs on the wall clock and reads each site's power now from its live source
(``[sites.realtime]``: a Prometheus query, an HTTP JSON endpoint, a file a meter appends to); a
site whose source is down, slow, stale or talks nonsense is shown as unknown and gets no job
until it recovers (:mod:`greenhop.live.control.realtime`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from greenhop.cli import _names, _output
from greenhop.cli._commands import NamedCommand
from greenhop.errors import InputError


def _progress_bar(fraction: float, width: int = 10) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "·" * (width - filled) + f" {fraction:5.1%}"


def render(controller: Any, wall_s: float) -> Group:
    """The live view: a header, the sites, the jobs and the latest migrations."""
    import pandas as pd

    from greenhop.policies.base import JobState

    c = controller
    inp = c.inputs
    k = min(c.next_tick, c.n_ticks - 1)
    when = pd.Timestamp(c.start_utc) + pd.Timedelta(seconds=c.next_tick * c.step_s)
    reading = c.reading if c.realtime else None
    header = Text.assemble(
        (f"greenhop live {c.live.name}", "bold"),
        f"  policy {c.policy.name}  ·  tick {c.next_tick}/{c.n_ticks}  ·  "
        f"{when:%Y-%m-%d %H:%M:%S} UTC  ·  "
        + ("real time" if c.realtime else f"×{c.speedup:g}")
        + f"  ·  wall {wall_s:.0f} s",
    )
    sites = Table(title="sites", title_justify="left", expand=False)
    for col, justify in (("site", "left"), ("surplus kW", "right"), ("IT load kW", "right")):
        sites.add_column(col, justify=justify)  # type: ignore[arg-type]
    sites.add_column("jobs")
    if reading is not None:
        sites.add_column("signal")
    for s, name in enumerate(c.site_names):
        here = [r.name for r in c.rows if r.site == s and r.state == int(JobState.RUNNING)]
        surplus = inp.surplus_w[k, s] if reading is None else reading.view_surplus_w[s]
        cells = [
            name,
            f"{surplus / 1000:.2f}",
            f"{c.last_it_load_w[s] / 1000:.2f}",
            ", ".join(here) or "-",
        ]
        if reading is not None:
            r = reading.power[s]
            cells.append(
                "ok" if r.known else f"[red]unknown[/]: {r.reason} (last value held, no new jobs)"
            )
        sites.add_row(*cells)
    jobs = Table(title="jobs", title_justify="left")
    for col in ("job", "trainer", "state", "site", "progress", "steps"):
        jobs.add_column(col)
    for r in c.rows:
        total = int(c.total_steps[r.idx])
        jobs.add_row(
            r.name,
            c.live.trainers[r.idx],
            JobState(r.state).name.lower(),
            c.site_names[r.site] if r.site >= 0 else "-",
            _progress_bar(r.steps_done / total),
            f"{r.steps_done}/{total}",
        )
    moves = Table(title="migrations", title_justify="left")
    for col in ("trace time", "job", "move", "Gbit/s", "downtime s", ""):
        moves.add_column(col)
    for m in c.recent_migrations[-6:]:
        at = pd.Timestamp(inp.start) + pd.Timedelta(seconds=m.time_s)
        moves.add_row(
            f"{at:%H:%M}",
            c.job_names[m.job],
            f"{c.site_names[m.src]} → {c.site_names[m.dest]}",
            "-" if m.bandwidth_gbps is None else f"{m.bandwidth_gbps:.3f}",
            "-" if m.downtime_s is None else f"{m.downtime_s:.2f}",
            "ok" if m.ok else f"failed: {m.error}",
        )
    return Group(header, sites, jobs, moves)


@contextlib.contextmanager
def _cluster(address: str | None, live: Any, object_store_mb: int) -> Iterator[dict[str, Any]]:
    """The cluster's sites: attached at ``address``, or an embedded one started (and stopped)
    here."""
    from greenhop.live._extras import import_ray
    from greenhop.live.cluster.local import LocalCluster, attach

    names = list(live.inputs.site_names)
    if address is not None:
        already = import_ray().is_initialized()
        attached = attach(address, required_sites=names, runtime_env=live.runtime_env())
        try:
            yield attached.sites
        finally:
            if not already:
                attached.close()
        return
    slots = {s.name: int(s.gpu_slots) for s in live.scenario.sites}
    with LocalCluster(
        slots, object_store_mb=object_store_mb, runtime_env=live.runtime_env()
    ) as cluster:
        yield cluster.sites


def live_command(
    scenario: Annotated[
        str,
        typer.Argument(
            metavar="SCENARIO",
            help="A scenario TOML file, or a bundled name: {scenarios}.",
            autocompletion=_names.complete_scenarios,
        ),
    ],
    address: Annotated[
        str | None,
        typer.Option(help="host:port of a running Ray cluster (default: start one per site)."),
    ] = None,
    speedup: Annotated[
        float | None,
        typer.Option(help="Trace seconds per wall second (default 600: 1 s = 10 min; 1: real)."),
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime",
            help="Run on the wall clock, reading each site's power from its live source "
            "([sites.realtime]) instead of replaying the trace.",
        ),
    ] = False,
    policy: Annotated[
        str,
        typer.Option(
            help="The policy that drives the jobs, one of: {policies}.",
            autocompletion=_names.complete_policy,
        ),
    ] = "feasibility-aware",
    out: Annotated[
        Path | None, typer.Option(help="Run folder to write (default runs/live-NAME-TIME).")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            help="Controller state (SQLite; default OUT/live/state.sqlite); an existing one is "
            "resumed."
        ),
    ] = None,
    compare: Annotated[
        bool, typer.Option(help="Also simulate the policy and write both side by side.")
    ] = True,
    forecast: Annotated[
        str | None,
        typer.Option(
            help="Override the scenario's forecaster: {forecasters}.",
            autocompletion=_names.complete_forecasters,
        ),
    ] = None,
    object_store_mb: Annotated[
        int, typer.Option(help="Ray object store per node of the embedded cluster, MiB.")
    ] = 100,
    chunk_store_mb: Annotated[
        int | None,
        typer.Option(
            help="A content-addressed chunk store per site of this many MB: moves send only "
            "the chunks a site lacks, and the policy's hints pre-stage frozen parts "
            "(default: none, every move sends the whole checkpoint)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summaries as JSON (no live view).")
    ] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print the comparison as CSV (no live view).")
    ] = False,
) -> None:
    """Run SCENARIO's jobs as real training on a Ray cluster under a policy, on a replayed
    clock; show it live and write the run folder and report of `greenhop simulate`."""
    from greenhop.cli.runs import default_out, policy_names, print_comparison
    from greenhop.live.control.controller import Controller
    from greenhop.live.control.results import live_result, live_summary
    from greenhop.live.control.scenario import LiveScenario
    from greenhop.live.jobs.driver import LiveJobs
    from greenhop.report.runfolder import (
        live_state_db,
        prepare_folder,
        state_entries,
        write_run_folder,
    )
    from greenhop.runner import policy_for
    from greenhop.scenario import load_scenario
    from greenhop.sim import Simulator

    fmt = _output.output_format(as_json, as_csv)
    names = policy_names(policy)
    if len(names) != 1:
        raise InputError(f"--policy takes one policy for a live run, got {policy!r}")
    if chunk_store_mb is not None and chunk_store_mb <= 0:
        raise InputError(f"--chunk-store-mb must be > 0, got {chunk_store_mb}")
    if realtime and speedup is not None:
        raise InputError("--speedup replays a trace; --realtime runs on the wall clock: give one")
    speedup = 600.0 if speedup is None else speedup
    if not (speedup > 0 and speedup != float("inf")):
        raise InputError(f"--speedup must be > 0 (1 = real time), got {speedup}")
    sc = load_scenario(scenario)
    live = LiveScenario.from_scenario(sc, forecast=forecast)
    feed = None
    if realtime:
        from greenhop.live.control.realtime import site_feeds

        feed = site_feeds(sc)
        compare = False  # the simulator replays the trace; a real-time run follows the meters
    out_dir = out if out is not None else default_out("live", sc.name)
    db_path = db if db is not None else live_state_db(out_dir)
    keep = state_entries(out_dir, db_path)  # an interrupted run's state, resumed
    prepare_folder(out_dir, keep=keep)
    console = Console(stderr=True)
    show = fmt is None and _output.shows_progress(console)
    t0 = time.monotonic()
    try:
        with _output.stdout_to_stderr(), _cluster(address, live, object_store_mb) as sites:
            controller = Controller(
                live,
                LiveJobs(
                    sites,
                    chunk_store_bytes=None if chunk_store_mb is None else chunk_store_mb * 10**6,
                ),
                db_path,
                policy=names[0],
                speedup=speedup,
                feed=feed,
            )
            try:
                if show:
                    with Live(render(controller, 0.0), console=console, refresh_per_second=4) as v:
                        controller.run(on_tick=lambda c: v.update(render(c, time.monotonic() - t0)))
                else:
                    controller.run()
            finally:
                controller.close()
    except KeyboardInterrupt:
        console.print(
            f"[yellow]interrupted[/]: the controller's state is in {db_path}; run the same "
            f"command with {f'--db {db_path}' if db is not None else f'--out {out_dir}'} "
            "to carry on"
        )
        raise typer.Exit(130) from None
    wall_s = time.monotonic() - t0
    from greenhop.live.control.state import ControllerState

    state = ControllerState(db_path)
    try:
        results = []
        if compare:
            sim = Simulator(live.inputs, record_placement=True)
            results.append(sim.run(policy_for(names[0], live.inputs)))
        results.append(live_result(state, live, policy=names[0]))
        extra = {"live": {**live_summary(state, live), "command_wall_s": wall_s}}
    finally:
        state.close()
    title = f"greenhop live {sc.name}"
    inp = live.inputs
    clock = (
        "on the wall clock, each site's power read from its live source"
        if realtime
        else f"replayed at ×{speedup:g}"
    )
    notes = [
        f"Scenario {sc.name!r}: {len(inp.site_names)} sites, {len(inp.jobs)} jobs, "
        f"{inp.n_steps} steps of {inp.step_s / 60:g} min from {inp.start}; {clock} on a Ray "
        f"cluster with one node per site ({wall_s:.0f} s wall).",
        f"'{names[0]}-live' is the live run (real training, measured transfers); "
        + (f"'{names[0]}' is the simulator's prediction." if compare else ""),
        "Non-renewable energy = grid energy of the IT load + network energy of transfers.",
    ]
    comparison = write_run_folder(
        out_dir, results, title=title, notes=notes, extra=extra, keep=keep
    )
    if fmt == "json":
        typer.echo(json.dumps(json.loads((out_dir / "summary.json").read_text()), indent=2))
    elif fmt == "csv":
        typer.echo(comparison.to_csv(index=False), nl=False)
    else:
        print_comparison(comparison, f"{title} ({inp.n_steps} steps)")
    _output.note(f"wrote {out_dir}/ (report.html, summary.json, tables, plots); state {db_path}")


def register(app: typer.Typer) -> None:
    app.command("live", cls=NamedCommand)(live_command)
