"""The energy-JCT frontier: the oracle within completion-time budgets, and the online policies.

Usage: python scripts/make_frontier.py [--quick]

For each case (the bundled ``default`` and ``germany`` scenarios, each with its own jobs and with
a heavier seeded job stream), every online policy runs once; ``stay``'s completions define the
budgets. For each budget ``eps`` in 0, 0.1, 0.5 and none, the oracle's program is solved with no
job allowed to finish later than ``arrival + (1 + eps) x its JCT under stay`` (or its deadline)
and its plan is replayed. Where one program is too large, the rolling horizon
(:func:`greenhop.oracle.solve_rolling`, windows of 24 h with 24 h ahead) plans instead: a
heuristic, labelled so, with no bound. Each online policy is then placed against the frontier:
the least budget it meets (``eps`` it needs) and the oracle's bound with the policy's own
completions as the limits (the same service: no job later than under the policy).

Writes the ``frontier`` section of docs/results.md, docs/frontier.json and docs/frontier.png.
``--quick``: the ``default`` scenario alone (a few minutes on a 2-core machine); the full run
takes about half an hour; ``--only "default + 40 generated jobs"`` reruns one case and keeps the
others from docs/frontier.json.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from docsections import update_doc  # noqa: E402

from greenhop.errors import GreenhopError, InputError  # noqa: E402
from greenhop.oracle import (  # noqa: E402
    OracleSolution,
    eps_needed,
    oracle_policy,
    over_budget,
    solve_oracle,
    solve_rolling,
)
from greenhop.runner import run_policies  # noqa: E402
from greenhop.scenario import load_scenario  # noqa: E402
from greenhop.sim.engine import Simulator  # noqa: E402
from greenhop.sim.metrics import summary  # noqa: E402
from greenhop.sim.workload import generate_jobs  # noqa: E402
from greenhop.world.inputs import SimInputs  # noqa: E402

DOC = ROOT / "docs" / "results.md"
JSON = ROOT / "docs" / "frontier.json"
PNG = ROOT / "docs" / "frontier.png"
ONLINE = ("stay", "energy-only", "feasibility-aware", "lookahead")
EPS = (0.0, 0.1, 0.5, math.inf)
#: HiGHS per program: the bound is its proven dual bound, valid when the limit stops it
TIME_LIMIT_S = 60.0
GAP = 1e-3
WINDOW_H = 24.0
#: HiGHS per window of the rolling horizon, s
ROLLING_TIME_LIMIT_S = 20.0


def case_inputs(name: str, jobs: int | None, seed: int = 1) -> SimInputs:
    """A bundled scenario, with ``jobs`` generated jobs instead of its own (as in
    scripts/make_results_doc.py)."""
    inputs = SimInputs.from_scenario(load_scenario(name))
    if jobs:
        horizon = inputs.n_steps * inputs.step_s
        inputs = dataclasses.replace(inputs, jobs=generate_jobs(jobs, horizon, seed=seed))
        inputs.name = f"{name} + {jobs} generated jobs"
    return inputs


def _exact(inputs: SimInputs, **limits: Any) -> OracleSolution:
    """The exact program; when HiGHS finds no plan in time, again with blocks twice as long
    (up to 4 h), keeping the larger of the two proven bounds (both are valid lower bounds)."""
    sol = solve_oracle(inputs, time_limit_s=TIME_LIMIT_S, mip_rel_gap=GAP, **limits)
    while not sol.has_plan and 2 * sol.block_steps * inputs.step_s <= 4 * 3600.0:
        coarse = solve_oracle(
            inputs,
            time_limit_s=TIME_LIMIT_S,
            mip_rel_gap=GAP,
            block_steps=2 * sol.block_steps,
            **limits,
        )
        sol = dataclasses.replace(coarse, bound_kwh=max(coarse.bound_kwh, sol.bound_kwh))
    return sol


def _solve(inputs: SimInputs, **limits: Any) -> OracleSolution:
    """The exact program, or the rolling horizon where one program is too large."""
    try:
        return _exact(inputs, **limits)
    except InputError as exc:
        if "too large" not in str(exc):
            raise
    return solve_rolling(
        inputs,
        window_h=WINDOW_H,
        lookahead_h=WINDOW_H,
        time_limit_s=ROLLING_TIME_LIMIT_S,
        mip_rel_gap=GAP,
        **limits,
    )


def _most_late_h(done_s: Any, limit_s: Any) -> float:
    """The most a job finished after its limit, h (inf: a job unfinished; 0: none late)."""
    late = np.asarray(done_s, dtype=float) - np.asarray(limit_s, dtype=float)
    late = np.where(np.isnan(late), np.inf, late)
    return float(max(late.max(), 0.0)) / 3600.0 if len(late) else 0.0


def _eps_label(eps: float) -> str:
    return "none" if not math.isfinite(eps) else f"{eps:g}"


def run_case(inputs: SimInputs) -> dict[str, Any]:
    """The frontier of one case and its online policies, as JSON-ready numbers."""
    t0 = time.perf_counter()
    records = run_policies(inputs, ONLINE)
    by = {r.policy: r for r in records}
    stay_done = np.asarray(by["stay"].job_done_s, dtype=float)
    points = []
    for eps in EPS:
        t = time.perf_counter()
        try:
            sol = _solve(inputs, eps=eps, stay_done_s=stay_done)
        except GreenhopError as exc:  # InputError included
            points.append({"eps": eps, "error": str(exc)})
            print(f"  eps {_eps_label(eps)}: {exc}", flush=True)
            continue
        name = "oracle" if not math.isfinite(eps) else f"oracle:eps={eps:g}"
        if sol.kind == "rolling":
            name += " (rolling)"
        point: dict[str, Any] = {
            "eps": eps,
            "kind": sol.kind,
            "bound_kwh": sol.bound_kwh if sol.is_bound else None,
            "plan_kwh": sol.objective_kwh,
            "status": sol.status,
            "mip_gap": sol.mip_gap,
            "block_min": sol.block_steps * inputs.step_s / 60.0,
            "binaries": sol.n_binaries,
            "solve_s": sol.solve_s,
        }
        if sol.has_plan:
            replay = Simulator(inputs).run(oracle_policy(inputs, sol, name=name))
            s = summary(replay)
            point |= {
                "replay_kwh": s["non_renewable_kwh"],
                "replay_jct_mean_h": s["jct_mean_h"],
                "replay_migrations": s["migrations"],
                "replay_late_jobs": over_budget(replay, sol.done_by_s),
                "replay_most_late_h": _most_late_h(replay.job_done_s, sol.done_by_s),
                "replay_jobs_done": s["jobs_done"],
            }
        points.append(point)
        print(f"  eps {_eps_label(eps)}: {sol.kind} {time.perf_counter() - t:.0f} s", flush=True)
    policies = []
    for name in ONLINE:
        rec = by[name]
        s = summary(rec)
        row: dict[str, Any] = {
            "policy": name,
            "non_renewable_kwh": s["non_renewable_kwh"],
            "jct_mean_h": s["jct_mean_h"],
            "jobs_done": s["jobs_done"],
            "eps_needed": eps_needed(rec, stay_done),
        }
        done = np.asarray(rec.job_done_s, dtype=float)
        if np.isfinite(done).all():
            try:
                same = _exact(inputs, done_by_s=done)
                row["same_service_bound_kwh"] = same.bound_kwh
                row["same_service_status"] = same.status
            except InputError as exc:
                row["same_service_error"] = str(exc)
        policies.append(row)
    print(f"  {inputs.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return {
        "case": inputs.name,
        "sites": len(inputs.site_names),
        "jobs": len(inputs.jobs),
        "steps": inputs.n_steps,
        "step_min": inputs.step_s / 60.0,
        "stay_jct_mean_h": summary(by["stay"])["jct_mean_h"],
        "frontier": points,
        "policies": policies,
    }


def _kwh(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.1f}"


def _pct(x: float, ref: float | None) -> str:
    return "-" if ref is None or not math.isfinite(ref) or ref <= 0 else f"{x / ref - 1:+.1%}"


def render_case(c: dict[str, Any]) -> str:
    lines = [
        f"### {c['case']}",
        "",
        f"{c['sites']} sites, {c['jobs']} jobs, {c['steps']} steps of {c['step_min']:g} min; "
        f"mean JCT under `stay` {c['stay_jct_mean_h']:.1f} h.",
        "",
        "| budget eps | oracle | lower bound kWh | its plan kWh | replay kWh | replay mean JCT h "
        "| replay jobs late | blocks | solve |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in c["frontier"]:
        if "error" in p:
            lines.append(f"| {_eps_label(p['eps'])} | not solved: {p['error']} |||||||")
            continue
        what = "exact (bound)" if p["kind"] == "exact" else "rolling 24 h (heuristic, no bound)"
        solve = f"{p['solve_s']:.0f} s, {p['status'].lower()}"
        if p["kind"] == "exact" and p["status"] != "Optimal" and math.isfinite(p["mip_gap"]):
            solve += f" (gap {p['mip_gap']:.2%})"
        if "replay_kwh" in p:
            late = f"{p['replay_late_jobs']} of {c['jobs']}"
            most = p.get("replay_most_late_h")
            if p["replay_late_jobs"] and most is not None:
                late += (
                    " (unfinished in the run)" if not math.isfinite(most) else f" (≤ {most:.2f} h)"
                )
            replay = f"{p['replay_kwh']:.1f} | {p['replay_jct_mean_h']:.1f} | {late}"
        else:
            replay = "no plan in time | - | -"
        lines.append(
            f"| {_eps_label(p['eps'])} | {what} | {_kwh(p['bound_kwh'])} | {_kwh(p['plan_kwh'])} "
            f"| {replay} | {p['block_min']:g} min | {solve} |"
        )
    plain = next((p.get("bound_kwh") for p in c["frontier"] if not math.isfinite(p["eps"])), None)
    lines += [
        "",
        "| policy | non-renewable kWh | mean JCT h | eps it needs | bound at its own completions "
        "kWh | above that bound | above the unbudgeted bound |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in c["policies"]:
        same = r.get("same_service_bound_kwh")
        lines.append(
            f"| {r['policy']} | {r['non_renewable_kwh']:.1f} | {r['jct_mean_h']:.1f} "
            f"| {r['eps_needed']:.2f} | {_kwh(same)} | {_pct(r['non_renewable_kwh'], same)} "
            f"| {_pct(r['non_renewable_kwh'], plain)} |"
        )
    lines += ["", *_sentences(c, plain), ""]
    return "\n".join(lines)


def _sentences(c: dict[str, Any], plain: float | None) -> list[str]:
    """What the case's numbers say, written from them."""
    out = []
    exact = [p for p in c["frontier"] if p.get("kind") == "exact" and p.get("bound_kwh")]
    zero = next((p for p in exact if p["eps"] == 0.0), None)
    open_ = [p for p in exact if p["status"] != "Optimal"]
    if open_:
        out.append(
            "- HiGHS stopped at its time limit for eps = "
            + ", ".join(_eps_label(p["eps"]) for p in open_)
            + ": those bounds are its proven dual bounds, valid but possibly loose (where no "
            "plan was found in time, possibly far below the optimum), so they are not compared "
            "with each other below."
        )
    if zero is not None and plain and zero["status"] == "Optimal":
        rise = zero["bound_kwh"] / plain - 1
        if rise < 5e-4:
            out.append(
                f"- Within eps = 0 (no job later than under `stay`) the bound is "
                f"{zero['bound_kwh']:.1f} kWh, the unbudgeted bound's ({plain:.1f} kWh) to "
                "within 0.05 %: here the unbudgeted oracle's deferrals buy nothing; choosing "
                "where each job runs is the whole saving."
            )
        else:
            out.append(
                f"- Within eps = 0 (no job later than under `stay`) the bound is "
                f"{zero['bound_kwh']:.1f} kWh, {rise:+.1%} above the unbudgeted bound "
                f"({plain:.1f} kWh): that part of the unbudgeted oracle's saving needs jobs "
                "to finish later than under `stay`."
            )
    stay = next((r for r in c["policies"] if r["policy"] == "stay"), None)
    if zero is not None and stay is not None:
        out.append(
            f"- Without delaying any job, a schedule could spend "
            f"{stay['non_renewable_kwh'] - zero['bound_kwh']:.1f} kWh less than `stay` at most "
            f"({stay['non_renewable_kwh']:.1f} against the eps = 0 bound of "
            f"{zero['bound_kwh']:.1f} kWh)."
        )
    unfinished = [r["policy"] for r in c["policies"] if not math.isfinite(r["eps_needed"])]
    if unfinished:
        out.append(
            "- eps it needs is inf where a job that `stay` finished was not finished within "
            f"the run ({', '.join(unfinished)}); no bound at its own completions is computed "
            "then."
        )
    gaps = [
        (r["policy"], r["non_renewable_kwh"] / r["same_service_bound_kwh"] - 1)
        for r in c["policies"]
        if r.get("same_service_bound_kwh")
    ]
    if gaps:
        out.append(
            "- Against the bound at each policy's own completions (the same service): "
            + "; ".join(f"{p} {g:+.1%}" for p, g in gaps)
            + "."
        )
    rolling = [p for p in c["frontier"] if p.get("kind") == "rolling"]
    if rolling:
        out.append(
            "- The rolling-horizon rows are plans, not bounds: no policy is measured against "
            "them as against a floor."
        )
    return out


