"""What ``greenhop simulate`` and ``greenhop live`` share: policy names from the command line,
the default run folder, and the comparison table."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from greenhop.cli._output import compact_table, fitting_tables, stdout_console
from greenhop.errors import InputError


def policy_names(spec: str) -> list[str]:
    """``all`` or a comma-separated list → policy names (validated)."""
    from greenhop.runner import available_policies

    known = available_policies()
    names = known if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InputError(
            f"unknown policy {', '.join(unknown) or repr(spec)}; use 'all' or some of: "
            f"{', '.join(known)}"
        )
    return names


def default_out(kind: str, scenario_name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{kind}-{scenario_name}-{stamp}"


@dataclass(frozen=True)
class _Metric:
    column: str
    short: str  # label at narrow widths, explained by the legend
    full: str  # label when the table has room
    fmt: Callable[[float], str]


def _num(spec: str) -> Callable[[float], str]:
    return lambda v: spec.format(v)


def _count(v: float) -> str:
    return f"{int(v):d}"


#: The comparison's rows, in order; sub-rows are indented under the metric they refine.
METRICS = (
    _Metric("non_renewable_kwh", "non-renew. kWh", "non-renewable energy, kWh", _num("{:.1f}")),
    _Metric("oracle_bound_kwh", "  bound kWh", "  lower bound (oracle), kWh", _num("{:.1f}")),
    _Metric("jobs_non_renewable_kwh", "  jobs' kWh", "  the jobs' own, kWh", _num("{:.1f}")),
    # only where idle slots sleep ([sites.sleep])
    _Metric("idle_slots_kwh", "idle kWh", "idle slots' energy, kWh", _num("{:.1f}")),
    _Metric("wake_ups", "  wake-ups", "  wake-ups of sleeping slots", _count),
    _Metric("renewable_share", "renew. share", "renewable share", _num("{:.1%}")),
    _Metric("jobs_renewable_share", "  jobs'", "  the jobs' own", _num("{:.1%}")),
    _Metric("migration_energy_kwh", "mig. kWh", "migration energy, kWh", _num("{:.2f}")),
    _Metric("bytes_moved", "moved GB", "checkpoints moved, GB", lambda v: f"{v / 1e9:.0f}"),
    _Metric("migrations", "moves", "migrations", _count),
    _Metric("wasted_migrations", "  wasted", "  wasted", _count),
    _Metric("jobs_done", "jobs done", "jobs done", _count),
    _Metric("jct_mean_h", "JCT mean h", "job completion time, mean, h", _num("{:.1f}")),
    _Metric("jct_p50_h", "JCT p50 h", "job completion time, median, h", _num("{:.1f}")),
    _Metric("jct_p95_h", "JCT p95 h", "job completion time, p95, h", _num("{:.1f}")),
    _Metric("slowdown_mean", "slowdown", "slowdown, mean", _num("{:.3f}")),
    _Metric("stability_slowdown_std", "  σ", "  standard deviation", _num("{:.3f}")),
)

#: What the terms (and short labels) of the comparison mean, by the column they explain.
_LEGEND = (
    (
        "non_renewable_kwh",
        "Non-renewable (non-renew.): grid energy of the IT load + network energy of transfers",
    ),
    ("oracle_bound_kwh", "bound: the oracle's lower bound on it"),
    ("jobs_non_renewable_kwh", "jobs': the jobs' own part"),
    ("idle_kwh_shown", "idle: energy of the slots without a job (awake or asleep)"),
    ("migration_energy_kwh", "mig.: energy of the migrations"),
    (
        "wasted_migrations",
        "wasted: moves whose destination had no renewable power left for the job",
    ),
    ("jct_mean_h", "JCT: job completion time of the jobs done"),
    ("slowdown_mean", "slowdown: JCT over the job's time alone"),
    ("stability_slowdown_std", "σ: its standard deviation"),
)


def comparison_legend(columns: Any) -> str:
    """The legend under the comparison, for the metrics among ``columns``."""
    shown = set(columns) | ({"idle_kwh_shown"} if "wake_ups" in set(columns) else set())
    return "; ".join(text for column, text in _LEGEND if column in shown) + "."


def _cell(metric: _Metric, value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return metric.fmt(float(value))


def comparison_tables(comparison: Any, title: str, console: Console) -> list[Table]:
    """The comparison as tables that fit ``console``: metrics as rows, policies as columns.

    Full labels when every policy fits beside them; otherwise short labels (explained by
    :func:`comparison_legend`), and the policies split over several tables if they still do
    not fit side by side.
    """
    records = comparison.to_dict("records")
    sleeps = "wake_ups" in comparison.columns  # the idle slots' rows only where slots sleep
    metrics = [
        m
        for m in METRICS
        if m.column in comparison.columns
        and (sleeps or m.column not in ("idle_slots_kwh", "wake_ups"))
    ]
    policies = [str(r["policy"]) for r in records]
    by_policy = dict(zip(policies, records, strict=True))

    def build(names: list[str], full: bool = False) -> Table:
        table = compact_table(title=title)
        table.add_column("metric", no_wrap=True)
        for name in names:
            table.add_column(name, justify="right", no_wrap=True)
        for m in metrics:
            label = m.full if full else m.short
            table.add_row(label, *(_cell(m, by_policy[n][m.column]) for n in names))
        return table

    unbounded = console.options.update_width(1_000_000)
    whole = build(policies, full=True)
    if console.measure(whole, options=unbounded).maximum <= console.width:
        return [whole]
    return fitting_tables(build, policies, console)


def print_comparison(comparison: Any, title: str, console: Console | None = None) -> None:
    """Print the comparison of policies (one row per policy in ``comparison``) to stdout."""
    console = console or stdout_console()
    for table in comparison_tables(comparison, title, console):
        console.print(table)
    console.print(comparison_legend(comparison.columns), style="dim", highlight=False)
