"""A live run's measured transfers against the model: for each move, the time its checkpoint
really took to cross the network beside the model's ``8 S / B`` for the bytes really sent and
the scenario's bandwidth of that link (:func:`greenhop.feasibility.transfer_time_s`).

The input is the ``live`` part of a live run folder's ``summary.json`` (what
``greenhop.live.control.results.live_summary`` writes: per migration ``size_bytes``,
``transfer_s``, ``bandwidth_gbps``, ``downtime_s``, ... in wall-clock seconds), so the report needs
nothing of :mod:`greenhop.live`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from greenhop import feasibility
from greenhop.report import format as fmt
from greenhop.report.table import Cell, Table
from greenhop.world.inputs import SimInputs


@dataclass(frozen=True)
class MeasuredTransfer:
    """One live move: what was measured (wall seconds) and what the model says for it."""

    job: str
    kind: str
    src: str
    dest: str
    time_s: float  # trace seconds since the run's start
    ok: bool
    error: str | None
    size_bytes: float | None
    link_gbps: float  # the scenario's bandwidth of the link src -> dest
    measured_s: float | None  # wall seconds the checkpoint took to cross the network
    goodput_gbps: float | None  # bytes sent over measured_s
    downtime_s: float | None  # wall seconds the job made no progress

    @property
    def model_s(self) -> float | None:
        """``8 S / B`` for the bytes sent and the scenario's link, s."""
        if self.size_bytes is None or not self.size_bytes > 0:
            return None
        return float(feasibility.transfer_time_s(self.size_bytes / 1e9, self.link_gbps))

    @property
    def ratio(self) -> float | None:
        """Measured over modelled transfer time (1: as the model says; above: slower)."""
        model = self.model_s
        if model is None or self.measured_s is None or not model > 0:
            return None
        return self.measured_s / model


def measured_transfers(live: dict[str, Any], inputs: SimInputs) -> list[MeasuredTransfer]:
    """Every move of ``live["migrations"]``, with the scenario link's bandwidth."""
    index = {name: i for i, name in enumerate(inputs.site_names)}
    out = []
    for m in live.get("migrations", []):
        src, dest = index[m["src"]], index[m["dest"]]

        def num(key: str, m: dict[str, Any] = m) -> float | None:
            v = m.get(key)
            return None if v is None or fmt.is_missing(v) else float(v)

        out.append(
            MeasuredTransfer(
                job=m["job"],
                kind=m.get("kind", "migrate"),
                src=m["src"],
                dest=m["dest"],
                time_s=float(m["time_s"]),
                ok=bool(m.get("ok", True)),
                error=m.get("error"),
                size_bytes=num("size_bytes"),
                link_gbps=float(inputs.bandwidth_gbps[src, dest]),
                measured_s=num("transfer_s"),
                goodput_gbps=num("bandwidth_gbps"),
                downtime_s=num("downtime_s"),
            )
        )
    return out


def transfers_table(moves: Sequence[MeasuredTransfer], inputs: SimInputs) -> Table:
    """One row per move: when, what, the bytes sent, the model's S/B, the measured time and
    their ratio, the measured goodput and the job's downtime."""
    start = pd.Timestamp(inputs.start)
    rows = []
    for m in moves:
        failed = None if m.ok else f"the move failed: {m.error or 'no reason recorded'}"

        def value(text: str, x: float | None, why: str, failed: str | None = failed) -> str | Cell:
            return text if x is not None else Cell.missing(failed or why)

        when = start + pd.Timedelta(seconds=m.time_s)
        ratio = m.ratio
        rows.append(
            [
                f"{when:%m-%d %H:%M}",
                f"{m.job}: {m.src} → {m.dest}" + ("" if m.kind == "migrate" else f" ({m.kind})"),
                value(fmt.data_size(m.size_bytes or 0), m.size_bytes, "no size was recorded"),
                str(np.format_float_positional(m.link_gbps, precision=6, trim="-")),
                value(fmt.duration(m.model_s or 0), m.model_s, "no size was recorded"),
                value(fmt.duration(m.measured_s or 0), m.measured_s, "no transfer was timed"),
                value(
                    f"{fmt.number(ratio or 0, min(fmt.decimals_for(ratio or 1), 2))}×",
                    ratio,
                    "measured or modelled time missing",
                ),
                value(fmt.number(m.goodput_gbps or 0), m.goodput_gbps, "no transfer was timed"),
                value(fmt.duration(m.downtime_s or 0), m.downtime_s, "no downtime was timed"),
            ]
        )
    return Table(
        [
            "Trace time (UTC)",
            "Job: move",
            "Checkpoint sent",
            "Link (Gbit/s)",
            "Model 8·S/B",
            "Measured",
            "Measured / model",
            "Goodput (Gbit/s)",
            "Downtime",
        ],
        rows,
        numeric=[False, False, True, True, True, True, True, True, True],
        nowrap=True,
    )


