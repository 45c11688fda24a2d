"""The report's headline: which policy did best on non-renewable energy, and by how much.

From the runs' summaries (:func:`greenhop.sim.metrics.summary`): the online policy with the
least non-renewable energy, and the one with the least of the jobs' own; each against ``stay``
(no migration) and, for the total, against the oracle's lower bound when the oracle ran. A live
run is set against the simulator's prediction for the same policy instead. Figures here are the
summaries' own; the sentences only format them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from greenhop.report import format as fmt

STAY = "stay"
ORACLE = "oracle"

#: The two energies the headline ranks policies by, and how it names them.
RANKED = {
    "non_renewable_kwh": "non-renewable energy",
    "jobs_non_renewable_kwh": "jobs' own non-renewable energy",
}


@dataclass(frozen=True)
class Finding:
    """The best online policy on one energy (a summary key), with the references."""

    metric: str
    best: tuple[str, ...]  # the policies with the least (ties share it)
    value_kwh: float
    stay_kwh: float | None
    bound_kwh: float | None  # the oracle's lower bound (total non-renewable energy only)

    @property
    def saving_kwh(self) -> float | None:
        """How much less than ``stay``, kWh."""
        return None if self.stay_kwh is None else self.stay_kwh - self.value_kwh

    @property
    def saving_share(self) -> float | None:
        """How much less than ``stay``, as a fraction of stay's."""
        if self.stay_kwh is None or self.stay_kwh <= 0:
            return None
        return (self.stay_kwh - self.value_kwh) / self.stay_kwh

    @property
    def above_bound_kwh(self) -> float | None:
        return None if self.bound_kwh is None else self.value_kwh - self.bound_kwh

    @property
    def gap_closed(self) -> float | None:
        """Share of the gap between ``stay`` and the bound that the best policy closes."""
        if self.stay_kwh is None or self.bound_kwh is None or self.stay_kwh <= self.bound_kwh:
            return None
        return (self.stay_kwh - self.value_kwh) / (self.stay_kwh - self.bound_kwh)


@dataclass(frozen=True)
class LiveFinding:
    """A live run against the simulator's prediction for the same policy (None: not run)."""

    policy: str
    live: dict[str, Any]
    predicted: dict[str, Any] | None


@dataclass(frozen=True)
class Headline:
    findings: tuple[Finding, ...]
    live: tuple[LiveFinding, ...]
    sentences: tuple[str, ...]  # HTML


def _b(text: str) -> str:
    return f"<strong>{html.escape(text)}</strong>"


def _names(policies: Sequence[str]) -> str:
    quoted = [_b(p) for p in policies]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _finite(x: Any) -> bool:
    return x is not None and math.isfinite(float(x))


def find_best(
    summaries: Sequence[dict[str, Any]], metric: str, live: Collection[str] = ()
) -> Finding | None:
    """The online (not oracle, not live) policies with the least ``metric``; None if none ran."""
    by = {s["policy"]: s for s in summaries}
    online = [
        s
        for s in summaries
        if s["policy"] != ORACLE and s["policy"] not in live and _finite(s.get(metric))
    ]
    if not online:
        return None
    least = min(float(s[metric]) for s in online)
    tol = 1e-9 * max(1.0, abs(least))
    best = tuple(s["policy"] for s in online if float(s[metric]) <= least + tol)
    stay = by.get(STAY)
    bound = by.get(ORACLE, {}).get("oracle_bound_kwh") if metric == "non_renewable_kwh" else None
    return Finding(
        metric=metric,
        best=best,
        value_kwh=least,
        stay_kwh=float(stay[metric]) if stay is not None and _finite(stay.get(metric)) else None,
        bound_kwh=float(bound) if bound is not None and _finite(bound) else None,
    )


