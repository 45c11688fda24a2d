"""``report.html``: one self-contained page (images embedded) that a person reads top to bottom.

The headline first (:mod:`greenhop.report.headline`), then the comparison with human headers and
units (a dash where there is no number, with a footnote that says why), the plots with what they
show, a live run's measured transfers against the model (:mod:`greenhop.report.transfers`), the
settings the run ran on (:mod:`greenhop.report.settings`) and the glossary
(:mod:`greenhop.report.glossary`). The page reflows to any width: no fixed sizes, wide tables
scroll inside their box, images shrink to fit.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from greenhop.report import format as fmt
from greenhop.report import settings, transfers
from greenhop.report.glossary import Term, glossary
from greenhop.report.headline import ORACLE, STAY, headline
from greenhop.report.plots import Figure
from greenhop.report.table import Cell, Footnotes, Table
from greenhop.world.inputs import SimInputs

CSS = """
:root{--fg:#1d1d1f;--muted:#5a5a66;--line:#dcdce2;--accent:#0a7d4f;--warn:#9a5b00}
*{box-sizing:border-box}
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
margin:0 auto;padding:1rem clamp(.8rem,3vw,2.5rem) 3rem;max-width:75rem}
h1{font-size:1.65rem;margin:.6rem 0 .2rem}h2{font-size:1.3rem;margin-top:2.2rem;
border-bottom:1px solid var(--line);padding-bottom:.2rem}h3{font-size:1.05rem;margin-top:1.5rem}
.sub{color:var(--muted);margin:0 0 1rem}
.headline{background:#eef7f1;border-left:4px solid var(--accent);padding:.5rem 1rem;
border-radius:4px}.headline p{margin:.45rem 0}
.warn{background:#fff6e5;border-left:4px solid var(--warn);padding:.4rem 1rem;border-radius:4px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.92rem;margin:.4rem 0}
caption{caption-side:bottom;text-align:left;color:var(--muted);font-size:.85rem;padding-top:.3rem}
th,td{border-bottom:1px solid var(--line);padding:.3rem .65rem;text-align:left;vertical-align:top}
thead th{background:#f4f4f7;font-weight:600}
tbody th{font-weight:500;min-width:9em}
table.nowrap td{white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
sup a{text-decoration:none}
ol.notes{font-size:.85rem;color:var(--muted);padding-left:1.4rem}
figure{margin:1.2rem 0}img{display:block;max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.3rem}
dl.items{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dl.items dt{font-weight:600}dl.items dd{margin:0}
dl.glossary dt{font-weight:600;margin-top:.7rem}dl.glossary dd{margin:.1rem 0 0 1rem}
.src{color:var(--muted);font-size:.8rem}
details{margin:.6rem 0}summary{cursor:pointer;font-weight:600}
code{font-size:.9em;background:#f4f4f7;padding:0 .2em;border-radius:3px}
@media (max-width:40rem){body{font-size:15px}dl.items{grid-template-columns:1fr}}
"""


@dataclass(frozen=True)
class Row:
    """A row of the comparison: the summary key, its label (with the unit) and glossary term,
    how its numbers are shown, and which end is best (None: neither)."""

    key: str
    label: str
    kind: str  # kwh, share, gb, count, hours, ratio, done
    term: str | None = None
    best: str | None = None  # "min" or "max"


ROWS = (
    Row("non_renewable_kwh", "Non-renewable energy (kWh)", "kwh", "non-renewable energy", "min"),
    Row("oracle_bound_kwh", "Oracle's lower bound (kWh)", "kwh", "oracle's lower bound"),
    Row(
        "jobs_non_renewable_kwh",
        "Jobs' own non-renewable energy (kWh)",
        "kwh",
        "jobs' non-renewable energy",
        "min",
    ),
    Row("grid_kwh", "Grid energy (kWh)", "kwh", "grid energy", "min"),
    Row("emissions_kgco2e", "Emissions (kg CO2e)", "kg", "emissions", "min"),
    Row("energy_cost", "Energy cost", "money", "energy cost", "min"),
    Row("dr_excess_kwh", "Demand-response excess (kWh)", "kwh", "demand-response excess", "min"),
    Row("renewable_share", "Renewable share", "share", "renewable share", "max"),
    Row("jobs_renewable_share", "Jobs' renewable share", "share", "jobs' non-renewable energy"),
    Row("migration_energy_kwh", "Migration energy (kWh)", "kwh", "migration energy"),
    Row("migrations", "Migrations", "count", "migrations"),
    Row("wasted_migrations", "Wasted migrations", "count", "wasted migration"),
    Row("bytes_moved", "Data moved (GB)", "gb", "migrations"),
    Row("jobs_done", "Jobs done", "done", "jobs done"),
    Row("jct_mean_h", "JCT mean (h)", "hours", "JCT"),
    Row("jct_p50_h", "JCT median (h)", "hours", "JCT"),
    Row("jct_p95_h", "JCT p95 (h)", "hours", "JCT"),
    Row("slowdown_mean", "Slowdown mean", "ratio", "Slowdown"),
    Row("slowdown_p95_over_p50", "Slowdown p95 / p50", "ratio", "Stability"),
    Row("stability_slowdown_std", "Stability (σ of slowdown)", "ratio", "Stability"),
    Row("refused_actions", "Actions refused", "count"),
)


#: Rows left out when no policy has a number for them (the scenario has no such signal).
GRID_SIGNAL_KEYS = frozenset({"emissions_kgco2e", "energy_cost", "dr_excess_kwh"})


LIVE_BYTES_NOTE = (
    "a live run's moves are counted at the scenario's checkpoint_gb, the size the policy and "
    "the network energy reckon with; the bytes really sent are under 'The live run' below"
)


def why_missing(key: str, summary: dict[str, Any]) -> str:
    """Why ``summary`` has no number for ``key``, in words."""
    if key == "oracle_bound_kwh":
        return "only the oracle computes a lower bound"
    if key.startswith(("jct_", "slowdown_", "stability_")):
        if not summary.get("jobs_done"):
            return "no job finished within the run, so there is no completion time"
        return "too few finished jobs for this figure"
    if key == "renewable_share":
        return "the sites drew no IT energy in this run"
    if key == "jobs_renewable_share":
        return "the jobs drew no energy in this run"
    if key == "emissions_kgco2e":
        return "the scenario has no carbon signal for this run"
    if key == "energy_cost":
        return "the scenario has no price signal for this run"
    if key == "dr_excess_kwh":
        return "the scenario has no demand-response events"
    return "not measured in this run"


def _formatter(row: Row, values: Sequence[Any]) -> Callable[[Any], str]:
    if row.kind == "kwh":
        d = min(fmt.decimals_for_all(values), 3)
        return lambda v: fmt.number(float(v), d)
    if row.kind == "share":
        return lambda v: fmt.percent(float(v))
    if row.kind == "gb":
        gb = [float(v) / 1e9 for v in values if not fmt.is_missing(v)]
        d = min(fmt.decimals_for_all(gb), 2)
        return lambda v: fmt.number(float(v) / 1e9, d)
    if row.kind == "hours":
        return lambda v: fmt.number(float(v), 1)
    if row.kind in ("kg", "money"):
        return lambda v: fmt.number(float(v), 2)
    if row.kind == "ratio":
        return lambda v: fmt.number(float(v), 3)
    return lambda v: fmt.count(float(v))


def comparison_table(
    summaries: Sequence[dict[str, Any]], terms: dict[str, Term], live: Sequence[str] = ()
) -> Table:
    """Metrics as rows, policies as columns (so the table stays narrow however many metrics)."""
    policies = [s["policy"] for s in summaries]
    rows: list[list[str | Cell]] = []
    for row in ROWS:
        if not any(row.key in s for s in summaries):
            continue
        if row.key in GRID_SIGNAL_KEYS and all(fmt.is_missing(s.get(row.key)) for s in summaries):
            continue  # the run has no such signal: the row would only say so
        values: list[Any] = [s.get(row.key) for s in summaries]
        show = _formatter(row, values)
        best_value = None
        ranked = [
            float(v)
            for s, v in zip(summaries, values, strict=True)
            if s["policy"] != ORACLE and s["policy"] not in live and not fmt.is_missing(v)
        ]
        if row.best and len(ranked) > 1 and len(set(ranked)) > 1:
            best_value = min(ranked) if row.best == "min" else max(ranked)
        term = terms.get(row.term or "")
        label = html.escape(row.label)
        if term is not None:
            label = f'<a href="#{term.anchor}">{label}</a>'
        cells: list[str | Cell] = [Cell(label, raw=True)]
        for s, v in zip(summaries, values, strict=True):
            if row.key == "bytes_moved" and s["policy"] in live and not fmt.is_missing(v):
                cells.append(Cell(show(v), note=LIVE_BYTES_NOTE))
            elif row.kind == "done":
                unfinished = s.get("jobs_unfinished") or []
                note = (
                    "not finished within the run, left out of JCT and slowdown: "
                    + ", ".join(map(str, unfinished))
                    if unfinished
                    else None
                )
                cells.append(Cell(f"{fmt.count(v)} of {fmt.count(s['jobs'])}", note=note))
            elif fmt.is_missing(v):
                cells.append(Cell.missing(why_missing(row.key, s)))
            elif row.kind == "money":
                cells.append(Cell(f"{show(v)} {s.get('currency') or ''}".strip()))
            else:
                strong = (
                    best_value is not None
                    and s["policy"] != ORACLE
                    and s["policy"] not in live
                    and abs(float(v) - best_value) <= 1e-9 * max(1.0, abs(best_value))
                )
                cells.append(Cell(show(v), strong=strong))
        rows.append(cells)
    return Table(
        ["", *policies],
        rows,
        caption="Bold: the best online policy on that row. Figures per policy over the whole "
        "run; every term is defined in the glossary below.",
    )


def jobs_energy_table(jobs: pd.DataFrame) -> Table:
    """The jobs' own non-renewable energy per job (rows) and policy (columns), kWh."""
    pivot = jobs.pivot_table(
        index="job", columns="policy", values="non_renewable_kwh", aggfunc="sum", sort=False
    )
    policies = list(dict.fromkeys(jobs["policy"]))
    pivot = pivot.reindex(columns=policies)
    d = min(fmt.decimals_for_all(pivot.to_numpy().ravel()), 3)
    rows: list[list[str | Cell]] = []
    for job, r in pivot.iterrows():
        rows.append([str(job), *(fmt.number(float(r[p]), d) for p in policies)])
    rows.append(
        [
            Cell("all jobs", strong=True),
            *(Cell(fmt.number(float(pivot[p].sum()), d), strong=True) for p in policies),
        ]
    )
    return Table(["Job", *policies], rows, caption="kWh; the jobs' own non-renewable energy.")


def _img(fig: Figure) -> str:
    data = base64.b64encode(fig.path.read_bytes()).decode("ascii")
    caption = f"<figcaption>{fig.caption}</figcaption>" if fig.caption else ""
    return (
        f'<figure><img alt="{html.escape(fig.alt)}" src="data:image/png;base64,{data}">'
        f"{caption}</figure>"
    )


@dataclass
class ReportFigures:
    """The plots the page places, each in its section."""

    non_renewable: Figure
    cumulative: Figure
    jct: Figure
    oracle: Figure | None = None
    sites: list[Figure] = field(default_factory=list)
    frontier: Figure | None = None


def _table(table: Table, notes: Footnotes) -> str:
    """The table, then the footnotes it added."""
    first = len(notes.texts)
    return table.html(notes) + notes.html(first)


def _sentence_case(text: str) -> str:
    """``text`` with its first letter in upper case (a definition read as a sentence)."""
    return text[0].upper() + text[1:] if text[:1].isalpha() else text


def _items(pairs: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in pairs)
    return f'<dl class="items">{body}</dl>'


def _oracle_text(by: dict[str, dict[str, Any]]) -> str:
    o = by[ORACLE]
    ref = by.get(STAY) or next((s for p, s in by.items() if p != ORACLE), None)
    text = (
        "The oracle is drawn apart, below, so that it does not squash the others. Its plan "
        "minimises non-renewable energy alone, knowing all generation and arrivals in advance, "
        "and nothing holds it to a completion time but a job's deadline: it keeps a job "
        "waiting until surplus comes, for days if need be. So its JCT is far above the online "
        f"policies': mean {fmt.hours(o['jct_mean_h'], 1)}, p95 {fmt.hours(o['jct_p95_h'], 1)}, "
        f"slowdown mean {fmt.number(o['slowdown_mean'], 2)}"
    )
    if ref is not None:
        text += (
            f", against {fmt.hours(ref['jct_mean_h'], 1)}, {fmt.hours(ref['jct_p95_h'], 1)} and "
            f"{fmt.number(ref['slowdown_mean'], 2)} for <code>{html.escape(ref['policy'])}</code>"
        )
    return (
        text + ". Its energy is a reference for what perfect knowledge and unbounded patience "
        "buy, not a schedule to run."
    )


def write_report(
    folder: Path,
    *,
    title: str,
    inputs: SimInputs,
    summaries: Sequence[dict[str, Any]],
    jobs: pd.DataFrame,
    figures: ReportFigures,
    notes: Sequence[str] = (),
    live_policies: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/report.html`` and return its path."""
    extra = extra or {}
    foot = Footnotes()
    terms = {t.name: t for t in glossary()}
    by = {s["policy"]: s for s in summaries}
    head = headline(summaries, live_policies)
    out: list[str] = []
    w = out.append
    w(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
    )
    end = pd.Timestamp(inputs.start) + pd.Timedelta(seconds=inputs.n_steps * inputs.step_s)
    w(f"<h1>{html.escape(title)}</h1>")
    w(
        f"<p class='sub'>Scenario <code>{html.escape(inputs.name)}</code> · "
        f"{len(inputs.site_names)} sites · {len(inputs.jobs)} jobs · "
        f"{pd.Timestamp(inputs.start):%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC in steps of "
        f"{html.escape(fmt.duration(inputs.step_s))} · policies: "
        f"{html.escape(', '.join(by))}</p>"
    )
    w("<section class='headline' id='headline'><h2 style='border:0;margin-top:.3rem'>Headline</h2>")
    w("".join(f"<p>{s}</p>" for s in head.sentences))
    w("</section>")

    unrunnable = list(extra.get("unrunnable_jobs") or [])
    if unrunnable:
        items = "".join(
            f"<li><code>{html.escape(str(u.get('job', u)))}</code>: "
            f"{html.escape(str(u.get('why', '')))}</li>"
            if isinstance(u, dict)
            else f"<li>{html.escape(str(u))}</li>"
            for u in unrunnable
        )
        w(
            f"<div class='warn'><p><strong>Jobs that cannot run as given</strong></p>"
            f"<ul>{items}</ul></div>"
        )
    shown_notes = [
        n
        for n in notes
        if not any(
            isinstance(u, dict) and str(u.get("job")) in n and str(u.get("why")) in n
            for u in unrunnable
        )
    ]
    if shown_notes:
        w("<ul class='sub'>" + "".join(f"<li>{html.escape(n)}</li>" for n in shown_notes) + "</ul>")

    w("<h2 id='comparison'>Comparison</h2>")
    w(_table(comparison_table(summaries, terms, live_policies), foot))

    w("<h2 id='energy'>Non-renewable energy</h2>")
    w(_img(figures.non_renewable))
    w(_img(figures.cumulative))
    w("<details><summary>The jobs' own non-renewable energy, job by job</summary>")
    w(_table(jobs_energy_table(jobs), foot))
    w("</details>")

    w("<h2 id='jct'>Job completion times</h2>")
    if ORACLE in by and figures.oracle is not None:
        w(f"<p>{_oracle_text(by)}</p>")
    w(_img(figures.jct))
    if figures.oracle is not None:
        w(_img(figures.oracle))
    if figures.frontier is not None:
        w("<h3 id='frontier'>Energy against completion time</h3>")
        w(_img(figures.frontier))

    live = extra.get("live")
    if live:
        w("<h2 id='live'>The live run: measured transfers against the model</h2>")
        moves = transfers.measured_transfers(live, inputs)
        w(
            "<p>Each move's checkpoint as really sent, the time it took to cross the network "
            "(wall clock), and the model's transfer time <code>8·S/B</code> for those bytes over "
            "the scenario's bandwidth of that link "
            "(<code>greenhop.feasibility.transfer_time_s</code>). Downtime: how long the job "
            "made no progress (checkpoint, transfer, load), wall clock.</p>"
        )
        if moves:
            w(_table(transfers.transfers_table(moves, inputs), foot))
            w(f"<p>{transfers.transfers_summary(moves)}</p>")
        else:
            w("<p>The live run made no move.</p>")
        speedup = live.get("speedup")
        facts = [
            (
                "Replayed at",
                f"×{fmt.number(speedup, 0)} (trace seconds per wall second)"
                if not fmt.is_missing(speedup)
                else fmt.DASH,
            ),
            (
                "Ticks committed",
                f"{fmt.count(live.get('ticks_committed'))} of {fmt.count(inputs.n_steps)}",
            ),
            ("Controller wall time", fmt.duration(live.get("wall_s"))),
        ]
        if not fmt.is_missing(live.get("command_wall_s")):
            facts.append(
                ("Command wall time (cluster start included)", fmt.duration(live["command_wall_s"]))
            )
        trainers = live.get("trainers") or {}
        steps = live.get("train_steps") or {}
        if trainers:
            facts.append(
                (
                    "Trainers",
                    ", ".join(
                        f"{j}: {t}" + (f" ({fmt.count(steps[j])} steps)" if j in steps else "")
                        for j, t in trainers.items()
                    ),
                )
            )
        w(_items(facts))
        if live.get("link_estimates_gbps"):
            w(
                "<h3>Link estimates</h3><p>The controller's estimate of each link it used, "
                "moved towards the measured goodput after every transfer; the policy reads it "
                "instead of the scenario's figure.</p>"
            )
            w(_table(transfers.link_estimates_table(live, inputs), foot))
        note = transfers.slowdown_note(jobs, live_policies, inputs.params.restart_s)
        if note:
            w(f"<h3>Slowdown below 1</h3><p>{note}</p>")

    if figures.sites:
        w(
            "<h2 id='sites'>Sites over time</h2><p>Each site's renewable surplus, its IT load "
            "and the jobs it ran, one figure per policy (open one to see it).</p>"
        )
        best = head.findings[0].best[0] if head.findings else None
        for fig, s in zip(figures.sites, summaries, strict=True):
            is_open = " open" if s["policy"] == best else ""
            w(
                f"<details{is_open}><summary>{html.escape(fig.title)}: "
                f"{fmt.count(s['migrations'])} migrations</summary>{_img(fig)}</details>"
            )

    w("<h2 id='settings'>Settings</h2>")
    w(_items(settings.scenario_items(inputs)))
    w("<h3>Model parameters</h3>")
    w(_table(settings.model_table(inputs.params), foot))
    w("<h3>Sites</h3>")
    w(_table(settings.sites_table(inputs), foot))
    w("<h3>Links</h3>")
    w(_table(settings.links_table(inputs), foot))
    w("<h3>Jobs</h3>")
    w(_table(settings.jobs_table(inputs), foot))

    w("<h2 id='glossary'>Glossary</h2><dl class='glossary'>")
    for t in terms.values():
        w(
            f"<dt id='{t.anchor}'>{html.escape(t.name[0].upper() + t.name[1:])}</dt>"
            f"<dd>{_sentence_case(t.definition_html)} "
            f"<span class='src'>({html.escape(t.source)})</span></dd>"
        )
    w("</dl>")
    w(
        "<p class='sub'>The numbers behind this page are in the same folder: "
        "<code>summary.json</code>, <code>comparison.csv</code>, <code>jobs.csv</code>, "
        "<code>migrations.csv</code>, <code>grid_sites.csv</code>, "
        "<code>site_power.parquet</code>.</p>"
    )
    w("</body></html>")
    path = folder / "report.html"
    path.write_text("".join(out), encoding="utf-8")
    return path
