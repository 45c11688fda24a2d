"""A live run as a :class:`~greenhop.world.record.RunRecord`, so the simulator's metrics, tables,
plots and report apply to it unchanged and a live run sits beside a simulated one.

From the state database (:mod:`greenhop.live.control.state`): the ledger gives each step's IT load,
renewable and grid power and each job's energy; the jobs table the start and done times and
progress; the migrations table the moves. A move's phase times are its tick's time plus the
measured wall-clock durations × ``speedup`` (trace seconds); its size is the scenario job's
``checkpoint_gb`` (what the policy and the network energy reckon with), times the share of the
real checkpoint that crossed when chunk stores sent only part of it (S_eff / S); the bytes
really sent are in :func:`live_summary`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from greenhop.live.control.scenario import LiveScenario
from greenhop.live.control.state import ControllerState
from greenhop.world.inputs import SimInputs
from greenhop.world.ledger import settle
from greenhop.world.record import Migration, RunRecord
from greenhop.world.rules import is_wasted_move


def live_result(
    state: ControllerState, live: LiveScenario, *, policy: str, suffix: str = "-live"
) -> RunRecord:
    """The live run in ``state`` as a RunRecord named ``policy + suffix``.

    A real-time run's record carries what its meters showed (``generation_w`` = the booked
    surplus + base load per tick, from its real start) instead of the scenario's trace."""
    inp = live.inputs
    meta = state.meta()
    if meta.get("realtime"):
        inp = observed_inputs(state, live)
    speedup = float(meta.get("speedup", 1.0))
    step_s = float(inp.step_s)
    n_steps, n_sites, n_jobs = inp.n_steps, len(inp.site_names), len(inp.jobs)
    # every slot empty: idle, or asleep where idle slots sleep
    idle_full = (inp.empty_slot_power_w * inp.slots).astype(np.float64)
    it_load = np.tile(idle_full, (n_steps, 1))
    # ticks not committed (a run stopped early) are settled as idle, without batteries
    flows = settle(inp.surplus_w, it_load)
    renewable, grid, curtailed = flows.renewable_w, flows.grid_w, flows.curtailed_w
    charge = np.zeros((n_steps, n_sites))
    discharge = np.zeros((n_steps, n_sites))
    soc = np.zeros((n_steps, n_sites))
    running = np.zeros((n_steps, n_sites), dtype=np.int32)
    for e in state.site_energy():
        k, s = e.tick, e.site
        it_load[k, s] = e.it_energy_j / step_s
        renewable[k, s] = e.renewable_j / step_s
        grid[k, s] = e.grid_j / step_s
        charge[k, s] = e.battery_charge_j / step_s
        discharge[k, s] = e.battery_discharge_j / step_s
        curtailed[k, s] = e.curtailed_j / step_s
        soc[k, s] = e.battery_soc_kwh
        running[k, s] = e.jobs
    job_energy = state.job_energy()
    placement = np.full((n_steps, n_jobs), -1, dtype=np.int16)
    run_s_at = np.zeros((n_jobs, n_sites))
    for je in job_energy:
        placement[je.tick, je.job] = je.site
        run_s_at[je.job, je.site] += je.run_s
    rows = state.jobs()
    total = np.array([j.total_steps for j in live.live_jobs], dtype=np.float64)
    steps = np.array([r.steps_done for r in rows], dtype=np.float64)
    migrations = []
    for m in state.migrations():
        if not m.ok:
            continue
        size_gb = float(inp.jobs.size_gb[m.job])
        if m.bytes_sent is not None and m.size_bytes and m.bytes_sent < m.size_bytes:
            # chunk stores: the share of the real checkpoint that crossed (S_eff / S)
            size_gb *= m.bytes_sent / m.size_bytes
        mig = Migration(m.job, m.src, m.dest, size_gb, m.time_s, m.kind)
        ckpt = (m.checkpoint_s or 0.0) * speedup
        mig.checkpoint_done_s = m.time_s + ckpt
        mig.transfer_done_s = mig.checkpoint_done_s + (m.transfer_s or 0.0) * speedup
        mig.restored_s = m.time_s + (m.downtime_s or 0.0) * speedup
        k = min(int(m.tick), n_steps - 1)
        mig.wasted = is_wasted_move(
            inp.surplus_w[k, m.dest],
            it_load[k - 1, m.dest] if k else idle_full[m.dest],
            inp.jobs.power_w[m.job],
            inp.empty_slot_power_w[m.dest],
        )
        migrations.append(mig)
    nan = float("nan")
    return RunRecord(
        inputs=inp,
        policy=f"{policy}{suffix}",
        policy_config={"name": policy, "live": True, "speedup": speedup},
        it_load_w=it_load,
        running_jobs=running,
        grid_w=grid,
        renewable_w=renewable,
        battery_discharge_w=discharge,
        battery_charge_w=charge,
        curtailed_w=curtailed,
        battery_soc_kwh=soc,
        job_start_s=np.array([nan if r.start_s is None else r.start_s for r in rows]),
        job_done_s=np.array([nan if r.done_s is None else r.done_s for r in rows]),
        job_progress_gpu_h=steps / total * np.asarray(inp.jobs.work_gpu_h),
        job_run_s_at=run_s_at,
        migrations=migrations,
        refused=state.refused(),
        events=state.events(),
        job_energy=(
            np.array([e.tick for e in job_energy], dtype=np.int32),
            np.array([e.job for e in job_energy], dtype=np.int32),
            np.array([e.site for e in job_energy], dtype=np.int32),
            np.array([e.energy_j for e in job_energy], dtype=np.float64),
        ),
        placement=placement,
        wall_s=float(meta.get("wall_s", 0.0)),
    )


