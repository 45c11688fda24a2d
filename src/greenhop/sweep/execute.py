"""Running a sweep: each cell a Ray task (or, with ``inline``, a call in this process).

The bases (generation and forecasts, :func:`greenhop.sweep.cells.build_bases`) are built once
here and put in Ray's object store once; a task gets a reference, and each worker process reads
a base from the store the first time it needs it and keeps it (with the forecast windows it
computes) for the cells that follow. At most ``2 × CPUs`` cells are in flight, and finished
rows are written to a part every few seconds, so memory stays bounded and a stopped run loses
at most the cells still running.

Ray is the ``live`` extra: it is imported only when a sweep runs on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenhop.errors import InputError, require_extra
from greenhop.sweep import store
from greenhop.sweep.cells import base_key, build_bases, run_cell, scenario_job_models
from greenhop.sweep.spec import Cell, SweepSpec

#: progress(cells done, cells in the sweep, what is happening)
Progress = Callable[[int, int, str], None]

#: Finished rows are written to a part at least this often, s.
FLUSH_EVERY_S = 5.0


@dataclass
class SweepRun:
    """What one run of a sweep did."""

    out: Path
    cells: int  # cells in the sweep
    skipped_done: int  # cells already done before this run
    ran: int  # cells run now
    results: Any = None  # the merged table (pandas DataFrame)
    wall_s: float = 0.0
    prepare_s: float = 0.0
    ray: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False


# ----------------------------------------------------------------------------- worker side

#: Bases a worker process has read from the object store, by object id, most recent last.
_WORKER_BASES: dict[str, Any] = {}

#: How many bases a worker keeps (a sweep over forecasters has one per forecaster).
WORKER_BASES_KEPT = 8


def _cell_task(
    spec: SweepSpec,
    base_ref: list[Any],
    models: tuple[str | None, ...],
    cell: Cell,
    policies: list[str],
    keys: dict[str, str],
) -> list[dict[str, Any]]:
    """A Ray task: one cell. ``base_ref`` is ``[ObjectRef]``, wrapped in a list so that Ray
    passes the reference rather than a fresh copy of the base to every task; the worker reads
    the base once and keeps it (by the object's id, unique across sweeps) for later cells."""
    ref = base_ref[0]
    oid = ref.hex()
    base = _WORKER_BASES.pop(oid, None)
    if base is None:
        import ray

        base = ray.get(ref)
        while len(_WORKER_BASES) >= WORKER_BASES_KEPT:
            _WORKER_BASES.pop(next(iter(_WORKER_BASES)))  # the least recently used
    _WORKER_BASES[oid] = base
    return run_cell(spec, base, models, cell, policies, keys)


# ----------------------------------------------------------------------------- driver side


def import_ray() -> Any:
    """The ``ray`` module, or MissingExtraError naming the ``live`` extra."""
    require_extra("ray", "live")
    import ray

    return ray


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once, naming the address, when nothing listens at ``host:port`` (Ray itself
    would retry for minutes). Other forms (``ray://...``, ``auto``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in address:
        return
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); give "
            "the head node's HOST:PORT (ray start --head prints it), or leave --address out "
            "for an embedded Ray"
        ) from None


@contextmanager
def ray_session(
    address: str | None, cpus: int | None, object_store_mb: int
) -> Iterator[dict[str, Any]]:
    """Connected to Ray for the block: an embedded local Ray (started here and stopped on exit)
    or the cluster at ``address`` (left running). Yields what was connected to."""
    ray = import_ray()
    if ray.is_initialized():
        yield {"address": "already connected", "cpus": ray.cluster_resources().get("CPU", 0)}
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        _probe(address)
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise InputError(
                f"--address {address}: cannot connect to a Ray cluster: {exc}"
            ) from None
    else:
        if object_store_mb < 75:
            raise InputError(f"--object-store-mb {object_store_mb} is below Ray's minimum of 75")
        ray.init(
            address="local",
            num_cpus=cpus or os.cpu_count() or 1,
            num_gpus=0,
            object_store_memory=object_store_mb * 2**20,
            include_dashboard=False,
            logging_level="WARNING",
            log_to_driver=False,
        )
    try:
        yield {
            "address": address or "local",
            "cpus": float(ray.cluster_resources().get("CPU", 0)),
            "object_store_mb": None if address else object_store_mb,
        }
    finally:
        ray.shutdown()


def pending_cells(spec: SweepSpec, out: Path) -> tuple[list[Cell], dict[int, dict[str, str]], int]:
    """The cells with a policy not yet done under ``out``, every cell's keys by policy, and
    how many cells are done already."""
    base = spec.base_hash()
    done = store.done_keys(out)
    cells = spec.cells()
    keys = {c.index: {p: spec.key(c, p, base) for p in spec.policies} for c in cells}
    todo = [c for c in cells if not set(keys[c.index].values()) <= done]
    return todo, keys, len(cells) - len(todo)


