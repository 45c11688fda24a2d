"""Regenerate the computed parts of docs/model.md from the code, so the doc cannot drift.

Usage: python scripts/make_model_doc.py [--check]

The doc's hand-written text stays; everything between ``<!-- BEGIN GENERATED: name -->`` and
``<!-- END GENERATED: name -->`` is rewritten. With ``--check`` nothing is written and the exit
code is 1 when the doc is out of date (the test suite runs this).
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

from greenhop import checkpoints
from greenhop import feasibility as fz

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docsections import doc_main, replace_section

DOC = Path(__file__).resolve().parents[1] / "docs" / "model.md"
SIZES_GB = (1.0, 10.0, 40.0, 100.0, 140.0)


def _t(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _yn(flag: bool) -> str:
    return "yes" if flag else "**no**"


def defaults_table(p: fz.ModelParameters) -> str:
    units = {
        "alpha": "-",
        "network_kwh_per_gb": "kWh/GB",
        "job_power_w": "W",
        "idle_power_w": "W",
        "disk_write_gb_per_s": "GB/s",
        "disk_read_gb_per_s": "GB/s",
        "restart_s": "s",
        "window_short_s": "s",
        "window_long_s": "s",
    }
    lines = ["| parameter | default | unit |", "|---|---|---|"]
    for f in fields(p):
        lines.append(f"| `{f.name}` | {getattr(p, f.name):g} | {units[f.name]} |")
    return "\n".join(lines)


def worked_table(p: fz.ModelParameters) -> str:
    s = np.array(SIZES_GB)[:, None]
    b = np.array(fz.TABLE_BANDWIDTHS_GBPS)[None, :]
    short, long_ = (w * 3600.0 for w in fz.TABLE_WINDOWS_H)
    a_s = fz.assess(s, b, short, p)
    a_l = fz.assess(s, b, long_, p)
    verdicts = "".join(
        f"time-feasible {w:g} h | energy-feasible {w:g} h | " for w in fz.TABLE_WINDOWS_H
    )
    head = f"| S (GB) | B (Gbit/s) | T_transfer | D | E_mig (kWh) | T_be | {verdicts}regime |"
    lines = [head, "|" + "---|" * 11]
    for i, size in enumerate(SIZES_GB):
        for j, bw in enumerate(fz.TABLE_BANDWIDTHS_GBPS):
            lines.append(
                f"| {size:g} | {bw:g} | {_t(a_s.transfer_s[i, j])} | {_t(a_s.disruption_s[i, j])} "
                f"| {a_s.migration_energy_kwh[i, j]:.3f} | {_t(a_s.break_even_s[i, j])} "
                f"| {_yn(a_s.time_feasible[i, j])} | {_yn(a_s.energy_feasible[i, j])} "
                f"| {_yn(a_l.time_feasible[i, j])} | {_yn(a_l.energy_feasible[i, j])} "
                f"| {a_s.regime[i, j]} |"
            )
    return "\n".join(lines)


def findings(p: fz.ModelParameters) -> str:
    s = np.array(SIZES_GB)[:, None, None]
    b = np.array(fz.TABLE_BANDWIDTHS_GBPS)[None, :, None]
    w = np.array(fz.TABLE_WINDOWS_H)[None, None, :] * 3600.0
    out = []
    for label, params in (
        (f"defaults (e_net = {p.network_kwh_per_gb:g} kWh/GB, 2025)", p),
        (
            "pessimistic network (e_net = 0.06 kWh/GB, the 2015 figure)",
            p.replace(network_kwh_per_gb=fz.network_kwh_per_gb(2015)),
        ),
    ):
        a = fz.assess(s, b, w, params)
        be = a.break_even_s
        t_only = int(np.sum(~a.time_feasible & a.energy_feasible))
        e_only = int(np.sum(a.time_feasible & ~a.energy_feasible))
        both = int(np.sum(~a.time_feasible & ~a.energy_feasible))
        n = a.time_feasible.size
        be_feasible = be[a.time_feasible]
        out.append(
            f"- **{label}**: break-even from {_t(float(be.min()))} to {_t(float(be.max()))} over "
            f"all {n} cases; at most {_t(float(be_feasible.max()))} for the "
            f"{int(a.time_feasible.sum())} time-feasible ones, against windows of "
            f"{' and '.join(f'{x:g} h' for x in fz.TABLE_WINDOWS_H)}. "
            f"Refused by time only: {t_only}; by energy only: {e_only}; by both: {both}."
        )
    # Single-GPU checkpoints of the catalog: which constraint binds at 1 Gbit/s.
    rows = []
    for spec in checkpoints.CATALOG.values():
        size = checkpoints.checkpoint_size_gb(spec.name, "mixed-adam")
        a = fz.assess(size, 1.0, fz.TABLE_WINDOWS_H[0] * 3600.0, p)
        rows.append(
            f"| {spec.name} | {size:.3g} | {_t(a.disruption_s)} | {_t(a.break_even_s)} "
            f"| {_yn(a.time_feasible)} | {_yn(a.energy_feasible)} |"
        )
    table = "\n".join(
        [
            f"| model (mixed-adam) | S (GB) | D at 1 Gbit/s | T_be | time-feasible "
            f"{fz.TABLE_WINDOWS_H[0]:g} h | energy-feasible {fz.TABLE_WINDOWS_H[0]:g} h |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    return "\n".join(out) + "\n\n" + table


SECTIONS = {"defaults": defaults_table, "worked": worked_table, "findings": findings}


def render(text: str) -> str:
    for name, fn in SECTIONS.items():
        text = replace_section(text, name, fn(fz.DEFAULTS), where=str(DOC))
    return text


def main() -> int:
    return doc_main(DOC, render, "make_model_doc.py", __doc__)


if __name__ == "__main__":
    sys.exit(main())
