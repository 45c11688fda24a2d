"""The live controller under load (issue 14, point 6): 40 real training jobs on 5 site nodes.

The load of ``tests/test_live_load.py`` (scenario: ``tests/live_load_proc.py``): an embedded
5-node Ray cluster on this machine (one node per site), 40 small char-transformer trainers
(1.9 MB checkpoints) following the sun over five cities through a replayed day of
Solcast PV measurements (1 h ticks), the feasibility-aware policy, each link paced at
``PACED_LINK_GBPS`` and shared by the moves that cross it at once. The controller runs in this
process, as fast as the jobs train (``speedup=1e6``).

Measured: the controller's tick latency (the whole tick, and its own work without the moves
and the wait for the jobs), migrations at once (per tick and on one link), each link's
goodput while it carried transfers against its paced rate, memory (PSS and RSS) per site node
(its ``ray start``, raylet, object store and the actor workers on it), total wall time.

Run: .venv/bin/python benchmarks/bench_live_load.py  (writes the "live-load" section of
docs/benchmarks.md; about 5 min here)
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
from docsections import update_doc  # noqa: E402
from live_load_proc import (  # noqa: E402
    CHECKPOINT_GB,
    CHUNK_BYTES,
    MAX_CONCURRENT_MOVES,
    PACED_LINK_GBPS,
    TRAINER_ARGS,
    load_live,
    make_jobs,
    write_scenario,
)

from greenhop.live.cluster.local import LocalCluster  # noqa: E402
from greenhop.live.control.controller import Controller  # noqa: E402
from greenhop.live.control.state import ControllerState  # noqa: E402
from greenhop.live.jobs.driver import LiveJobs  # noqa: E402
from greenhop.live.jobs.transfer import TransferResult  # noqa: E402
from greenhop.policies.base import JobState  # noqa: E402

N_JOBS = 40


def proc_memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of a process in kB, (0, 0) if it is gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return pss, rss


@dataclass
class Sampler:
    """Memory per site node, sampled every ``every_s`` in a thread."""

    cluster: LocalCluster
    every_s: float = 2.0
    samples: dict[str, list[tuple[float, float, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # site -> (pss MB, rss MB, processes)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for site, pids in self.cluster.site_pids().items():
                mem = [proc_memory_kb(p) for p in pids]
                self.samples[site].append(
                    (sum(m[0] for m in mem) / 1024, sum(m[1] for m in mem) / 1024, len(pids))
                )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class CountingJobs(LiveJobs):
    """Counts migrations in flight and keeps each one's wall interval and result."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.moves: list[tuple[float, float, TransferResult]] = []

    def migrate(self, job_id: str, dest: str) -> TransferResult:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        t0 = time.monotonic()
        try:
            res = super().migrate(job_id, dest)
        finally:
            with self._lock:
                self.in_flight -= 1
        with self._lock:
            self.moves.append((t0, time.monotonic(), res))
        return res


