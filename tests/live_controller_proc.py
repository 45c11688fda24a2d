"""A live controller in a process of its own, for the SIGKILL test in test_live_faults.py.

``python live_controller_proc.py ADDRESS DB MARKER LOG`` attaches to the cluster at ADDRESS and
runs the live-demo scenario (a quarter of its training steps, as in test_live_controller.py)
with its state in DB. If MARKER is not ``-``, the first migration holds its checkpoint in
flight (the source paused, the destination actor started), writes MARKER and waits to be
killed. After every tick it appends one JSON line to LOG: the controller's rows and the
cluster's training actors.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from greenhop.live._extras import import_ray
from greenhop.live.cluster.local import attach
from greenhop.live.control.controller import Controller
from greenhop.live.control.scenario import LiveScenario
from greenhop.live.jobs.driver import ACTOR_NAME_PREFIX, LiveJobs
from greenhop.live.jobs.transfer import CheckpointManifest
from greenhop.scenario import load_scenario


class HoldingJobs(LiveJobs):
    marker: Path | None = None

    def _in_transit(self, manifest: CheckpointManifest) -> CheckpointManifest:
        if self.marker is not None:
            self.marker.write_text(
                json.dumps({"job": manifest.job_id, "source": manifest.source_site})
            )
            time.sleep(3600)  # killed here
        return manifest


def demo() -> LiveScenario:
    sc = load_scenario("live-demo")
    for job in sc.jobs:
        job.live = {**(job.live or {}), "train_steps": (job.live or {}).get("train_steps", 40) // 4}
    return LiveScenario.from_scenario(sc)


def main(address: str, db: str, marker: str, log: str) -> None:
    live = demo()
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
        jobs = HoldingJobs(cluster.sites)
        jobs.marker = None if marker == "-" else Path(marker)

        def on_tick(c: Controller) -> None:
            named = ray.util.list_named_actors(all_namespaces=True)
            entry: dict[str, Any] = {
                "tick": c.next_tick,
                "rows": [[r.name, r.state, c.site_names[r.site]] for r in c.rows],
                "actors": [a["name"] for a in named if a["name"].startswith(ACTOR_NAME_PREFIX)],
            }
            with open(log, "a") as f:
                f.write(json.dumps(entry) + "\n")

        controller = Controller(live, jobs, db, speedup=1e6)
        try:
            controller.run(on_tick=on_tick)
        finally:
            controller.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
