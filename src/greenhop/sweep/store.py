"""A sweep's folder: finished cells in Parquet parts, merged into one table.

Rows are written in parts (``parts/part-<ns>-<pid>-<n>.parquet``), each written to a temporary
name and renamed, so a part is whole or absent: whatever a run finished before it was stopped
(Ctrl-C, a crash, a lost node) is on disk, and a rerun skips it. Every row carries its key
(:meth:`greenhop.sweep.spec.SweepSpec.key`); the parts are the record of what is done, and
``results.parquet`` is their merge, limited to the keys of the sweep as it is now.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from greenhop.errors import OutputError

PARTS = "parts"
RESULTS = "results.parquet"
MARKER = "sweep.json"


def check(out: Path) -> None:
    """Refuse ``out`` if it is a file, or a folder that holds something other than a sweep;
    writes nothing."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give --out a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise OutputError(
            f"{out} exists and is not a sweep folder (no {MARKER}); give --out a new or empty "
            "folder, or the folder of an earlier run of this sweep to resume it"
        )


def prepare(out: Path, about: Mapping[str, Any]) -> None:
    """Make ``out`` a sweep folder (or reuse one), recording ``about`` in ``sweep.json``."""
    check(out)
    try:
        (out / PARTS).mkdir(parents=True, exist_ok=True)
        write_atomic(out / MARKER, json.dumps(dict(about), indent=2, default=str).encode())
    except OSError as exc:
        raise OutputError(f"cannot write the sweep folder {out}: {exc.strerror or exc}") from None


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    frame = pd.DataFrame(list(rows))
    return pa.Table.from_pandas(frame, preserve_index=False)


def write_part(out: Path, rows: Sequence[Mapping[str, Any]], counter: int) -> Path | None:
    """Write finished rows as one part (whole or not at all); None when there are none."""
    if not rows:
        return None
    # nanoseconds, process and counter: two runs in one process and one second (a resumed run
    # right after an interrupted one) must not write the same name, which would replace a part
    name = f"part-{time.time_ns():020d}-{os.getpid()}-{counter:05d}.parquet"
    path = out / PARTS / name
    tmp = path.with_name(f".{name}.tmp")
    pq.write_table(_table(rows), tmp)
    os.replace(tmp, path)
    return path


def _parts(out: Path) -> list[Path]:
    folder = out / PARTS
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def done_keys(out: Path) -> set[str]:
    """The keys of every row already written under ``out``."""
    keys: set[str] = set()
    for part in _parts(out):
        keys.update(pq.read_table(part, columns=["key"]).column("key").to_pylist())
    return keys


def merge(out: Path, keys: Iterable[str], order: Sequence[str]) -> pd.DataFrame:
    """Every written row whose key is among ``keys`` (the last written wins), in cell order and
    then the policies' ``order``; written to ``results.parquet`` (atomically) and returned."""
    wanted = set(keys)
    frames = [pq.read_table(p).to_pandas() for p in _parts(out)]
    frames = [f for f in frames if len(f)]
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        frame = frame[frame["key"].isin(wanted)].drop_duplicates("key", keep="last")
        rank = {name: i for i, name in enumerate(order)}
        frame = frame.assign(_rank=frame["policy"].map(rank))
        frame = frame.sort_values(["cell", "_rank"]).drop(columns="_rank").reset_index(drop=True)
    else:
        frame = pd.DataFrame({"key": [], "cell": [], "policy": []})
    tmp = out / f".{RESULTS}.tmp-{os.getpid()}"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    os.replace(tmp, out / RESULTS)
    return frame
