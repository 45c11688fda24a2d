"""Plots and the HTML report of a comparison of policies on one scenario."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenhop.world.ledger import non_renewable_kwh_per_step
from greenhop.world.record import RunRecord


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_sites_and_jobs(result: RunRecord, path: Path) -> None:
    """Each site's surplus over time with the jobs placed on it (and its IT load)."""
    plt = _plt()
    inp = result.inputs
    t = inp.time_index()
    n = len(inp.site_names)
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.7 * n + 1), sharex=True, dpi=100)
    axes = np.atleast_1d(axes)
    surplus = np.maximum(inp.surplus_w, 0.0) / 1000.0
    for i, ax in enumerate(axes):
        ax.fill_between(t, surplus[:, i], step="post", color="#9bd39b", label="surplus (kW)")
        ax.step(
            t,
            result.it_load_w[:, i] / 1000.0,
            where="post",
            color="#333",
            lw=0.9,
            label="IT load (kW)",
        )
        ax.set_ylabel(inp.site_names[i], rotation=0, ha="right", fontsize=8)
        # surplus can dwarf a micro datacenter: show up to 3x what its slots could draw
        full_kw = inp.slots[i] * float(inp.jobs.power_w.max(initial=1000.0)) / 1000.0
        top = min(float(surplus[:, i].max(initial=0.0)), 3.0 * full_kw)
        ax.set_ylim(0, max(top, float(result.it_load_w[:, i].max()) / 1000.0) * 1.1 + 1e-3)
        ax.tick_params(labelsize=7)
        ax2 = ax.twinx()
        ax2.step(t, result.running_jobs[:, i], where="post", color="#c0392b", lw=1.0, label="jobs")
        ax2.set_ylim(0, max(1, int(inp.slots[i])) + 0.5)
        ax2.tick_params(labelsize=7, colors="#c0392b")
        if i == 0:
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right", ncol=3)
    for m in result.migrations:
        if np.isfinite(m.restored_s):
            when = inp.start + pd.Timedelta(seconds=m.started_s)
            axes[m.src].axvline(when, color="#2980b9", lw=0.6, alpha=0.7)
            axes[m.dest].axvline(when, color="#2980b9", lw=0.6, ls=":", alpha=0.7)
    axes[0].set_title(
        f"{inp.name} — {result.policy}: surplus, IT load and jobs per site "
        "(blue lines: migrations out, dotted: in)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_cumulative_non_renewable(results: Sequence[RunRecord], path: Path) -> None:
    """Cumulative non-renewable energy of each policy over the run (grid + network)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    for r in results:
        per_step = non_renewable_kwh_per_step(r)
        ax.plot(r.inputs.time_index(), np.cumsum(per_step), label=r.policy, lw=1.4)
        bound = r.policy_config.get("bound_kwh")
        if bound is not None:
            ax.axhline(bound, ls="--", lw=0.8, color="black", label="oracle lower bound")
    ax.set_ylabel("non-renewable energy (kWh)")
    ax.set_title("Cumulative non-renewable energy per policy", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_jct(jobs: pd.DataFrame, path: Path) -> None:
    """Job completion time and slowdown distributions per policy."""
    plt = _plt()
    policies = list(dict.fromkeys(jobs["policy"]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    for ax, col, label in (
        (ax1, "jct_h", "job completion time (h)"),
        (ax2, "slowdown", "slowdown"),
    ):
        data = [jobs.loc[jobs["policy"] == p, col].dropna().to_numpy() for p in policies]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(policies) + 1), policies, rotation=15, fontsize=8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    ax1.set_title("JCT per job", fontsize=10)
    ax2.set_title("Slowdown (JCT / time alone) per job; spread = stability", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(
    folder: Path,
    *,
    title: str,
    comparison: pd.DataFrame,
    notes: Sequence[str],
    images: Sequence[Path],
) -> Path:
    """A single self-contained report.html (images embedded) in ``folder``."""
    buf = io.StringIO()
    buf.write(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 7px;text-align:right}th{background:#f3f3f3}img{max-width:100%;"
        "margin:1em 0;border:1px solid #eee}</style></head><body>"
    )
    buf.write(f"<h1>{html.escape(title)}</h1>")
    for note in notes:
        buf.write(f"<p>{html.escape(note)}</p>")
    buf.write("<h2>Comparison</h2>")
    buf.write(comparison.to_html(index=False, float_format=lambda x: f"{x:.4g}", border=0))
    buf.write("<h2>Plots</h2>")
    for p in images:
        buf.write(f"<h3>{html.escape(p.stem.replace('_', ' '))}</h3>{_img(p)}")
    buf.write("</body></html>")
    out = folder / "report.html"
    out.write_text(buf.getvalue())
    return out
