"""The training actor's loop, run in this process without Ray: pause, resume up to a step,
wait, failures, snapshots at step boundaries."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ray")

from greenhop.live.errors import LiveError  # noqa: E402
from greenhop.live.jobs.actor import TrainingActor  # noqa: E402
from greenhop.live.jobs.checkpoint import Checkpoint  # noqa: E402


class Counter:
    """A trainer whose state is the number of steps it took; fails at ``fail_at`` if given."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.w = torch.zeros(1)
        self.fail_at = fail_at
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # set when a step has begun

    def step(self) -> dict[str, float]:
        self.entered.set()
        self.gate.wait()
        if self.fail_at is not None and int(self.w) + 1 == self.fail_at:
            raise RuntimeError("loss is nan")
        self.w += 1
        return {"w": float(self.w)}

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.w = state["w"].clone()


def test_actor_is_started_paused_and_trains_up_to_a_step() -> None:
    actor = TrainingActor("j", "a", Counter, total_steps=50)
    assert actor.progress().steps_done == 0 and not actor.progress().running
    actor.resume(until=7)
    done = actor.wait(7, timeout_s=30)
    assert done.steps_done == 7 and not done.running and done.run_until == 7
    assert done.last_metrics == {"w": 7.0}
    actor.resume()
    final = actor.wait(timeout_s=30)
    assert final.steps_done == 50 and final.finished
    blob = actor.snapshot()
    assert Checkpoint.from_bytes(blob).steps_done == 50
    assert int(Checkpoint.from_bytes(blob).state["trainer"]["w"]) == 50
    actor.stop()


def test_pause_waits_for_the_running_step() -> None:
    actor = TrainingActor("j", "a", Counter, total_steps=1000)
    trainer = actor._trainer
    assert isinstance(trainer, Counter)
    trainer.gate.clear()  # the next step blocks inside step()
    trainer.entered.clear()
    actor.resume()
    assert trainer.entered.wait(10)  # the training thread is inside a step now
    paused: list[int] = []
    pauser = threading.Thread(target=lambda: paused.append(actor.pause().steps_done))
    pauser.start()
    pauser.join(0.3)
    assert pauser.is_alive()  # a step is running: pause waits for its end
    trainer.gate.set()
    pauser.join(10)
    assert not pauser.is_alive()
    steps = paused[0]
    assert actor.progress().steps_done == steps and not actor.progress().running
    assert Checkpoint.from_bytes(actor.snapshot()).steps_done == steps
    actor.stop()


def test_a_failing_step_stops_the_job_and_is_reported() -> None:
    actor = TrainingActor("j", "a", lambda: Counter(fail_at=4), total_steps=10)
    actor.resume()
    with pytest.raises(LiveError, match=r"failed at step 4: RuntimeError: loss is nan"):
        actor.wait(timeout_s=30)
    progress = actor.progress()
    assert progress.steps_done == 3 and not progress.running
    assert progress.error == "RuntimeError: loss is nan"
    actor.stop()
