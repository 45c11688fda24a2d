"""Sweep files: a base scenario, policies, seeds and the axes to vary, checked all at once.

A sweep file looks like this (``examples/sweeps/germany-bandwidth.toml``, docs/sweeps.md)::

    name = "germany-bandwidth"
    scenario = "germany"                 # a bundled name, or a path relative to this file
    policies = ["energy-only", "feasibility-aware"]
    seeds = [0, 1, 2]

    [workload]                           # optional: generated jobs instead of the scenario's
    jobs = 20

    [grid]                               # every combination of the listed values ...
    bandwidth_gbps = [0.1, 1.0, 10.0]
    checkpoint_gb = [1.0, 10.0, 100.0]

    # [sample]                           # ... or n random points (one of grid or sample)
    # n = 50
    # bandwidth_gbps = { min = 0.1, max = 10.0, scale = "log" }
    # forecaster = ["perfect", "persistence"]

    [report]                             # optional: what the heatmaps show
    compare = ["feasibility-aware", "energy-only"]
    metrics = ["non_renewable_kwh", "jct_mean_h"]

A file's problems are reported all at once, one line each naming the file, the table and the
field, as the scenario's are (``sweep.toml: [grid]: field 'alpha': must be in (0, 1] (got
1.5)``): :class:`SweepError`, which the CLI prints as one error and exit code 2.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from greenhop.errors import GreenhopError, InputError

Value = float | int | str


class SweepError(InputError):
    """A sweep file is invalid; each line names the file, the table and the field."""


# ------------------------------------------------------------------------------------ axes


def _setups() -> list[str]:
    from greenhop.checkpoints import SETUPS

    return list(SETUPS)


def _forecasters() -> list[str]:
    from greenhop.energy.forecast import FORECASTERS

    return list(FORECASTERS)


def _mixes() -> list[str]:
    return list(job_mixes())


@dataclass(frozen=True)
class Axis:
    """One parameter a sweep can vary, and what it changes in a cell's inputs."""

    name: str
    kind: str  # "float", "int" or "choice"
    help: str
    low: float | None = None  # bound on values (exclusive when low_open)
    low_open: bool = True
    high: float | None = None  # inclusive upper bound
    choices: Callable[[], list[str]] | None = None

    def check(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this axis, or None."""
        if self.kind == "choice":
            assert self.choices is not None
            known = self.choices()
            if not isinstance(value, str) or value not in known:
                return f"unknown {self.name} {value!r}; use one of {', '.join(known)}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number (got {value!r})"
        if self.kind == "int" and not isinstance(value, int):
            return f"must be a whole number (got {value!r})"
        if not math.isfinite(value):
            return f"must be finite (got {value!r})"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            if self.high is not None:
                return f"must be in ({self.low:g}, {self.high:g}] (got {value!r})"
            return f"must be {'>' if self.low_open else '≥'} {self.low:g} (got {value!r})"
        if self.high is not None and value > self.high:
            return f"must be in ({self.low:g}, {self.high:g}] (got {value!r})"
        return None


#: Every axis a sweep may vary, in the order the docs list them.
AXES: dict[str, Axis] = {
    a.name: a
    for a in (
        Axis("bandwidth_gbps", "float", "every link between two sites, Gbit/s", low=0.0),
        Axis("bandwidth_scale", "float", "multiplies every link's bandwidth", low=0.0),
        Axis("checkpoint_gb", "float", "every job's checkpoint size, GB", low=0.0),
        Axis("checkpoint_scale", "float", "multiplies every job's checkpoint size", low=0.0),
        Axis(
            "setup",
            "choice",
            "training set-up of every job's checkpoint (greenhop.checkpoints); needs jobs "
            "that name a catalog model",
            choices=_setups,
        ),
        Axis("alpha", "float", "disruption tolerance α of the model (0, 1]", low=0.0, high=1.0),
        Axis(
            "network_energy_scale",
            "float",
            "multiplies e_net, the network energy per GB moved, in the model the policies "
            "decide by and in the run's books alike",
            low=0.0,
        ),
        Axis(
            "forecaster",
            "choice",
            "the forecaster the policies see (greenhop.energy.forecast)",
            choices=_forecasters,
        ),
        Axis(
            "jobs",
            "int",
            "number of generated jobs (greenhop.sim.workload); replaces the scenario's jobs",
            low=1.0,
            low_open=False,
        ),
        Axis(
            "job_mix",
            "choice",
            "which catalog jobs are generated (see job_mixes); replaces the scenario's jobs",
            choices=_mixes,
        ),
    )
}

#: Axes whose values make the cell's jobs generated rather than the scenario's.
WORKLOAD_AXES = ("jobs", "job_mix")

#: A generated job whose checkpoint is at least this large is in the 'large-checkpoints' mix, GB.
LARGE_CHECKPOINT_GB = 5.0


def job_mixes() -> dict[str, tuple[tuple[str, str, float], ...]]:
    """The job mixes a sweep can generate, by name: ``catalog`` is
    :data:`greenhop.sim.workload.JOB_MIX`; ``small-checkpoints`` and ``large-checkpoints`` split
    it at :data:`LARGE_CHECKPOINT_GB` (fine-tuning and LoRA against full pre-training)."""
    from greenhop.checkpoints import checkpoint_size_gb
    from greenhop.sim.workload import JOB_MIX

    large = tuple(m for m in JOB_MIX if checkpoint_size_gb(m[0], m[1]) >= LARGE_CHECKPOINT_GB)
    small = tuple(m for m in JOB_MIX if m not in large)
    return {"catalog": JOB_MIX, "small-checkpoints": small, "large-checkpoints": large}


# ------------------------------------------------------------------------------------ the file


@dataclass(frozen=True)
class Workload:
    """Generated jobs (``[workload]``): count, mix, work range and arrival span."""

    jobs: int = 20
    mix: str = "catalog"
    work_gpu_h: tuple[float, float] = (4.0, 48.0)
    arrival_share: float = 0.8


@dataclass(frozen=True)
class Range:
    """A sampled numeric axis: uniform in [min, max], or log-uniform with ``scale = 'log'``."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class ReportSettings:
    """What the report draws (``[report]``)."""

    x: str | None = None
    y: str | None = None
    compare: tuple[str, str] | None = None
    metrics: tuple[str, ...] = ("non_renewable_kwh", "jct_mean_h")


@dataclass(frozen=True)
class Cell:
    """One point of the sweep with one seed: what a single simulation per policy runs on."""

    index: int  # order in the sweep
    point: int  # the parameter point; cells that differ only in their seed share it
    params: tuple[tuple[str, Value], ...]
    seed: int

    @property
    def values(self) -> dict[str, Value]:
        return dict(self.params)


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep file."""

    name: str
    source: Path
    scenario_path: Path
    policies: tuple[str, ...]
    seeds: tuple[int, ...]
    axes: tuple[str, ...]  # the varied axes, in the file's order
    grid: Mapping[str, tuple[Value, ...]] | None
    sample: Mapping[str, Range | tuple[Value, ...]] | None
    sample_n: int = 0
    sample_seed: int = 0
    workload: Workload | None = None
    report: ReportSettings = field(default_factory=ReportSettings)
    description: str = ""
    text: str = ""
    #: The base scenario as loaded when the file was checked (not sent to Ray's workers).
    scenario: Any = field(default=None, compare=False, repr=False)

    @property
    def generates_jobs(self) -> bool:
        """Whether cells run generated jobs (``[workload]`` or a workload axis)."""
        return self.workload is not None or any(a in WORKLOAD_AXES for a in self.axes)

    @property
    def workload_or_default(self) -> Workload:
        return self.workload or Workload()

    def points(self) -> list[dict[str, Value]]:
        """The parameter points, without seeds, in order."""
        if self.grid is not None:
            names = list(self.grid)
            return [
                dict(zip(names, combo, strict=True))
                for combo in itertools.product(*(self.grid[n] for n in names))
            ]
        if self.sample is not None:
            rng = np.random.default_rng(self.sample_seed)
            columns: dict[str, list[Value]] = {}
            for name, how in self.sample.items():
                columns[name] = _draw(AXES[name], how, self.sample_n, rng)
            return [{name: columns[name][i] for name in columns} for i in range(self.sample_n)]
        return [{}]

    def cells(self) -> list[Cell]:
        """Every cell: each point with each seed (seeds innermost)."""
        out: list[Cell] = []
        for p, values in enumerate(self.points()):
            for seed in self.seeds:
                out.append(Cell(len(out), p, tuple(values.items()), seed))
        return out

    def base_hash(self) -> str:
        """What every cell shares: the scenario file's text and the fixed settings; a cell's key
        hashes it with the cell's values, so a changed scenario reruns its cells."""
        digest = hashlib.sha256(self.scenario_path.read_bytes())
        fixed = {"workload": None if self.workload is None else self.workload.__dict__}
        digest.update(json.dumps(fixed, sort_keys=True, default=list).encode())
        return digest.hexdigest()[:16]

    def key(self, cell: Cell, policy: str, base_hash: str) -> str:
        """The cell's and policy's key in the results (what resuming skips by)."""
        what = {"base": base_hash, "params": dict(cell.params), "seed": cell.seed, "p": policy}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:20]


