"""Measure a trainer where it will run: its step rate, its power, its checkpoint, its resumption.

The simulator and the feasibility model take a job's power (``power_w``), its checkpoint size
(``checkpoint_gb``) and each site's training speed (``accelerator_speed``) from the scenario. On
real hardware these are measured, not guessed: :func:`calibrate` runs the trainer on this machine
and returns a :class:`Calibration`:

- **speed**: the median wall time of a step after ``warmup`` steps (on CUDA each step is
  synchronised, so the time is the device's, not the launch queue's), and steps per second;
- **power**: the device's energy over the timed steps from a :class:`PowerMeter` (NVML's energy
  counter on an NVIDIA GPU, :class:`~greenhop.live.cluster.power.NvmlPowerMeter`), its mean power
  and energy per step, and the power the device drew idle just before;
- **checkpoint**: the size of the checkpoint (and of its frozen part), the time to capture and
  serialise it, and the time to parse and load it into a fresh trainer;
- **resumption**: whether a run stopped half-way, checkpointed to bytes, and continued in a fresh
  trainer ends bit-identical to an uninterrupted run of the same steps (the SHA-256 of both
  final checkpoints). On CUDA this needs :func:`~greenhop.live.jobs.trainer.make_deterministic`.

``greenhop live calibrate TRAINER`` prints it and the scenario lines it implies; measured on each
site's part, the ratio of two sites' step rates is the ``accelerator_speed`` of one relative to
the other (:meth:`Calibration.speed_relative_to`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from greenhop.errors import InputError
from greenhop.live._extras import import_torch
from greenhop.live.cluster.power import PowerMeter
from greenhop.live.jobs.checkpoint import Checkpoint, sha256_hex
from greenhop.live.jobs.trainer import Trainer, frozen_keys_of

_GB = 1e9


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` measured. Times in s, power in W, energy in J, sizes in bytes."""

    device: str  # "cpu" or "cuda:0 (NVIDIA H200)"
    steps: int  # timed steps (after warmup)
    warmup_steps: int
    step_s_median: float
    step_s_p90: float
    power_source: str  # the meter's source ("nvml"), or "none"
    idle_power_w: float | None
    mean_power_w: float | None
    energy_per_step_j: float | None
    checkpoint_bytes: int
    frozen_bytes: int
    capture_s: float  # state_dict, copy to host, serialise
    restore_s: float  # parse, load into a fresh trainer (on its device)
    resumed_at_step: int
    bit_exact: bool  # the resumed run's final checkpoint equals the uninterrupted run's
    final_sha256: str

    @property
    def steps_per_s(self) -> float:
        """Training steps per second (from the median step time)."""
        return 1.0 / self.step_s_median if self.step_s_median > 0 else float("inf")

    @property
    def checkpoint_gb(self) -> float:
        """The checkpoint's size, GB (1e9 bytes), as a scenario's ``checkpoint_gb``."""
        return self.checkpoint_bytes / _GB

    def speed_relative_to(self, reference_steps_per_s: float) -> float:
        """This device's ``accelerator_speed``: its step rate over the reference part's."""
        if not reference_steps_per_s > 0:
            raise InputError(f"reference steps per second must be > 0, got {reference_steps_per_s}")
        return self.steps_per_s / reference_steps_per_s

    def as_dict(self) -> dict[str, Any]:
        """Every field plus the derived ``steps_per_s`` and ``checkpoint_gb``, for JSON."""
        return {
            **asdict(self),
            "steps_per_s": self.steps_per_s,
            "checkpoint_gb": self.checkpoint_gb,
        }

    def scenario_lines(self, reference_steps_per_s: float | None = None) -> list[str]:
        """The scenario fields these figures give: the job's ``power_w`` (when a meter
        measured it) and ``checkpoint_gb``; the site's ``accelerator_speed`` (when the
        reference part's step rate is given)."""
        lines = [f"checkpoint_gb = {self.checkpoint_gb:.6g}    # [[jobs]]"]
        if self.frozen_bytes:
            lines.append(f"frozen_gb = {self.frozen_bytes / _GB:.6g}    # [[jobs]]")
        if self.mean_power_w is not None:
            lines.append(
                f"power_w = {self.mean_power_w:.0f}    # [[jobs]], measured ({self.power_source})"
            )
        if reference_steps_per_s is not None:
            lines.append(
                f"accelerator_speed = {self.speed_relative_to(reference_steps_per_s):.4g}"
                "    # [[sites]], against the reference's step rate"
            )
        return lines


