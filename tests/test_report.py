"""``report.html``: the headline says the summaries' own numbers; every number is formatted (no
``nan``, no ``e+``), every image has alt text, the glossary and the settings are there, a dash
says why it is one, and the oracle's deferral is explained. On the bundled ``live-demo``
scenario (three real sites, one day, three jobs) under four policies, the oracle's program
solved coarsely so the module runs in seconds."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from greenhop.feasibility import ModelParameters
from greenhop.report import format as fmt
from greenhop.report.glossary import bullet_terms, glossary
from greenhop.report.headline import headline
from greenhop.report.page import comparison_table
from greenhop.report.plots import jobs_non_renewable_kwh_per_step
from greenhop.report.runfolder import write_run_folder
from greenhop.report.settings import MODEL_PARAMETERS
from greenhop.report.table import Footnotes
from greenhop.sim import metrics
from greenhop.sim.metrics import summary
from greenhop.world.record import RunRecord

POLICIES = ("stay", "energy-only", "feasibility-aware")


def demo_records() -> list[RunRecord]:
    """``live-demo`` under stay, energy-only, feasibility-aware and the oracle (coarse blocks,
    2 % gap: a bound and a plan in well under a second)."""
    from greenhop.oracle import oracle_policy
    from greenhop.runner import policy_for
    from greenhop.scenario import load_scenario
    from greenhop.sim import Simulator
    from greenhop.world.inputs import SimInputs

    inputs = SimInputs.from_scenario(load_scenario("live-demo"))
    policies = [policy_for(name, inputs) for name in POLICIES]
    policies.append(oracle_policy(inputs, block_steps=4, mip_rel_gap=0.02, time_limit_s=30))
    return [Simulator(inputs, record_placement=True).run(p) for p in policies]


def build_demo_folder(out: Path) -> Path:
    """The run folder of :func:`demo_records` at ``out``."""
    write_run_folder(out, demo_records(), title="greenhop simulate live-demo")
    return out


@pytest.fixture(scope="module")
def records() -> list[RunRecord]:
    return demo_records()


@pytest.fixture(scope="module")
def folder(records: list[RunRecord], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    write_run_folder(out, records, title="greenhop simulate live-demo", notes=["a note"])
    return out


@pytest.fixture(scope="module")
def page(folder: Path) -> str:
    return (folder / "report.html").read_text(encoding="utf-8")


def visible(page: str) -> str:
    """The page without its embedded image data (base64 may spell anything)."""
    return re.sub(r'src="data:image/png;base64,[^"]*"', 'src=""', page)


def section(page: str, anchor: str) -> str:
    """The HTML from the element with id ``anchor`` to the next section's heading."""
    start = page.index(f"id='{anchor}'")
    end = page.find("<h2 id=", start + 1)
    return page[start : end if end > 0 else len(page)]


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))


def test_headline_numbers_equal_the_summaries(folder: Path, page: str) -> None:
    policies = json.loads((folder / "summary.json").read_text())["policies"]
    by = {p["policy"]: p for p in policies}
    online = [p for p in policies if p["policy"] != "oracle"]
    head = section(page, "headline")
    for key in ("non_renewable_kwh", "jobs_non_renewable_kwh"):
        best = min(online, key=lambda p: p[key])
        saving = by["stay"][key] - best[key]
        assert saving > 0
        assert f"<strong>{best['policy']}</strong>" in head
        assert fmt.kwh(best[key]) in head
        assert fmt.kwh(by["stay"][key]) in head
        assert fmt.kwh(saving) in head
        assert fmt.percent(saving / by["stay"][key]) in head
    bound = by["oracle"]["oracle_bound_kwh"]
    best = min(online, key=lambda p: p["non_renewable_kwh"])
    assert fmt.kwh(bound) in head
    assert fmt.kwh(best["non_renewable_kwh"] - bound) in head
    closed = (by["stay"]["non_renewable_kwh"] - best["non_renewable_kwh"]) / (
        by["stay"]["non_renewable_kwh"] - bound
    )
    assert fmt.percent(closed, 0) in head