def _draw(
    axis: Axis, how: Range | tuple[Value, ...], n: int, rng: np.random.Generator
) -> list[Value]:
    if isinstance(how, tuple):
        return [how[int(i)] for i in rng.integers(0, len(how), n)]
    if axis.kind == "int":
        return [int(v) for v in rng.integers(int(how.low), int(how.high) + 1, n)]
    if how.log:
        raw = np.exp(rng.uniform(math.log(how.low), math.log(how.high), n))
    else:
        raw = rng.uniform(how.low, how.high, n)
    return [float(f"{v:.4g}") for v in raw]  # four significant digits: readable, still spread


# ------------------------------------------------------------------------------------ checking

_TOP = (
    "name",
    "description",
    "scenario",
    "policies",
    "seeds",
    "workload",
    "grid",
    "sample",
    "report",
)
_WORKLOAD = ("jobs", "mix", "work_gpu_h", "arrival_share")
_REPORT = ("x", "y", "compare", "metrics")
_RANGE = ("min", "max", "scale")

#: Metrics the report can draw: the numeric figures of :func:`greenhop.sim.metrics.summary`.
REPORT_METRICS = (
    "non_renewable_kwh",
    "grid_kwh",
    "network_kwh",
    "it_energy_kwh",
    "jobs_non_renewable_kwh",
    "jobs_renewable_share",
    "renewable_share",
    "migration_energy_kwh",
    "bytes_moved",
    "migrations",
    "migrations_started",
    "wasted_migrations",
    "jobs_done",
    "jct_mean_h",
    "jct_p50_h",
    "jct_p95_h",
    "slowdown_mean",
    "slowdown_p95_over_p50",
    "stability_slowdown_std",
    "refused_actions",
    "emissions_kgco2e",
    "energy_cost",
    "dr_excess_kwh",
)


