"""The CUDA path of greenhop live, measured on a real GPU: checkpoint round trips, NVML power,
and a trainer's calibration (``greenhop.live.jobs.calibrate``).

Run on a machine with an NVIDIA GPU, from the repository root::

    PYTHONPATH=src python benchmarks/bench_gpu.py --out runs/gpu_check.json

It needs only torch, numpy, pandas, safetensors and (for power) nvidia-ml-py: no Ray, no pvlib.
What it does, each part reported separately so one failure does not hide the others:

1. ``calibrate`` of the bundled char-transformer on CUDA at two sizes (the default, about 11 k
   parameters, and a 6-layer, d_model 768 model), with the NVML meter: step time, board power
   idle and training, energy per step, checkpoint size and capture/restore times, and whether a
   run checkpointed half-way and resumed in a fresh trainer ends bit-identical on the GPU;
2. the same small trainer on the CPU, for the speed ratio of the two devices;
3. a GPU checkpoint restored on the CPU and the CPU's written back to the GPU: every tensor
   equal (a job can move between a GPU site and a CPU site);
4. a bf16 matrix product's rate and the board power under it, against the datasheet figures in
   ``greenhop.accelerators``;
5. NVML's energy counter against the integral of its power readings over the same window.

With no GPU it runs part 2 alone and says so.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from greenhop.live.jobs.calibrate import calibrate
from greenhop.live.jobs.checkpoint import Checkpoint
from greenhop.live.jobs.examples import CharTransformerTrainer

LARGE = {"d_model": 768, "n_heads": 12, "n_layers": 6, "context": 256, "batch_size": 64}


def _part(results: dict[str, Any], name: str, fn: Any) -> None:
    t0 = time.perf_counter()
    try:
        results[name] = {"ok": True, **fn()}
    except Exception as exc:  # one part's failure is a result, not the end of the check
        results[name] = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(limit=6),
        }
    results[name]["wall_s"] = round(time.perf_counter() - t0, 3)
    print(f"== {name}: {json.dumps(results[name], default=str)[:1500]}", flush=True)


def _meter() -> Any:
    from greenhop.live.cluster.power import NvmlPowerMeter

    return NvmlPowerMeter(0)


def cal_cuda_small() -> dict[str, Any]:
    c = calibrate(
        lambda: CharTransformerTrainer(seed=7, device="cuda"),
        steps=200,
        warmup=20,
        min_seconds=5.0,
        meter=_meter(),
    )
    return c.as_dict()


def cal_cuda_large() -> dict[str, Any]:
    c = calibrate(
        lambda: CharTransformerTrainer(seed=7, device="cuda", **LARGE),  # type: ignore[arg-type]
        steps=50,
        warmup=10,
        min_seconds=10.0,
        meter=_meter(),
    )
    params = sum(p.numel() for p in CharTransformerTrainer(seed=7, **LARGE).model.parameters())  # type: ignore[arg-type]
    return {**c.as_dict(), "parameters": params}


def cal_cpu_small() -> dict[str, Any]:
    return calibrate(
        lambda: CharTransformerTrainer(seed=7, device="cpu"), steps=50, warmup=5
    ).as_dict()


def cross_device() -> dict[str, Any]:
    gpu = CharTransformerTrainer(seed=11, device="cuda")
    for _ in range(30):
        gpu.step()
    blob = Checkpoint.capture(gpu, steps_done=30).to_bytes()
    cpu = CharTransformerTrainer(seed=11, device="cpu")
    Checkpoint.from_bytes(blob).restore(cpu)
    a = Checkpoint.capture(gpu, steps_done=30).tensors()
    b = Checkpoint.capture(cpu, steps_done=30).tensors()
    model_keys = [k for k in a if k.startswith("trainer/")]
    equal_gpu_to_cpu = all(torch.equal(a[k], b[k]) for k in model_keys)
    # and back: the CPU's state (after 5 more CPU steps) loaded into a fresh GPU trainer
    for _ in range(5):
        cpu.step()
    blob2 = Checkpoint.capture(cpu, steps_done=35).to_bytes()
    gpu2 = CharTransformerTrainer(seed=11, device="cuda")
    Checkpoint.from_bytes(blob2).restore(gpu2)
    c = Checkpoint.capture(cpu, steps_done=35).tensors()
    d = Checkpoint.capture(gpu2, steps_done=35).tensors()
    equal_cpu_to_gpu = all(torch.equal(c[k], d[k]) for k in c if k.startswith("trainer/"))
    on_gpu = next(gpu2.model.parameters()).device.type
    return {
        "tensors": len(model_keys),
        "gpu_to_cpu_equal": equal_gpu_to_cpu,
        "cpu_to_gpu_equal": equal_cpu_to_gpu,
        "restored_params_on": on_gpu,
        "checkpoint_bytes": len(blob),
    }


def matmul_power() -> dict[str, Any]:
    meter = _meter()
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    torch.cuda.synchronize()
    meter.begin_window("mm")
    t0 = time.perf_counter()
    reps = 0
    while time.perf_counter() - t0 < 8.0:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()
        reps += 20
    dt = time.perf_counter() - t0
    m = meter.end_window("mm")
    return {
        "tflops": 2 * n**3 * reps / dt / 1e12,
        "seconds": dt,
        "mean_power_w": m.mean_power_w,
        "energy_j": m.energy_j,
    }


def nvml_counter_vs_power() -> dict[str, Any]:
    import pynvml

    meter = _meter()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    x = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            x @ x
            torch.cuda.synchronize()

    worker = threading.Thread(target=load)
    samples: list[tuple[float, float]] = []
    meter.begin_window("w")
    worker.start()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 6.0:
        samples.append((time.perf_counter(), pynvml.nvmlDeviceGetPowerUsage(handle) / 1e3))
        time.sleep(0.05)
    stop.set()
    worker.join()
    m = meter.end_window("w")
    integral = sum((t1 - t0_) * p0 for (t0_, p0), (t1, _) in itertools.pairwise(samples))
    span = samples[-1][0] - samples[0][0]
    return {
        "counter_mean_w": m.mean_power_w,
        "sampled_mean_w": integral / span,
        "samples": len(samples),
        "power_limit_w": pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1e3,
        "name": pynvml.nvmlDeviceGetName(handle),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/gpu_check.json"))
    args = ap.parse_args()
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    print(json.dumps(results), flush=True)
    if torch.cuda.is_available():
        _part(results, "cuda_small", cal_cuda_small)
        _part(results, "cuda_large", cal_cuda_large)
        _part(results, "cross_device", cross_device)
        _part(results, "matmul_bf16", matmul_power)
        _part(results, "nvml_counter", nvml_counter_vs_power)
    else:
        print("no CUDA GPU here: only the CPU calibration runs", flush=True)
    _part(results, "cpu_small", cal_cpu_small)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
