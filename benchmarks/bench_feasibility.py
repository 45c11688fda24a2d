"""The whole feasibility model over a 1000 x 1000 (S, B) grid; target: under 0.2 s.

Run: python benchmarks/bench_feasibility.py  (writes its section of docs/benchmarks.md)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from greenhop import feasibility as fz

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from docsections import update_doc  # noqa: E402

N = 1000
REPEATS = 20


def whole_model(s: np.ndarray, b: np.ndarray, w: float) -> None:
    """Every output of the model on the grid: all terms, verdicts, regime, both inverses."""
    fz.assess(s, b, w)
    fz.max_checkpoint_gb(b, w)
    fz.min_bandwidth_gbps(s, w)


def main() -> dict[str, float]:
    s = np.geomspace(0.01, 2000, N)[:, None]
    b = np.geomspace(0.01, 1000, N)[None, :]
    w = 2.5 * 3600
    whole_model(s, b, w)  # warm-up
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        whole_model(s, b, w)
        times.append(time.perf_counter() - t0)
    best, median = min(times), float(np.median(times))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    body = (
        f"Whole model (`assess` + `max_checkpoint_gb` + `min_bandwidth_gbps`) on a {N} x {N} "
        f"(S, B) grid, {REPEATS} repeats after a warm-up, on {machine}, numpy {np.__version__}:\n\n"
        "| best | median | target |\n|---|---|---|\n"
        f"| {best * 1000:.0f} ms | {median * 1000:.0f} ms | < 200 ms |\n"
    )
    update_doc(ROOT / "docs" / "benchmarks.md", {"feasibility": body})
    print(body)
    return {"best_s": best, "median_s": median}


if __name__ == "__main__":
    main()
