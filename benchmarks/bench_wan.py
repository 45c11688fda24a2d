"""Migrations across a real shaped link against the model's S/B.

Two sites in network namespaces joined by a veth pair shaped with tc tbf, a Ray node in each,
the driver inside the head site's namespace; synthetic training jobs with checkpoints of 20, 50
and 100 MB migrate across the link at 100 and then (reshaped with `tc qdisc change` while the
cluster runs) 50 Mbit/s. The sweep is the WAN test's (`tests/wan_tools.py`). Needs root.

Run: sudo .venv/bin/python benchmarks/bench_wan.py  (writes the "wan" section of
docs/benchmarks.md and the "wan-model" section of docs/reliability.md)
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from greenhop.feasibility import transfer_time_s
from greenhop.live.cluster.wan import wan_unavailable_reason
from greenhop.live.control.links import DEFAULT_LINK_WEIGHT, LinkEstimates

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
from docsections import update_doc  # noqa: E402
from wan_tools import LinkMeasurement, sweep_link  # noqa: E402

SIZES_MB = (20, 50, 100)
RATES_MBIT = (100, 50)
NOMINAL_GBPS = 0.1
"""The link's rate as a scenario would state it: the controller's estimate before any move."""


def model_transfer_s(row: LinkMeasurement) -> float:
    """The model's transfer time ``8 S / B`` at the shaped rate."""
    return float(transfer_time_s(row.size_bytes / 1e9, row.rate_mbit / 1e3))


def measurement_table(rows: Sequence[LinkMeasurement]) -> str:
    """Markdown table of measurements against the model."""
    lines = [
        "| checkpoint (MB) | link (Mbit/s) | measured (s) | model S/B (s) | error | "
        "goodput (Mbit/s) | goodput / rate | bytes on the wire / checkpoint |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        model_s = model_transfer_s(r)
        error = (r.transfer_duration_s - model_s) / model_s
        lines.append(
            f"| {r.size_bytes / 1e6:.1f} | {r.rate_mbit:.0f} | {r.transfer_duration_s:.2f} | "
            f"{model_s:.2f} | {100 * error:+.1f} % | {1e3 * r.goodput_gbps:.1f} | "
            f"{100 * r.goodput_fraction:.1f} % | {r.wire_bytes / r.size_bytes:.3f} |"
        )
    return "\n".join(lines) + "\n"


def controller_estimates_gbps(rows: Sequence[LinkMeasurement]) -> list[float]:
    """The controller's estimate of the link (:class:`LinkEstimates`) after each migration,
    from :data:`NOMINAL_GBPS`."""
    links = LinkEstimates(np.array([[np.inf, NOMINAL_GBPS], [NOMINAL_GBPS, np.inf]]))
    return [links.update(0, 1, r.goodput_gbps) for r in rows]


def main() -> list[LinkMeasurement]:
    reason = wan_unavailable_reason()
    if reason is not None:
        print(f"skipped: no namespaced WAN here: {reason}")
        return []
    rows = sweep_link(SIZES_MB, RATES_MBIT, repeats=2)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}"
    )
    est = " → ".join(f"{1e3 * e:.1f}" for e in controller_estimates_gbps(rows))
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
        + "\nThe controller's link estimate (`LinkEstimates`, weight "
        f"{DEFAULT_LINK_WEIGHT}) after each migration (Mbit/s, from the nominal "
        f"{1e3 * NOMINAL_GBPS:.0f}): {est}.\n"
    )
    update_doc(ROOT / "docs" / "benchmarks.md", {"wan": body})
    update_doc(ROOT / "docs" / "reliability.md", {"wan-model": body})
    print(body)
    return rows


if __name__ == "__main__":
    main()
