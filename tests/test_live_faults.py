"""Faults during migrations, on a real Ray cluster across a real (namespaced, tbf-shaped) WAN
with real training jobs: a link cut half-way, a corrupted checkpoint (in flight and on disk),
the source node dying with its checkpoint in flight, the destination node dying during the
restore.

Sites: ``h`` (the head node and the driver, i.e. the controller's site), ``b`` and ``c``,
pairwise linked at 40 Mbit/s, so a 24 MB checkpoint takes about 5 s and a fault can be fired
when a given share of it has crossed the link (the veth's tx counter). Every test ends with the
same checks (:func:`check_invariants`): no job lost, no job running at two sites (the cluster's
named training actors), nothing but verified checkpoints loaded (the job's final state is
bit-identical to an uninterrupted run of the same steps), and progress lost at most back to
the last good checkpoint. The controller (and its SQLite state) is not part of these tests: it
did not exist when they were written.

Needs root (namespaces, tc); skipped with the reason otherwise. Node kills happen in the last
two tests, in file order (pytest's default).
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from greenhop.live.cluster.wan import wan_unavailable_reason

pytestmark = pytest.mark.live

REASON = wan_unavailable_reason()

ray = pytest.importorskip("ray")
pytest.importorskip("torch")

from live_fault_helpers import (  # noqa: E402
    corrupting_migrate,
    events,
    jobs_view,
    saved_steps,
    site_nodes,
    snapshot_sha256,
    training_actors,
)
from namespace_driver import NamespaceDriver, driver_call, driver_jobs  # noqa: E402
from wan_tools import SyntheticTrainer, WhenBytesCrossed  # noqa: E402

from greenhop.live.cluster.wan import NamespacedCluster, Wan  # noqa: E402
from greenhop.live.errors import ChecksumError, MigrationError  # noqa: E402
from greenhop.live.jobs.checkpoint import Checkpoint  # noqa: E402
from greenhop.live.jobs.driver import LiveJob  # noqa: E402
from greenhop.live.jobs.store import CheckpointStore  # noqa: E402
from greenhop.policies.base import JobState  # noqa: E402

SIZE_MB = 24
RATE_MBIT = 40
SEED = 5
STEP_A, STEP_B, FINAL = 20, 30, 40  # saved checkpoint, migration point, where each test ends


@dataclass
class World:
    wan: Wan
    cluster: NamespacedCluster
    driver: NamespaceDriver
    checkpoint_dir: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if REASON is not None:
        pytest.skip(f"no namespaced WAN here: {REASON}")
    ckdir = tmp_path_factory.mktemp("checkpoints")
    with (
        Wan(["h", "b", "c"], RATE_MBIT) as wan,
        NamespacedCluster(wan, {"h": 1, "b": 1, "c": 1}, object_store_mb=120) as cluster,
        NamespaceDriver(
            wan.netns["h"],
            str(cluster.address),
            wan.address["h"],
            required_sites=["h", "b", "c"],
        ) as driver,
    ):
        driver.call(
            driver_jobs,
            call_timeout_s=180.0,
            chunk_bytes=4 * 2**20,
            retry_backoff_s=1.0,
            transfer_timeout_s=12.0,  # 24 MB at 40 Mbit/s: 5 s
            store=CheckpointStore(ckdir),
        )
        yield World(wan, cluster, driver, ckdir)


@functools.cache
def reference_sha256(steps: int) -> str:
    """SHA-256 of the checkpoint of an uninterrupted run of ``steps`` steps (in this process)."""
    trainer = SyntheticTrainer(SIZE_MB, seed=SEED)
    for _ in range(steps):
        trainer.step()
    return Checkpoint.capture(trainer, steps_done=steps).sha256()  # type: ignore[arg-type]


# -- the checks every test ends with -------------------------------------------------------------


def check_invariants(world: World, job_id: str, *, at_least_steps: int) -> str:
    """No job lost, one training actor per job at the site the jobs table says, progress at
    least ``at_least_steps``, and (after running to FINAL) a state bit-identical to an
    uninterrupted run. Returns the job's site."""
    d = world.driver
    view = d.call(jobs_view)
    assert job_id in view, f"job {job_id} was lost"
    site = view[job_id]["site"]
    assert view[job_id]["node"] == d.call(site_nodes)[site]
    assert view[job_id]["progress"].steps_done >= at_least_steps
    # killed actors leave the named-actor table asynchronously: wait until it settles
    deadline = time.monotonic() + 60
    while True:
        names = d.call(training_actors)
        per_job = Counter(n.split("/")[1] for n in names)
        sites = [n.split("/")[2] for n in names if n.split("/")[1] == job_id]
        if per_job[job_id] == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sites == [site], f"job {job_id} has actors at {sites}, expected only at {site!r}"
    assert all(count == 1 for count in per_job.values()), per_job
    # run to FINAL: identical to a run that never met the fault
    d.call(driver_call, "resume", job_id, FINAL)
    d.call(driver_call, "wait", job_id, FINAL)
    steps, sha = d.call(snapshot_sha256, job_id)
    assert steps == FINAL
    assert sha == reference_sha256(FINAL)
    return str(site)


