"""What a run achieved: energy, migrations, job completion times and stability.

Definitions (docs/results.md repeats them):

- **non-renewable energy**: grid energy drawn by the micro datacenters' IT load (jobs, jobs
  checkpointing or restoring, idle slots) plus the network energy of every checkpoint that crossed
  the WAN (``e_net · S``, counted as non-renewable, as in the model). The sites' base load is
  served first and is not ours. Defined once, in :func:`greenhop.world.ledger.non_renewable_kwh`.
- **renewable share**: 1 − non-renewable / (IT energy + network energy).
- **jobs' non-renewable energy**: the part of the non-renewable energy that the jobs drew (each
  step, a site's grid share is charged to every watt drawn there, so a job pays the grid share of
  its site), plus its transfers' network energy. Idle slots draw the same under every policy
  (unless they sleep), so this is where policies differ.
- **idle slots' energy**: IT energy less the jobs' own (``idle_slots_kwh``): what the slots
  without a job drew, awake or asleep. With idle slots that sleep (``[sites.sleep]``) the summary
  also counts the wake-ups (``wake_ups``) and their energy (``wake_kwh``, part of the jobs' own:
  a wake-up is booked to the job that took the slot); ``sleep`` says whether any site's slots
  sleep (docs/energy.md).
- **migration energy**: network energy plus the idle power drawn while jobs checkpoint and
  restore for a move (the simulator's counterpart of ``E_mig``), plus the energy of waking the
  destination's slot where it slept.
- **wasted migration**: one whose job was restored at a destination that, at that moment, had no
  renewable power left for it (it arrived after the window closed).
- **grid energy**: the facility's grid energy at the sites (``grid_kwh``): IT energy times the
  site's PUE, after renewables and batteries; equal to the IT load's grid energy when every PUE
  is 1 (the default).
- **emissions**: grid energy times the site's carbon intensity over each step, plus transfers'
  network energy charged at the source site's intensity, kg CO2e (``emissions_kgco2e``;
  ``carbon_signal`` says average or marginal); ``null`` (absent, not 0) without a carbon signal.
- **energy cost**: grid energy times the site's price over each step, plus transfers' network
  energy at the source site's price (``energy_cost`` in ``currency``); ``null`` without a price
  signal (:func:`greenhop.world.ledger.grid_accounts`).
- **demand-response excess**: grid energy above a demand-response cap during the events, kWh
  (``dr_excess_kwh``; 0 when the sites complied); ``null`` when the run has no events.
- **JCT**: completion minus arrival. **Slowdown**: JCT over the time the job takes alone, started
  at once and never moved (``restart_s + work``). **Stability**: the standard deviation of the
  slowdown across jobs (lower is steadier); p95/p50 of slowdown is reported beside it. All three
  average over the jobs done within the run (``jobs_done``); the others are named in
  ``jobs_unfinished``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenhop.world import ledger
from greenhop.world.ledger import J_PER_KWH
from greenhop.world.record import RunRecord


def job_table(result: RunRecord) -> pd.DataFrame:
    """One row per job: times, slowdown, migrations, energy and its renewable share."""
    inp = result.inputs
    jobs = inp.jobs
    n = len(jobs)
    energy_j, grid_j = ledger.job_energy_j(result)
    net_kwh = ledger.job_network_kwh(result)
    acc = ledger.grid_accounts(result)
    moves = np.zeros(n, dtype=int)
    wasted = np.zeros(n, dtype=int)
    for m in result.migrations:
        if m.completed:
            moves[m.job] += 1
            wasted[m.job] += int(m.wasted)
    alone_s = inp.params.restart_s + jobs.work_gpu_h * 3600.0
    jct_s = result.job_done_s - jobs.arrival_s
    start = pd.Timestamp(inp.start)

    def to_time(seconds: np.ndarray) -> list[Any]:
        return [
            start + pd.Timedelta(seconds=float(x)) if np.isfinite(x) else pd.NaT for x in seconds
        ]

    return pd.DataFrame(
        {
            "job": list(jobs.names),
            "arrival": to_time(jobs.arrival_s),
            "start": to_time(result.job_start_s),
            "done": to_time(result.job_done_s),
            "work_gpu_h": jobs.work_gpu_h,
            "progress_gpu_h": result.job_progress_gpu_h,
            "checkpoint_gb": jobs.size_gb,
            "power_w": jobs.power_w,
            "jct_h": jct_s / 3600.0,
            "slowdown": jct_s / alone_s,
            "migrations": moves,
            "wasted_migrations": wasted,
            "energy_kwh": energy_j / J_PER_KWH + net_kwh,
            "non_renewable_kwh": grid_j / J_PER_KWH + net_kwh,
            "renewable_share": np.divide(
                energy_j - grid_j,
                energy_j + net_kwh * J_PER_KWH,
                out=np.full(n, np.nan),
                where=energy_j > 0,
            ),
            "grid_kwh": acc.job_grid_kwh,
            "emissions_kgco2e": acc.job_emissions_kg,
            "energy_cost": acc.job_cost,
        }
    )


def migration_table(result: RunRecord) -> pd.DataFrame:
    """One row per move: sites, size, phase times (s since start) and whether it was wasted."""
    names = result.inputs.site_names
    rows = [
        {
            "job": result.inputs.jobs.names[m.job],
            "kind": m.kind,
            "src": names[m.src],
            "dest": names[m.dest],
            "size_gb": m.size_gb,
            "started_s": m.started_s,
            "checkpoint_done_s": m.checkpoint_done_s,
            "transfer_done_s": m.transfer_done_s,
            "restored_s": m.restored_s,
            "duration_s": m.restored_s - m.started_s,
            "wasted": m.wasted,
        }
        for m in result.migrations
    ]
    cols = [
        "job",
        "kind",
        "src",
        "dest",
        "size_gb",
        "started_s",
        "checkpoint_done_s",
        "transfer_done_s",
        "restored_s",
        "duration_s",
        "wasted",
    ]
    return pd.DataFrame(rows, columns=cols)


def summary(result: RunRecord) -> dict[str, Any]:
    """The run's figures as a flat, JSON-ready dict."""
    inp = result.inputs
    p = inp.params
    dt_h = inp.step_s / 3600.0
    it_kwh = float(result.it_load_w.sum() * dt_h / 1000.0)
    acc = ledger.grid_accounts(result)
    grid_kwh = acc.grid_kwh
    transferred = [m for m in result.migrations if m.transferred]
    completed = [m for m in result.migrations if m.completed]
    network_kwh = ledger.network_kwh(result.migrations, p)
    idle = inp.idle_slot_power_w
    mig_idle_j = 0.0
    for m in result.migrations:
        if m.kind == "migrate" and np.isfinite(m.checkpoint_done_s):
            mig_idle_j += (m.checkpoint_done_s - m.started_s) * idle[m.src]
        if np.isfinite(m.restored_s) and np.isfinite(m.transfer_done_s):
            mig_idle_j += (m.restored_s - m.transfer_done_s) * idle[m.dest]
        if m.woke and inp.sleep is not None:
            mig_idle_j += float(inp.sleep.wake_j[m.dest])
    non_renewable = ledger.non_renewable_kwh(result)
    jobs = job_table(result)
    done = jobs[np.isfinite(jobs["jct_h"])]
    sd = done["slowdown"].to_numpy()
    jct = done["jct_h"].to_numpy()

    def q(a: np.ndarray, x: float) -> float:
        return float(np.quantile(a, x)) if len(a) else float("nan")

    out: dict[str, Any] = {
        "policy": result.policy,
        "scenario": inp.name,
        "non_renewable_kwh": non_renewable,
        "grid_kwh": grid_kwh,
        "network_kwh": network_kwh,
        "it_energy_kwh": it_kwh,
        "jobs_non_renewable_kwh": float(jobs["non_renewable_kwh"].sum()),
        "jobs_renewable_share": float(
            1.0 - jobs["non_renewable_kwh"].sum() / jobs["energy_kwh"].sum()
        )
        if jobs["energy_kwh"].sum() > 0
        else float("nan"),
        "renewable_share": 1.0 - non_renewable / (it_kwh + network_kwh) if it_kwh else float("nan"),
        "migration_energy_kwh": network_kwh + mig_idle_j / J_PER_KWH,
        "bytes_moved": float(sum(m.size_gb for m in transferred) * 1e9),
        "migrations": len(completed),
        "migrations_started": sum(m.kind != "prestage" for m in result.migrations),
        "wasted_migrations": int(sum(m.wasted for m in completed)),
        "jobs": len(jobs),
        "jobs_done": len(done),
        # JCT, slowdown and stability average over the jobs done only; these are left out
        "jobs_unfinished": [str(n) for n in jobs.loc[~np.isfinite(jobs["jct_h"]), "job"]],
        "jct_mean_h": float(jct.mean()) if len(jct) else float("nan"),
        "jct_p50_h": q(jct, 0.5),
        "jct_p95_h": q(jct, 0.95),
        "slowdown_mean": float(sd.mean()) if len(sd) else float("nan"),
        "slowdown_p95_over_p50": q(sd, 0.95) / q(sd, 0.5) if len(sd) else float("nan"),
        "stability_slowdown_std": float(sd.std()) if len(sd) else float("nan"),
        # absent (None, null in JSON), never 0, when the run has no such signal
        "emissions_kgco2e": acc.emissions_kg if acc.carbon_kind is not None else None,
        "carbon_signal": acc.carbon_kind,
        "energy_cost": acc.cost if acc.currency is not None else None,
        "currency": acc.currency,
        "dr_excess_kwh": acc.dr_excess_kwh
        if inp.grid is not None and inp.grid.dr_cap_w is not None
        else None,
        "refused_actions": len(result.refused),
        "wall_s": result.wall_s,
    }
    # the slots without a job (awake or asleep) against the jobs' own draw at the sites
    job_site_kwh = float(jobs["energy_kwh"].sum()) - network_kwh
    out["idle_slots_kwh"] = it_kwh - job_site_kwh
    if inp.sleep is not None:
        wakes = np.asarray(result.extra.get("wakes", np.zeros(len(inp.site_names))))
        out["sleep"] = True
        out["wake_ups"] = int(wakes.sum())
        out["wake_kwh"] = float((wakes * inp.sleep.wake_j).sum() / J_PER_KWH)
    if inp.prestage_share is not None:  # pre-staging on hints: their copies (in bytes_moved)
        pre = [m for m in result.migrations if m.kind == "prestage"]
        out["prestages"] = len(pre)
        out["prestage_gb"] = float(sum(m.size_gb for m in pre if m.transferred))
    bound = result.policy_config.get("bound_kwh")
    if bound is not None:
        out["oracle_bound_kwh"] = float(bound)
    return out