def test_headline_findings_are_the_summaries_own(records: list[RunRecord]) -> None:
    summaries = [summary(r) for r in records]
    by = {s["policy"]: s for s in summaries}
    total, jobs = headline(summaries).findings
    assert total.value_kwh == min(by[p]["non_renewable_kwh"] for p in POLICIES)
    assert by[total.best[0]]["non_renewable_kwh"] == total.value_kwh
    assert total.stay_kwh == by["stay"]["non_renewable_kwh"]
    assert total.bound_kwh == by["oracle"]["oracle_bound_kwh"]
    assert jobs.value_kwh == min(by[p]["jobs_non_renewable_kwh"] for p in POLICIES)
    assert jobs.bound_kwh is None


def test_no_nan_inf_or_exponent_on_the_page(page: str) -> None:
    text = visible(page).split("</head>", 1)[1]  # the body: the style sheet has colours
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert not re.search(r"\binf\b", text, re.IGNORECASE)
    assert not re.search(r"\d[eE][+-]?\d", text)
    assert "None" not in text


def test_every_image_has_alt_text(page: str) -> None:
    parser = _Images()
    parser.feed(page)
    # bars, cumulative, JCT, oracle, frontier; sites per policy
    assert len(parser.images) == 5 + 4
    for img in parser.images:
        alt = img.get("alt") or ""
        assert len(alt) > 40, alt
        assert (img.get("src") or "").startswith("data:image/png;base64,")


def test_the_jobs_own_energy_is_plotted_and_tabled(folder: Path, page: str) -> None:
    assert (folder / "non_renewable.png").stat().st_size > 0
    jobs = pd.read_csv(folder / "jobs.csv")
    for policy, kwh in jobs.groupby("policy")["non_renewable_kwh"].sum().items():
        assert f"{policy} " in page
        assert fmt.kwh(kwh) in page  # the plot's alt text names every bar


def test_headers_are_human_with_units(page: str) -> None:
    table = section(page, "comparison")
    for header in (
        "Non-renewable energy (kWh)",
        "Jobs&#x27; own non-renewable energy (kWh)",
        "Renewable share",
        "Data moved (GB)",
        "JCT mean (h)",
    ):
        assert header in table
    assert "non_renewable_kwh" not in table and "jct_mean_h" not in table
    assert re.search(r"\d\.\d\u00a0%", table)  # shares as percentages


def test_glossary_reads_every_metric_definition(page: str) -> None:
    terms = [name for name, _ in bullet_terms(metrics.__doc__ or "")]
    assert {"non-renewable energy", "jobs' non-renewable energy", "JCT", "Slowdown"} <= set(terms)
    names = [t.name for t in glossary()]
    assert names[: len(terms)] == terms
    assert {"settlement", "attribution", "oracle's lower bound"} <= set(names)
    gloss = section(page, "glossary")
    for t in glossary():
        assert f"id='{t.anchor}'" in gloss
    assert "<ol><li>renewable surplus <code>G</code>" in gloss  # the ledger's settlement order


def test_settings_show_scenario_model_links_and_sites(records: list[RunRecord], page: str) -> None:
    inp = records[0].inputs
    settings = section(page, "settings")
    assert "live-demo" in settings and "perfect" in settings
    assert "2024-06-18 00:00 UTC to 2024-06-19 00:00 UTC" in settings
    assert "disruption tolerance α" in settings and ">0.1<" in settings
    assert "0.001875\u00a0kWh/GB" in settings
    for name, slots in zip(inp.site_names, inp.slots, strict=True):
        assert f"<th scope=row>{name}</th><td class=num>{slots}</td>" in settings
    assert ">0.5<" in settings and ">1<" in settings  # the links, Gbit/s


def test_every_model_parameter_has_a_label() -> None:
    assert set(MODEL_PARAMETERS) == {f.name for f in fields(ModelParameters)}


def test_the_oracles_deferral_is_explained_beside_the_jct_plot(folder: Path, page: str) -> None:
    by = {p["policy"]: p for p in json.loads((folder / "summary.json").read_text())["policies"]}
    jct = section(page, "jct")
    assert "drawn apart" in jct and "deadline" in jct
    assert fmt.hours(by["oracle"]["jct_mean_h"], 1) in jct
    assert fmt.hours(by["stay"]["jct_mean_h"], 1) in jct
    assert (folder / "jct_oracle.png").stat().st_size > 0
    assert jct.count("<img") == 3  # JCTs, the oracle's deferral, the frontier