def _finding_sentence(f: Finding, n_online: int) -> str:
    what = RANKED[f.metric]
    if f.best == (STAY,) or (STAY in f.best and f.saving_kwh == 0):
        text = (
            f"{_b(STAY)} (no migration) drew the least {what}, {_b(fmt.kwh(f.value_kwh))}: "
            "no policy improved on it."
        )
    elif n_online == 1:
        text = f"{_names(f.best)} drew {_b(fmt.kwh(f.value_kwh))} of {what}."
    else:
        tie = " (a tie)" if len(f.best) > 1 else ""
        if f.metric == "jobs_non_renewable_kwh":
            text = (
                f"On the {what}, where the policies differ (idle slots draw the same under "
                f"every policy), {_names(f.best)}{tie} drew the least: "
                f"{_b(fmt.kwh(f.value_kwh))}"
            )
        else:
            text = f"{_names(f.best)}{tie} drew the least {what}: {_b(fmt.kwh(f.value_kwh))}"
        if f.saving_kwh is not None and f.stay_kwh is not None:
            text += (
                f", {_b(fmt.kwh(f.saving_kwh))} ({fmt.percent(f.saving_share)}) less than "
                f"<code>stay</code> ({fmt.kwh(f.stay_kwh)})."
            )
        else:
            text += (
                " (no <code>stay</code> run to compare with; <code>--policy all</code> adds it)."
            )
    if f.bound_kwh is not None and f.above_bound_kwh is not None:
        text += (
            f" The oracle's lower bound is {_b(fmt.kwh(f.bound_kwh))}: the best is "
            f"{fmt.kwh(f.above_bound_kwh)} ({fmt.percent(f.above_bound_kwh / f.bound_kwh)}) "
            "above it"
        )
        closed = f.gap_closed
        text += (
            f" and closes {_b(fmt.percent(closed, 0))} of the gap between <code>stay</code> and "
            "the bound."
            if closed is not None
            else "."
        )
    return text


def _live_sentence(f: LiveFinding) -> str:
    live = f.live
    text = (
        f"The live run of {_b(f.policy)} (real training, measured transfers) drew "
        f"{_b(fmt.kwh(live['non_renewable_kwh']))} of non-renewable energy, "
        f"{fmt.kwh(live['jobs_non_renewable_kwh'])} of it the jobs' own"
    )
    p = f.predicted
    if p is None:
        return text + " (no simulation beside it: it was run with <code>--no-compare</code>)."
    diff = float(live["non_renewable_kwh"]) - float(p["non_renewable_kwh"])
    rel = diff / float(p["non_renewable_kwh"]) if p["non_renewable_kwh"] else float("nan")
    return text + (
        f"; the simulator predicted {fmt.kwh(p['non_renewable_kwh'])} "
        f"({fmt.kwh(p['jobs_non_renewable_kwh'])} the jobs' own): the live run differs by "
        f"{fmt.signed_percent(rel)}. Live: {fmt.count(live['jobs_done'])} of "
        f"{fmt.count(live['jobs'])} jobs done, {fmt.count(live['migrations'])} migrations; "
        f"predicted: {fmt.count(p['jobs_done'])} and {fmt.count(p['migrations'])}."
    )


def _cost_sentence(s: dict[str, Any], stay: dict[str, Any] | None) -> str:
    text = (
        f"{_b(s['policy'])} made {fmt.count(s['migrations'])} migrations "
        f"({fmt.count(s['wasted_migrations'])} wasted), moved {fmt.gigabytes(s['bytes_moved'])} "
        f"and finished {fmt.count(s['jobs_done'])} of {fmt.count(s['jobs'])} jobs"
    )
    if _finite(s.get("jct_mean_h")):
        text += f", mean JCT {fmt.hours(s['jct_mean_h'], 1)}"
        if stay is not None and stay is not s and _finite(stay.get("jct_mean_h")):
            text += f" (stay: {fmt.hours(stay['jct_mean_h'], 1)})"
    if s["jobs_done"] < s["jobs"]:
        text += "; the jobs it did not finish drew less energy than a finished job would have"
    return text + "."


def headline(summaries: Sequence[dict[str, Any]], live: Collection[str] = ()) -> Headline:
    """The headline of a run folder: ``live`` names the live runs among the summaries."""
    by = {s["policy"]: s for s in summaries}
    online = [p for p in by if p != ORACLE and p not in live]
    findings = tuple(f for f in (find_best(summaries, m, live) for m in RANKED) if f is not None)
    sentences = []
    live_findings = tuple(
        LiveFinding(
            p.removesuffix("-live"),
            by[p],
            by.get(p.removesuffix("-live")) if p.removesuffix("-live") not in live else None,
        )
        for p in by
        if p in live
    )
    sentences += [_live_sentence(f) for f in live_findings]
    if not live_findings or len(online) > 1:
        sentences += [_finding_sentence(f, len(online)) for f in findings]
        if findings and len(online) > 1:
            sentences.append(_cost_sentence(by[findings[0].best[0]], by.get(STAY)))
    if not findings and not live_findings:
        sentences.append("No policy finished a run with an energy figure to compare.")
    return Headline(findings, live_findings, tuple(sentences))
