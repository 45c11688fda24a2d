"""The project's data: noisy samples of a damped sine, generated from a seed (no download)."""

from __future__ import annotations

import numpy as np


def damped_sine(n: int = 2048, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points x in [0, 4π) and y = e^(-x/8) sin(2x) + 0.05 noise, float32, shape (n, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 4.0 * np.pi, size=(n, 1))
    y = np.exp(-x / 8.0) * np.sin(2.0 * x) + 0.05 * rng.standard_normal((n, 1))
    return x.astype(np.float32), y.astype(np.float32)
