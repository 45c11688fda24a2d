"""A sweep's report: means with 95 % confidence intervals over seeds, and heatmaps of one policy
minus another over two axes.

**Confidence intervals.** For every parameter point and policy, a metric's mean over the seeds
and the half-width of its 95 % Student-t interval, ``t(0.975, n−1) · s / √n`` (s the sample
standard deviation over the n seeds); none with one seed. A comparison of two policies takes
the difference seed by seed (the same cell, so the same jobs and forecast errors) before the
interval: a paired interval.

**Heatmaps.** The difference ``a − b`` of a metric over two numeric axes (``[report] x, y``, by
default the first two numeric axes that take more than one value). A heatmap square averages
the cells that fall in it, over the sweep's other axes, seed by seed, and then over seeds with
the interval above; a value whose interval excludes 0 is printed in bold. A sampled axis is cut
into bins (log-spaced when it was sampled on a log scale).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from greenhop.sweep.spec import AXES, Range, SweepSpec

#: Heatmap bins of a sampled numeric axis.
SAMPLE_BINS = 6
#: Rows of the comparison table shown in the report (every row is in compare.csv).
TABLE_ROWS = 60

_UNITS = {
    "non_renewable_kwh": "kWh",
    "grid_kwh": "kWh",
    "network_kwh": "kWh",
    "it_energy_kwh": "kWh",
    "jobs_non_renewable_kwh": "kWh",
    "migration_energy_kwh": "kWh",
    "bytes_moved": "bytes",
    "jct_mean_h": "h",
    "jct_p50_h": "h",
    "jct_p95_h": "h",
    "emissions_kgco2e": "kg CO2e",
    "dr_excess_kwh": "kWh",
}


def t_interval(values: Sequence[float] | np.ndarray) -> tuple[float, float, int]:
    """Mean, half-width of the 95 % Student-t interval (nan for fewer than two), and n, of the
    finite ``values``."""
    from scipy import stats

    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    n = len(a)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(a[0]), math.nan, 1
    half = float(stats.t.ppf(0.975, n - 1) * a.std(ddof=1) / math.sqrt(n))
    return float(a.mean()), half, n


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    if "status" not in results:
        return results.iloc[0:0]
    return results[results["status"] == "ok"]


def point_table(results: pd.DataFrame, spec: SweepSpec, metrics: Sequence[str]) -> pd.DataFrame:
    """Per parameter point and policy: the axes' values, seeds, and each metric's mean and
    95 % interval (``<metric>``, ``<metric>_ci95``)."""
    ok = _ok(results)
    rows = []
    for (point, policy), group in ok.groupby(["point", "policy"], sort=False):
        row: dict[str, Any] = {"point": point, "policy": policy}
        row.update({a: group[a].iloc[0] for a in spec.axes if a in group})
        row["seeds"] = len(group)
        for m in metrics:
            if m not in group:
                continue
            mean, half, _ = t_interval(pd.to_numeric(group[m], errors="coerce").to_numpy())
            row[m], row[f"{m}_ci95"] = mean, half
        rows.append(row)
    return pd.DataFrame(rows)


def paired(results: pd.DataFrame, a: str, b: str, metric: str) -> pd.DataFrame:
    """One row per cell where both policies ran: the cell's axes and seed, and ``a − b``."""
    ok = _ok(results)
    left = ok[ok["policy"] == a].set_index("cell")
    right = ok[ok["policy"] == b].set_index("cell")
    common = left.index.intersection(right.index)
    frame = left.loc[common].drop(columns=["policy"]).copy()
    if metric not in ok:  # a metric no run had (emissions without a carbon signal)
        frame["diff"] = np.nan
        return frame.reset_index()
    number = lambda side: pd.to_numeric(side.loc[common, metric], errors="coerce")  # noqa: E731
    frame["diff"] = number(left) - number(right)
    return frame.reset_index()


