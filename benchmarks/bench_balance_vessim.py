"""greenhop's energy balance against Vessim 0.16 on the same 10 microgrids, one year at 5 min.

Each microgrid: the measured PV output of one German city (Solcast, 15 Jul - 15 Aug 2022, 5 min,
0..1 of peak, from ../shared/data/solcast2022_germany.zip) scaled to a 50 kW peak and tiled
end to end to one year (8,928 steps repeated 11.8 times to 105,120 steps, so a "year" of high
summer); an IT load of 10 kW plus a 10 kW training job from 08:00 to 16:00 UTC every day; a
100 kWh, 25 kW battery starting at 50 %, floor 10 %; and the grid. Targets: greenhop at least
100x faster than Vessim, total grid energy within 1 % of Vessim's.

Battery semantics, made equal: Vessim's ``SimpleBattery`` has no losses, a symmetric
``c_rate`` power limit (W per Wh of capacity) and clips to ``min_soc`` and full; so greenhop's
battery gets ``round_trip_efficiency=1.0``, ``max_soc=1.0`` and ``max_power_kw = c_rate x
capacity``. Vessim's ``DefaultDispatchPolicy`` with ``[battery, grid]`` serves the surplus to
the battery first, then the grid, as greenhop does.

Vessim runs in its own virtual environment, never greenhop's: ``benchmarks/.venv-vessim`` (or
``$GREENHOP_VESSIM_VENV``), created with ``pip install vessim==0.16.0`` on first use. It times
Vessim's ``Environment`` set-up and ``run`` with a ``Recorder(timeseries=False)``: the leanest
documented way to get each microgrid's grid import out of Vessim (keeping the time series in
memory as well, ``Recorder()``, is not faster). Wall and CPU time are both reported: CPU time
(``time.process_time``) is what to compare when other work shares the machine.

Run: python benchmarks/bench_balance_vessim.py  (writes its section of docs/benchmarks.md)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VESSIM_VERSION = "0.16.0"
STEP_S = 300
STEPS = 365 * 24 * 3600 // STEP_S  # 105,120
PEAK_W = 50_000.0
BATTERY = {"capacity_kwh": 100.0, "max_power_kw": 25.0, "initial_soc": 0.5, "min_soc": 0.1}
REPEATS = 5


# ------------------------------------------------------------------------ the shared scenario


def shared_data_dir() -> Path:
    env = os.environ.get("GREENHOP_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def scenario() -> tuple[list[str], np.ndarray, np.ndarray]:
    """City names, PV generation and IT load in W, both ``[STEPS, 10]``."""
    import pandas as pd

    path = shared_data_dir() / "solcast2022_germany.zip"
    if not path.exists():
        raise SystemExit(f"{path} not found; set GREENHOP_SHARED_DATA to the shared data folder")
    with zipfile.ZipFile(path) as archive:
        actual = pd.read_csv(archive.open("solcast2022_germany_actual.csv"), index_col="datetime")
    generation = np.resize(actual.to_numpy(dtype=float), (STEPS, actual.shape[1])) * PEAK_W
    hour = (np.arange(STEPS) * STEP_S / 3600) % 24
    load = 10_000.0 + 10_000.0 * ((hour >= 8) & (hour < 16))
    return [str(c) for c in actual.columns], generation, np.repeat(load[:, None], 10, axis=1)


# ------------------------------------------------------------------------ Vessim, in its venv


def vessim_python() -> Path:
    """The Python of Vessim's own venv, created (with vessim installed) if missing."""
    venv = Path(os.environ.get("GREENHOP_VESSIM_VENV", ROOT / "benchmarks" / ".venv-vessim"))
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} for vessim=={VESSIM_VERSION} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # git ignores the folder by itself, without touching the repository's .gitignore
        (venv / ".gitignore").write_text("*\n")
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('vessim'))"]
    found = subprocess.run(probe, capture_output=True, text=True)
    if found.returncode != 0 or found.stdout.strip() != VESSIM_VERSION:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"vessim=={VESSIM_VERSION}"],
            check=True,
        )
    return python


def vessim_worker(data_path: str, out_path: str, timeseries: bool) -> None:
    """Runs inside Vessim's venv: the 10 microgrids in one Environment, timed."""
    import importlib.metadata

    import pandas as pd
    import vessim as vs

    data = np.load(data_path)
    names, generation, load = list(data["names"]), data["generation"], data["load"]
    offsets_s = np.arange(len(load)) * STEP_S
    started, started_cpu = time.perf_counter(), time.process_time()
    pv = vs.Trace(pd.DataFrame(generation, index=offsets_s, columns=names))
    demand = vs.Trace(pd.DataFrame({"load": load[:, 0]}, index=offsets_s), column="load")
    env = vs.Environment(sim_start="2022-01-01", step_size=STEP_S)
    for name in names:
        env.add_microgrid(
            name=name,
            actors=[vs.Producer("pv", pv.select(name)), vs.Consumer("load", demand)],
            dispatchables=[
                vs.SimpleBattery(
                    "battery",
                    capacity=BATTERY["capacity_kwh"] * 1000,
                    initial_soc=BATTERY["initial_soc"],
                    min_soc=BATTERY["min_soc"],
                    c_rate=BATTERY["max_power_kw"] / BATTERY["capacity_kwh"],
                ),
                vs.GridConnection(),
            ],
        )
    recorder = env.add_controller(vs.Recorder(timeseries=timeseries))
    env.run(until=len(load) * STEP_S)
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    grid_wh = [recorder.metrics["microgrids"][n]["grid_import"] for n in names]
    Path(out_path).write_text(
        json.dumps(
            {
                "wall_s": wall_s,
                "cpu_s": cpu_s,
                "grid_kwh": [g / 1000 for g in grid_wh],
                "version": importlib.metadata.version("vessim"),
                "python": platform.python_version(),
            }
        )
    )


