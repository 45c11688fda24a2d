"""The feasibility domain drawn on the (bandwidth, checkpoint size) plane."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from greenhop import checkpoints, feasibility
from greenhop._io import atomic_path
from greenhop.feasibility import DEFAULTS, ModelParameters

REGIME_COLOURS = {"A": "#b7e4c7", "B": "#ffe8a3", "C": "#f4b6b6"}


def plot_domain(
    path: str | os.PathLike[str],
    params: ModelParameters = DEFAULTS,
    *,
    windows_h: Sequence[float] = (1.0, 2.5, 5.0, 9.5),
    setup: str = "mixed-adam",
    bandwidth_range_gbps: tuple[float, float] = (0.01, 1000.0),
    size_range_gb: tuple[float, float] = (0.01, 20000.0),
) -> None:
    """Draw regions A/B/C, the boundary ``D = alpha W`` for each window, and the catalog models.

    Each model sits at its checkpoint size under ``setup``, at the smallest bandwidth that makes
    it time-feasible for the shortest window of the regime range (on the A/B boundary), or at the
    right edge with an arrow when no bandwidth is enough.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    b = np.geomspace(bandwidth_range_gbps[0], bandwidth_range_gbps[1], 400)
    s = np.geomspace(size_range_gb[0], size_range_gb[1], 400)
    reg = feasibility.regime(s[:, None], b[None, :], params)
    codes = np.searchsorted(np.array(feasibility.REGIMES), reg)

    fig, ax = plt.subplots(figsize=(9, 6.5), dpi=120)
    cmap = ListedColormap([REGIME_COLOURS[r] for r in feasibility.REGIMES])
    ax.pcolormesh(b, s, codes, cmap=cmap, vmin=-0.5, vmax=2.5, shading="auto", rasterized=True)
    for w_h in windows_h:
        s_max = feasibility.max_checkpoint_gb(b, w_h * 3600.0, params)
        ax.plot(b, np.where(s_max > 0, s_max, np.nan), lw=1.4, label=f"boundary, W = {w_h:g} h")

    w_short = params.window_short_s
    for spec in checkpoints.CATALOG.values():
        try:
            size = checkpoints.checkpoint_size_gb(spec.name, setup)
        except Exception:
            continue
        adapters_only = checkpoints.training_setup(setup).adapters_only
        whole = size + spec.params * 2 / 1e9  # with the frozen bf16 base
        # LoRA: both sizes at the bandwidth the whole checkpoint needs (S_eff sits far below)
        b_min = feasibility.min_bandwidth_gbps(whole if adapters_only else size, w_short, params)
        lo, hi = bandwidth_range_gbps
        x = float(np.clip(b_min, lo, hi)) if np.isfinite(b_min) else hi
        marker = "o" if lo < b_min < hi else (">" if b_min >= hi else "<")
        ax.plot([x], [size], marker=marker, color="black", ms=6)
        if adapters_only:  # S_eff: the adapters; S: with the base, for a site without it
            ax.plot([x, x], [size, whole], color="black", lw=0.8, ls=":")
            ax.plot([x], [whole], marker="o", mfc="none", color="black", ms=6)
        left_half = np.log10(x) < np.mean(np.log10(bandwidth_range_gbps))
        ax.annotate(
            f"{spec.name} ({size:.3g} GB)",
            (x, size),
            textcoords="offset points",
            xytext=(6, -10) if left_half else (-6, 5),
            ha="left" if left_half else "right",
            fontsize=8,
        )

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("WAN bandwidth B (Gbit/s)")
    ax.set_ylabel("checkpoint size S (GB)")
    ax.set_title(
        f"Feasibility domain: D < alpha W, alpha = {params.alpha:g}; "
        f"regimes over W in [{params.window_short_s / 3600:g}, {params.window_long_s / 3600:g}] h"
        f"\nmodels: {setup} checkpoints at the bandwidth they need for "
        f"W = {w_short / 3600:g} h"
        + (
            "\nhollow: S with the frozen bf16 base, filled: S_eff (the base at the destination)"
            if checkpoints.training_setup(setup).adapters_only
            else ""
        ),
        fontsize=10,
    )
    handles, _ = ax.get_legend_handles_labels()
    handles += [
        Patch(color=REGIME_COLOURS["A"], label="A: feasible for every window"),
        Patch(color=REGIME_COLOURS["B"], label="B: feasible for long windows only"),
        Patch(color=REGIME_COLOURS["C"], label="C: never feasible"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.9)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=os.path.splitext(str(path))[1].lstrip(".") or "png")
    plt.close(fig)
