"""examples/own-trainer end to end: a user's own project (its model, its data, its trainer
factory by import path) shipped to a real two-node Ray cluster through the job's runtime_env,
driven by the feasibility-aware policy over the example's replayed trace. The job migrates from
Amsterdam to Colorado as the sun moves, and ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray")
pytest.importorskip("torch")

from greenhop.live.cluster.local import LocalCluster
from greenhop.live.control.controller import Controller
from greenhop.live.control.scenario import LiveScenario
from greenhop.live.control.state import ControllerState
from greenhop.live.jobs.checkpoint import Checkpoint
from greenhop.live.jobs.driver import LiveJobs
from greenhop.policies.base import JobState
from greenhop.runner import policy_for
from greenhop.scenario import load_scenario
from greenhop.sim import Simulator

pytestmark = pytest.mark.live

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-trainer"


@pytest.fixture(scope="module")
def live() -> LiveScenario:
    return LiveScenario.from_scenario(load_scenario(EXAMPLE / "scenario.toml"))


@pytest.fixture(scope="module")
def run(live: LiveScenario, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # the project is not importable here or on the nodes: only the runtime_env brings it
    assert not any(Path(p).resolve() == EXAMPLE.resolve() for p in sys.path if p)
    db = tmp_path_factory.mktemp("own-trainer") / "state.sqlite"
    slots = {s.name: s.gpu_slots for s in live.scenario.sites}
    with LocalCluster(slots, object_store_mb=100, runtime_env=live.runtime_env()) as cluster:
        controller = Controller(live, LiveJobs(cluster.sites), db, speedup=1e6)
        try:
            assert controller.run()
            rows = controller.rows
        finally:
            controller.close()
    state = ControllerState(db)
    yield {"rows": rows, "migrations": state.migrations()}
    state.close()


def test_the_job_follows_the_sun_as_in_the_simulator(
    run: dict[str, Any], live: LiveScenario
) -> None:
    moves = [m for m in run["migrations"] if m.ok]
    assert moves, "the job never moved"
    names = live.inputs.site_names
    assert [(names[m.src], names[m.dest]) for m in moves] == [("amsterdam", "colorado")]
    sim = Simulator(live.inputs).run(policy_for("feasibility-aware", live.inputs))
    assert [(m.src, m.dest, m.started_s) for m in sim.migrations] == [
        (m.src, m.dest, m.time_s) for m in moves
    ]


def test_the_migrated_job_ends_bit_identical(run: dict[str, Any], live: LiveScenario) -> None:
    (row,) = run["rows"]
    (job,) = live.live_jobs
    assert row.state == int(JobState.DONE) and row.steps_done == job.total_steps
    final = Checkpoint.load(row.checkpoint_path)
    trainer = job.make_trainer()  # the same factory, uninterrupted, in this process
    for _ in range(job.total_steps):
        trainer.step()
    expected = Checkpoint.capture(trainer, steps_done=job.total_steps)
    assert final.to_bytes() == expected.to_bytes()
