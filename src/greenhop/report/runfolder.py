"""The run folder: results, per-step tables, plots and report.html, written all or nothing.

``greenhop simulate`` and ``greenhop live`` write the same folder, so a live run and a simulated
run of one scenario compare side by side:

- ``summary.json``: one summary per policy (see :func:`greenhop.sim.metrics.summary`)
- ``comparison.csv``: the same as a table
- ``jobs.csv``, ``migrations.csv``: per job and per move, all policies (column ``policy``)
- ``grid_sites.csv``: per policy and site: grid energy, emissions, cost, demand-response excess
- ``site_power.parquet``: per step and site: surplus, IT load, renewable, battery, grid, jobs
  (and, where the scenario has them, the PUE and facility grid power, carbon intensity, price
  and demand-response cap, so emissions and cost can be recomputed from it)
- ``placement.parquet``: per step, which job held a slot where
- ``non_renewable.png``, ``cumulative_non_renewable.png``, ``jct.png``, ``jct_oracle.png`` (when
  the oracle ran), ``sites_<policy>.png``
- ``report.html``: the page a person reads (:mod:`greenhop.report.page`)

A live run keeps its state database and checkpoints in ``live/`` inside the folder (``keep``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from greenhop.errors import OutputError
from greenhop.sim.metrics import (
    grid_site_table,
    job_table,
    migration_table,
    placement_frame,
    site_power_frame,
    summary,
)
from greenhop.world.record import RunRecord

COMPARISON_COLUMNS = [
    "policy",
    "non_renewable_kwh",
    "jobs_non_renewable_kwh",
    "grid_kwh",
    "emissions_kgco2e",
    "energy_cost",
    "currency",
    "dr_excess_kwh",
    "renewable_share",
    "jobs_renewable_share",
    "migration_energy_kwh",
    "bytes_moved",
    "migrations",
    "wasted_migrations",
    "jobs_done",
    "jct_mean_h",
    "jct_p50_h",
    "jct_p95_h",
    "slowdown_mean",
    "stability_slowdown_std",
]


def comparison_table(summaries: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per policy with the headline figures."""
    frame = pd.DataFrame(list(summaries))
    cols = [c for c in COMPARISON_COLUMNS if c in frame.columns]
    if "oracle_bound_kwh" in frame.columns:
        cols.insert(2, "oracle_bound_kwh")
    if "wake_ups" in frame.columns:  # idle slots sleep: their energy and wake-ups too
        at = cols.index("jobs_non_renewable_kwh") + 1
        cols[at:at] = ["idle_slots_kwh", "wake_ups"]
    return frame[cols]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):
        return _json_safe(value.item())
    return value


LIVE_STATE_DB = Path("live") / "state.sqlite"
"""A live run's state database inside its run folder (unless ``greenhop live --db`` says where)."""


def live_state_db(out: Path) -> Path:
    """Where a live run keeps its state by default: ``<out>/live/state.sqlite``, with its
    checkpoints beside it (``state.sqlite.checkpoints/``), so the run folder holds all of it."""
    return Path(out) / LIVE_STATE_DB


def state_entries(out: Path, db: Path) -> tuple[str, ...]:
    """The entries of ``out`` that hold the state database ``db`` and its sidecars (its SQLite
    journal files and its checkpoints), to keep when the run folder is written; none when
    ``db`` lies outside ``out``."""
    try:
        rel = Path(db).resolve().relative_to(Path(out).resolve())
    except ValueError:
        return ()
    if len(rel.parts) > 1:
        return (rel.parts[0],)
    name = rel.name
    return (name, f"{name}-wal", f"{name}-shm", f"{name}-journal", f"{name}.checkpoints")


def prepare_folder(out: Path, *, keep: Sequence[str] = ()) -> None:
    """Fail early, before any work, if ``out`` cannot be written: it must be new or empty, but
    for entries named in ``keep`` (a live run's ``live/`` state, resumed)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output folder {str(out)!r} exists and is not a folder")
    if out.exists() and any(p.name not in keep for p in out.iterdir()):
        raise OutputError(f"output folder {str(out)!r} is not empty; give a new --out or remove it")
    parent = out.parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder {str(parent)!r}: {exc.strerror}") from None
    try:  # a probe, not os.access: root passes os.access on read-only file systems
        tempfile.TemporaryDirectory(dir=parent, prefix=".greenhop-probe-").cleanup()
    except OSError as exc:
        raise OutputError(
            f"cannot write into {str(parent)!r} ({exc.strerror}); give another --out"
        ) from None


def write_run_folder(
    out: Path,
    results: Sequence[RunRecord],
    *,
    title: str,
    notes: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Write the run folder at ``out`` (built aside, then moved in place); return the comparison.

    Entries of ``out`` named in ``keep`` (and nothing else may be there) are moved into the new
    folder; if writing fails they are put back, never deleted.
    """
    from greenhop.report import plots
    from greenhop.report.page import ReportFigures, write_report

    out = Path(out)
    prepare_folder(out, keep=keep)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    moved: list[str] = []
    try:
        summaries = [summary(r) for r in results]
        comparison = comparison_table(summaries)
        comparison.to_csv(tmp / "comparison.csv", index=False)
        payload = {"title": title, "policies": summaries, **(extra or {})}
        (tmp / "summary.json").write_text(json.dumps(_json_safe(payload), indent=2))
        jobs = pd.concat([job_table(r).assign(policy=r.policy) for r in results], ignore_index=True)
        jobs.to_csv(tmp / "jobs.csv", index=False)
        pd.concat(
            [migration_table(r).assign(policy=r.policy) for r in results], ignore_index=True
        ).to_csv(tmp / "migrations.csv", index=False)
        pd.concat([grid_site_table(r) for r in results], ignore_index=True).to_csv(
            tmp / "grid_sites.csv", index=False
        )
        pd.concat([site_power_frame(r) for r in results], ignore_index=True).to_parquet(
            tmp / "site_power.parquet", index=False
        )
        placements = [placement_frame(r) for r in results if r.placement is not None]
        if placements:
            pd.concat(placements, ignore_index=True).to_parquet(
                tmp / "placement.parquet", index=False
            )
        figures = ReportFigures(
            non_renewable=plots.plot_non_renewable(summaries, tmp / "non_renewable.png"),
            cumulative=plots.plot_cumulative_non_renewable(
                results, tmp / "cumulative_non_renewable.png"
            ),
            jct=plots.plot_jct(jobs, tmp / "jct.png"),
            oracle=plots.plot_oracle_deferral(jobs, tmp / "jct_oracle.png"),
            sites=[plots.plot_sites_and_jobs(r, tmp / f"sites_{r.policy}.png") for r in results],
            frontier=plots.plot_frontier(summaries, tmp / "frontier.png"),
        )
        write_report(
            tmp,
            title=title,
            inputs=results[0].inputs,
            summaries=summaries,
            jobs=jobs,
            figures=figures,
            notes=notes,
            live_policies=[r.policy for r in results if r.policy_config.get("live")],
            extra=extra,
        )
        for name in keep:
            if (out / name).exists():
                os.replace(out / name, tmp / name)  # the same file system: a rename
                moved.append(name)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        for name in moved:  # what was kept goes back where it was
            if (tmp / name).exists():
                out.mkdir(exist_ok=True)
                os.replace(tmp / name, out / name)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return comparison
