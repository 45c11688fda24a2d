"""Accelerators: what a site's GPU slots are, how fast they train and what they draw.

A site's slots are all one part (``accelerator = "l4"`` on a site). A job's ``work_gpu_h`` and
``power_w`` are given on the scenario's *reference* part (default :data:`REFERENCE`, the part the
feasibility model's default job power comes from); on a site with part ``p`` the job

- progresses ``speed(p) = throughput(p) / throughput(reference)`` GPU-hours of work per hour,
- draws ``power_w × board_power(p) / board_power(reference)`` (training holds a GPU near its
  board power; a job that draws 80 % of the reference's board power draws 80 % of ``p``'s).

A site without an accelerator is the reference part (speed 1, the job's own power), so scenarios
that say nothing keep their numbers.

**Throughput** is the part's peak dense BF16 (FP16 on Jetson) tensor-core rate from its
vendor's datasheet, relative to the reference: a proxy, stated as one. Real training gains less
than the peak ratio where it is memory- or communication-bound: Lambda measured an 8×H100 SXM5
server at 2.5× to 3.1× an 8×A100 SXM4 one on DeepSpeed-Chat's OPT-13B/OPT-350M training steps in
FP16 (2023), against a peak ratio of 3.2×. A site that measured its own parts says so with
``accelerator_speed``.

Sources (board power = the TDP / maximum board power of the datasheet):

- ``h100-sxm``, ``h100-pcie``: NVIDIA H100 Tensor Core GPU datasheet (2023): 989 / 756 BF16
  TFLOPS dense (half the 1,979 / 1,513 given with sparsity), 700 W / 350 W.
- ``h200``: NVIDIA H200 Tensor Core GPU datasheet (2024): 989 BF16 TFLOPS dense (1,979 with
  sparsity; the H100 SXM's compute), up to 700 W (SXM). Measured here on one H200 SXM (driver
  580.159.04, torch 2.11, ``benchmarks/bench_gpu.py``): an 8192³ BF16 matrix product ran at
  657 TFLOP/s for 8 s at a mean 693 W by NVML's energy counter (power limit 700 W); a 28.6 M
  parameter transformer's training step drew 619 W.
- ``a100``, ``a100-pcie``: NVIDIA A100 Tensor Core GPU datasheet (2021): 312 BF16 TFLOPS dense,
  400 W (SXM4 80 GB) / 300 W (PCIe 80 GB).
- ``l40s``: NVIDIA L40S datasheet (2023): 362 BF16 TFLOPS dense (733 with sparsity), 350 W.
- ``l4``: NVIDIA L4 datasheet (2023): 121 BF16 TFLOPS dense (242 with sparsity), 72 W.
- ``rtx-4090``: NVIDIA Ada Lovelace architecture whitepaper (v1.0, 2022), appendix: 165.2 BF16
  TFLOPS dense with FP32 accumulate, 450 W total graphics power.
- ``jetson-agx-orin``: NVIDIA Jetson AGX Orin series technical brief (v1.2, 2022), AGX Orin 64GB:
  its GPU's 170 sparse INT8 TOPS are 42.5 dense FP16 TFLOPS (÷ 2 for sparsity, ÷ 2 for INT8 to
  FP16); module power 15-60 W, 60 W taken (the MAXN mode a training job runs in).
- ``v100``: NVIDIA V100 datasheet (2020): 125 FP16 tensor TFLOPS (no BF16), 300 W (SXM2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from greenhop.errors import InputError, UnknownNameError


@dataclass(frozen=True)
class Accelerator:
    """One part: its name, what it is, its board power and its peak dense tensor rate."""

    name: str
    description: str
    board_power_w: float
    tensor_tflops: float  # dense BF16 (FP16 where the part has no BF16 tensor cores)
    kind: str  # "datacenter" or "edge"


CATALOG: dict[str, Accelerator] = {
    a.name: a
    for a in (
        Accelerator("h100-sxm", "NVIDIA H100 SXM5 80 GB", 700.0, 989.4, "datacenter"),
        Accelerator("h200", "NVIDIA H200 SXM 141 GB", 700.0, 989.4, "datacenter"),
        Accelerator("h100-pcie", "NVIDIA H100 PCIe 80 GB", 350.0, 756.4, "datacenter"),
        Accelerator("a100", "NVIDIA A100 SXM4 80 GB", 400.0, 312.0, "datacenter"),
        Accelerator("a100-pcie", "NVIDIA A100 PCIe 80 GB", 300.0, 312.0, "datacenter"),
        Accelerator("l40s", "NVIDIA L40S 48 GB", 350.0, 362.05, "datacenter"),
        Accelerator("l4", "NVIDIA L4 24 GB", 72.0, 121.0, "edge"),
        Accelerator("rtx-4090", "NVIDIA GeForce RTX 4090 24 GB", 450.0, 165.2, "edge"),
        Accelerator("jetson-agx-orin", "NVIDIA Jetson AGX Orin 64 GB", 60.0, 42.5, "edge"),
        Accelerator("v100", "NVIDIA V100 SXM2 32 GB (FP16)", 300.0, 125.0, "datacenter"),
    )
}

REFERENCE = "h100-sxm"
"""The part a job's ``work_gpu_h`` and ``power_w`` refer to, unless a scenario names another:
the H100 SXM whose 700 W is the feasibility model's default job power."""


def accelerator(name: str) -> Accelerator:
    """The catalog's part ``name``; UnknownNameError lists the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown accelerator {name!r}; known: {', '.join(CATALOG)}"
        ) from None


def speed_factor(name: str | None, reference: str = REFERENCE) -> float:
    """Work per hour on part ``name`` relative to ``reference`` (1 for None: the reference)."""
    if name is None:
        return 1.0
    return accelerator(name).tensor_tflops / accelerator(reference).tensor_tflops


def power_factor(name: str | None, reference: str = REFERENCE) -> float:
    """A job's draw on part ``name`` relative to its draw on ``reference`` (board powers)."""
    if name is None:
        return 1.0
    return accelerator(name).board_power_w / accelerator(reference).board_power_w


def site_factors(
    names: list[str | None],
    *,
    reference: str = REFERENCE,
    speeds: list[float | None] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per site ``(speed, power factor)`` arrays; ``speeds`` overrides a site's speed (a value
    it measured), None keeps the catalog's."""
    speed = np.array([speed_factor(n, reference) for n in names], dtype=np.float64)
    if speeds is not None:
        for i, s in enumerate(speeds):
            if s is not None:
                if not s > 0:
                    raise InputError(f"accelerator speed must be > 0, got {s}")
                speed[i] = float(s)
    power = np.array([power_factor(n, reference) for n in names], dtype=np.float64)
    return speed, power
