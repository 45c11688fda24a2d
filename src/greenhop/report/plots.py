"""The run folder's plots: each returns a :class:`Figure` (its file, alt text and caption), with
labelled axes and units on every plot.

- :func:`plot_non_renewable`: the total and the jobs' own non-renewable energy per policy;
- :func:`plot_cumulative_non_renewable`: the jobs' own non-renewable energy over the run, and
  what each policy saved against ``stay`` over the run;
- :func:`plot_jct`: JCT and slowdown of the online policies; :func:`plot_oracle_deferral`: the
  oracle's JCT per job beside ``stay``'s, apart, since its plan defers jobs;
- :func:`plot_sites_and_jobs`: each site's surplus, IT load and jobs under one policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from greenhop.report import format as fmt
from greenhop.world import ledger
from greenhop.world.ledger import J_PER_KWH
from greenhop.world.record import RunRecord

ORACLE = "oracle"
STAY = "stay"


@dataclass(frozen=True)
class Figure:
    """A plot written to ``path``, what it shows in words (``alt``) and its caption (HTML)."""

    path: Path
    alt: str
    caption: str = ""
    title: str = ""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def policy_colours(policies: Sequence[str]) -> dict[str, str]:
    """One colour per policy, the same in every plot; the oracle in black."""
    palette = ["#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    out: dict[str, str] = {}
    others = [p for p in policies if p != ORACLE]
    for i, p in enumerate(others):
        out[p] = palette[i % len(palette)]
    out[ORACLE] = "#000000"
    return out


def jobs_non_renewable_kwh_per_step(result: RunRecord) -> NDArray[np.float64]:
    """The jobs' own non-renewable energy in each step (summed over jobs), kWh: each job's
    energy times its site's grid share (:func:`greenhop.world.ledger.grid_share`), plus the
    network energy of a transfer in the step it completed; sums to the summary's
    ``jobs_non_renewable_kwh``."""
    inp = result.inputs
    per_step = np.zeros(inp.n_steps)
    if result.job_energy is not None and len(result.job_energy[0]):
        ks, _, ss, es = result.job_energy
        share = ledger.grid_share(result.it_load_w, result.grid_w)[ks, ss]
        per_step += np.bincount(ks, weights=es * share, minlength=inp.n_steps) / J_PER_KWH
    e_net = inp.params.network_kwh_per_gb
    for m in result.migrations:
        if m.transferred:
            k = min(max(int(m.transfer_done_s // inp.step_s), 0), inp.n_steps - 1)
            per_step[k] += e_net * m.size_gb
    return per_step


def _save(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def plot_non_renewable(summaries: Sequence[dict[str, Any]], path: Path) -> Figure:
    """Two bar charts, one bar per policy: the non-renewable energy (with the oracle's bound)
    and the jobs' own part of it."""
    plt = _plt()
    policies = [s["policy"] for s in summaries]
    colours = policy_colours(policies)
    bound = next((s["oracle_bound_kwh"] for s in summaries if "oracle_bound_kwh" in s), None)
    fig, axes = plt.subplots(
        1, 2, figsize=(10, 0.45 * len(policies) + 1.8), sharey=True, layout="constrained"
    )
    y = np.arange(len(policies))
    for ax, key, label in (
        (axes[0], "non_renewable_kwh", "non-renewable energy (kWh)"),
        (axes[1], "jobs_non_renewable_kwh", "jobs' own non-renewable energy (kWh)"),
    ):
        values = np.array([float(s[key]) for s in summaries])
        ax.barh(y, values, color=[colours[p] for p in policies], height=0.6)
        decimals = min(fmt.decimals_for_all(values), 3)
        for yi, v in zip(y, values, strict=True):
            ax.annotate(
                fmt.number(v, decimals),
                (v, yi),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        ax.set_xlabel(label)
        ax.set_xlim(0, max(values.max(initial=0.0), 1e-9) * 1.18)
        ax.grid(axis="x", alpha=0.3)
        if key == "non_renewable_kwh" and bound is not None:
            ax.axvline(bound, color="black", ls="--", lw=1, label="oracle's lower bound")
            ax.legend(fontsize=8, loc="lower right")
    axes[0].set_yticks(y, policies)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("policy")
    axes[0].set_title("All non-renewable energy (grid + network)", fontsize=10)
    axes[1].set_title("The jobs' own part of it: where policies differ", fontsize=10)
    _save(fig, path)
    alt = "Bar charts of non-renewable energy per policy, kWh: " + "; ".join(
        f"{s['policy']} {fmt.kwh(s['non_renewable_kwh'])} in all, "
        f"{fmt.kwh(s['jobs_non_renewable_kwh'])} the jobs' own"
        for s in summaries
    )
    if bound is not None:
        alt += f"; the oracle's lower bound {fmt.kwh(bound)}"
    return Figure(
        path,
        alt + ".",
        "Left: all non-renewable energy, most of it the idle slots' and the IT load every "
        "policy pays alike"
        + (" (dashed: the oracle's lower bound)" if bound is not None else "")
        + ". Right: the jobs' own part, "
        "from each job's energy times its site's grid share plus its transfers' network energy "
        "(<code>jobs.csv</code>, column <code>non_renewable_kwh</code>).",
        "Non-renewable energy per policy",
    )


def plot_frontier(summaries: Sequence[dict[str, Any]], path: Path) -> Figure | None:
    """Non-renewable energy against mean completion time, one point per policy; the oracles
    (``oracle``, ``oracle:eps=...``) joined as the energy-JCT frontier, each with its lower
    bound. None when no oracle ran."""
    finite = [
        s
        for s in summaries
        if np.isfinite(float(s.get("jct_mean_h", np.nan)))
        and np.isfinite(float(s.get("non_renewable_kwh", np.nan)))
    ]
    oracles = sorted(
        (s for s in finite if str(s["policy"]).startswith(ORACLE)),
        key=lambda s: float(s["jct_mean_h"]),
    )
    if not oracles:
        return None
    online = [s for s in finite if not str(s["policy"]).startswith(ORACLE)]
    plt = _plt()
    colours = policy_colours([s["policy"] for s in summaries])
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    ox = [float(s["jct_mean_h"]) for s in oracles]
    oy = [float(s["non_renewable_kwh"]) for s in oracles]
    ax.plot(ox, oy, "-o", color="black", lw=1.2, ms=5, label="oracle within a budget (replayed)")
    bounds = [(float(s["jct_mean_h"]), s.get("oracle_bound_kwh")) for s in oracles]
    bx = [x for x, b in bounds if b is not None and np.isfinite(float(b))]
    by = [float(b) for _, b in bounds if b is not None and np.isfinite(float(b))]
    if bx:
        ax.plot(bx, by, "v", color="black", mfc="none", ms=6, label="its lower bound")
    for s, x, y in zip(oracles, ox, oy, strict=True):
        ax.annotate(str(s["policy"]), (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7)
    for s in online:
        x, y = float(s["jct_mean_h"]), float(s["non_renewable_kwh"])
        ax.plot(x, y, "s", color=colours[s["policy"]], ms=7, label=str(s["policy"]))
    ax.set_xlabel("mean job completion time (h)")
    ax.set_ylabel("non-renewable energy (kWh)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    _save(fig, path)
    alt = "Non-renewable energy against mean completion time: " + "; ".join(
        f"{s['policy']} {fmt.kwh(s['non_renewable_kwh'])} at {fmt.hours(s['jct_mean_h'], 1)}"
        for s in oracles + online
    )
    return Figure(
        path,
        alt + ".",
        "Each black point is the oracle's plan within a completion-time budget "
        "(<code>oracle:eps=E</code>: no job later than (1 + E) times its completion under "
        "<code>stay</code>, or its deadline), replayed in the simulator; the hollow triangle "
        "below it is the program's lower bound. A policy to the right of or above that line "
        "pays with energy or with time for what it does not know in advance.",
        "Energy against completion time: the frontier",
    )


def plot_cumulative_non_renewable(results: Sequence[RunRecord], path: Path) -> Figure:
    """Over the run: the jobs' own non-renewable energy per policy, and the non-renewable
    energy each policy saved against ``stay`` (or, without a stay run, its total)."""
    plt = _plt()
    policies = [r.policy for r in results]
    colours = policy_colours(policies)
    stay = next((r for r in results if r.policy == STAY), None)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, layout="constrained")
    stay_cum = np.cumsum(ledger.non_renewable_kwh_per_step(stay)) if stay is not None else None
    for r in results:
        t = r.inputs.time_index()
        ax1.plot(
            t,
            np.cumsum(jobs_non_renewable_kwh_per_step(r)),
            color=colours[r.policy],
            label=r.policy,
            lw=1.5,
        )
        total = np.cumsum(ledger.non_renewable_kwh_per_step(r))
        if stay_cum is not None and len(stay_cum) == len(total):
            ax2.plot(t, stay_cum - total, color=colours[r.policy], label=r.policy, lw=1.5)
        else:
            ax2.plot(t, total, color=colours[r.policy], label=r.policy, lw=1.5)
        bound = r.policy_config.get("bound_kwh")
        if bound is not None:
            level = float(stay_cum[-1]) - bound if stay_cum is not None else bound
            ax2.axhline(level, ls="--", lw=1, color="black", label="oracle's lower bound")
    ax1.set_ylabel("jobs' own non-renewable\nenergy, cumulative (kWh)")
    ax1.set_title("The jobs' own non-renewable energy over the run", fontsize=10)
    if stay_cum is not None:
        ax2.set_ylabel("non-renewable energy saved\nagainst stay, cumulative (kWh)")
        ax2.set_title(
            "Non-renewable energy saved against stay over the run (dashed: the most any policy "
            "can save, down to the oracle's bound)",
            fontsize=10,
        )
    else:
        ax2.set_ylabel("non-renewable energy,\ncumulative (kWh)")
        ax2.set_title("Non-renewable energy over the run", fontsize=10)
    ax2.set_xlabel("time (UTC)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    _save(fig, path)
    alt = (
        "Line plots over the run's time: the jobs' own non-renewable energy, cumulative, per "
        "policy; below, "
        + (
            "the non-renewable energy each policy saved against stay, cumulative."
            if stay is not None
            else "the total non-renewable energy, cumulative."
        )
    )
    return Figure(
        path,
        alt,
        "Top: the jobs' own non-renewable energy as it accrues. Bottom: "
        + (
            "stay's cumulative non-renewable energy minus each policy's; a line that rises "
            "is saving grid energy, a dip is a move's or a deferral's cost."
            if stay is not None
            else "each policy's cumulative non-renewable energy."
        ),
        "Non-renewable energy over the run",
    )


def plot_jct(jobs: pd.DataFrame, path: Path, *, leave_out: Sequence[str] = (ORACLE,)) -> Figure:
    """Box plots of JCT (h) and slowdown per policy, over the jobs done; policies in
    ``leave_out`` (the oracle) are drawn apart by :func:`plot_oracle_deferral`."""
    plt = _plt()
    policies = [p for p in dict.fromkeys(jobs["policy"]) if p not in leave_out]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    described = []
    for ax, col, label in (
        (ax1, "jct_h", "job completion time (h)"),
        (ax2, "slowdown", "slowdown (JCT / time alone)"),
    ):
        data = [jobs.loc[jobs["policy"] == p, col].dropna().to_numpy() for p in policies]
        shown = [i for i, d in enumerate(data) if len(d)]
        if shown:
            ax.boxplot([data[i] for i in shown], positions=[i + 1 for i in shown], showmeans=True)
        ax.set_xticks(range(1, len(policies) + 1), policies, rotation=15, fontsize=8)
        ax.set_xlim(0.5, len(policies) + 0.5)
        ax.set_xlabel("policy")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
        if col == "jct_h":
            described = [
                f"{p} mean {fmt.hours(float(np.mean(data[i])), 1)}"
                for i, p in enumerate(policies)
                if len(data[i])
            ]
    ax1.set_title("JCT per job (box: quartiles, line: median, ▲: mean)", fontsize=10)
    ax2.set_title("Slowdown per job; its spread is the stability", fontsize=10)
    _save(fig, path)
    return Figure(
        path,
        "Box plots of job completion time in hours and of slowdown per policy, over the jobs "
        "done: " + ", ".join(described) + ".",
        "",
        "Job completion time and slowdown",
    )


def plot_oracle_deferral(jobs: pd.DataFrame, path: Path, *, reference: str = STAY) -> Figure | None:
    """Each job's JCT under the oracle beside its JCT under ``reference`` and its time alone;
    None when the oracle (or the reference) did not run."""
    policies = set(jobs["policy"])
    if ORACLE not in policies:
        return None
    if reference not in policies:
        others = [p for p in dict.fromkeys(jobs["policy"]) if p != ORACLE]
        if not others:
            return None
        reference = others[0]
    plt = _plt()
    oracle = jobs[jobs["policy"] == ORACLE].set_index("job")
    ref = jobs[jobs["policy"] == reference].set_index("job")
    names = list(oracle.index)
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(names) + 1.6), layout="constrained")
    alone_h = oracle["jct_h"] / oracle["slowdown"]
    ax.hlines(y, ref.loc[names, "jct_h"], oracle["jct_h"], color="#bbbbbb", lw=1)
    ax.plot(alone_h, y, "|", color="#2ca02c", ms=12, mew=2, label="time alone (restart + work)")
    ax.plot(ref.loc[names, "jct_h"], y, "o", color="#7f7f7f", label=reference)
    ax.plot(oracle["jct_h"], y, "s", color="black", label="oracle (its plan replayed)")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("job completion time (h)")
    ax.set_ylabel("job")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"JCT per job: the oracle's deferrals against {reference}", fontsize=10)
    _save(fig, path)
    o_mean = float(oracle["jct_h"].mean())
    r_mean = float(ref["jct_h"].mean())
    jct = oracle["jct_h"]
    longest = jct.idxmax() if jct.notna().any() else None
    alt = (
        f"Dot plot of each job's completion time in hours: under the oracle (mean "
        f"{fmt.hours(o_mean, 1)}) and under {reference} (mean {fmt.hours(r_mean, 1)})"
    )
    if longest is not None:
        alt += f"; the longest under the oracle is {longest}, {fmt.hours(float(jct.max()), 1)}"
    return Figure(path, alt + ".", "", "The oracle's deferrals")


def plot_sites_and_jobs(result: RunRecord, path: Path) -> Figure:
    """Each site's surplus over time with the jobs placed on it (and its IT load)."""
    plt = _plt()
    import matplotlib.dates as mdates
    from matplotlib.ticker import MaxNLocator

    inp = result.inputs
    # the times as matplotlib's date numbers, converted once: each plot call converting the
    # index again took most of this figure's time (seconds for a month of 5-minute steps)
    t = mdates.date2num(inp.time_index())
    n = len(inp.site_names)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.6 * n + 1.2), sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax in axes:
        ax.xaxis_date()
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
        ax.set_ylabel(f"{inp.site_names[i]}\n(kW)", rotation=0, ha="right", va="center", fontsize=8)
        # surplus can dwarf a micro datacenter: show up to 3x what its slots could draw
        full_kw = inp.slots[i] * float(inp.jobs.power_w.max(initial=1000.0)) / 1000.0
        top = min(float(surplus[:, i].max(initial=0.0)), 3.0 * full_kw)
        ax.set_ylim(0, max(top, float(result.it_load_w[:, i].max()) / 1000.0) * 1.1 + 1e-3)
        ax.tick_params(labelsize=7)
        ax2 = ax.twinx()
        ax2.step(
            t,
            result.running_jobs[:, i],
            where="post",
            color="#c0392b",
            lw=1.0,
            label="jobs running",
        )
        ax2.set_ylim(0, max(1, int(inp.slots[i])) + 0.5)
        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.set_ylabel("jobs", color="#c0392b", fontsize=8)
        ax2.tick_params(labelsize=7, colors="#c0392b")
        if i == 0:
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right", ncol=3)
    for m in result.migrations:
        if np.isfinite(m.restored_s):
            when = mdates.date2num(inp.start + pd.Timedelta(seconds=m.started_s))
            axes[m.src].axvline(when, color="#2980b9", lw=0.6, alpha=0.7)
            axes[m.dest].axvline(when, color="#2980b9", lw=0.6, ls=":", alpha=0.7)
    axes[-1].set_xlabel("time (UTC)")
    axes[0].set_title(
        f"{inp.name} — {result.policy}: surplus (kW), IT load (kW) and jobs per site "
        "(blue lines: migrations out, dotted: in)",
        fontsize=9,
    )
    fig.autofmt_xdate()
    fig.tight_layout()  # constrained layout takes seconds with a twin axis per site
    _save(fig, path)
    moves = sum(1 for m in result.migrations if m.completed)
    return Figure(
        path,
        f"Per site, for policy {result.policy}: renewable surplus and IT load in kW and the "
        f"number of jobs running over time, with its {moves} migrations marked.",
        "",
        f"Sites under {result.policy}",
    )