def test_the_policies_are_placed_against_the_frontier(
    records: list[RunRecord], tmp_path: Path
) -> None:
    """With the oracle within a budget beside the unbudgeted one, the report draws the frontier
    and places every online policy at its own energy and completion time."""
    from greenhop.report.plots import plot_frontier
    from greenhop.runner import policy_for
    from greenhop.sim import Simulator
    from greenhop.sim.metrics import summary

    inputs = records[0].inputs
    budget = Simulator(inputs).run(policy_for("oracle:eps=0", inputs))
    summaries = [summary(r) for r in [*records, budget]]
    fig = plot_frontier(summaries, tmp_path / "frontier.png")
    assert fig is not None and (tmp_path / "frontier.png").stat().st_size > 0
    for s in summaries:
        assert f"{s['policy']} {fmt.kwh(s['non_renewable_kwh'])} at " in fig.alt
        assert fmt.hours(s["jct_mean_h"], 1) in fig.alt
    by = {s["policy"]: s for s in summaries}
    # the budget holds (no job later than under stay, to the step the plan is replayed at), and
    # the unbudgeted plan defers: the frontier spans completion times
    step_h = inputs.step_s / 3600
    assert by["oracle:eps=0"]["jct_mean_h"] <= by["stay"]["jct_mean_h"] + step_h
    assert by["oracle"]["jct_mean_h"] > by["oracle:eps=0"]["jct_mean_h"]
    # without an oracle there is no frontier to draw
    assert plot_frontier([by["stay"], by["energy-only"]], tmp_path / "none.png") is None


def test_the_frontier_is_in_the_completion_time_section(page: str) -> None:
    jct = section(page, "jct")
    assert "id='frontier'" in jct and "Energy against completion time" in jct


def test_the_page_reflows(page: str) -> None:
    assert "width=device-width" in page
    assert "img{display:block;max-width:100%;height:auto" in page
    assert not re.search(r"(?<!max-)width:\s*\d{3,}px", page)
    assert "overflow-x:auto" in page


def test_a_missing_figure_is_a_dash_with_its_reason(records: list[RunRecord]) -> None:
    s = summary(records[0])
    empty = {
        **s,
        "policy": "nothing-done",
        "jobs_done": 0,
        "jobs_unfinished": ["cnn-a", "lm", "cnn-b"],
        "jct_mean_h": float("nan"),
        "jct_p50_h": float("nan"),
        "jct_p95_h": float("nan"),
        "slowdown_mean": float("nan"),
        "slowdown_p95_over_p50": float("nan"),
        "stability_slowdown_std": float("nan"),
    }
    notes = Footnotes()
    html = comparison_table([s, empty], {t.name: t for t in glossary()}).html(notes)
    assert "–<sup>" in html
    assert "no job finished within the run, so there is no completion time" in notes.texts
    assert any("cnn-a, lm, cnn-b" in t for t in notes.texts)
    assert ">0 of 3<" in html
    assert not re.search(r"\bnan\b", html, re.IGNORECASE)


def test_jobs_own_energy_per_step_sums_to_the_summary(records: list[RunRecord]) -> None:
    for r in records:
        per_step = jobs_non_renewable_kwh_per_step(r)
        assert per_step.sum() == pytest.approx(summary(r)["jobs_non_renewable_kwh"], rel=1e-9)
        assert (per_step >= 0).all()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.167e12, "1,167,000,000,000"),
        (435.14, "435.1"),
        (4.8712, "4.87"),
        (0.000528, "0.000528"),
        (-0.0001, "-0.000100"),
        (0.0, "0"),
        (float("nan"), "–"),
        (None, "–"),
        (float("inf"), "–"),
    ],
)
def test_number(value: Any, text: str) -> None:
    assert fmt.number(value) == text


def test_units() -> None:
    nb = "\u00a0"
    assert fmt.kwh(29.2) == f"29.2{nb}kWh"
    assert fmt.percent(0.4291) == f"42.9{nb}%"
    assert fmt.signed_percent(-0.063) == f"\u22126.3{nb}%"
    assert fmt.signed_percent(0.0) == f"0.0{nb}%"
    assert fmt.gigabytes(1.1669e12) == f"1,166.9{nb}GB"
    assert fmt.data_size(66104) == f"66.1{nb}kB"
    assert fmt.duration(0.000528) == f"0.528{nb}ms"
    assert fmt.duration(64.0) == f"64.0{nb}s"
    assert fmt.duration(67.8 * 3600) == f"67.8{nb}h"
    assert fmt.count(np.int64(1234)) == "1,234"