class _Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: list[str] = []

    def add(self, table: str | None, field_: str | None, message: str) -> None:
        where = [f"[{table}]"] if table else []
        if field_ is not None:
            where.append(f"field {field_!r}")
        self.lines.append(f"{self.file}: {': '.join(where) or 'top level'}: {message}")

    def unknown(self, table: str | None, keys: Any, known: Sequence[str], what: str) -> None:
        """A problem for each of ``keys`` not in ``known`` (``what``: 'field' or 'axis')."""
        plural = "axes" if what == "axis" else f"{what}s"
        for key in keys:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known {plural}: {', '.join(known)}"
            self.add(table, str(key), f"unknown {what}; {hint}")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_values(p: _Problems, table: str, axis: Axis, values: Any) -> tuple[Value, ...] | None:
    if not isinstance(values, list) or not values:
        p.add(table, axis.name, f"must be a non-empty list of values (got {values!r})")
        return None
    ok = True
    for v in values:
        why = axis.check(v)
        if why:
            p.add(table, axis.name, why)
            ok = False
    if ok and len(set(values)) != len(values):
        p.add(table, axis.name, "lists a value twice; give each value once")
        ok = False
    if not ok:
        return None
    return tuple(float(v) if axis.kind == "float" else v for v in values)


def _check_range(p: _Problems, axis: Axis, how: Any) -> Range | tuple[Value, ...] | None:
    if isinstance(how, list):
        return _check_values(p, "sample", axis, how)
    if axis.kind == "choice":
        p.add("sample", axis.name, f"must be a list of choices (got {how!r})")
        return None
    if not isinstance(how, dict):
        p.add(
            "sample",
            axis.name,
            f"must be {{ min = ..., max = ... }} (scale = 'log' optional) or a list of values "
            f"(got {how!r})",
        )
        return None
    p.unknown(f"sample.{axis.name}", how, _RANGE, "field")
    lo, hi, scale = how.get("min"), how.get("max"), how.get("scale", "linear")
    ok = True
    for key, v in (("min", lo), ("max", hi)):
        if v is None:
            p.add(f"sample.{axis.name}", key, "required field is missing")
            ok = False
        else:
            why = axis.check(v)
            if why:
                p.add(f"sample.{axis.name}", key, why)
                ok = False
    if scale not in ("linear", "log"):
        p.add(f"sample.{axis.name}", "scale", f"must be 'linear' or 'log' (got {scale!r})")
        ok = False
    if ok and not lo < hi:  # type: ignore[operator]
        p.add(f"sample.{axis.name}", "max", f"must be > min ({lo!r}) (got {hi!r})")
        ok = False
    if ok and scale == "log" and axis.kind == "int":
        p.add(f"sample.{axis.name}", "scale", "'log' is for numbers, not counts; use 'linear'")
        ok = False
    return Range(float(lo), float(hi), scale == "log") if ok else None  # type: ignore[arg-type]


