"""Where the CLI writes what: results on stdout, everything else on stderr.

- ``--json`` / ``--csv`` put only data on stdout (:func:`output_format`, :func:`echo_csv`);
  while a command works, anything a library writes to stdout goes to stderr
  (:func:`stdout_to_stderr`), so C libraries and Ray workers cannot mix into the data.
- Progress is drawn on stderr, only when stderr is a terminal, and never under ``--quiet``
  (:func:`progress`).
- Notes ("wrote ...") go to stderr and are left out under ``--quiet`` (:func:`note`); warnings
  and errors always print.
- Tables go to stdout at the terminal's width (:func:`stdout_console`); wide tables split their
  columns to fit (:func:`fitting_tables`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.progress import Progress, ProgressColumn
from rich.table import Table

from greenhop.errors import InputError

K = TypeVar("K")

#: Set by ``greenhop --quiet``: no progress and no notes, only results, warnings and errors.
_quiet = False


def set_quiet(quiet: bool) -> None:
    """Record the global ``--quiet`` flag (the root command sets it on every invocation)."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    """Whether ``--quiet`` was given."""
    return _quiet


def stderr_console() -> Console:
    """A console on stderr, for progress, notes and warnings."""
    return Console(stderr=True)


def stdout_console() -> Console:
    """A console on stdout at the terminal's width (80 columns when stdout is not a terminal)."""
    return Console()


def shows_progress(console: Console | None = None) -> bool:
    """True when progress should be drawn: stderr is a terminal and ``--quiet`` was not given."""
    return not _quiet and (console or stderr_console()).is_terminal


def progress(*columns: str | ProgressColumn) -> Progress:
    """A progress display on stderr that draws nothing under ``--quiet`` or off a terminal, and
    leaves no bars behind when it ends."""
    console = stderr_console()
    return Progress(*columns, console=console, transient=True, disable=not shows_progress(console))


def note(message: str) -> None:
    """An informational line on stderr ("wrote ..."), never wrapped (paths stay whole); left
    out under ``--quiet``."""
    if not _quiet:
        stderr_console().print(message, highlight=False, soft_wrap=True)


def output_format(as_json: bool, as_csv: bool) -> str | None:
    """``"json"``, ``"csv"`` or None (a table) from the ``--json`` / ``--csv`` flags."""
    if as_json and as_csv:
        raise InputError("give one of --json or --csv, not both")
    return "json" if as_json else "csv" if as_csv else None


def echo_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Write records as CSV (a header, then one line per record) to stdout."""
    rows = list(rows)
    fields = list(columns) if columns is not None else list(rows[0]) if rows else []
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    typer.echo(buffer.getvalue(), nl=False)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While the block runs, whatever is written to stdout goes to stderr.

    Both Python's ``sys.stdout`` and file descriptor 1 are redirected: C libraries (HiGHS) and
    Ray's worker logs write to the descriptor directly. Results are printed after the block.
    """
    sys.stdout.flush()
    try:
        saved: int | None = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no descriptor 1 or 2 (embedded interpreters): Python level only
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def compact_table(**kwargs: Any) -> Table:
    """A table with a rule under its header and no frame: the densest readable layout."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, **kwargs)


def fitting_tables(
    build: Callable[[list[K]], Table], keys: Sequence[K], console: Console
) -> list[Table]:
    """Tables over ``keys`` (column groups) that each fit ``console``'s width unwrapped.

    ``build(keys)`` makes a table with the columns of those keys (and whatever columns every
    table repeats, such as row labels). All keys go into one table when it fits; otherwise they
    are split, in order, into as few consecutive groups as fit, one key per table at least.
    """
    width = console.width
    unbounded = console.options.update_width(1_000_000)  # measure without the width's clamp
    groups: list[list[K]] = []
    current: list[K] = []
    for key in keys:
        trial = [*current, key]
        if current and console.measure(build(trial), options=unbounded).maximum > width:
            groups.append(current)
            current = [key]
        else:
            current = trial
    if current or not groups:
        groups.append(current)
    return [build(group) for group in groups]
