"""Pydantic validation errors → lines that name the scenario's file, table and field.

``('sites', 2, 'pv', 'peak_kw')`` with a raw scenario whose third site is ``miami`` reads
``[[sites]] #3 'miami': [sites.pv]: field 'peak_kw'``. A sub-table validated on its own (the
``[jobs.live]`` table, read by ``greenhop.live``) is described with its place in the scenario as
``prefix``, so its errors read the same.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

_LIST_TABLES = {"sites", "jobs", "pairs", "grid"}
_UNKNOWN_FIELD = ("extra_forbidden", "unexpected_keyword_argument")
_MISSING = ("missing", "missing_argument")
_BOUNDS = {
    "greater_than": ">",
    "greater_than_equal": "≥",
    "less_than": "<",
    "less_than_equal": "≤",
}

#: A model or a dataclass: a TOML table with named fields.
Table = type[Any]


def _is_table(candidate: Any) -> bool:
    if not isinstance(candidate, type):
        return False
    return issubclass(candidate, BaseModel) or dataclasses.is_dataclass(candidate)


def _fields(table: Table) -> list[str]:
    if issubclass(table, BaseModel):  # by the key a file uses: its alias where it has one
        return [field.alias or name for name, field in table.model_fields.items()]
    return [f.name for f in dataclasses.fields(table)]


def model_at(root: Table, loc: tuple[Any, ...]) -> Table | None:
    """The model (or dataclass) of the table at ``loc`` below ``root``, or None for a field."""
    table: Table = root
    for key in loc:
        if isinstance(key, int):
            continue
        if not issubclass(table, BaseModel):
            return None  # dataclass tables hold plain fields only
        field = table.model_fields.get(str(key))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        for arg in getattr(annotation, "__args__", ()):
            candidates += list(getattr(arg, "__args__", ()))
        nested = [c for c in candidates if _is_table(c)]
        if not nested:
            return None
        table = nested[0]
    return table


def _describe_location(
    loc: tuple[Any, ...], raw: dict[str, Any], table_at: Callable[[tuple[Any, ...]], Table | None]
) -> str:
    """('sites', 2, 'pv', 'peak_kw') → "[[sites]] #3 'miami': [sites.pv]: field 'peak_kw'"."""
    parts: list[str] = []
    node: Any = raw
    table_path: list[str] = []
    i = 0
    field: str | None = None
    while i < len(loc):
        key = loc[i]
        if (
            isinstance(key, str)
            and i + 1 < len(loc)
            and isinstance(loc[i + 1], int)
            and key in _LIST_TABLES
        ):
            index = loc[i + 1]
            table_path.append(key)
            items = node.get(key, []) if isinstance(node, dict) else []
            item = items[index] if isinstance(items, list) and index < len(items) else None
            label = f"[[{'.'.join(table_path)}]] #{index + 1}"
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                label += f" {item['name']!r}"
            parts.append(label)
            node = item
            i += 2
            continue
        points_at_table = i + 1 == len(loc) and table_at(loc) is not None
        if isinstance(key, str) and (i + 1 < len(loc) or points_at_table):
            table_path.append(key)
            parts.append(f"[{'.'.join(table_path)}]")
            node = node.get(key) if isinstance(node, dict) else None
            i += 1
            continue
        field = str(key)
        i += 1
    if field is not None:
        parts.append(f"field {field!r}")
    return ": ".join(parts) if parts else "top level"


def _describe_error(
    error: dict[str, Any],
    raw: dict[str, Any],
    table_at: Callable[[tuple[Any, ...]], Table | None],
) -> str:
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    given = error.get("input")
    where = _describe_location(loc, raw, table_at)
    if kind in _UNKNOWN_FIELD:
        field = str(loc[-1]) if loc else "?"
        table = table_at(loc[:-1])
        known = _fields(table) if table is not None else []
        close = difflib.get_close_matches(field, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(known)}"
        return f"{where}: unknown field{hint}"
    if kind in _MISSING:
        return f"{where}: required field is missing"
    if kind in _BOUNDS:
        bound = error.get("ctx", {})
        value = next(iter(bound.values()), "") if bound else ""
        op = _BOUNDS[kind]
        message = f"must be {op} {value:g}" if isinstance(value, float) else f"must be {op} {value}"
    if isinstance(given, (int, float, str, bool)):
        message += f" (got {given!r})"
    return f"{where}: {message}"


def describe_validation_error(
    exc: ValidationError,
    raw: dict[str, Any],
    *,
    source: str,
    root: Table,
    prefix: tuple[Any, ...] = (),
) -> list[str]:
    """One line per error of ``exc``, each ``"<source>: <table>: field '<name>': <what>"``, in
    the order of the file: its top-level keys first, then table by table.

    ``raw`` is the scenario as read from TOML (it gives list items their names), ``root`` the
    model that raised ``exc`` and ``prefix`` the place of ``root``'s table in the scenario (empty
    for the whole scenario, e.g. ``('jobs', 1, 'live')`` for the second job's ``[jobs.live]``).
    """

    def table_at(loc: tuple[Any, ...]) -> Table | None:
        if len(loc) < len(prefix):
            return None
        if prefix and len(loc) == len(prefix):
            return root
        return model_at(root, loc[len(prefix) :])

    errors: list[Any] = exc.errors()
    placed = [{**e, "loc": prefix + tuple(e.get("loc", ()))} for e in errors]
    in_file = {key: i for i, key in enumerate(raw)}

    def file_order(error: dict[str, Any]) -> tuple[bool, int, int]:
        # top-level keys first, then table by table as the file has them, item by item
        loc = error["loc"]
        if not loc:
            return (False, -1, -1)
        is_table = len(loc) > 1 or table_at(loc[:1]) is not None
        index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else -1
        return (is_table, in_file.get(str(loc[0]), len(in_file)), index)

    placed.sort(key=file_order)
    return [f"{source}: {_describe_error(e, raw, table_at)}" for e in placed]
