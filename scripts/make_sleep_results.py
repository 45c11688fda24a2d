"""The ``sleep`` section of docs/results.md: every policy with idle slots awake and asleep.

Usage: python scripts/make_sleep_results.py   (about a minute on a 2-core machine)

Scenarios: the bundled ``default`` (six real sites, typical-year weather, one June week) and
``germany`` (ten German cities' real Solcast PV and issued forecasts, July-August 2022), each with
its own jobs, run twice: as bundled (no ``[sites.sleep]``: every empty slot idles at its
``idle_power_w``, 100 W) and with every site's idle slots asleep (:data:`SLEEP`). The numbers are
the simulator's summaries (greenhop.sim.metrics.summary); the prose is written from them.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from greenhop.runner import run_policies
from greenhop.scenario import load_scenario
from greenhop.sim.metrics import summary
from greenhop.world.inputs import SimInputs, SlotSleep

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "results.md"
BEGIN, END = "<!-- BEGIN GENERATED: sleep -->", "<!-- END GENERATED: sleep -->"
POLICIES = ("stay", "energy-only", "feasibility-aware", "lookahead", "oracle")
ONLINE = POLICIES[:-1]
SCENARIOS = ("default", "germany")

#: The sleeping slot: assumptions, not measurements (docs/energy.md, "Idle slots that sleep").
SLEEP_POWER_W = 20.0
WAKE_S = 45.0
WAKE_J = 3000.0


def asleep(inputs: SimInputs) -> SimInputs:
    """``inputs`` with every site's idle slots asleep at :data:`SLEEP_POWER_W`."""
    n = len(inputs.site_names)
    sleep = SlotSleep(np.full(n, SLEEP_POWER_W), np.full(n, WAKE_S), np.full(n, WAKE_J))
    return dataclasses.replace(inputs, sleep=sleep)


def rows(name: str) -> list[dict[str, Any]]:
    """One row per policy of scenario ``name``: its summaries awake and asleep."""
    awake = SimInputs.from_scenario(load_scenario(name))
    t0 = time.perf_counter()
    both = [
        {summary(r)["policy"]: summary(r) for r in run_policies(inp, POLICIES)}
        for inp in (awake, asleep(awake))
    ]
    print(f"  {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return [{"policy": p, "awake": both[0][p], "asleep": both[1][p]} for p in POLICIES]


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _table(table: list[dict[str, Any]]) -> str:
    head = (
        "| policy | non-renewable kWh awake / asleep | jobs' non-renewable kWh awake / asleep "
        "| jobs' share of it awake / asleep | idle slots' kWh awake / asleep | wake-ups "
        "| JCT mean h awake / asleep |"
    )
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in table:
        a, s = r["awake"], r["asleep"]
        lines.append(
            f"| {r['policy']} | {a['non_renewable_kwh']:.1f} / {s['non_renewable_kwh']:.1f} "
            f"| {a['jobs_non_renewable_kwh']:.1f} / {s['jobs_non_renewable_kwh']:.1f} "
            f"| {_pct(a['jobs_non_renewable_kwh'] / a['non_renewable_kwh'])} / "
            f"{_pct(s['jobs_non_renewable_kwh'] / s['non_renewable_kwh'])} "
            f"| {a['idle_slots_kwh']:.1f} / {s['idle_slots_kwh']:.1f} | {s['wake_ups']} "
            f"| {a['jct_mean_h']:.2f} / {s['jct_mean_h']:.2f} |"
        )
    bound = [r[k].get("oracle_bound_kwh") for r in table for k in ("awake", "asleep")]
    if any(b is not None for b in bound):
        a_b = next(r["awake"]["oracle_bound_kwh"] for r in table if r["policy"] == "oracle")
        s_b = next(r["asleep"]["oracle_bound_kwh"] for r in table if r["policy"] == "oracle")
        lines.append(f"\nThe oracle's lower bound: {a_b:.1f} kWh awake, {s_b:.1f} kWh asleep.")
    return "\n".join(lines)


def _facts(name: str, table: list[dict[str, Any]]) -> list[str]:
    online = [r for r in table if r["policy"] in ONLINE]
    out = []
    for key in ("awake", "asleep"):
        nr = {r["policy"]: r[key]["non_renewable_kwh"] for r in online}
        best = min(nr, key=lambda p: nr[p])
        spread = (nr["stay"] - nr[best]) / nr["stay"]
        idle = np.mean([r[key]["idle_slots_kwh"] / r[key]["it_energy_kwh"] for r in online])
        out.append(
            f"{key}: idle slots draw {idle:.0%} of the IT energy (mean over the online "
            f"policies); the best online policy ({best}, {nr[best]:.1f} kWh) saves "
            f"{spread:.1%} of `stay`'s non-renewable energy ({nr['stay']:.1f} kWh)"
        )
    bound = {
        key: next(r[key]["oracle_bound_kwh"] for r in table if r["policy"] == "oracle")
        for key in ("awake", "asleep")
    }
    gaps = {
        key: ", ".join(
            f"{r['policy']} +{r[key]['non_renewable_kwh'] / bound[key] - 1:.1%}" for r in online
        )
        for key in ("awake", "asleep")
    }
    out.append(f"above the oracle's bound awake: {gaps['awake']}")
    out.append(f"above the oracle's bound asleep: {gaps['asleep']}")
    same_order = [
        r["policy"] for r in sorted(online, key=lambda r: r["awake"]["non_renewable_kwh"])
    ]
    new_order = [
        r["policy"] for r in sorted(online, key=lambda r: r["asleep"]["non_renewable_kwh"])
    ]
    out.append(
        "the online policies rank the same by total non-renewable energy awake and asleep"
        if same_order == new_order
        else f"the ranking by total non-renewable energy changes: awake {', '.join(same_order)}; "
        f"asleep {', '.join(new_order)}"
    )
    return [f"- **{name}**, {fact}." for fact in out]


def section() -> str:
    t0 = time.perf_counter()
    tables = {name: rows(name) for name in SCENARIOS}
    took = time.perf_counter() - t0
    parts = [
        f"Generated by `scripts/make_sleep_results.py` ({took:.0f} s on the 2-core test machine). "
        "Each bundled scenario with its own jobs, run as bundled (**awake**: no "
        "`[sites.sleep]`, every empty slot draws its `idle_power_w`, 100 W) and with every "
        f"site's idle slots **asleep**: sleep power {SLEEP_POWER_W:g} W, wake-up {WAKE_S:g} s "
        f"at idle power plus {WAKE_J:g} J (assumptions, docs/energy.md). 'jobs' share' is the "
        "jobs' own non-renewable energy over the total; 'idle slots' kWh' is the IT energy "
        "less the jobs' own (the slots without a job, awake or asleep); 'wake-ups' are the "
        "asleep run's. The oracle row is its plan replayed (its wake-ups included); its "
        "bound, below it, ignores wake-ups.",
        "",
    ]
    for name, table in tables.items():
        parts += [f"### {name}", "", _table(table), "", *_facts(name, table), ""]
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    new = f"{BEGIN}\n{section()}{END}"
    text = DOC.read_text()  # read after the runs: other sections may have changed meanwhile
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: new, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Idle slots that sleep\n\n" + new + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
