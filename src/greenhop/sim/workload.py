"""Seeded streams of training jobs, for sweeps and benchmarks.

Checkpoint sizes come from the catalog (:mod:`greenhop.checkpoints`), so a generated job is a
real model trained under a real set-up; arrivals are uniform over a span of the run.
"""

from __future__ import annotations

import numpy as np

from greenhop.checkpoints import checkpoint_size_gb
from greenhop.world.inputs import JobSpecs

#: (model, set-up, power W) of the generated jobs: fine-tuning to pre-training on one GPU.
JOB_MIX: tuple[tuple[str, str, float], ...] = (
    ("resnet-50", "mixed-adam", 300.0),
    ("bert-base", "fp32-adam", 350.0),
    ("bert-base", "mixed-adam", 400.0),
    ("gpt2-xl", "mixed-adam", 700.0),
    ("llama-2-7b", "lora", 650.0),
    ("llama-2-13b", "lora", 700.0),
    ("llama-2-7b", "mixed-adam", 700.0),
)


def generate_jobs(
    n: int,
    horizon_s: float,
    *,
    seed: int = 0,
    arrival_share: float = 0.8,
    work_gpu_h: tuple[float, float] = (4.0, 48.0),
    mix: tuple[tuple[str, str, float], ...] = JOB_MIX,
) -> JobSpecs:
    """``n`` jobs arriving uniformly over the first ``arrival_share`` of ``horizon_s``."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, len(mix), n)
    sizes = np.array([checkpoint_size_gb(m, s) for m, s, _ in mix])
    powers = np.array([p for _, _, p in mix])
    return JobSpecs(
        names=tuple(f"{mix[k][0]}-{mix[k][1]}-{i:04d}" for i, k in enumerate(kinds)),
        arrival_s=np.sort(rng.uniform(0.0, horizon_s * arrival_share, n)),
        work_gpu_h=rng.uniform(*work_gpu_h, n),
        power_w=powers[kinds],
        size_gb=sizes[kinds],
        deadline_s=np.full(n, np.inf),
        preferred_site=np.full(n, -1, dtype=np.int64),
    )
