"""What ``greenhop simulate`` and ``greenhop live`` share: policy names from the command line,
the default run folder, and the comparison table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

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


def print_comparison(comparison: Any, title: str) -> None:
    table = Table(title=title)
    fmt = {
        "non_renewable_kwh": ("non-renew. kWh", "{:.1f}"),
        "oracle_bound_kwh": ("oracle bound kWh", "{:.1f}"),
        "jobs_non_renewable_kwh": ("jobs' non-renew. kWh", "{:.1f}"),
        "renewable_share": ("renew. share", "{:.1%}"),
        "jobs_renewable_share": ("jobs' renew. share", "{:.1%}"),
        "migration_energy_kwh": ("mig. kWh", "{:.2f}"),
        "bytes_moved": ("GB moved", None),
        "migrations": ("moves", "{:d}"),
        "wasted_migrations": ("wasted", "{:d}"),
        "jobs_done": ("done", "{:d}"),
        "jct_mean_h": ("JCT mean h", "{:.1f}"),
        "jct_p95_h": ("JCT p95 h", "{:.1f}"),
        "slowdown_mean": ("slowdown", "{:.3f}"),
        "stability_slowdown_std": ("stability σ", "{:.3f}"),
    }
    cols = ["policy"] + [c for c in fmt if c in comparison.columns]
    for c in cols:
        table.add_column(
            fmt[c][0] if c in fmt else c,
            justify="left" if c == "policy" else "right",
            no_wrap=c == "policy",
        )
    for _, row in comparison.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if c == "policy":
                cells.append(str(v))
            elif c == "bytes_moved":
                cells.append(f"{v / 1e9:.0f}")
            elif v != v:  # NaN
                cells.append("-")
            else:
                f = fmt[c][1] or "{}"
                cells.append(f.format(int(v)) if "d}" in f else f.format(float(v)))
        table.add_row(*cells)
    Console(width=max(Console().width, 150)).print(table)
