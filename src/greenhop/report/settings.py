"""What a run ran on, as the report shows it: the scenario, the model's parameters, the sites,
the links and the jobs, read from the run's :class:`~greenhop.world.inputs.SimInputs` (so a
``--bandwidth-gbps`` or ``--checkpoint-gb`` override shows as it was run)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from greenhop.feasibility import ModelParameters
from greenhop.report import format as fmt
from greenhop.report.table import Table
from greenhop.world.inputs import SimInputs

#: Each model parameter as the report names it: label, unit, and the factor from its field's
#: unit to the unit shown.
MODEL_PARAMETERS: dict[str, tuple[str, str, float]] = {
    "alpha": ("disruption tolerance α: share of the window a move may take", "", 1.0),
    "network_kwh_per_gb": ("network energy e_net per GB moved", "kWh/GB", 1.0),
    "job_power_w": ("job power P_job of the model (each job has its own)", "W", 1.0),
    "idle_power_w": ("idle power P_idle while a job makes no progress in a move", "W", 1.0),
    "disk_write_gb_per_s": ("checkpoint write speed at the source", "GB/s", 1.0),
    "disk_read_gb_per_s": ("checkpoint read speed at the destination", "GB/s", 1.0),
    "restart_s": ("restart time T_restart at the destination", "s", 1.0),
    "window_short_s": ("shortest window W_short of the regimes", "h", 1 / 3600),
    "window_long_s": ("longest window W_long of the regimes", "h", 1 / 3600),
}


def _utc(t: pd.Timestamp) -> str:
    return f"{pd.Timestamp(t):%Y-%m-%d %H:%M} UTC"


def _positional(x: float) -> str:
    """A parameter's value in full, never in exponent notation (0.001875, 4.1, 60)."""
    return str(np.format_float_positional(float(x), precision=6, trim="-"))


def scenario_items(inputs: SimInputs) -> list[tuple[str, str]]:
    """``(label, value)`` pairs: scenario, source, period, step, forecaster, sites and jobs."""
    end = pd.Timestamp(inputs.start) + pd.Timedelta(seconds=inputs.n_steps * inputs.step_s)
    days = inputs.n_steps * inputs.step_s / 86400.0
    jobs = inputs.jobs
    items = [
        ("Scenario", inputs.name),
        ("Period", f"{_utc(inputs.start)} to {_utc(end)} ({fmt.number(days, 1)} days)"),
        ("Step", f"{fmt.duration(inputs.step_s)}, {fmt.count(inputs.n_steps)} steps"),
        ("Forecaster", str(inputs.meta.get("forecaster", "perfect"))),
        (
            "Sites",
            f"{len(inputs.site_names)}, {fmt.count(int(inputs.slots.sum()))} GPU slots in all",
        ),
        (
            "Jobs",
            f"{len(jobs)}, {fmt.number(float(np.sum(jobs.work_gpu_h)), 1)} GPU-hours of work "
            "in all",
        ),
    ]
    source = str(inputs.meta.get("source") or "")
    if source:
        items.insert(1, ("Scenario file", source))
    return items


def model_table(params: ModelParameters) -> Table:
    """The feasibility model's parameters with their units."""
    rows = []
    for name, value in asdict(params).items():
        label, unit, scale = MODEL_PARAMETERS[name]
        shown = _positional(float(value) * scale)
        rows.append([label, name, f"{shown}\u00a0{unit}" if unit else shown])
    return Table(["Parameter", "Name", "Value"], rows, numeric=[False, False, True])


def sites_table(inputs: SimInputs) -> Table:
    """Per site: slots, idle power, base load, battery, and the renewable surplus it had; with
    grid signals or a PUE other than 1, the PUE and the site's grid signals too."""
    surplus = np.maximum(inputs.surplus_w, 0.0)
    step_h = inputs.step_s / 3600.0
    base = inputs.base_load_w if inputs.base_load_w is not None else np.zeros(len(inputs.slots))
    batteries = inputs.batteries or [None] * len(inputs.site_names)
    grid = inputs.grid
    gridded = grid is not None and (
        grid.has_signals or grid.curtailment_w is not None or bool((grid.pue != 1.0).any())
    )
    rows = []
    for i, name in enumerate(inputs.site_names):
        b = batteries[i]
        rows.append(
            [
                name,
                fmt.count(int(inputs.slots[i])),
                fmt.number(float(inputs.idle_slot_power_w[i]), 0),
                fmt.number(float(base[i]) / 1000.0, 1),
                "none" if b is None else f"{fmt.kwh(b.capacity_kwh)}, {b.max_power_kw:g}\u00a0kW",
                fmt.number(float(surplus[:, i].max(initial=0.0)) / 1000.0, 1),
                fmt.number(float(surplus[:, i].sum()) * step_h / 1000.0, 0),
            ]
        )
        if gridded and grid is not None:
            names = [
                n
                for ser, k in ((grid.carbon, "carbon"), (grid.price, "price"))
                if ser is not None
                for n in [ser.names[i]]
                if n
            ]
            if grid.dr_cap_w is not None and grid.dr_names[i]:
                names.append(str(grid.dr_names[i]))
            if grid.curtailment_w is not None and grid.curtailment_names[i]:
                names.append(f"supply from {grid.curtailment_names[i]}")
            rows[-1] += [fmt.number(float(grid.pue[i]), 2), ", ".join(names) or "none"]
    return Table(
        [
            "Site",
            "GPU slots",
            "Idle power per slot (W)",
            "Base load (kW)",
            "Battery",
            "Peak surplus (kW)",
            "Surplus over the run (kWh)",
            *(["PUE", "Grid signals"] if gridded else []),
        ],
        rows,
        caption="Surplus: renewable generation minus the site's base load, when positive.",
    )


def links_table(inputs: SimInputs) -> Table:
    """The WAN's bandwidth between every two sites, Gbit/s."""
    names = inputs.site_names
    bw = inputs.bandwidth_gbps
    rows = [
        [a] + ["·" if i == j else _positional(float(bw[i, j])) for j in range(len(names))]
        for i, a in enumerate(names)
    ]
    return Table(
        ["from \\ to", *names],
        rows,
        caption="Bandwidth of the WAN link between two sites, Gbit/s.",
    )


def jobs_table(inputs: SimInputs) -> Table:
    """The jobs as the run saw them: arrival, work, power, checkpoint, deadline, site."""
    jobs = inputs.jobs
    start = pd.Timestamp(inputs.start)
    rows = []
    for j, name in enumerate(jobs.names):
        deadline = float(jobs.deadline_s[j])
        site = int(jobs.preferred_site[j])
        rows.append(
            [
                name,
                _utc(start + pd.Timedelta(seconds=float(jobs.arrival_s[j]))),
                fmt.number(float(jobs.work_gpu_h[j]), 1),
                fmt.number(float(jobs.power_w[j]), 0),
                fmt.number(float(jobs.size_gb[j])),
                "none"
                if not np.isfinite(deadline)
                else _utc(start + pd.Timedelta(seconds=deadline)),
                "any" if site < 0 else inputs.site_names[site],
            ]
        )
    return Table(
        [
            "Job",
            "Arrival",
            "Work (GPU-h)",
            "Power (W)",
            "Checkpoint (GB)",
            "Deadline",
            "Site",
        ],
        rows,
        numeric=[False, False, True, True, True, False, False],
    )