def start_job(world: World, job_id: str, site: str, *, save_at: int | None = None) -> None:
    """Start a job at ``site``, save its checkpoint at ``save_at`` (if given), and leave it
    idle at STEP_B."""
    d = world.driver
    job = LiveJob(job_id, functools.partial(SyntheticTrainer, SIZE_MB, SEED), 10**6)
    if save_at is not None:
        d.call(driver_call, "start", job, site, until=save_at)
        d.call(driver_call, "wait", job_id, save_at)
        assert d.call(driver_call, "save_checkpoint", job_id) == save_at
        d.call(driver_call, "resume", job_id, STEP_B)
    else:
        d.call(driver_call, "start", job, site, until=STEP_B)
    d.call(driver_call, "wait", job_id, STEP_B)


def stop_job(world: World, job_id: str) -> None:
    world.driver.call(driver_call, "stop", job_id)


def size_bytes() -> int:
    return int(SIZE_MB * 1e6)


# -- corrupted checkpoints -----------------------------------------------------------------------


def test_checkpoint_corrupted_in_flight_is_refused_and_reported(world: World) -> None:
    start_job(world, "flipped", "b")
    message = world.driver.call(corrupting_migrate, "flipped", "c")
    assert "Chunk 1 of" in message and "refused" in message
    last = world.driver.call(events)[-1]
    assert last.job_id == "flipped" and last.attempt == 1  # refused at once, not retried
    assert "ChecksumError" in str(last.error) and last.outcome == "refused, not retried"
    assert check_invariants(world, "flipped", at_least_steps=STEP_B) == "b"
    stop_job(world, "flipped")


def test_checkpoint_corrupted_on_disk_is_refused_and_the_previous_one_used(world: World) -> None:
    d = world.driver
    start_job(world, "rotten", "b", save_at=STEP_A)
    assert d.call(driver_call, "save_checkpoint", "rotten") == STEP_B  # STEP_A is kept too
    newest, previous = CheckpointStore(world.checkpoint_dir).paths("rotten")
    assert (newest.name, previous.name) == (f"rotten-{STEP_B:08d}", f"rotten-{STEP_A:08d}")
    blob = newest.with_name(newest.name + ".safetensors")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the tensor bytes
    blob.write_bytes(bytes(data))
    assert d.call(saved_steps, "rotten") == STEP_A  # the corrupted newest one is skipped
    refused = [e for e in d.call(events) if e.job_id == "rotten"]
    assert refused and "ChecksumError" in str(refused[-1].error)
    # both corrupted: nothing is loaded
    prev = previous.with_name(previous.name + ".safetensors")
    rotten = bytearray(prev.read_bytes())
    rotten[-1] ^= 0xFF
    prev.write_bytes(bytes(rotten))
    with pytest.raises(ChecksumError, match="Every saved checkpoint of job 'rotten'"):
        d.call(saved_steps, "rotten")
    assert check_invariants(world, "rotten", at_least_steps=STEP_B) == "b"
    stop_job(world, "rotten")


# -- a link cut half-way -------------------------------------------------------------------------


def test_transfer_cut_half_way_is_retried_by_the_rule(world: World) -> None:
    """The b-c link goes down when 40 % of the checkpoint has crossed it and comes back 8 s
    later; the attempt times out (transfer_timeout_s), the job resumes at b, and the retry
    (after the backoff) moves it."""
    wan = world.wan
    start_job(world, "cut", "b")

    def cut() -> None:
        wan.set_link_up("b", "c", False)
        time.sleep(8.0)
        wan.set_link_up("b", "c", True)

    with WhenBytesCrossed(wan, "b", "c", int(0.4 * size_bytes()), cut) as fault:
        result = world.driver.call(driver_call, "migrate", "cut", "c")
    fault.join()
    assert fault.fired.is_set()
    assert result.attempts == 2 and result.dest_site == "c" and not result.recovered_from_disk
    assert result.steps_done == STEP_B  # nothing was lost: the source's state moved
    failed = [e for e in world.driver.call(events) if e.job_id == "cut"]
    assert [e.outcome for e in failed] == ["retrying"]
    assert check_invariants(world, "cut", at_least_steps=STEP_B) == "c"
    stop_job(world, "cut")


# -- nodes dying ---------------------------------------------------------------------------------


def test_source_node_dies_with_the_checkpoint_in_flight(world: World) -> None:
    """Node b dies when 40 % of the checkpoint has reached c: the job resumes at c from its
    last checkpoint saved off the sites (step STEP_A), losing the steps since."""
    start_job(world, "orphan", "b", save_at=STEP_A)
    with WhenBytesCrossed(
        world.wan, "b", "c", int(0.4 * size_bytes()), lambda: world.cluster.kill_site("b")
    ) as fault:
        result = world.driver.call(driver_call, "migrate", "orphan", "c")
    fault.join()
    assert fault.fired.is_set()
    assert result.recovered_from_disk and result.dest_site == "c"
    assert result.steps_done == STEP_A  # back to the last good checkpoint, no further
    outcomes = [e.outcome for e in world.driver.call(events) if e.job_id == "orphan"]
    assert outcomes == ["source died; recovering"]
    assert check_invariants(world, "orphan", at_least_steps=STEP_A) == "c"
    stop_job(world, "orphan")