def run_vessim(names: list[str], generation: np.ndarray, load: np.ndarray) -> dict:
    python = vessim_python()
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "scenario.npz", Path(tmp) / "vessim.json"
        np.savez(data, names=np.array(names), generation=generation, load=load)
        subprocess.run(
            [str(python), __file__, "--vessim-worker", str(data), str(out), "metrics"],
            check=True,
            env={**os.environ, "LOGURU_LEVEL": "WARNING"},
        )
        return dict(json.loads(out.read_text()))


# ------------------------------------------------------------------------ greenhop


def run_greenhop(generation: np.ndarray, load: np.ndarray) -> dict:
    from greenhop.energy.battery import BatteryBank, BatterySpec
    from greenhop.world.balance import balance

    spec = BatterySpec(
        capacity_kwh=BATTERY["capacity_kwh"],
        max_power_kw=BATTERY["max_power_kw"],
        round_trip_efficiency=1.0,
        initial_soc=BATTERY["initial_soc"],
        min_soc=BATTERY["min_soc"],
        max_soc=1.0,
    )
    batteries: list[BatterySpec | None] = [spec] * generation.shape[1]
    result = balance(generation, load, STEP_S, batteries)  # warm-up
    result.check_conservation()
    times, cpu_times = [], []
    for _ in range(REPEATS):
        t0, c0 = time.perf_counter(), time.process_time()
        balance(generation, load, STEP_S, batteries)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    # the simulator's path: one BatteryBank.step per time step
    bank = BatteryBank(batteries, STEP_S)
    surplus = generation - load
    t0 = time.perf_counter()
    for row in surplus:
        bank.step(row)
    online_s = time.perf_counter() - t0
    return {
        "best_s": min(times),
        "median_s": float(np.median(times)),
        "median_cpu_s": float(np.median(cpu_times)),
        "online_s": online_s,
        "grid_kwh": result.grid_kwh.tolist(),
    }


def main() -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from docsections import update_doc

    names, generation, load = scenario()
    load_average = os.getloadavg()[0]
    ours = run_greenhop(generation, load)
    theirs = run_vessim(names, generation, load)
    grid_ours, grid_theirs = sum(ours["grid_kwh"]), sum(theirs["grid_kwh"])
    rel = (grid_ours - grid_theirs) / grid_theirs
    worst_site = max(
        abs(a - b) / b for a, b in zip(ours["grid_kwh"], theirs["grid_kwh"], strict=True) if b
    )
    speedup = theirs["wall_s"] / ours["median_s"]
    speedup_cpu = theirs["cpu_s"] / ours["median_cpu_s"]
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, vessim {theirs['version']} (Python {theirs['python']})"
    )
    body = (
        "10 microgrids (PV of 10 German cities from the Solcast 2022 trace, 15 Jul - 15 Aug, "
        "tiled to a year; 50 kW peak; load 10 kW + 10 kW from 08:00 to 16:00 UTC; battery "
        "100 kWh, 25 kW, start 50 %, floor 10 %, lossless as Vessim's `SimpleBattery`; grid), "
        f"{STEPS:,} steps of {STEP_S // 60} min, on {machine}. greenhop: "
        f"`greenhop.world.balance.balance`, median of {REPEATS} after a warm-up; Vessim: one run "
        "of `Environment` + `Recorder(timeseries=False)`, set-up included.\n\n"
        "| | wall time | CPU time | grid energy |\n|---|---|---|---|\n"
        f"| Vessim {theirs['version']} | {theirs['wall_s']:.1f} s | {theirs['cpu_s']:.1f} s "
        f"| {grid_theirs:,.1f} kWh |\n"
        f"| greenhop `balance` | {ours['median_s'] * 1000:.0f} ms "
        f"(best {ours['best_s'] * 1000:.0f} ms) | {ours['median_cpu_s'] * 1000:.0f} ms "
        f"| {grid_ours:,.1f} kWh |\n\n"
        f"Speed-up {speedup:,.0f}x in wall time, {speedup_cpu:,.0f}x in CPU time "
        f"(target >= 100x); grid energy differs by {rel:+.2e} "
        f"(worst site {worst_site:.1e}; target within 1 %). The online path the simulator uses, "
        f"one `BatteryBank.step` per step, takes {ours['online_s']:.1f} s for the same year. "
        f"Load average when the run began: {load_average:.1f} on {os.cpu_count()} cores "
        "(above the core count, wall times are inflated by other work; compare CPU times).\n\n"
        "Reproduce: `.venv/bin/python benchmarks/bench_balance_vessim.py` (creates "
        "`benchmarks/.venv-vessim` with vessim 0.16.0 on first use; "
        "`GREENHOP_VESSIM_VENV` points elsewhere).\n"
    )
    update_doc(ROOT / "docs" / "benchmarks.md", {"balance": body})
    print(body)
    return {
        "greenhop_s": ours["median_s"],
        "vessim_s": theirs["wall_s"],
        "speedup": speedup,
        "speedup_cpu": speedup_cpu,
        "grid_rel_diff": rel,
    }


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--vessim-worker":
        vessim_worker(sys.argv[2], sys.argv[3], timeseries=sys.argv[4] == "timeseries")
    else:
        main()