def plot(cases: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(cases)
    cols = min(n, 2)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.4 * rows), squeeze=False)
    colours = {
        "stay": "#7f7f7f",
        "energy-only": "#1f77b4",
        "feasibility-aware": "#ff7f0e",
        "lookahead": "#2ca02c",
    }
    for ax, c in zip(axes.ravel(), cases, strict=False):
        pts = [p for p in c["frontier"] if "error" not in p]
        replayed = [p for p in pts if "replay_kwh" in p]
        stay_jct = c["stay_jct_mean_h"]
        budget_x = [stay_jct * (1 + p["eps"]) if math.isfinite(p["eps"]) else None for p in pts]
        exact = [(x, p) for x, p in zip(budget_x, pts, strict=True) if p["kind"] == "exact"]
        # the bound against each budget's largest mean JCT allowed; no budget at the far right
        right = max(
            [p["replay_jct_mean_h"] for p in replayed]
            + [r["jct_mean_h"] for r in c["policies"]]
            + [x for x in budget_x if x is not None]
        )
        far = right * 1.05
        bx = [x if x is not None else far for x, _ in exact]
        by = [p["bound_kwh"] for _, p in exact]
        if bx:
            ax.step(bx, by, where="post", color="black", lw=1.5, label="oracle's lower bound")
            for i, (x, (_, p)) in enumerate(zip(bx, exact, strict=True)):
                ax.annotate(
                    f"eps={_eps_label(p['eps'])}",
                    (x, p["bound_kwh"]),
                    textcoords="offset points",
                    xytext=(3, -10 - 8 * (i % 2)),
                    fontsize=7,
                )
        for p in replayed:
            marker = "s" if p["kind"] == "exact" else "D"
            label = (
                "oracle's plan replayed"
                if p["kind"] == "exact"
                else "rolling-horizon plan replayed (heuristic)"
            )
            ax.plot(
                p["replay_jct_mean_h"],
                p["replay_kwh"],
                marker,
                mfc="none",
                color="black",
                label=label,
            )
        for r in c["policies"]:
            ax.plot(
                r["jct_mean_h"],
                r["non_renewable_kwh"],
                "o",
                color=colours.get(r["policy"], "#9467bd"),
                label=r["policy"],
            )
        ax.set_title(c["case"], fontsize=10)
        ax.set_xlabel("mean JCT (h); the bound at the budget's mean JCT under stay x (1 + eps)")
        ax.set_ylabel("non-renewable energy (kWh)")
        ax.xaxis.label.set_size(8)
        handles, labels = ax.get_legend_handles_labels()
        seen = dict(zip(labels, handles, strict=True))
        ax.legend(seen.values(), seen.keys(), fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    quick = "--quick" in sys.argv
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    specs: list[tuple[str, int | None]] = [
        ("default", None),
        ("default", 40),
        ("germany", None),
        ("germany", 60),
    ]
    if quick:
        specs = specs[:1]
    t0 = time.perf_counter()
    old = {c["case"]: c for c in json.loads(JSON.read_text())} if only and JSON.exists() else {}
    cases = []
    for name, jobs in specs:
        inputs = case_inputs(name, jobs)
        if only is not None and inputs.name != only and inputs.name in old:
            cases.append(old[inputs.name])  # kept from the last run
            continue
        print(inputs.name, flush=True)
        case = run_case(inputs)
        case["wall_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cases.append(case)
    wall = sum(c.get("wall_s", 0.0) for c in cases)
    head = (
        f"Generated by `python scripts/make_frontier.py` ({wall / 60:.0f} min of wall time on "
        f"{platform.machine()}, {_cores()} cores shared with other work, HiGHS one thread, at "
        f"most {TIME_LIMIT_S:g} s and a {GAP:.1%} gap per program, each of its two runs: the "
        "LP relaxation, then the MIP); raw numbers in docs/frontier.json, the plot in "
        "docs/frontier.png. `--only CASE` reruns one case and keeps the others."
    )
    text = "\n".join(
        [head, "", "![energy-JCT frontier](frontier.png)", "", *map(render_case, cases)]
    )
    JSON.write_text(json.dumps(cases, indent=1, default=float))
    plot(cases, PNG)
    update_doc(DOC, {"frontier": text})
    print(f"wrote {DOC} (frontier section), {JSON.name}, {PNG.name}")
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
