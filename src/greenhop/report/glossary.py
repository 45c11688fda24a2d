"""The report's glossary: what each figure means, read from where it is defined.

The metrics are defined once, in the docstring of :mod:`greenhop.sim.metrics` (its
``- **term**: definition`` list), and the way energy is settled and attributed in the docstring
of :mod:`greenhop.world.ledger` (its ``**Settlement**`` and ``**Attribution**`` paragraphs); the
glossary reads both, so it cannot drift from them, and adds the few figures only the report
shows (the oracle's bound, counts, percentiles).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from greenhop.sim import metrics
from greenhop.world import ledger


@dataclass(frozen=True)
class Term:
    """One glossary entry: its name, its definition as HTML, and the module that defines it."""

    name: str
    definition_html: str
    source: str

    @property
    def anchor(self) -> str:
        """The entry's id in the page (``def-jobs-non-renewable-energy``)."""
        return "def-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


_TERM = re.compile(r"\*\*([^*]+)\*\*:\s")
_LEADING_TERM = re.compile(r"^\*\*([^*]+)\*\*")


def rst_to_html(text: str) -> str:
    """A docstring's inline markup as HTML: ``code``, **bold**, :func:`a.b.c` (shown ``c``)."""
    out = html.escape(" ".join(text.split()), quote=False)
    out = re.sub(r":\w+:`~?(?:[\w.]+\.)?([\w]+)`", r"<code>\1</code>", out)
    out = re.sub(r"``(.+?)``", r"<code>\1</code>", out)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)


def bullet_terms(doc: str) -> list[tuple[str, str]]:
    """``(term, text)`` for every ``**term**: text`` in the ``- `` bullets of ``doc``; a bullet
    may define several terms in a row (``**JCT**: ... **Slowdown**: ...``)."""
    bullets = re.findall(r"^- (.*?)(?=^- |^\S|\Z)", doc, flags=re.M | re.S)
    terms: list[tuple[str, str]] = []
    for bullet in bullets:
        starts = list(_TERM.finditer(bullet))
        for i, m in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(bullet)
            terms.append((m.group(1), bullet[m.end() : end].strip()))
    return terms


def paragraph_terms(doc: str, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(term, html)`` for each paragraph of ``doc`` that opens with ``**term**`` in
    ``names``; a paragraph ending in ``:`` takes the numbered list after it along."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", doc)]
    terms: list[tuple[str, str]] = []
    for i, para in enumerate(paras):
        m = _LEADING_TERM.match(para)
        if m is None or m.group(1) not in names:
            continue
        text = rst_to_html(para[m.end() :].lstrip(" ,:"))
        if para.endswith(":") and i + 1 < len(paras):
            items = re.split(r"(?m)^\d+\.\s+", paras[i + 1])
            text += "<ol>" + "".join(f"<li>{rst_to_html(t)}</li>" for t in items if t) + "</ol>"
        terms.append((m.group(1), text))
    return terms


_REPORT_TERMS = (
    (
        "oracle's lower bound",
        "the least non-renewable energy any policy can spend on this run while finishing every "
        "job (by its deadline, if it has one), proven by the oracle's mixed-integer program "
        "(<code>greenhop.oracle</code>), which knows all generation and arrivals in advance. "
        "The <code>oracle</code> column is that program's plan replayed in the simulator: it pays "
        "the checkpoint, transfer and restore times the program leaves out, so it lands at or "
        "above the bound.",
    ),
    (
        "migrations",
        "moves completed (the job runs again at its destination); wasted migrations are counted "
        "among them. <b>Data moved</b>: the checkpoints that crossed the WAN, in GB (1 GB = "
        "10<sup>9</sup> bytes).",
    ),
    (
        "jobs done",
        "jobs finished within the run. JCT and slowdown figures (mean, p50, p95: the median and "
        "the 95th percentile) are over these jobs only; a job that did not finish is left out of "
        "them and counted here.",
    ),
)


def glossary() -> list[Term]:
    """Every entry, in reading order: the metrics, the ledger's rules, the report's own."""
    terms = [
        Term(name, rst_to_html(text), "greenhop.sim.metrics")
        for name, text in bullet_terms(metrics.__doc__ or "")
    ]
    terms += [
        Term(name.lower(), text, "greenhop.world.ledger")
        for name, text in paragraph_terms(ledger.__doc__ or "", ("Settlement", "Attribution"))
    ]
    terms += [Term(name, text, "greenhop.report") for name, text in _REPORT_TERMS]
    return terms
