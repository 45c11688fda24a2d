"""The simulator at scale: one year at 5-minute steps, 100 sites, 1,000 jobs, feasibility-aware.

Target: under 10 s on a 2-core machine, and cost growing no worse than linearly in sites and in
jobs (three sizes each). Inputs: benchmarks/simworld.py (a year of the bundled real sites'
typical-year generation, tiled over 100 sites; jobs from greenhop.sim.workload). The figure is
the wall time of ``Simulator.run`` alone (building the inputs and the forecaster's window arrays
is reported beside it).

Run: python benchmarks/bench_sim.py [--quick]
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from docsections import update_doc  # noqa: E402
from simworld import year_inputs  # noqa: E402

from greenhop.policies import FeasibilityAwarePolicy  # noqa: E402
from greenhop.sim.engine import Simulator  # noqa: E402


def timed_run(n_sites: int, n_jobs: int) -> dict[str, float]:
    t0 = time.perf_counter()
    inputs = year_inputs(n_sites, n_jobs)
    for p in np.unique(inputs.jobs.power_w):  # the forecaster's window arrays, built once
        inputs.forecast.remaining_window_s(float(p))
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    result = Simulator(inputs).run(FeasibilityAwarePolicy())
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "sites": n_sites,
        "jobs": n_jobs,
        "steps": inputs.n_steps,
        "build_s": build,
        "run_s": wall,
        "cpu_s": cpu,
        "done": int(np.isfinite(result.job_done_s).sum()),
        "migrations": len(result.migrations),
    }


def main() -> None:
    quick = "--quick" in sys.argv
    full = timed_run(100, 1000)
    rows = [full]
    sizes = [] if quick else [(25, 1000), (50, 1000), (100, 250), (100, 500)]
    rows += [timed_run(s, j) for s, j in sizes]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        f"Feasibility-aware policy, one year at 5-minute steps ({full['steps']} steps), on "
        f"{machine}; `python benchmarks/bench_sim.py`. `run` is `Simulator.run` alone; `build` "
        "makes the inputs (generation of every site, forecast window arrays).",
        "",
        "| sites | jobs | run (s) | CPU (s) | build (s) | jobs done | migrations |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["sites"], r["jobs"])):
        lines.append(
            f"| {r['sites']} | {r['jobs']} | {r['run_s']:.1f} | {r['cpu_s']:.1f} | "
            f"{r['build_s']:.1f} | {r['done']} | {r['migrations']} |"
        )
    if not quick:
        by = {(r["sites"], r["jobs"]): r["run_s"] for r in rows}
        lines += [
            "",
            f"Growth: sites 25 → 100 (×4) costs ×{by[(100, 1000)] / by[(25, 1000)]:.2f}; "
            f"jobs 250 → 1000 (×4) costs ×{by[(100, 1000)] / by[(100, 250)]:.2f} "
            "(linear would be ×4).",
        ]
    lines.append(f"\nTarget: 100 sites × 1,000 jobs under 10 s: measured {full['run_s']:.1f} s.")
    body = "\n".join(lines)
    update_doc(ROOT / "docs" / "benchmarks.md", {"simulator": body})
    print(body)


if __name__ == "__main__":
    main()