def transfers_summary(moves: Sequence[MeasuredTransfer]) -> str:
    """One sentence (HTML) on how the measured transfers compare with the model."""
    ratios = np.array([m.ratio for m in moves if m.ratio is not None], dtype=float)
    if not len(ratios):
        return "No transfer was timed in this run."
    sizes = [m.size_bytes for m in moves if m.size_bytes]
    text = (
        f"The {len(ratios)} timed transfers took {fmt.number(float(ratios.min()), 1)}× to "
        f"{fmt.number(float(ratios.max()), 1)}× the model's <code>8·S/B</code> "
        f"(median {fmt.number(float(np.median(ratios)), 1)}×) for the bytes sent "
        f"({fmt.data_size(min(sizes))} to {fmt.data_size(max(sizes))}) over the scenario's links."
    )
    if float(np.median(ratios)) > 2:
        text += (
            " Checkpoints this small are latency-bound: the fixed cost of each transfer (its "
            "chunks put into and fetched from Ray's object store, hashed on both sides) "
            "dominates, so the bandwidth model underestimates them; a 168 MB checkpoint crossed "
            "loopback at 1.0–1.6 Gbit/s (docs/live.md)."
        )
    elif float(np.median(ratios)) < 0.5:
        text += (
            " The real network (here, between local nodes) is faster than the scenario's links, "
            "which model a WAN."
        )
    return text


def slowdown_note(jobs: pd.DataFrame, live_policies: Sequence[str], restart_s: float) -> str | None:
    """Why a live job's slowdown can be below 1 (HTML), when one is; None otherwise."""
    live = jobs[jobs["policy"].isin(list(live_policies))]
    below = live[live["slowdown"] < 1]
    if below.empty:
        return None
    return (
        f"{fmt.count(len(below))} of {fmt.count(len(live))} live jobs have a slowdown below 1 "
        f"(lowest {fmt.number(float(below['slowdown'].min()), 4)}). Slowdown divides the JCT by "
        f"the job's time alone in the model, its work plus the model's restart "
        f"(<code>restart_s</code> = {fmt.duration(restart_s)}). A live job is paced by the "
        "replayed clock: each tick it may train the steps of that tick's share of its work, and "
        "it trains them faster than the clock lets the tick pass, so it never falls behind; it "
        "starts without the modelled restart, and a move's measured downtime is absorbed inside "
        "its tick. A live job that is never queued therefore finishes in exactly its work "
        "time, below the model's time alone: the live world does not pay the restart the model "
        "charges; the job did not train faster than its work."
    )


def link_estimates_table(live: dict[str, Any], inputs: SimInputs) -> Table:
    """The controller's final estimate of each link it measured, beside the scenario's."""
    index = {name: i for i, name in enumerate(inputs.site_names)}
    rows = []
    for e in live.get("link_estimates_gbps", []):
        a, b = e["a"], e["b"]
        rows.append(
            [
                f"{a} – {b}",
                fmt.number(float(inputs.bandwidth_gbps[index[a], index[b]])),
                fmt.number(e["bandwidth_gbps"])
                if not fmt.is_missing(e["bandwidth_gbps"])
                else Cell.missing("no estimate was recorded"),
                fmt.count(e.get("transfers", 0)),
            ]
        )
    return Table(
        ["Link", "Scenario (Gbit/s)", "Final estimate (Gbit/s)", "Transfers measured"], rows
    )
