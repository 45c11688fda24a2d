"""Sweeps: many simulations of one scenario over a grid or a random sample of its parameters.

A sweep file (:mod:`greenhop.sweep.spec`) names a base scenario, policies, seeds and the axes to
vary; each cell (a point of the axes with one seed) runs every policy once
(:mod:`greenhop.sweep.cells`), as a Ray task (:mod:`greenhop.sweep.execute`), and its rows are
written to Parquet parts that make the sweep resumable (:mod:`greenhop.sweep.store`). The
report (:mod:`greenhop.sweep.report`) gives means with 95 % intervals over seeds and heatmaps
of one policy minus another. ``greenhop sweep SWEEP.toml`` is the command; docs/sweeps.md the
guide.
"""

from __future__ import annotations

from greenhop.sweep.execute import SweepRun, run_sweep
from greenhop.sweep.report import write_report
from greenhop.sweep.spec import AXES, Cell, SweepError, SweepSpec, load_sweep

__all__ = [
    "AXES",
    "Cell",
    "SweepError",
    "SweepRun",
    "SweepSpec",
    "load_sweep",
    "run_sweep",
    "write_report",
]