def _check_workload(p: _Problems, raw: Any) -> Workload | None:
    if not isinstance(raw, dict):
        p.add(None, "workload", f"must be a table [workload] (got {raw!r})")
        return None
    p.unknown("workload", raw, _WORKLOAD, "field")
    w = Workload()
    jobs, mix = raw.get("jobs", w.jobs), raw.get("mix", w.mix)
    work, share = (
        raw.get("work_gpu_h", list(w.work_gpu_h)),
        raw.get("arrival_share", w.arrival_share),
    )
    ok = True
    why = AXES["jobs"].check(jobs)
    if why:
        p.add("workload", "jobs", why)
        ok = False
    why = AXES["job_mix"].check(mix)
    if why:
        p.add("workload", "mix", why)
        ok = False
    if (
        not isinstance(work, list)
        or len(work) != 2
        or not all(_is_number(v) and v > 0 for v in work)
        or not work[0] <= work[1]
    ):
        p.add(
            "workload", "work_gpu_h", f"must be [min, max] GPU-hours, 0 < min ≤ max (got {work!r})"
        )
        ok = False
    if not _is_number(share) or not 0 < share <= 1:
        p.add("workload", "arrival_share", f"must be in (0, 1] (got {share!r})")
        ok = False
    if not ok:
        return None
    return Workload(int(jobs), str(mix), (float(work[0]), float(work[1])), float(share))