def compare_table(
    results: pd.DataFrame, spec: SweepSpec, a: str, b: str, metrics: Sequence[str]
) -> pd.DataFrame:
    """Per parameter point: ``a − b`` of each metric, mean over seeds and paired 95 % interval."""
    out: pd.DataFrame | None = None
    for m in metrics:
        d = paired(results, a, b, m)
        rows = []
        for point, group in d.groupby("point", sort=True):
            mean, half, n = t_interval(group["diff"].to_numpy())
            row: dict[str, Any] = {"point": point}
            row.update({ax: group[ax].iloc[0] for ax in spec.axes if ax in group})
            row.update({"seeds": n, f"{m}_diff": mean, f"{m}_diff_ci95": half})
            rows.append(row)
        frame = pd.DataFrame(rows)
        if out is None:
            out = frame
        elif len(frame):
            out = out.merge(
                frame[["point", f"{m}_diff", f"{m}_diff_ci95"]], on="point", how="outer"
            )
    return out if out is not None else pd.DataFrame()


def comparison_pair(spec: SweepSpec) -> tuple[str, str] | None:
    """The two policies the report compares: ``[report] compare``, else feasibility-aware minus
    energy-only when both ran, else the first two policies."""
    if spec.report.compare:
        return spec.report.compare
    if {"feasibility-aware", "energy-only"} <= set(spec.policies):
        return ("feasibility-aware", "energy-only")
    return (spec.policies[0], spec.policies[1]) if len(spec.policies) >= 2 else None


def heat_axes(spec: SweepSpec, results: pd.DataFrame) -> list[str]:
    """The axes the heatmaps use: ``[report] x, y``, else the first numeric axes that vary."""
    chosen = [a for a in (spec.report.x, spec.report.y) if a]
    for a in spec.axes:
        if len(chosen) >= 2:
            break
        if a in chosen or AXES[a].kind == "choice" or a not in results:
            continue
        if results[a].nunique() > 1:
            chosen.append(a)
    return chosen


def _bins(spec: SweepSpec, axis: str, values: pd.Series) -> tuple[pd.Series, list[str]]:
    """Each value's bin index and the bins' labels (a grid's values are their own bins)."""
    how = (spec.sample or {}).get(axis)
    if isinstance(how, Range):
        if how.log:
            edges = np.geomspace(how.low, how.high, SAMPLE_BINS + 1)
        else:
            edges = np.linspace(how.low, how.high, SAMPLE_BINS + 1)
        index = np.clip(
            np.searchsorted(edges, values.to_numpy(dtype=float), side="right") - 1,
            0,
            SAMPLE_BINS - 1,
        )
        labels = [f"{edges[i]:.3g}–{edges[i + 1]:.3g}" for i in range(SAMPLE_BINS)]
        return pd.Series(index, index=values.index), labels
    uniq = sorted(values.unique())
    pos = {v: i for i, v in enumerate(uniq)}
    return values.map(pos).astype(int), [f"{v:g}" if isinstance(v, float) else str(v) for v in uniq]


