"""A 1,000-cell sweep of the German scenario on this machine, on the embedded Ray.

Target: at most 10 minutes. The sweep: the bundled ``germany`` scenario (ten cities, 31 days at
5-minute steps, Solcast's PV and issued forecasts), 20 generated jobs per seed, a grid of 10
link bandwidths x 10 checkpoint sizes x 10 seeds = 1,000 cells, each run under energy-only and
feasibility-aware (2,000 simulations), as ``greenhop sweep`` runs it (``run_sweep``: embedded
local Ray on every core, 200 MiB object store). The figure is the wall time from the call to
the merged ``results.parquet`` (Ray's start, the bases, every cell), and the peak memory: the
largest sum of resident memory of this process and every process it started (Ray's daemons
and workers), sampled every 0.5 s (pages shared through the object store are counted once per
process that maps them, so this overstates).

Run: python benchmarks/bench_sweep.py [--quick]   (--quick: 100 cells, not written to the doc)
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from docsections import update_doc  # noqa: E402

from greenhop.sweep import load_sweep, run_sweep  # noqa: E402

SWEEP = """
name = "bench-germany"
scenario = "germany"
policies = ["energy-only", "feasibility-aware"]
seeds = {seeds}
[workload]
jobs = 20
[grid]
bandwidth_gbps = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
checkpoint_gb = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]
"""


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, bytes."""
    total = 0
    todo = [root]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{pid}/task"):
                kids = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                todo += [int(k) for k in kids]
        except OSError:
            continue
    return total


class PeakMemory:
    """Samples the process tree's resident memory in a thread; ``peak`` in bytes."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_bytes(os.getpid()))
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main() -> None:
    quick = "--quick" in sys.argv
    seeds = list(range(1 if quick else 10))
    with tempfile.TemporaryDirectory(prefix="greenhop-bench-sweep-") as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(SWEEP.format(seeds=seeds))
        spec = load_sweep(path)
        load_before = _load()
        t0 = time.perf_counter()
        cpu0 = os.times()
        with PeakMemory() as memory:
            run = run_sweep(spec, Path(tmp) / "out")
        wall = time.perf_counter() - t0
        cpu1 = os.times()
        results = run.results
    cells = run.cells
    per_cell = results.groupby("cell")["cell_s"].sum()
    cpu_cell = results.groupby("cell")["cell_cpu_s"].sum()
    load_after = _load()
    driver_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, no GPU, "
        f"Python {platform.python_version()}"
    )
    verdict = "within" if wall <= 600 else "over"
    cpus = float(run.ray.get("cpus", 1) or 1)
    lines = [
        f"{cells:,} cells of the German scenario (31 days at 5 min, 8,928 steps; ten sites; 20 "
        f"generated jobs per seed), 10 bandwidths x 10 checkpoint sizes x {len(seeds)} seeds, "
        f"each under energy-only and feasibility-aware ({len(results):,} simulations), on the "
        f"embedded Ray ({run.ray.get('cpus', 0):g} CPUs, 200 MiB object store), on {machine}; "
        "`python benchmarks/bench_sweep.py`. Load average (1 min) when it began: "
        f"{load_before}, when it ended: {load_after}, on {os.cpu_count()} cores shared with "
        "other work.",
        "",
        "| cells | total | cells/s | per cell (both policies): wall, mean / p95 | per cell: "
        "CPU, mean | set-up (scenario, bases) | peak memory (process tree RSS) |",
        "|---|---|---|---|---|---|---|",
        f"| {cells:,} | {wall:.0f} s ({wall / 60:.1f} min) | {cells / wall:.2f} | "
        f"{per_cell.mean():.2f} s / {per_cell.quantile(0.95):.2f} s | {cpu_cell.mean():.2f} s | "
        f"{run.prepare_s:.1f} s | {memory.peak / 2**20:,.0f} MiB |",
        "",
        f"Target: at most 10 min for 1,000 cells: {verdict} it. Per cell is measured inside a "
        "worker (both policies and their metrics): its wall time, and its CPU time, which other "
        f"work on the machine does not inflate. The cells' CPU time, {cpu_cell.sum():.0f} s, "
        f"spread over {cpus:g} CPUs is {cpu_cell.sum() / cpus:.0f} s "
        f"({cpu_cell.sum() / cpus / 60:.1f} min): the sweep's time on {cpus:g} otherwise idle "
        f"cores, less Ray's start and the set-up. The driver process used {driver_cpu:.0f} s "
        "of CPU (results, parts, progress).",
    ]
    text = "\n".join(lines)
    print(text)
    if not quick:
        update_doc(ROOT / "docs" / "benchmarks.md", {"sweep": text})


if __name__ == "__main__":
    main()