def sweep_from_dict(raw: dict[str, Any], *, source: Path, text: str = "") -> SweepSpec:
    """Check a sweep given as read from TOML; every problem at once in one :class:`SweepError`.

    The base scenario is loaded here too (its errors are the scenario's own), so that the axes
    can be checked against it (a set-up needs jobs that name a model; the 'solcast'
    forecaster needs a Solcast trace).
    """
    from greenhop.runner import available_policies
    from greenhop.scenario import load_scenario

    p = _Problems(source.name)
    p.unknown(None, raw, _TOP, "field")
    name = raw.get("name", source.stem)
    if not isinstance(name, str) or not name.strip():
        p.add(None, "name", f"must be a non-empty string (got {name!r})")
        name = source.stem
    description = raw.get("description", "")
    if not isinstance(description, str):
        p.add(None, "description", f"must be a string (got {description!r})")
        description = ""

    scenario_arg = raw.get("scenario")
    scenario_path: Path | None = None
    if scenario_arg is None:
        p.add(None, "scenario", "required field is missing; name a bundled scenario or a file")
    elif not isinstance(scenario_arg, str):
        p.add(
            None, "scenario", f"must be a bundled scenario's name or a path (got {scenario_arg!r})"
        )
    else:
        scenario_path = _scenario_file(p, source, scenario_arg)

    known = available_policies()
    policies = raw.get("policies")
    if (
        not isinstance(policies, list)
        or not policies
        or not all(isinstance(x, str) for x in policies)
    ):
        p.add(None, "policies", f"must be a non-empty list of policy names: {', '.join(known)}")
        policies = []
    else:
        for x in policies:
            why = _policy_problem(x, known)
            if why:
                p.add(None, "policies", why)
        if len(set(policies)) != len(policies):
            p.add(None, "policies", "lists a policy twice")

    seeds = raw.get("seeds", [0])
    seeds_ok = False
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        p.add(None, "seeds", f"must be a non-empty list of whole numbers ≥ 0 (got {seeds!r})")
        seeds = [0]
    elif len(set(seeds)) != len(seeds):
        p.add(None, "seeds", "lists a seed twice")
    else:
        seeds_ok = True

    workload = _check_workload(p, raw["workload"]) if "workload" in raw else None

    grid: dict[str, tuple[Value, ...]] | None = None
    sample: dict[str, Range | tuple[Value, ...]] | None = None
    sample_n, sample_seed = 0, 0
    axes: list[str] = []
    if "grid" in raw and "sample" in raw:
        p.add("sample", None, "give [grid] or [sample], not both")
    if "grid" in raw:
        g = raw["grid"]
        if not isinstance(g, dict):
            p.add(None, "grid", f"must be a table [grid] of axes (got {g!r})")
        else:
            p.unknown("grid", g, list(AXES), "axis")
            grid = {}
            for key, values in g.items():
                if key in AXES:
                    axes.append(key)
                    checked = _check_values(p, "grid", AXES[key], values)
                    if checked is not None:
                        grid[key] = checked
    elif "sample" in raw:
        s = raw["sample"]
        if not isinstance(s, dict):
            p.add(None, "sample", f"must be a table [sample] of axes (got {s!r})")
        else:
            p.unknown("sample", s, [*AXES, "n", "seed"], "axis")
            n = s.get("n")
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                p.add(
                    "sample", "n", f"the number of points to draw, a whole number ≥ 1 (got {n!r})"
                )
            else:
                sample_n = n
            seed = s.get("seed", 0)
            if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
                p.add("sample", "seed", f"must be a whole number ≥ 0 (got {seed!r})")
            else:
                sample_seed = seed
            sample = {}
            for key, how in s.items():
                if key in AXES:
                    axes.append(key)
                    checked_range = _check_range(p, AXES[key], how)
                    if checked_range is not None:
                        sample[key] = checked_range
            if not sample and not any(k in AXES for k in s):
                p.add("sample", None, f"names no axis to sample; axes: {', '.join(AXES)}")

    report = _check_report(p, raw.get("report"), axes, policies)

    scenario = None
    if scenario_path is not None:
        try:
            scenario = load_scenario(scenario_path)
        except GreenhopError as exc:
            p.lines.append(str(exc))
    if scenario is not None:
        _check_against_scenario(
            p, scenario, grid, sample, workload, axes, seeds if seeds_ok else [0]
        )
        if not p.lines and not scenario.jobs and not (workload or set(axes) & set(WORKLOAD_AXES)):
            p.add(
                None,
                "scenario",
                f"scenario {scenario.name!r} has no [[jobs]]; add jobs to it, or a [workload] "
                "table to generate them",
            )
    if p.lines:
        raise SweepError("\n".join(p.lines))
    assert scenario_path is not None
    return SweepSpec(
        name=name.strip(),
        source=source,
        scenario_path=scenario_path,
        policies=tuple(policies),
        seeds=tuple(seeds),
        axes=tuple(axes),
        grid=grid,
        sample=sample,
        sample_n=sample_n,
        sample_seed=sample_seed,
        workload=workload,
        report=report,
        description=description,
        text=text,
        scenario=scenario,
    )