@dataclass(frozen=True)
class HeatFigure:
    """A plot of the report: file, alt text and caption."""

    path: Path
    alt: str
    caption: str


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _cmap(name: str) -> Any:
    """A colour map whose missing values (a square no cell fell in) are grey."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#d9d9d9")


def _label(axis: str) -> str:
    return f"{axis} ({AXES[axis].help})"


def heatmap(
    results: pd.DataFrame,
    spec: SweepSpec,
    a: str,
    b: str | None,
    metric: str,
    axes: Sequence[str],
    path: Path,
) -> HeatFigure | None:
    """The ``a − b`` heatmap (two axes) or line (one axis) of ``metric``, or ``a``'s own values
    when ``b`` is None (a sweep of one policy); None without axes or without rows."""
    if b is None:
        ok = _ok(results)
        d = ok[ok["policy"] == a].copy()
        d["diff"] = pd.to_numeric(d[metric], errors="coerce") if metric in d else np.nan
    else:
        d = paired(results, a, b, metric)
    d = d[np.isfinite(d["diff"].astype(float))]
    if not len(d) or not axes:
        return None
    plt = _plt()
    unit = _UNITS.get(metric, "")
    what = (f"{metric} of {a}" if b is None else f"{metric} of {a} minus {b}") + (
        f", {unit}" if unit else ""
    )
    title = f"{a}: {metric}" if b is None else f"{a} − {b}: {metric}"
    xs, xlabels = _bins(spec, axes[0], d[axes[0]])
    d = d.assign(_x=xs)
    if len(axes) == 1:
        stats = [
            (x, *t_interval(g.groupby("seed")["diff"].mean().to_numpy()))
            for x, g in d.groupby("_x")
        ]
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        pos = [s[0] for s in stats]
        means = [s[1] for s in stats]
        halves = [0.0 if not math.isfinite(s[2]) else s[2] for s in stats]
        ax.errorbar(pos, means, yerr=halves, marker="o", capsize=4)
        if b is not None:
            ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xticks(range(len(xlabels)), xlabels, rotation=30)
        ax.set_xlabel(_label(axes[0]))
        ax.set_ylabel(what)
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        alt = (
            f"Line of {what} against {axes[0]}, with 95 % intervals over seeds; values from "
            f"{min(means):.3g} to {max(means):.3g}."
        )
        return HeatFigure(path, alt, f"{what} against {axes[0]}; bars: 95 % interval over seeds.")
    ys, ylabels = _bins(spec, axes[1], d[axes[1]])
    d = d.assign(_y=ys)
    mean = np.full((len(ylabels), len(xlabels)), np.nan)
    half = np.full_like(mean, np.nan)
    for key, g in d.groupby(["_x", "_y"]):
        x, y = cast(tuple[int, int], key)
        m, h, _ = t_interval(g.groupby("seed")["diff"].mean().to_numpy())
        mean[y, x], half[y, x] = m, h
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(xlabels) + 2, 1.0 + 0.6 * len(ylabels) + 1.2))
    vmax = float(np.nanmax(np.abs(mean))) or 1.0
    if b is None:  # values, not differences: a sequential scale over their range
        vmin, vmax = float(np.nanmin(mean)), float(np.nanmax(mean))
        image = ax.imshow(
            mean, origin="lower", cmap=_cmap("viridis"), vmin=vmin, vmax=vmax, aspect="auto"
        )
        fig.colorbar(image, ax=ax, label=a + (f", {unit}" if unit else ""))
    else:
        image = ax.imshow(
            mean, origin="lower", cmap=_cmap("RdBu_r"), vmin=-vmax, vmax=vmax, aspect="auto"
        )
        fig.colorbar(image, ax=ax, label=f"{a} − {b}" + (f", {unit}" if unit else ""))
    if mean.size <= 144:
        for y in range(mean.shape[0]):
            for x in range(mean.shape[1]):
                if not np.isfinite(mean[y, x]):
                    continue
                sure = b is not None and np.isfinite(half[y, x]) and abs(mean[y, x]) > half[y, x]
                text = f"{mean[y, x]:.3g}"
                if np.isfinite(half[y, x]):
                    text += f"\n±{half[y, x]:.2g}"
                if b is None:  # viridis: light at the top of the range
                    dark = mean[y, x] < vmin + 0.6 * (vmax - vmin)
                else:
                    dark = abs(mean[y, x]) > 0.6 * vmax
                ax.text(
                    x,
                    y,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    fontweight="bold" if sure else "normal",
                    color="white" if dark else "black",
                )
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=30)
    ax.set_yticks(range(len(ylabels)), ylabels)
    ax.set_xlabel(_label(axes[0]))
    ax.set_ylabel(_label(axes[1]))
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    finite = mean[np.isfinite(mean)]
    alt = (
        f"Heatmap of {what} over {axes[0]} (x) and {axes[1]} (y); values from "
        f"{finite.min():.3g} to {finite.max():.3g}"
        + ("." if b is None else f"; blue where {a} is lower.")
    )
    empty = " Grey: no cell fell there." if not np.isfinite(mean).all() else ""
    caption = f"{what}: mean over seeds (and over the other axes) with its 95 % interval below" + (
        "." if b is None else f"; bold where the interval excludes 0. Blue: {a} lower than {b}."
    )
    return HeatFigure(path, alt, caption + empty)


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "–" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def _markdown_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(out: Path, spec: SweepSpec, results: pd.DataFrame) -> Path:
    """Write ``out/report/``: index.md and index.html, heatmaps (PNG), points.csv (each point and
    policy, mean and interval of every reported metric) and compare.csv; return index.html."""
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    metrics = list(spec.report.metrics)
    points = point_table(results, spec, metrics)
    points.to_csv(folder / "points.csv", index=False)
    pair = comparison_pair(spec)
    figures: list[HeatFigure] = []
    compare = pd.DataFrame()
    axes = heat_axes(spec, results)
    if pair is not None:
        a, b = pair
        compare = compare_table(results, spec, a, b, metrics)
        compare.to_csv(folder / "compare.csv", index=False)
        for m in metrics:
            fig = heatmap(results, spec, a, b, m, axes, folder / f"heatmap-{m}.png")
            if fig is not None:
                figures.append(fig)
    elif spec.policies:  # one policy: its own values
        for m in metrics:
            fig = heatmap(
                results, spec, spec.policies[0], None, m, axes, folder / f"heatmap-{m}.png"
            )
            if fig is not None:
                figures.append(fig)
    ok = _ok(results)
    skipped = (
        results[results.get("status", pd.Series(dtype=str)) == "skipped"]
        if len(results)
        else results
    )
    seeds = len(spec.seeds)
    kind = "grid" if spec.grid is not None else "sample" if spec.sample is not None else "one point"
    facts = [
        f"Scenario: {spec.scenario_path.name}; policies: {', '.join(spec.policies)}; "
        f"seeds: {', '.join(map(str, spec.seeds))}.",
        f"Axes: {', '.join(spec.axes) or 'none'}; "
        f"{kind}"
        f" of {len(spec.points())} point(s) × {seeds} seed(s) = {len(spec.cells())} cells.",
        f"Rows: {len(ok)} simulated, {len(skipped)} skipped "
        f"(a policy that cannot be built for a cell, with the reason in results.parquet).",
        "Intervals: 95 % Student-t over seeds (paired, seed by seed, for differences); "
        "'–' with one seed.",
    ]
    if spec.generates_jobs:
        w = spec.workload_or_default
        facts.append(
            f"Jobs: generated per seed (greenhop.sim.workload), {w.jobs} of mix {w.mix!r} "
            f"unless an axis says otherwise, {w.work_gpu_h[0]:g}–{w.work_gpu_h[1]:g} GPU-h, "
            f"arriving over the first {w.arrival_share:.0%} of the run."
        )
    shown = compare.head(TABLE_ROWS) if len(compare) else points.head(TABLE_ROWS)
    table_title = (
        f"{pair[0]} − {pair[1]} by point" if pair is not None and len(compare) else "By point"
    )
    more = len(compare if len(compare) else points) - len(shown)
    more_line = (
        f"{more} more rows in {'compare' if len(compare) else 'points'}.csv." if more > 0 else ""
    )
    title = f"greenhop sweep {spec.name}"
    md = [f"# {title}", "", *(f"- {f}" for f in facts), ""]
    for fig in figures:
        md += [f"![{fig.alt}]({fig.path.name})", "", fig.caption, ""]
    md += [
        f"## {table_title}",
        "",
        _markdown_table(shown) if len(shown) else "(no rows)",
        "",
        more_line,
    ]
    (folder / "index.md").write_text("\n".join(md).rstrip() + "\n")
    body = [f"<h1>{html.escape(title)}</h1>", "<ul>"]
    body += [f"<li>{html.escape(f)}</li>" for f in facts]
    body.append("</ul>")
    for fig in figures:
        body.append(
            f'<figure><img src="{fig.path.name}" alt="{html.escape(fig.alt)}">'
            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>"
        )
    body.append(f"<h2>{html.escape(table_title)}</h2>")
    body.append(_html_table(shown) if len(shown) else "<p>(no rows)</p>")
    if more_line:
        body.append(f"<p>{html.escape(more_line)}</p>")
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:70rem;margin:1rem auto;padding:0 1rem}"
        "img{max-width:100%}table{border-collapse:collapse;font-size:.85rem;display:block;"
        "overflow-x:auto}td,th{border-bottom:1px solid #ddd;padding:.2rem .5rem;text-align:right}"
        "</style></head><body>" + "".join(body) + "</body></html>\n"
    )
    (folder / "index.html").write_text(page)
    return folder / "index.html"