def run_sweep(
    spec: SweepSpec,
    out: Path,
    *,
    inline: bool = False,
    address: str | None = None,
    cpus: int | None = None,
    object_store_mb: int = 200,
    progress: Progress | None = None,
) -> SweepRun:
    """Run every cell of ``spec`` not yet done under ``out``; merge ``results.parquet``.

    With ``inline`` the cells run one after the other in this process (no Ray); otherwise as
    Ray tasks on an embedded local Ray (``cpus`` CPUs, ``object_store_mb`` MiB of object store)
    or on the cluster at ``address``. A KeyboardInterrupt writes the rows that finished, merges
    them into ``results.parquet`` and is raised again: the folder then holds every cell that
    finished, and a rerun runs the rest.
    """
    from greenhop.scenario import load_scenario

    t0 = time.perf_counter()
    store.check(out)  # nothing is written until the cells can run (Ray connected, bases built)
    about = {
        "sweep": spec.name,
        "source": str(spec.source),
        "scenario": str(spec.scenario_path),
        "policies": list(spec.policies),
        "seeds": list(spec.seeds),
        "axes": list(spec.axes),
        "cells": len(spec.cells()),
        "file": spec.text,
    }
    todo, keys, done_before = pending_cells(spec, out)
    total = done_before + len(todo)
    run = SweepRun(out, total, done_before, 0)
    note = progress or (lambda done, total, what: None)
    note(done_before, total, "preparing inputs")
    done_keys = store.done_keys(out) if todo else set()
    rows: list[dict[str, Any]] = []
    counter = 0
    last_flush = time.monotonic()

    def flush(force: bool = False) -> None:
        nonlocal rows, counter, last_flush
        if rows and (force or time.monotonic() - last_flush >= FLUSH_EVERY_S):
            counter += 1
            store.write_part(out, rows, counter)
            rows = []
            last_flush = time.monotonic()

    all_keys = [k for c in keys.values() for k in c.values()]
    try:
        if todo:
            scenario = spec.scenario or load_scenario(spec.scenario_path)
            bases = build_bases(spec, scenario, todo)
            models = scenario_job_models(scenario)
            run.prepare_s = time.perf_counter() - t0
            jobs = [
                (
                    c,
                    base_key(spec, scenario, c),
                    [p for p in spec.policies if keys[c.index][p] not in done_keys],
                )
                for c in todo
            ]
            if inline:
                store.prepare(out, about)
                for cell, key, policies in jobs:
                    rows += run_cell(spec, bases[key], models, cell, policies, keys[cell.index])
                    run.ran += 1
                    note(done_before + run.ran, total, "running")
                    flush()
            else:
                with ray_session(address, cpus, object_store_mb) as info:
                    run.ray = info
                    store.prepare(out, about)
                    cells = _ray_cells(
                        spec,
                        bases,
                        models,
                        jobs,
                        keys,
                        int(info["cpus"]),
                        cancel=info["address"] != "local",  # a cluster that outlives us
                    )
                    with contextlib.closing(cells):  # what is in flight stops, on any exit
                        try:
                            for batch in cells:
                                rows += batch
                                run.ran += 1
                                note(done_before + run.ran, total, "running")
                                flush()
                        except BaseException:
                            flush(force=True)  # first, whatever Ray does while it stops
                            raise
        else:
            store.prepare(out, about)
        flush(force=True)
    except KeyboardInterrupt:
        flush(force=True)
        run.interrupted = True
        if (out / store.MARKER).is_file():  # stopped before it began, there is nothing to merge
            run.results = store.merge(out, all_keys, spec.policies)
        raise
    run.results = store.merge(out, all_keys, spec.policies)
    run.wall_s = time.perf_counter() - t0
    return run


def _ray_cells(
    spec: SweepSpec,
    bases: dict[str, Any],
    models: tuple[str | None, ...],
    jobs: list[tuple[Cell, str, list[str]]],
    keys: dict[int, dict[str, str]],
    cpus: int,
    *,
    cancel: bool,
) -> Generator[list[dict[str, Any]], None, None]:
    """Run the cells as Ray tasks, at most ``2 × cpus`` in flight; yield each cell's rows as it
    finishes. Stopping the iteration cancels the cells still in flight when ``cancel`` (on a
    cluster that outlives the sweep; an embedded Ray stops its workers when it shuts down)."""
    ray = import_ray()
    refs = {key: ray.put(base) for key, base in bases.items()}  # each base once in the store
    spec_ref = ray.put(dataclasses.replace(spec, scenario=None))  # the workers need no scenario
    task = ray.remote(num_cpus=1, max_retries=1)(_cell_task)
    limit = max(2, 2 * cpus)
    # cells of one base run together, so that a worker seldom reads a base it let go
    queue = sorted(jobs, key=lambda job: (job[1], job[0].index), reverse=True)
    in_flight: list[Any] = []
    try:
        while queue or in_flight:
            while queue and len(in_flight) < limit:
                cell, key, policies = queue.pop()
                in_flight.append(
                    task.remote(spec_ref, [refs[key]], models, cell, policies, keys[cell.index])
                )
            ready, in_flight = ray.wait(in_flight, num_returns=1)
            for ref in ready:
                yield ray.get(ref)
    finally:
        for ref in in_flight if cancel else ():
            # a task that finished meanwhile cannot be cancelled, and need not be
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