def _sync(torch: Any) -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _device_of(trainer: Trainer, torch: Any) -> str:
    """The device of the trainer's first tensor (``cpu`` when it holds none)."""
    stack: list[Any] = [trainer.state_dict()]
    while stack:
        obj = stack.pop()
        if isinstance(obj, torch.Tensor):
            if obj.device.type == "cuda":
                index = obj.device.index or 0
                return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
            return str(obj.device)
        if isinstance(obj, dict):
            stack.extend(reversed(list(obj.values())))
        elif isinstance(obj, list | tuple):
            stack.extend(reversed(obj))
    return "cpu"


def calibrate(
    factory: Callable[[], Trainer],
    *,
    steps: int = 50,
    warmup: int = 5,
    min_seconds: float = 0.0,
    meter: PowerMeter | None = None,
    idle_seconds: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Run ``factory``'s trainer here and measure it (see the module docstring).

    Three trainers are built in turn: one runs ``warmup + n`` steps uninterrupted, timing the
    last ``n`` (``n`` = ``steps``, or more until ``min_seconds`` of timed steps have passed, so
    that a power meter averages over enough time) with ``meter`` open over them; one runs half
    of those steps and is checkpointed; one is restored from that checkpoint's bytes and runs the
    rest. ``meter`` None: power is not measured.
    """
    if steps < 2 or warmup < 0:
        raise InputError(f"calibrate needs steps >= 2 and warmup >= 0, got {steps}, {warmup}")
    torch = import_torch()
    say = progress or (lambda _msg: None)

    # 1. uninterrupted: warm up, then timed steps with the meter open
    say("building the trainer")
    trainer = factory()
    device = _device_of(trainer, torch)
    idle_w: float | None = None
    if meter is not None:
        _sync(torch)
        meter.begin_window("idle")
        time.sleep(idle_seconds)
        idle_w = meter.end_window("idle").mean_power_w
    say(f"warming up on {device}")
    for _ in range(warmup):
        trainer.step()
    _sync(torch)
    times: list[float] = []
    if meter is not None:
        meter.begin_window("steps")
    start = time.perf_counter()
    while len(times) < steps or (time.perf_counter() - start) < min_seconds:
        t0 = time.perf_counter()
        trainer.step()
        _sync(torch)
        times.append(time.perf_counter() - t0)
    measured = meter.end_window("steps") if meter is not None else None
    total = warmup + len(times)
    say(f"timed {len(times)} steps")
    final = Checkpoint.capture(trainer, steps_done=total)
    final_blob = final.to_bytes()
    frozen = frozen_keys_of(trainer)
    frozen_bytes = sum(
        t.numel() * t.element_size()
        for name, t in final.tensors().items()
        if name.removeprefix("trainer/") in frozen
    )
    del trainer

    # 2. the same run stopped half-way and checkpointed to bytes ...
    half = total // 2
    say(f"resuming at step {half}")
    first = factory()
    for _ in range(half):
        first.step()
    _sync(torch)
    t0 = time.perf_counter()
    blob = Checkpoint.capture(first, steps_done=half).to_bytes()
    capture_s = time.perf_counter() - t0
    del first

    # 3. ... restored in a fresh trainer, which runs the rest
    second = factory()
    t0 = time.perf_counter()
    done = Checkpoint.from_bytes(blob).restore(second)
    _sync(torch)
    restore_s = time.perf_counter() - t0
    for _ in range(total - done):
        second.step()
    _sync(torch)
    resumed = Checkpoint.capture(second, steps_done=total).to_bytes()

    ordered = sorted(times)
    return Calibration(
        device=device,
        steps=len(times),
        warmup_steps=warmup,
        step_s_median=statistics.median(times),
        step_s_p90=ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        power_source=meter.source if meter is not None else "none",
        idle_power_w=idle_w,
        mean_power_w=measured.mean_power_w if measured is not None else None,
        energy_per_step_j=measured.energy_j / len(times) if measured is not None else None,
        checkpoint_bytes=len(final_blob),
        frozen_bytes=int(frozen_bytes),
        capture_s=capture_s,
        restore_s=restore_s,
        resumed_at_step=half,
        bit_exact=resumed == final_blob,
        final_sha256=sha256_hex(final_blob),
    )
