"""The live controller under load: the scenario, and a controller in a process of its own.

:func:`write_scenario` writes the load scenario's TOML: five of the bundled global scenario's
cities spread over the longitudes (Hong Kong, Mumbai, Berlin, Sao Paulo, San Francisco) with the
PV output Solcast measured on one day of June 2022 (a replayed day of real traces), and ``n_jobs``
small real trainers (the bundled char-transformer, a few MB of state each) that arrive in the
first hour and train all day. The sun goes round the world west-wards, so the jobs follow it:
most of them move, several in one tick over one link.

``python live_load_proc.py ADDRESS SCENARIO DB MARKER LOG [KILL_TICK]`` attaches to the cluster
at ADDRESS and runs the scenario with its state in DB. With KILL_TICK, the first migration at or
after that tick holds its checkpoint in flight (the source paused, the destination actor
started), writes MARKER and waits to be killed (the tick's other migrations hold theirs too).
After every tick it appends one JSON line to LOG: the controller's rows and the cluster's
training actors.

Used by tests/test_live_load.py and benchmarks/bench_live_load.py.
"""

from __future__ import annotations

import datetime
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from greenhop.live._extras import import_ray
from greenhop.live.cluster.local import attach
from greenhop.live.control.controller import Controller
from greenhop.live.control.scenario import LiveScenario
from greenhop.live.jobs.driver import ACTOR_NAME_PREFIX, LiveJobs
from greenhop.live.jobs.transfer import CheckpointManifest
from greenhop.policies.base import JobState
from greenhop.scenario import load_scenario

SITES = [
    # name, trace column, latitude, longitude, timezone
    ("hong-kong", "Hong Kong", 22.3193, 114.1694, "Asia/Hong_Kong"),
    ("mumbai", "Mumbai", 19.076, 72.8777, "Asia/Kolkata"),
    ("berlin", "Berlin", 52.52, 13.405, "Europe/Berlin"),
    ("sao-paulo", "São Paulo", -23.5505, -46.6333, "America/Sao_Paulo"),
    ("san-francisco", "San Francisco", 37.7749, -122.4194, "America/Los_Angeles"),
]

PACED_LINK_GBPS = 0.05
"""The scenario's links, and the rate each is emulated at on the local cluster
(LiveJobs(link_gbps=...)): a few-MB checkpoint takes a fraction of a second alone, several at
once share it."""

CHECKPOINT_GB = 0.003
"""The jobs' checkpoints as the scenario states them (the policy's model): the trainers' real
state (1.9 MB checkpoints), so the model and the measured links agree."""

CHUNK_BYTES = 1024 * 1024
"""Chunks small enough that concurrent transfers on a link interleave."""

TRAINER_ARGS = {"d_model": 96, "n_layers": 2, "context": 32, "batch_size": 8}
"""The char-transformer at 1.9 MB of checkpoint (weights, AdamW moments, random states)."""


