"""The run folder: results, per-step tables, plots and report.html, written all or nothing.

``greenhop simulate`` and ``greenhop live`` write the same folder, so a live run and a simulated
run of one scenario compare side by side:

- ``summary.json``: one summary per policy (see :func:`greenhop.sim.metrics.summary`)
- ``comparison.csv``: the same as a table
- ``jobs.csv``, ``migrations.csv``: per job and per move, all policies (column ``policy``)
- ``site_power.parquet``: per step and site: surplus, IT load, renewable, battery, grid, jobs
- ``placement.parquet``: per step, which job held a slot where
- ``sites_<policy>.png``, ``cumulative_non_renewable.png``, ``jct.png`` and ``report.html``
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


def prepare_folder(out: Path) -> None:
    """Fail early, before any work, if ``out`` cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output folder {str(out)!r} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
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
) -> pd.DataFrame:
    """Write the run folder at ``out`` (built aside, then moved in place); return the comparison."""
    from greenhop.report.simulation import (
        plot_cumulative_non_renewable,
        plot_jct,
        plot_sites_and_jobs,
        write_report,
    )

    out = Path(out)
    prepare_folder(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
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
        pd.concat([site_power_frame(r) for r in results], ignore_index=True).to_parquet(
            tmp / "site_power.parquet", index=False
        )
        placements = [placement_frame(r) for r in results if r.placement is not None]
        if placements:
            pd.concat(placements, ignore_index=True).to_parquet(
                tmp / "placement.parquet", index=False
            )
        images = []
        for r in results:
            p = tmp / f"sites_{r.policy}.png"
            plot_sites_and_jobs(r, p)
            images.append(p)
        p = tmp / "cumulative_non_renewable.png"
        plot_cumulative_non_renewable(results, p)
        images.insert(0, p)
        p = tmp / "jct.png"
        plot_jct(jobs, p)
        images.insert(1, p)
        write_report(tmp, title=title, comparison=comparison, notes=notes, images=images)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return comparison
