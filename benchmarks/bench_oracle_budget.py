"""The oracle within a completion-time budget, and the rolling horizon against the exact program.

On the bundled ``germany`` scenario (10 sites, 10 jobs, 31 days at 5-minute steps, real Solcast
PV): the exact program for budgets eps = 0, 0.5 and none (size, wall time, status, bound), then
the rolling horizon (windows of 24 h, 24 h ahead) for the same budgets on the same instance, so
that the heuristic's plan and replay can be set against the exact bound. One HiGHS thread, a
time limit of 60 s per program (20 s per rolling window) and a 0.1 % gap, as in
scripts/make_frontier.py. Wall times are of ``solve_oracle`` / ``solve_rolling`` (building and
solving the programs; ``stay`` is simulated once before, not timed).

Run: python benchmarks/bench_oracle_budget.py  (writes the "oracle-budget" section of
docs/benchmarks.md; a few minutes on a 2-core machine)
"""

from __future__ import annotations

import math
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from docsections import update_doc  # noqa: E402

from greenhop.errors import GreenhopError  # noqa: E402
from greenhop.oracle import (  # noqa: E402
    OracleSolution,
    oracle_policy,
    over_budget,
    solve_oracle,
    solve_rolling,
    stay_completion_s,
)
from greenhop.scenario import load_scenario  # noqa: E402
from greenhop.sim.engine import Simulator  # noqa: E402
from greenhop.world.inputs import SimInputs  # noqa: E402
from greenhop.world.ledger import non_renewable_kwh  # noqa: E402

EPS = (0.0, 0.5, math.inf)
TIME_LIMIT_S = 60.0
ROLLING_TIME_LIMIT_S = 20.0
GAP = 1e-3


def _row(
    inputs: SimInputs, how: str, eps: float, sol: OracleSolution, wall: float
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "how": how,
        "eps": eps,
        "block_min": sol.block_steps * inputs.step_s / 60.0,
        "binaries": sol.n_binaries,
        "rows": sol.n_rows,
        "wall_s": wall,
        "status": sol.status,
        "bound_kwh": sol.bound_kwh if sol.is_bound else None,
        "plan_kwh": sol.objective_kwh,
    }
    if sol.has_plan:
        replay = Simulator(inputs).run(oracle_policy(inputs, sol))
        row["replay_kwh"] = non_renewable_kwh(replay)
        row["late"] = over_budget(replay, sol.done_by_s)
    return row


def measure() -> tuple[SimInputs, list[dict[str, Any]]]:
    inputs = SimInputs.from_scenario(load_scenario("germany"))
    done = stay_completion_s(inputs)
    rows = []
    for eps in EPS:
        t0 = time.perf_counter()
        sol = solve_oracle(
            inputs, eps=eps, stay_done_s=done, time_limit_s=TIME_LIMIT_S, mip_rel_gap=GAP
        )
        rows.append(_row(inputs, "exact", eps, sol, time.perf_counter() - t0))
        print(rows[-1], flush=True)
    for eps in EPS:
        t0 = time.perf_counter()
        try:
            sol = solve_rolling(
                inputs,
                eps=eps,
                stay_done_s=done,
                window_h=24.0,
                lookahead_h=24.0,
                time_limit_s=ROLLING_TIME_LIMIT_S,
                mip_rel_gap=GAP,
            )
        except GreenhopError as exc:
            rows.append({"how": "rolling", "eps": eps, "error": str(exc)})
            continue
        rows.append(_row(inputs, "rolling", eps, sol, time.perf_counter() - t0))
        print(rows[-1], flush=True)
    return inputs, rows


def render(inputs: SimInputs, rows: list[dict[str, Any]]) -> str:
    def eps_s(e: float) -> str:
        return "none" if not math.isfinite(e) else f"{e:g}"

    def kwh(x: float | None) -> str:
        return "-" if x is None or not math.isfinite(x) else f"{x:.1f}"

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"`germany` ({len(inputs.site_names)} sites, {len(inputs.jobs)} jobs, {inputs.n_steps} "
        f"steps of {inputs.step_s / 60:g} min) on {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores shared with other work, Python "
        f"{platform.python_version()}, HiGHS one thread; "
        f"`python benchmarks/bench_oracle_budget.py`. Peak RSS of the process {peak_mib:.0f} MiB.",
        "",
        "| program | eps | blocks | binaries (largest program) | wall (s) | status | lower bound "
        "kWh | plan kWh | replay kWh | replay jobs late |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    exact_bound = {r["eps"]: r.get("bound_kwh") for r in rows if r["how"] == "exact"}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['how']} | {eps_s(r['eps'])} | failed: {r['error']} |||||||")
            continue
        how = "exact" if r["how"] == "exact" else "rolling 24 h + 24 h (heuristic)"
        lines.append(
            f"| {how} | {eps_s(r['eps'])} | {r['block_min']:g} min | {r['binaries']} "
            f"| {r['wall_s']:.0f} | {r['status']} | {kwh(r['bound_kwh'])} | {kwh(r['plan_kwh'])} "
            f"| {kwh(r.get('replay_kwh'))} | {r.get('late', '-')} |"
        )
    lines.append("")
    for r in rows:
        b = exact_bound.get(r["eps"])
        if r["how"] == "rolling" and "plan_kwh" in r and b:
            lines.append(
                f"- eps {eps_s(r['eps'])}: the rolling plan is {r['plan_kwh'] / b - 1:+.2%} above "
                f"the exact bound ({r['plan_kwh']:.1f} against {b:.1f} kWh), its replay "
                f"{r['replay_kwh'] / b - 1:+.2%}."
            )
    return "\n".join(lines)


def main() -> int:
    inputs, rows = measure()
    update_doc(ROOT / "docs" / "benchmarks.md", {"oracle-budget": render(inputs, rows)})
    print("wrote docs/benchmarks.md (oracle-budget section)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