def _policy_problem(name: str, known: list[str]) -> str | None:
    """What is wrong with a policy name, or None: the online and offline policies, and those of
    the grid side (``carbon-aware``, ``NAME:carbon``, ``NAME:cost``), which need the scenario's
    grid signals (a cell without them gets a row with ``status = 'skipped'``)."""
    from greenhop.policies import GRID_POLICIES, WITH_OBJECTIVE, make_policy

    if name in known:
        return None
    if ":" not in name and name not in GRID_POLICIES:
        grid = [*GRID_POLICIES, *(f"{b}:carbon" for b in WITH_OBJECTIVE)]
        return f"unknown policy {name!r}; use some of {', '.join(known)}, or {', '.join(grid)}"
    try:
        make_policy(name)
    except GreenhopError as exc:
        return str(exc)
    return None


def _scenario_file(p: _Problems, source: Path, arg: str) -> Path | None:
    from greenhop.scenario import bundled_scenarios, resolve_scenario

    beside = source.parent / arg
    if beside.is_file():
        return beside
    try:
        return resolve_scenario(arg)
    except GreenhopError:
        p.add(
            None,
            "scenario",
            f"{arg!r} is neither a file (relative to {source.name}) nor a bundled scenario "
            f"({', '.join(bundled_scenarios())})",
        )
        return None