def test_destination_node_dies_during_restore(world: World) -> None:
    """Node c dies when 40 % of the checkpoint has reached it: the migration gives up at once
    (the destination is gone, no retry) and the job continues at its source h."""
    start_job(world, "stranded", "h")
    with (
        WhenBytesCrossed(
            world.wan, "h", "c", int(0.4 * size_bytes()), lambda: world.cluster.kill_site("c")
        ) as fault,
        pytest.raises(MigrationError, match=r"after 1 attempt\(s\); it continues at 'h'"),
    ):
        world.driver.call(driver_call, "migrate", "stranded", "c")
    fault.join()
    assert fault.fired.is_set()
    failed = [e for e in world.driver.call(events) if e.job_id == "stranded"]
    assert [e.outcome for e in failed] == ["gave up"]
    assert check_invariants(world, "stranded", at_least_steps=STEP_B) == "h"
    stop_job(world, "stranded")


# -- the controller killed during a migration ----------------------------------------------------


def test_controller_killed_during_a_migration_and_restarted(tmp_path: Path) -> None:
    """The live controller (its own process, the live-demo scenario) is SIGKILLed while its
    first migration holds the checkpoint in flight (source paused, destination actor started).
    Its actors die with it (Ray ties them to their driver). A new controller on the same
    SQLite database restarts every running job at the site its state names, from its last
    checkpoint, and finishes the day: every job done, bit-identical to an uninterrupted run,
    never two actors of one job, the database agreeing with the actors at every tick."""
    import os
    import signal
    import subprocess
    import sys

    from live_controller_proc import demo

    from greenhop.live.cluster.local import LocalCluster
    from greenhop.live.control.state import ControllerState

    live = demo()
    helper = str(Path(__file__).with_name("live_controller_proc.py"))
    db, marker = tmp_path / "state.sqlite", tmp_path / "in-flight.json"
    logs = [tmp_path / "ticks-1.jsonl", tmp_path / "ticks-2.jsonl"]
    slots = {s.name: s.gpu_slots for s in live.scenario.sites}
    with LocalCluster(slots, object_store_mb=100, connect=False) as cluster:
        address = str(cluster.address)
        first = subprocess.Popen(
            [sys.executable, helper, address, str(db), str(marker), str(logs[0])]
        )
        try:
            deadline = time.monotonic() + 600
            while not marker.exists():
                assert first.poll() is None, f"the controller exited ({first.returncode})"
                assert time.monotonic() < deadline, "no migration within 10 min"
                time.sleep(0.2)
            time.sleep(0.5)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        held = json.loads(marker.read_text())
        state = ControllerState(db)
        rows_at_kill = {r.name: r for r in state.jobs()}
        moved_at_kill = [(m.job, m.dest) for m in state.migrations() if m.ok]
        state.close()
        held_row = rows_at_kill[held["job"]]
        assert held_row.state == int(JobState.RUNNING)
        # the uncommitted migration left the state naming the source, where the job was
        assert live.inputs.site_names[held_row.site] == held["source"]
        second = subprocess.run(
            [sys.executable, helper, address, str(db), "-", str(logs[1])], timeout=900
        )
        assert second.returncode == 0
        state = ControllerState(db)
        rows, events, moves = state.jobs(), state.events(), state.migrations()
        state.close()
    # the held migration was never committed; the new controller recovered every running job
    assert len([m for m in moves if m.ok]) >= len(moved_at_kill)
    recovered = {e[1] for e in events if e[2] == "recovered"}
    running = {r.idx for r in rows_at_kill.values() if r.state == int(JobState.RUNNING)}
    assert recovered == running
    # no job lost, each one done, bit-identical to a run that was never interrupted
    for row, spec in zip(rows, live.live_jobs, strict=True):
        assert row.state == int(JobState.DONE) and row.steps_done == spec.total_steps
        final = Checkpoint.load(row.checkpoint_path)
        trainer = spec.make_trainer()
        for _ in range(spec.total_steps):
            trainer.step()
        expected = Checkpoint.capture(trainer, steps_done=spec.total_steps)
        assert final.to_bytes() == expected.to_bytes()
    # never two actors of a job; every running job's one actor at the site its row names
    ticks = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    assert ticks
    for tick in ticks:
        per_job = Counter(name.split("/")[1] for name in tick["actors"])
        assert all(n == 1 for n in per_job.values()), tick
        for name, state_code, site in tick["rows"]:
            if state_code == int(JobState.RUNNING):
                assert [a.split("/")[2] for a in tick["actors"] if a.split("/")[1] == name] == [
                    site
                ], tick
