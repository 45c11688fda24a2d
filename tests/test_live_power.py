"""Power meters: the nominal path, and the replay test double standing in for a real device."""

from __future__ import annotations

import pandas as pd
import pytest

from greenhop.errors import InputError, MissingExtraError, TraceError
from greenhop.live.cluster.power import NominalPowerMeter, NvmlPowerMeter, ReplayPowerMeter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nominal_meter_integrates_constant_power() -> None:
    clock = FakeClock()
    meter = NominalPowerMeter(300.0, clock=clock)
    meter.begin_window("epoch")
    clock.now += 60.0
    m = meter.end_window("epoch")
    assert m.duration_s == 60.0
    assert m.energy_j == pytest.approx(18_000.0)
    assert m.mean_power_w == pytest.approx(300.0)
    assert m.energy_kwh == pytest.approx(0.005)
    assert m.source == "nominal" and m.name == "epoch"


def _trace(tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "gpu_power.csv"
    # a recorded ramp: idle 100 W, a step up to 300 W, back down
    pd.DataFrame({"time_s": [0, 10, 20, 30], "power_w": [100, 300, 300, 100]}).to_csv(
        path, index=False
    )
    return str(path)


def test_replay_meter_integrates_the_recorded_trace(tmp_path) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    meter = ReplayPowerMeter(_trace(tmp_path), clock=clock)
    assert meter.power_w() == 100.0
    meter.begin_window("all")
    clock.now += 5.0
    assert meter.power_w() == pytest.approx(200.0)
    meter.begin_window("middle")
    clock.now += 20.0  # t = 25 s
    middle = meter.end_window("middle")
    everything = meter.end_window("all")
    # 5..10: trapezoid 200->300; 10..20: 300; 20..25: 300->200
    assert middle.energy_j == pytest.approx(1250 + 3000 + 1250)
    assert everything.energy_j == pytest.approx(750 + 5500)
    assert everything.source == "replay"


def test_replay_meter_loops_or_refuses_to_run_past_the_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    looped = ReplayPowerMeter(_trace(tmp_path), loop=True, clock=clock)
    once = ReplayPowerMeter(_trace(tmp_path), clock=clock)
    clock.now += 30.0
    one_pass = looped.energy_j()
    assert one_pass == pytest.approx(2000 + 3000 + 2000)
    clock.now += 35.0
    assert looped.energy_j() == pytest.approx(2 * one_pass + 750)
    with pytest.raises(TraceError, match="loop=True"):
        once.energy_j()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"time_s": [0, 1], "watts": [1, 2]}), "no column 'power_w'"),
        (pd.DataFrame({"time_s": [0, 1, 1], "power_w": [1, 2, 3]}), "row 3: time 1.0 s"),
        (pd.DataFrame({"time_s": [0, 1], "power_w": [1, -2]}), "row 2: -2.0 W is negative"),
        (pd.DataFrame({"time_s": [0, 1], "power_w": [1, None]}), "row 2: not a finite"),
        (pd.DataFrame({"time_s": [0], "power_w": [1]}), "at least 2"),
    ],
)
def test_replay_meter_names_what_is_wrong(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        ReplayPowerMeter(frame)


def test_missing_trace_file_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TraceError, match="does not exist"):
        ReplayPowerMeter(tmp_path / "nope.csv")


def test_windows_must_be_opened_once() -> None:
    meter = NominalPowerMeter(10.0, clock=FakeClock())
    with pytest.raises(InputError, match="not opened"):
        meter.end_window("x")
    meter.begin_window("x")
    with pytest.raises(InputError, match="already open"):
        meter.begin_window("x")


def test_nvml_meter_needs_pynvml() -> None:
    try:
        import pynvml  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match="nvidia-ml-py"):
            NvmlPowerMeter()
    else:
        pytest.skip("pynvml is installed; the NVML path needs a GPU and is not tested here")
