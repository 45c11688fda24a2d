"""A partially migratable job on a real shaped WAN: the bytes and the downtime of moves that send
only the mutable part, against the model's S/B and S_eff/B (issue 12, point 5).

The run is the test's (``tests/test_live_chunks_wan.py``): three sites in network namespaces
joined by ``tc tbf``-shaped veth links, a Ray node in each, the driver inside ``a``, chunk stores
on; a job with a 100 MB frozen embedding table and a 6.7 MB mutable part moves a -> b (all of
it crosses), b -> a (only the mutable part: a kept its chunks) while its immutable chunks are
pre-staged at c, then a -> c (only the mutable part: pre-staged). Needs root.

Run: .venv/bin/python benchmarks/bench_partial_migration.py  (writes the "partial-migration"
section of docs/benchmarks.md)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from greenhop.feasibility import transfer_time_s
from greenhop.live.cluster.wan import wan_unavailable_reason

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
from docsections import update_doc  # noqa: E402
from test_live_chunks_wan import (  # noqa: E402
    BENCH_PLAN,
    CHUNK_BYTES,
    PartialRun,
    partial_migration_run,
    reference_sha256,
)

RATES_MBIT = (100.0, 50.0)
LABELS = ("a → b, first visit", "b → a, return", "a → c, pre-staged")


def table(runs: list[PartialRun]) -> str:
    """Markdown table: one row per move."""
    lines = [
        "| link (Mbit/s) | move | S (MB) | S_mut (MB) | sent (MB) | on the wire in the "
        "downtime (MB) | ... / S_mut | on the wire, whole call (MB) | checkpoint (s) | "
        "transfer (s) | load (s) | downtime (s) | model S/B (s) | model S_eff/B (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        b_gbps = run.rate_mbit / 1e3
        for label, m in zip(LABELS, run.moves, strict=True):
            full = float(transfer_time_s(m.size_bytes / 1e9, b_gbps))
            eff = float(transfer_time_s(m.bytes_sent / 1e9, b_gbps))
            lines.append(
                f"| {run.rate_mbit:.0f} | {label} | {m.size_bytes / 1e6:.1f} | "
                f"{m.mutable_bytes / 1e6:.2f} | {m.bytes_sent / 1e6:.2f} | "
                f"{m.downtime_wire_bytes / 1e6:.2f} | "
                f"{m.downtime_wire_bytes / m.mutable_bytes:.3f} | {m.wire_bytes / 1e6:.2f} | "
                f"{m.checkpoint_s:.2f} | {m.transfer_s:.2f} | {m.load_s:.2f} | "
                f"{m.downtime_s:.2f} | {full:.2f} | {eff:.2f} |"
            )
    return "\n".join(lines) + "\n"


def prestage_lines(runs: list[PartialRun]) -> str:
    out = []
    for run in runs:
        p = run.prestage
        out.append(
            f"- {run.rate_mbit:.0f} Mbit/s: {p.bytes_sent / 1e6:.1f} MB in {p.chunks_sent} "  # type: ignore[attr-defined]
            f"chunks, paced to {8 * p.rate_bytes_per_s / 1e6:.0f} Mbit/s, took "  # type: ignore[attr-defined]
            f"{p.duration_s:.1f} s of which {p.paused_s:.1f} s waiting for the b → a "  # type: ignore[attr-defined]
            f"migration; the b-c veth counted {run.prestage_wire_bytes / p.bytes_sent:.3f} x "  # type: ignore[attr-defined]
            "its bytes."
        )
    return "\n".join(out) + "\n"


def main() -> list[PartialRun]:
    reason = wan_unavailable_reason()
    if reason is not None:
        print(f"skipped: no namespaced WAN here: {reason}")
        return []
    load = os.getloadavg()[0]
    started = time.monotonic()
    runs = [partial_migration_run(rate, BENCH_PLAN) for rate in RATES_MBIT]
    wall = time.monotonic() - started
    for run in runs:  # the moved job ended where an uninterrupted one does
        assert run.final_sha256 == reference_sha256(run.steps), run
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores (shared), 24 GiB, no GPU, "
        f"Python {platform.python_version()}"
    )
    body = (
        "A job with a frozen 100 MB embedding table (float32, its immutable part) under a "
        "trainable classifier with AdamW (`FrozenBaseTrainer(base_mb=100, hidden=2048)`; its "
        "mutable part, the classifier, its optimizer state, the random states and the header, "
        "is S_mut), three Ray nodes in network namespaces joined by veth pairs shaped with "
        "`tc tbf`, the driver inside `a`, chunk stores on "
        f"(`LiveJobs(chunk_store_bytes=400e6)`), {CHUNK_BYTES // 2**20} MiB chunks; {machine}; "
        f"load average {load:.1f} when it began; {wall / 60:.1f} min for both runs, each on a "
        "fresh WAN and cluster. *sent* is the chunks that crossed (from the manifests); *on "
        "the wire* is the sending veth's tx counter (payload, TCP/IP headers and Ray's own "
        "messages), sampled every 50 ms: *in the downtime* from 0.3 s before the source "
        "paused to 0.5 s after the destination resumed (the move's own bytes), *whole call* "
        "also with the control traffic while the destination actor starts. *downtime* is "
        "from the source pausing to the destination resuming: *checkpoint* (serialise and "
        "hash the whole checkpoint, put the chunks to send), *transfer* (pull those, take the "
        "others from the site's store, verify the whole), *load*. The model's transfer time "
        "is `feasibility.transfer_time_s` = 8 S / B, for the whole checkpoint and for the "
        "bytes sent (S_eff).\n\n"
        + table(runs)
        + "\nThe pre-stage of the immutable chunks to c (from b's store, during the b → a "
        "move):\n\n" + prestage_lines(runs)
    )
    update_doc(ROOT / "docs" / "benchmarks.md", {"partial-migration": body})
    print(body)
    return runs


if __name__ == "__main__":
    main()