def _check_report(p: _Problems, raw: Any, axes: list[str], policies: list[str]) -> ReportSettings:
    if raw is None:
        return ReportSettings()
    if not isinstance(raw, dict):
        p.add(None, "report", f"must be a table [report] (got {raw!r})")
        return ReportSettings()
    p.unknown("report", raw, _REPORT, "field")
    x, y = raw.get("x"), raw.get("y")
    numeric = [a for a in axes if AXES[a].kind != "choice"]
    for key, v in (("x", x), ("y", y)):
        if v is not None and v not in numeric:
            p.add(
                "report",
                key,
                f"{v!r} is not a numeric axis of this sweep; use one of "
                f"{', '.join(numeric) or '(none: the sweep varies no number)'}",
            )
    if x is not None and x == y:
        p.add("report", "y", "must differ from x")
    compare = raw.get("compare")
    pair: tuple[str, str] | None = None
    if compare is not None:
        if (
            not isinstance(compare, list)
            or len(compare) != 2
            or not all(isinstance(c, str) for c in compare)
            or compare[0] == compare[1]
        ):
            p.add("report", "compare", f"must be two different policies [a, b] (got {compare!r})")
        else:
            for c in compare:
                if c not in policies:
                    p.add("report", "compare", f"{c!r} is not among the sweep's policies")
            pair = (compare[0], compare[1])
    metrics = raw.get("metrics", list(ReportSettings().metrics))
    if not isinstance(metrics, list) or not metrics:
        p.add("report", "metrics", f"must be a non-empty list of metrics (got {metrics!r})")
        metrics = list(ReportSettings().metrics)
    for m in metrics:
        if m not in REPORT_METRICS:
            close = difflib.get_close_matches(str(m), REPORT_METRICS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use {', '.join(REPORT_METRICS)}"
            p.add("report", "metrics", f"unknown metric {m!r}; {hint}")
    return ReportSettings(
        x=x if isinstance(x, str) else None,
        y=y if isinstance(y, str) else None,
        compare=pair,
        metrics=tuple(str(m) for m in metrics),
    )


def _axis_values(
    name: str,
    grid: Mapping[str, tuple[Value, ...]] | None,
    sample: Mapping[str, Range | tuple[Value, ...]] | None,
) -> list[Value]:
    """The choices an axis takes (choice axes only), from the grid or the sample."""
    how = (grid or {}).get(name) or (sample or {}).get(name)
    return list(how) if isinstance(how, tuple) else []


def _check_against_scenario(
    p: _Problems,
    scenario: Any,
    grid: Mapping[str, tuple[Value, ...]] | None,
    sample: Mapping[str, Range | tuple[Value, ...]] | None,
    workload: Workload | None,
    axes: list[str],
    seeds: list[int],
) -> None:
    from greenhop.checkpoints import checkpoint_size_gb

    table = "grid" if grid is not None else "sample"
    generated = workload is not None or any(a in WORKLOAD_AXES for a in axes)
    setups = _axis_values("setup", grid, sample)
    if setups:
        if generated:
            mixes = job_mixes()
            names = [str(m) for m in _axis_values("job_mix", grid, sample)] or [
                (workload or Workload()).mix
            ]
            models = sorted({m for mix in names for m, _, _ in mixes[mix]})
        else:
            bare = [j.name for j in scenario.jobs if j.model is None]
            if bare:
                p.add(
                    table,
                    "setup",
                    f"jobs {', '.join(repr(b) for b in bare)} of scenario {scenario.name!r} give "
                    "checkpoint_gb, not a model; a set-up needs every job's model (or generate "
                    "jobs with [workload])",
                )
            models = sorted({j.model for j in scenario.jobs if j.model is not None})
        for setup in setups:
            for model in models:
                try:
                    checkpoint_size_gb(model, str(setup))
                except GreenhopError as exc:
                    p.add(table, "setup", f"{setup!r} does not apply to model {model!r}: {exc}")
    forecasters = [str(f) for f in _axis_values("forecaster", grid, sample)]
    if "solcast" in forecasters and scenario.energy_source.solcast is None:
        p.add(
            table,
            "forecaster",
            f"'solcast' replays Solcast's issued forecasts and needs a Solcast trace; scenario "
            f"{scenario.name!r} has none (its energy source is {scenario.energy_source.kind!r})",
        )
    if (
        "solcast" in forecasters
        and scenario.energy_source.solcast is not None
        and any(s.trace_column is None for s in scenario.sites)
    ):
        p.add(table, "forecaster", "'solcast' needs every site to read a trace_column")
    noisy = "noisy" in forecasters or (
        "forecaster" not in axes and scenario.forecaster_name == "noisy"
    )
    if len(seeds) > 1 and not generated and not noisy:
        p.add(
            None,
            "seeds",
            f"{len(seeds)} seeds would run the same cells {len(seeds)} times: nothing in this "
            f"sweep is random (the jobs of scenario {scenario.name!r}, forecaster "
            f"{scenario.forecaster_name!r}); generate jobs with a [workload] table, sweep the "
            "'noisy' forecaster, or give one seed",
        )


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file (TOML); raises :class:`SweepError` naming every problem."""
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SweepError(f"{file}: cannot read: {reason}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{file.name}: not valid TOML: {exc}") from None
    return sweep_from_dict(raw, source=file, text=text)