def grid_site_table(result: RunRecord) -> pd.DataFrame:
    """One row per site: facility grid energy (kWh), emissions (kg CO2e), cost (currency) and
    demand-response excess (kWh) over the run; NaN where the run has no such signal."""
    inp = result.inputs
    acc = ledger.grid_accounts(result)
    has_dr = inp.grid is not None and inp.grid.dr_cap_w is not None
    return pd.DataFrame(
        {
            "policy": result.policy,
            "site": list(inp.site_names),
            "pue": inp.grid.pue if inp.grid is not None else np.ones(len(inp.site_names)),
            "grid_kwh": acc.grid_kwh_site,
            "emissions_kgco2e": acc.emissions_kg_site,
            "energy_cost": acc.cost_site,
            "currency": acc.currency,
            "dr_excess_kwh": acc.dr_excess_kwh_site if has_dr else np.nan,
        }
    )


def site_power_frame(result: RunRecord) -> pd.DataFrame:
    """Per step and site (long): surplus, IT load, renewable, battery, grid (W), jobs held."""
    inp = result.inputs
    index = inp.time_index()
    n_steps, n_sites = result.it_load_w.shape
    frame = pd.DataFrame(
        {
            "time": np.repeat(index, n_sites),
            "site": np.tile(np.array(inp.site_names), n_steps),
            "surplus_w": inp.surplus_w.ravel(),
            "it_load_w": result.it_load_w.ravel(),
            "renewable_w": result.renewable_w.ravel(),
            "battery_discharge_w": result.battery_discharge_w.ravel(),
            "battery_charge_w": result.battery_charge_w.ravel(),
            "grid_w": result.grid_w.ravel(),
            "jobs": result.running_jobs.ravel(),
        }
    )
    grid = inp.grid
    if grid is not None and not bool((grid.pue == 1.0).all()):
        frame["pue"] = np.tile(grid.pue, n_steps)
        frame["facility_grid_w"] = ledger.facility_grid_w(result).ravel()
    if grid is not None and grid.carbon is not None:
        frame["carbon_g_per_kwh"] = grid.carbon.values.ravel()
    if grid is not None and grid.price is not None:
        frame[f"price_{grid.currency}_per_mwh"] = grid.price.values.ravel()
    if grid is not None and grid.dr_cap_w is not None:
        frame["dr_cap_w"] = grid.dr_cap_w.ravel()
    frame.insert(0, "policy", result.policy)
    return frame


def placement_frame(result: RunRecord) -> pd.DataFrame:
    """Where each job held a slot, per step (long: time, job, site); needs record_placement."""
    if result.placement is None:
        raise ValueError("the run did not record placement; Simulator(record_placement=True)")
    inp = result.inputs
    k, j = np.nonzero(result.placement >= 0)
    index = inp.time_index()
    return pd.DataFrame(
        {
            "policy": result.policy,
            "time": index[k],
            "job": np.array(inp.jobs.names)[j],
            "site": np.array(inp.site_names)[result.placement[k, j]],
        }
    )