def observed_inputs(state: ControllerState, live: LiveScenario) -> SimInputs:
    """A real-time run's inputs with the generation its meters showed, tick by tick (0 W where
    a site's signal was unknown, or for ticks not committed), from its real start."""
    inp = live.inputs
    generation = np.zeros_like(inp.generation_w)
    assert inp.base_load_w is not None
    for e in state.site_energy():
        generation[e.tick, e.site] = max(e.surplus_w + inp.base_load_w[e.site], 0.0)
    start = state.meta().get("realtime_start") or inp.start
    return dataclasses.replace(inp, generation_w=generation, start=pd.Timestamp(start))


def live_summary(state: ControllerState, live: LiveScenario) -> dict[str, Any]:
    """What only a live run measures: each move's real checkpoint and durations, the links'
    final estimates, the speedup and the wall time; JSON-ready."""
    names = live.inputs.site_names
    jobs = live.inputs.jobs.names
    meta = state.meta()
    return {
        "speedup": meta.get("speedup"),
        "wall_s": meta.get("wall_s"),
        "ticks_committed": meta.get("next_tick"),
        "prestages": [
            {
                "job": jobs[p.job],
                "src": names[p.src],
                "dest": names[p.dest],
                "bytes_sent": p.bytes_sent,
                "duration_s": p.duration_s,
                "completed": p.completed,
                "reason": p.reason,
            }
            for p in state.prestages()
        ],
        "prestage_network_kwh": live.inputs.params.network_kwh_per_gb
        * sum(p.bytes_sent for p in state.prestages())
        / 1e9,
        "realtime": bool(meta.get("realtime", False)),
        "realtime_start": meta.get("realtime_start"),
        "signal_episodes": [
            {
                "site": names[e.site],
                "signal": e.signal,
                "reason": e.reason,
                "detail": e.detail,
                "start": e.start,
                "end": e.end,
                "start_tick": e.start_tick,
                "end_tick": e.end_tick,
                "readings": e.readings,
            }
            for e in state.episodes()
        ],
        "trainers": dict(zip(jobs, live.trainers, strict=True)),
        "train_steps": {j.job_id: j.total_steps for j in live.live_jobs},
        "migrations": [
            {
                "job": jobs[m.job],
                "kind": m.kind,
                "src": names[m.src],
                "dest": names[m.dest],
                "time_s": m.time_s,
                "ok": m.ok,
                "error": m.error,
                "steps_done": m.steps_done,
                "size_bytes": m.size_bytes,
                "bytes_sent": m.bytes_sent,
                "bandwidth_gbps": m.bandwidth_gbps,
                "actor_start_s": m.actor_start_s,
                "checkpoint_s": m.checkpoint_s,
                "transfer_s": m.transfer_s,
                "load_s": m.load_s,
                "downtime_s": m.downtime_s,
            }
            for m in state.migrations()
        ],
        "link_estimates_gbps": [
            {"a": names[a], "b": names[b], "bandwidth_gbps": bw, "transfers": n}
            for (a, b), (bw, n) in sorted(state.links().items())
        ],
    }
