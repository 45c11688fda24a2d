"""Migrations across a real shaped link against the model's S/B.

Two sites in network namespaces joined by a veth pair shaped with tc tbf, a Ray node in each,
the driver inside the head site's namespace; synthetic training jobs with checkpoints of 20, 50
and 100 MB migrate across the link at 100 and then (reshaped with `tc qdisc change` while the
cluster runs) 50 Mbit/s. Needs root.

Run: sudo .venv/bin/python benchmarks/bench_wan.py  (writes the "wan" section of
docs/benchmarks.md and the "wan-model" section of docs/reliability.md)
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from greenhop.live.wan import (
    LinkMeasurement,
    measurement_table,
    sweep_link,
    wan_unavailable_reason,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from docsections import update_doc  # noqa: E402

SIZES_MB = (20, 50, 100)
RATES_MBIT = (100, 50)
PRIOR_GBPS = 1.0


def main() -> list[LinkMeasurement]:
    reason = wan_unavailable_reason()
    if reason is not None:
        print(f"skipped: no namespaced WAN here: {reason}")
        return []
    rows, estimates = sweep_link(SIZES_MB, RATES_MBIT, repeats=2, prior_gbps=PRIOR_GBPS)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}"
    )
    est = " → ".join(f"{1e3 * e:.1f}" for e in estimates)
    body = (
        "Migrations of synthetic training jobs (one float32 tensor of the given size) between "
        "two Ray nodes in network namespaces, across a veth pair shaped with `tc tbf` (both "
        "directions), the driver inside the source site's namespace; 16 MiB chunks, 4 pulled "
        f"at once; {machine}. The link starts at {RATES_MBIT[0]} Mbit/s and is reshaped to "
        f"{RATES_MBIT[1]} Mbit/s with `tc qdisc change` while the cluster runs. *measured* is "
        "the destination's time to pull and verify every chunk (each job migrates there and "
        "back); *model* is "
        "`feasibility.transfer_time_s(S, B)` = 8 S / B at the shaped rate; *bytes on the wire* "
        "is the source veth's tx counter over the checkpoint size.\n\n"
        + measurement_table(rows)
        + f"\nBandwidth estimate after each migration (Mbit/s, prior {1e3 * PRIOR_GBPS:.0f}): "
        f"{est}.\n"
    )
    update_doc(ROOT / "docs" / "benchmarks.md", {"wan": body})
    update_doc(ROOT / "docs" / "reliability.md", {"wan-model": body})
    print(body)
    return rows


if __name__ == "__main__":
    main()
