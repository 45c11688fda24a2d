"""greenhop calibrate: a trainer measured where it runs (speed, power, checkpoint, resumption)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import Cli  # noqa: E402

from greenhop.live.cluster.power import NominalPowerMeter, ReplayPowerMeter  # noqa: E402
from greenhop.live.jobs.calibrate import calibrate  # noqa: E402
from greenhop.live.jobs.checkpoint import Checkpoint, sha256_hex  # noqa: E402
from greenhop.live.jobs.examples import CharTransformerTrainer, FrozenBaseTrainer  # noqa: E402

# A trainer that forgets part of its state: its learning rate decays with a step counter that
# state_dict() does not hold, so a resumed run restarts the decay and drifts off.
FORGETFUL = textwrap.dedent(
    """
    import torch
    from greenhop.live.jobs.trainer import make_deterministic

    class Forgetful:
        def __init__(self, seed: int = 0) -> None:
            make_deterministic(seed)
            self.model = torch.nn.Linear(8, 1)
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
            self.k = 0

        def step(self):
            x = torch.randn(16, 8)
            loss = (self.model(x) ** 2).mean()
            self.opt.zero_grad()
            loss.backward()
            for group in self.opt.param_groups:
                group["lr"] = 0.1 / (1 + self.k)
            self.opt.step()
            self.k += 1
            return {"loss": loss.item()}

        def state_dict(self):
            return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

        def load_state_dict(self, state):
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["opt"])
    """
)


def test_calibrate_times_the_steps_and_resumes_bit_identically() -> None:
    cal = calibrate(lambda: CharTransformerTrainer(seed=3), steps=12, warmup=2)
    assert cal.device == "cpu" and cal.steps == 12 and cal.warmup_steps == 2
    assert 0 < cal.step_s_median <= cal.step_s_p90
    assert cal.steps_per_s == pytest.approx(1 / cal.step_s_median)
    assert cal.bit_exact and cal.resumed_at_step == 7
    # the reported final state is that of an independent uninterrupted run of 14 steps
    trainer = CharTransformerTrainer(seed=3)
    for _ in range(14):
        trainer.step()
    blob = Checkpoint.capture(trainer, steps_done=14).to_bytes()
    assert cal.final_sha256 == sha256_hex(blob) and cal.checkpoint_bytes == len(blob)
    assert cal.frozen_bytes == 0 and cal.power_source == "none" and cal.mean_power_w is None
    assert cal.capture_s > 0 and cal.restore_s > 0


def test_calibrate_reads_power_and_energy_per_step_from_the_meter(tmp_path: Path) -> None:
    # a recorded ramp: the power is the trace time in W, so a window's mean power is the time
    # of its middle; the idle window comes before the timed steps
    trace = tmp_path / "power.csv"
    trace.write_text("time_s,power_w\n0,0\n3600,3600\n")
    cal = calibrate(
        lambda: CharTransformerTrainer(seed=1),
        steps=5,
        warmup=1,
        meter=ReplayPowerMeter(trace),
        idle_seconds=0.5,
    )
    assert cal.power_source == "replay"
    assert cal.idle_power_w is not None and cal.mean_power_w is not None
    assert 0.25 <= cal.idle_power_w < cal.mean_power_w
    # energy per step is the timed window's energy over its steps: the window holds every
    # timed step (and the timer's own work) at the window's mean power. The steps' sum is not
    # reported, but the longer half of them each took at least the median (5 x the median can
    # exceed the sum when the shorter steps are quicker: 54.6 ms against 5 x 11.1 ms, seen)
    assert cal.energy_per_step_j is not None
    window_s = cal.energy_per_step_j * cal.steps / cal.mean_power_w
    longer_half = cal.steps - cal.steps // 2
    assert window_s >= longer_half * cal.step_s_median * 0.99
    nominal = calibrate(
        lambda: CharTransformerTrainer(seed=1),
        steps=4,
        meter=NominalPowerMeter(250.0),
        idle_seconds=0.05,
    )
    assert nominal.mean_power_w == pytest.approx(250.0, rel=1e-3)  # clock and energy read apart
    assert "power_w = 250    # [[jobs]], measured (nominal)" in nominal.scenario_lines()


def test_calibrate_counts_the_frozen_part_and_gives_the_scenario_lines() -> None:
    cal = calibrate(lambda: FrozenBaseTrainer(seed=2, base_mb=4), steps=3, warmup=1)
    assert cal.bit_exact
    assert 3.9e6 < cal.frozen_bytes <= 4.0e6 < cal.checkpoint_bytes
    lines = cal.scenario_lines(reference_steps_per_s=cal.steps_per_s * 2)
    assert lines[0] == f"checkpoint_gb = {cal.checkpoint_bytes / 1e9:.6g}    # [[jobs]]"
    assert lines[1].startswith("frozen_gb = 0.0039")
    assert lines[-1].startswith("accelerator_speed = 0.5    # [[sites]]")


def test_calibrate_finds_a_trainer_that_does_not_resume(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "forgetful.py").write_text(FORGETFUL)
    code, out, _ = cli(
        "calibrate", "forgetful:Forgetful", "--working-dir", str(tmp_path), "--steps", "6", "--json"
    )
    assert code == 1, out
    figures = json.loads(out)
    assert figures["bit_exact"] is False and figures["steps"] == 6
    code, out, err = cli("calibrate", "forgetful:Forgetful", "--working-dir", str(tmp_path))
    assert code == 1
    assert "resumed at step" in out and "DIFFERS" in out
    assert "make_deterministic" in err


def test_calibrate_command_prints_the_figures_and_refuses_bad_input(cli: Cli) -> None:
    code, out, err = cli(
        "calibrate",
        "char-transformer",
        "--arg",
        "d_model=16",
        "--steps",
        "4",
        "--reference-steps-per-s",
        "1000",
        "--json",
    )
    assert code == 0, err
    figures = json.loads(out)
    assert figures["bit_exact"] is True and figures["device"] == "cpu"
    assert figures["accelerator_speed"] == pytest.approx(figures["steps_per_s"] / 1000)
    code, out, err = cli("calibrate", "char-transformer", "--arg", "no_equals")
    assert code == 2 and "KEY=VALUE" in err and out == ""
    code, _, err = cli("calibrate", "char-transformer", "--arg", "widht=3")
    assert code == 2 and "unexpected keyword argument 'widht'" in err
    code, _, err = cli("calibrate", "no_such_module:make")
    assert code == 2 and "cannot import module 'no_such_module'" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
def test_calibrate_on_cuda_resumes_bit_identically() -> None:
    cal = calibrate(lambda: CharTransformerTrainer(seed=5, device="cuda"), steps=20, warmup=5)
    assert cal.device.startswith("cuda:") and cal.bit_exact