def union_s(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of intervals."""
    total, end = 0.0, -np.inf
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def run(n_jobs: int = N_JOBS, partial: Path | None = None) -> dict[str, Any]:
    """Run the load; after every tick the figures so far are rendered to ``partial`` (a run
    stopped early still says what it measured)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-load-"))
    live = load_live(
        write_scenario(tmp / "live-load.toml", n_jobs=n_jobs, step="1h", train_steps=44)
    )
    slots = {s.name: s.gpu_slots for s in live.scenario.sites}
    db = tmp / "state.sqlite"
    t0 = time.monotonic()
    r: dict[str, Any] = {"live": live, "load": os.getloadavg()[0]}
    # two CPUs per node: Ray starts up to that many actor processes on a node at once
    with LocalCluster(slots, object_store_mb=100, num_cpus_per_node=2) as cluster:
        r["cluster_start_s"] = time.monotonic() - t0
        jobs = make_jobs(cluster.sites, CountingJobs)
        assert isinstance(jobs, CountingJobs)
        sampler = Sampler(cluster)
        controller = Controller(
            live, jobs, db, speedup=1e6, max_concurrent_moves=MAX_CONCURRENT_MOVES
        )
        t1 = time.monotonic()

        def collect(c: Controller) -> None:
            state = ControllerState(db)
            r.update(
                rows=list(c.rows),
                timings=list(c.tick_timings),
                ticks_done=c.next_tick,
                migrations=state.migrations(),
                refused=state.refused(),
                moves=list(jobs.moves),
                max_in_flight=jobs.max_in_flight,
                link_stats=jobs.link_stats(),
                memory={k: list(v) for k, v in sampler.samples.items()},
                run_s=time.monotonic() - t1,
                wall_s=time.monotonic() - t0,
                load_end=os.getloadavg()[0],
            )
            state.close()
            if partial is not None and r["timings"] and r["moves"]:
                partial.write_text(render(r))

        try:
            assert controller.run(on_tick=collect)
            collect(controller)
        finally:
            controller.close()
            sampler.stop()
    r["wall_s"] = time.monotonic() - t0
    return r


def render(r: dict[str, Any]) -> str:
    live = r["live"]
    timings = [t for t in r["timings"] if t.total_s > 0]
    active = [t for t in timings if t.wait_s > 0 or t.n_moves]  # ticks with running jobs
    total = np.array([t.total_s for t in active])
    own = np.array([t.overhead_s for t in active])
    moves_s = np.array([t.moves_s for t in active if t.n_moves])
    per_tick = [t.n_moves for t in timings if t.n_moves]
    ok = [m for m in r["migrations"] if m.ok]
    moved = {m.job for m in ok}
    done = sum(1 for row in r["rows"] if row.state == int(JobState.DONE))
    share_refused = [x for x in r["refused"] if "shared by" in str(x)]
    # goodput per link: the bytes the link carried over the time it carried any transfer
    per_link: dict[tuple[str, str], list[tuple[float, float, int]]] = defaultdict(list)
    for _t0, end, res in r["moves"]:
        key = tuple(sorted((res.source_site, res.dest_site)))
        wire_end = end - res.load_duration_s  # the pulls ended before the load
        per_link[key].append((wire_end - res.transfer_duration_s, wire_end, res.bytes_sent))
    link_rows = []
    for key in sorted(per_link):
        items = per_link[key]
        busy = union_s([(a, b) for a, b, _ in items])
        sent = sum(n for _, _, n in items)
        goodput = 8 * sent / busy / 1e9 if busy > 0 else float("nan")
        stats = r["link_stats"].get(key, {})
        link_rows.append(
            f"| {key[0]}–{key[1]} | {len(items)} | {sent / 1e6:.1f} | {busy:.1f} | "
            f"{goodput * 1e3:.1f} | {goodput / PACED_LINK_GBPS:.2f} | "
            f"{stats.get('busy_s', float('nan')):.1f} |"
        )
    mem_rows = []
    for site in [s.name for s in live.scenario.sites]:
        s = np.array(r["memory"].get(site, [(0.0, 0.0, 0)]))
        mem_rows.append(
            f"| {site}{' (head)' if site == live.scenario.sites[0].name else ''} | "
            f"{s[:, 0].mean():.0f} | {s[:, 0].max():.0f} | {s[:, 1].max():.0f} | "
            f"{int(s[:, 2].max())} |"
        )
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores (shared with other work), 24 GiB, no "
        f"GPU, Python {platform.python_version()}"
    )
    args = ", ".join(f"{k}={v}" for k, v in TRAINER_ARGS.items())
    return (
        f"{len(r['rows'])} jobs (`CharTransformerTrainer({args})`, "
        f"{live.live_jobs[0].total_steps} steps each), 5 site nodes of an embedded "
        f"`LocalCluster` (100 MB object store each), {live.inputs.n_steps} ticks of 1 h "
        "(one replayed day of Solcast PV at Hong Kong, Mumbai, Berlin, Sao Paulo, San "
        "Francisco), feasibility-aware policy; the scenario's links "
        f"{PACED_LINK_GBPS * 1e3:.0f} Mbit/s and its checkpoints {CHECKPOINT_GB * 1e3:.0f} MB "
        "(the trainers' real state), the live links paced at that rate "
        f"(`LiveJobs(link_gbps=...)`, {CHUNK_BYTES // 1024} KiB chunks) and shared by the "
        f"moves that cross one at once; {machine}; load average {r['load']:.1f} when it began "
        f"(other work shared the machine), {r['load_end']:.1f} at its end. Ticks as fast as "
        "the jobs train (`speedup=1e6`).\n\n"
        f"- wall time: {r['wall_s'] / 60:.1f} min ({r['cluster_start_s']:.0f} s cluster start, "
        f"{r['run_s']:.0f} s the controller's run, {r['ticks_done']} of "
        f"{live.inputs.n_steps} ticks); {done} of {len(r['rows'])} jobs done\n"
        f"- migrations: {len(ok)} ({len(r['migrations']) - len(ok)} failed), {len(moved)} "
        f"jobs moved; in {len(per_tick)} ticks with moves, {np.mean(per_tick):.1f} per tick on "
        f"average, at most {max(per_tick)}; at most {max(t.max_per_link for t in timings)} on "
        f"one link at once; at most {r['max_in_flight']} migrations in flight at once; "
        f"{len(share_refused)} refused because the link's share made them infeasible\n"
        f"- tick latency, the whole tick ({len(active)} ticks with jobs): median "
        f"{np.median(total):.2f} s, p99 {np.percentile(total, 99):.2f} s, max "
        f"{total.max():.2f} s; the controller's own work (policy, rules, progress, ledger, "
        f"checkpoints, SQLite; without the moves and the wait for the jobs' steps): median "
        f"{np.median(own):.3f} s, p99 {np.percentile(own, 99):.3f} s; a tick's moves, carried "
        f"out at once: median {np.median(moves_s):.1f} s, max {moves_s.max():.1f} s\n\n"
        "Goodput per link (the bytes the moves sent over the time the link carried any of "
        f"them; rate {PACED_LINK_GBPS * 1e3:.0f} Mbit/s; *paced busy* is the pacer's own "
        "count of the seconds its reservations filled):\n\n"
        "| link | moves | MB sent | busy (s) | goodput (Mbit/s) | / rate | paced busy (s) |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(link_rows) + "\n\n"
        "Memory per site node (sampled every 2 s: the node's `ray start` and its "
        "descendants, i.e. raylet, object store, and the actor workers on it; the head also "
        "has the GCS and the dashboard), MB:\n\n"
        "| site | PSS mean | PSS max | RSS max | processes max |\n"
        "|---|---|---|---|---|\n" + "\n".join(mem_rows) + "\n"
    )


def main(argv: list[str]) -> None:
    """``bench_live_load.py [N_JOBS]``: another number of jobs is a trial, not written to the
    doc."""
    n_jobs = int(argv[0]) if argv and argv[0].isdigit() else N_JOBS  # (run_all passes names)
    partial = Path(tempfile.gettempdir()) / "bench_live_load.partial.md"
    print(f"figures so far after every tick: {partial}")
    r = run(n_jobs, partial)
    body = render(r)
    if n_jobs == N_JOBS:
        update_doc(ROOT / "docs" / "benchmarks.md", {"live-load": body})
    print(body)


if __name__ == "__main__":
    main(sys.argv[1:])