def write_scenario(
    path: Path,
    *,
    n_jobs: int = 40,
    step: str = "30min",
    train_steps: int = 88,
    day: str = "2022-06-20",
    checkpoint_gb: float = CHECKPOINT_GB,
) -> Path:
    """Write the load scenario (see the module docstring) to ``path``; return it."""
    lines = [
        'name = "live-load"',
        f'description = "{n_jobs} small real trainers following the sun over five cities"',
        f"start = {day}T00:00:00Z",
        f"end = {datetime.date.fromisoformat(day) + datetime.timedelta(days=1)}T00:00:00Z",
        f'step = "{step}"',
        'forecaster = "perfect"',
        "seed = 0",
        "",
        "[energy_source]",
        'kind = "trace"',
        'solcast = "global"',
        "",
        "[links]",
        f"default_gbps = {PACED_LINK_GBPS}",
        "",
    ]
    for name, column, lat, lon, tz in SITES:
        lines += [
            "[[sites]]",
            f'name = "{name}"',
            f"latitude = {lat}",
            f"longitude = {lon}",
            f'timezone = "{tz}"',
            "gpu_slots = 40",
            "idle_power_w = 0.0",
            "base_load_w = 500.0",
            f'trace_column = "{column}"',
            "trace_peak_kw = 10.0",
            "",
        ]
    args = ", ".join(f"{k} = {v}" for k, v in TRAINER_ARGS.items())
    for j in range(n_jobs):
        lines += [
            "[[jobs]]",
            f'name = "job-{j:02d}"',
            f"arrival = {day}T00:{(j * 60 // n_jobs):02d}:00Z",
            "work_gpu_h = 22.0",
            "power_w = 200.0",
            f"checkpoint_gb = {checkpoint_gb}",
            "",
            "[jobs.live]",
            'trainer = "char-transformer"',
            f"trainer_args = {{ {args} }}",
            f"train_steps = {train_steps}",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def load_live(path: Path) -> LiveScenario:
    return LiveScenario.from_scenario(load_scenario(path))


ACTOR_START_TIMEOUT_S = 600.0
"""Many actors start at once on two shared cores: each may take minutes."""

MAX_CONCURRENT_MOVES = 8
"""Actor starts and moves of one tick carried out at once (more only slows each on 2 cores)."""


def make_jobs(sites: Any, cls: type[LiveJobs] = LiveJobs) -> LiveJobs:
    """The load's LiveJobs: links paced at PACED_LINK_GBPS, small chunks."""
    return cls(
        sites,
        link_gbps=PACED_LINK_GBPS,
        chunk_bytes=CHUNK_BYTES,
        actor_start_timeout_s=ACTOR_START_TIMEOUT_S,
    )


class HoldingJobs(LiveJobs):
    """Holds every migration's checkpoint in flight once :attr:`hold` is set (for the kill)."""

    marker: Path | None = None
    hold = threading.Event()

    def _in_transit(self, manifest: CheckpointManifest) -> CheckpointManifest:
        if self.marker is not None and self.hold.is_set():
            if not self.marker.exists():
                self.marker.write_text(
                    json.dumps({"job": manifest.job_id, "source": manifest.source_site})
                )
            time.sleep(3600)  # killed here
        return manifest


def main(address: str, scenario: str, db: str, marker: str, log: str, kill_tick: str = "") -> None:
    live = load_live(Path(scenario))
    deadline = time.monotonic() + 120
    sites = [s.name for s in live.scenario.sites]
    while True:
        try:
            cluster = attach(address, required_sites=sites)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            import_ray().shutdown()
            time.sleep(1.0)
    ray = import_ray()
    with cluster:
        jobs = make_jobs(cluster.sites, HoldingJobs)
        assert isinstance(jobs, HoldingJobs)
        jobs.marker = None if marker == "-" else Path(marker)
        hold_at = int(kill_tick) if kill_tick else None

        def actors() -> list[str]:
            named = ray.util.list_named_actors(all_namespaces=True)
            return [a["name"] for a in named if a["name"].startswith(ACTOR_NAME_PREFIX)]

        def on_tick(c: Controller) -> None:
            rows = [[r.name, r.state, c.site_names[r.site]] for r in c.rows]
            running = {r.name for r in c.rows if r.state == int(JobState.RUNNING)}
            # an actor killed (ray.kill: a moved job's source, a finished job) leaves the
            # table of named actors a moment later: wait up to 10 s for it to settle (a job
            # really running twice stays)
            deadline = time.monotonic() + 10.0
            while True:
                names = actors()
                jobs_of = [n.split("/")[1] for n in names]
                settled = len(jobs_of) == len(set(jobs_of)) and set(jobs_of) <= running
                if settled or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            entry: dict[str, Any] = {"tick": c.next_tick, "rows": rows, "actors": names}
            with open(log, "a") as f:
                f.write(json.dumps(entry) + "\n")
            if hold_at is not None and c.next_tick >= hold_at:
                jobs.hold.set()

        controller = Controller(
            live, jobs, db, speedup=1e6, max_concurrent_moves=MAX_CONCURRENT_MOVES
        )
        try:
            controller.run(on_tick=on_tick)
        finally:
            controller.close()


if __name__ == "__main__":
    main(*sys.argv[1:7])
