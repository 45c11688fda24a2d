"""Regenerate the computed parts of docs/scenarios.md from the code, so the doc cannot drift.

Usage: python scripts/make_scenario_doc.py [--check]

The field reference is read from the models that validate a scenario file (the pydantic models of
:mod:`greenhop.scenario`, :class:`~greenhop.energy.battery.BatterySpec` and
:class:`~greenhop.live.jobs.spec.LiveJobSpec`): names, types, defaults, bounds and descriptions.
The bundled scenarios, the worked example (examples/own-sites) and what ``greenhop scenario
validate`` prints for it and for a broken copy, and what the weather-file example
(``station.toml`` and ``station.csv``, hand-written in the doc) gives, come from running the code.
The doc's hand-written
text stays; everything between ``<!-- BEGIN GENERATED: name -->`` and
``<!-- END GENERATED: name -->`` is rewritten. With ``--check`` nothing is written and the exit
code is 1 when the doc is out of date (the test suite runs this).
"""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import sys
import tempfile
import types
import typing
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from rich.console import Console

from greenhop import checkpoints
from greenhop.cli.scenario import print_summary, problems_message, scenario_summary
from greenhop.energy.battery import BatterySpec
from greenhop.energy.forecast import FORECASTERS
from greenhop.energy.generation import wind_turbine_types
from greenhop.energy.sites import bundled_sites
from greenhop.energy.traces import UNITS_TO_W
from greenhop.energy.weather import WEATHER_SUFFIXES
from greenhop.live.jobs.spec import LiveJobSpec
from greenhop.scenario import (
    PV,
    EnergySource,
    Job,
    LinkBandwidth,
    Links,
    Scenario,
    Site,
    SlotSleep,
    Wind,
    bundled_scenarios,
    check_scenario,
    load_scenario,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docsections import doc_main, replace_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "scenarios.md"
EXAMPLE = ROOT / "examples" / "own-sites"
EXAMPLE_TOML = EXAMPLE / "own-sites.toml"
EXAMPLE_CSV = EXAMPLE / "own-trace.csv"

#: The tables of a scenario file, in the order a file is written: (heading, model, note).
TABLES: list[tuple[str, type[Any], str]] = [
    ("top level", Scenario, "The keys before the first table."),
    ("[energy_source]", EnergySource, ""),
    ("[links]", Links, ""),
    ("[links] pairs = [{ a, b, gbps }, ...]", LinkBandwidth, ""),
    ("[[sites]]", Site, "One table per site."),
    ("[sites.pv]", PV, "Inside a `[[sites]]` table, or inline: `pv = { peak_kw = 30.0, ... }`."),
    ("[sites.wind]", Wind, "Inside a `[[sites]]` table, or inline: `wind = { ... }`."),
    (
        "[sites.battery]",
        BatterySpec,
        "Inside a `[[sites]]` table, or inline: `battery = { capacity_kwh = 40.0, ... }`.",
    ),
    (
        "[sites.sleep]",
        SlotSleep,
        "Inside a `[[sites]]` table, or inline: "
        "`sleep = { sleep_power_w = 20.0, wake_s = 45.0, wake_j = 3000.0 }`. Without it the "
        "site's empty slots stay awake at `idle_power_w` (docs/energy.md).",
    ),
    ("[[jobs]]", Job, "One table per job."),
    (
        "[jobs.live]",
        LiveJobSpec,
        "After a `[[jobs]]` table, or inline: `live = { ... }`. Read only by `greenhop live`; "
        "`greenhop scenario validate` checks it.",
    ),
]

#: Strings checked against a catalog: the valid values, from the catalog itself.
CHOICES: dict[tuple[type[Any], str], Callable[[], str]] = {
    (Scenario, "forecaster_name"): lambda: ", ".join(FORECASTERS),
    (Site, "weather"): lambda: (
        f"a bundled site ({', '.join(bundled_sites())}) or a file: {', '.join(WEATHER_SUFFIXES)}"
    ),
    (Job, "model"): lambda: ", ".join(checkpoints.CATALOG),
    (Job, "setup"): lambda: ", ".join(checkpoints.SETUPS),
    (EnergySource, "unit"): lambda: ", ".join(UNITS_TO_W),
    (Wind, "turbine_type"): lambda: (
        f"{len(wind_turbine_types())} types, e.g. "
        + ", ".join(t for t in wind_turbine_types() if t in ("E-53/800", "V90/2000", "N100/2500"))
    ),
}

_TYPE_NAMES: dict[Any, str] = {
    float: "number",
    int: "integer",
    str: "string",
    bool: "boolean",
    datetime: "date-time",
    timedelta: "string (duration)",
}


def _plain(text: str) -> str:
    """reST markup of a docstring → Markdown."""
    text = re.sub(r":\w+:`~?([\w.]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    return text.replace("``", "`")


def _summary(table: type[Any]) -> str:
    doc = typing.cast(str, table.__doc__ or "")
    first = doc.strip().split("\n\n")[0]
    return _plain(" ".join(line.strip() for line in first.splitlines()))


def _fields(table: type[Any]) -> list[tuple[str, FieldInfo]]:
    if issubclass(table, BaseModel):
        return [(f.alias or name, f) for name, f in table.model_fields.items()]
    hints = typing.get_type_hints(table, include_extras=True)
    out = []
    for field in dataclasses.fields(table):
        default = PydanticUndefined if field.default is dataclasses.MISSING else field.default
        out.append((field.name, FieldInfo.from_annotated_attribute(hints[field.name], default)))
    return out


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in args)
    if origin is typing.Literal:
        return "string"
    if origin is list:
        inner = args[0] if args else Any
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return "array of tables"
        return f"array of {_type(inner)}s"
    if origin is dict:
        return "table"
    if isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)
    ):
        return "table"
    return _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _literals(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [v for a in typing.get_args(annotation) for v in _literals(a)]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        made = field.default_factory()  # type: ignore[call-arg]
        return "`[]`" if made == [] else "its defaults"
    if field.default is PydanticUndefined:
        return "**required**"
    if field.default is None:
        return "none"
    return _value(field.default)


def _bounds(table: type[Any], name: str, field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        if isinstance(item, at.Gt):
            parts.append(f"> {item.gt:g}")
        elif isinstance(item, at.Ge):
            parts.append(f"≥ {item.ge:g}")
        elif isinstance(item, at.Lt):
            parts.append(f"< {item.lt:g}")
        elif isinstance(item, at.Le):
            parts.append(f"≤ {item.le:g}")
        elif isinstance(item, at.MinLen):
            parts.append("not empty" if item.min_length == 1 else f"≥ {item.min_length} items")
    literals = _literals(field.annotation)
    if literals:
        parts.append(", ".join(_value(v) for v in literals))
    choice = CHOICES.get((table, name))
    if choice is not None:
        parts.append(choice())
    return ", ".join(parts) or "-"


def field_reference() -> str:
    blocks = []
    for heading, table, note in TABLES:
        title = heading if heading == "top level" else f"`{heading}`"
        lines = [f"### {title}", "", _summary(table) + (f" {note}" if note else ""), ""]
        lines += ["| key | type | default | allowed | what |", "|---|---|---|---|---|"]
        for key, field in _fields(table):
            attribute = next(
                (n for n, f in getattr(table, "model_fields", {}).items() if f is field), key
            )
            description = field.description
            if description is None:
                raise SystemExit(f"{table.__name__}.{key} has no description=; write one")
            lines.append(
                f"| `{key}` | {_type(field.annotation)} | {_default(field)} "
                f"| {_bounds(table, attribute, field)} | {description} |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def bundled() -> str:
    lines = [
        "| name | sites | jobs | days | step | idle slots | what |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in bundled_scenarios():
        sc = load_scenario(name)
        days = (sc.end - sc.start).total_seconds() / 86400
        step_min = sc.step.total_seconds() / 60
        asleep = sorted({f"{s.sleep.sleep_power_w:g} W" for s in sc.sites if s.sleep})
        idle = ", ".join(sorted({f"{s.idle_power_w:g} W" for s in sc.sites}))
        slots = f"sleep at {', '.join(asleep)}" if asleep else f"awake at {idle} (no sleep)"
        lines.append(
            f"| `{name}` | {len(sc.sites)} | {len(sc.jobs)} | {days:g} | {step_min:g} min "
            f"| {slots} | {sc.description} |"
        )
    return "\n".join(lines)


def example() -> str:
    csv_lines = EXAMPLE_CSV.read_text().splitlines()
    head = "\n".join(csv_lines[:5])
    return (
        "`examples/own-sites/own-sites.toml`:\n\n"
        f"```toml\n{EXAMPLE_TOML.read_text().rstrip()}\n```\n\n"
        f"`examples/own-sites/own-trace.csv` ({len(csv_lines) - 1} rows):\n\n"
        f"```csv\n{head}\n...\n```"
    )


def _console_text(render: Callable[[Console], None]) -> str:
    buffer = io.StringIO()
    render(Console(file=buffer, width=100, color_system=None, soft_wrap=False))
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip().splitlines())


def validated() -> str:
    summary = scenario_summary(load_scenario(EXAMPLE_TOML))
    text = _console_text(lambda console: print_summary(summary, console))
    return (
        f"```console\n$ greenhop scenario validate examples/own-sites/own-sites.toml\n{text}\n```"
    )


#: A broken copy of the example: one mistake per (pattern, replacement), in three tables.
MISTAKES = [
    (r'^unit = "kW"', 'unit = "kWh"'),
    (r"^latitude = 36\.1.*\n", ""),
    (r'^setup = "fp32-adam"\n', ""),
    (r"^(deadline = .*)$", r'\1\nsite = "rooftop"'),
]


def problems() -> str:
    text = EXAMPLE_TOML.read_text()
    for pattern, replacement in MISTAKES:
        text, done = re.subn(pattern, replacement, text, count=1, flags=re.M)
        if not done:
            raise SystemExit(f"{EXAMPLE_TOML}: nothing matches {pattern!r}; update MISTAKES")
    with tempfile.TemporaryDirectory() as folder:
        broken = Path(folder) / "broken.toml"
        broken.write_text(text)
        shutil.copy(EXAMPLE_CSV, Path(folder) / EXAMPLE_CSV.name)
        check = check_scenario(broken, job_tables={"live": LiveJobSpec})
    lines = [*check.problems, f"greenhop: error: {problems_message(check)}"]
    return "```console\n$ greenhop scenario validate broken.toml\n" + "\n".join(lines) + "\n```"


def doc_files(text: str) -> dict[str, str]:
    """The files the doc shows as ``<!-- file: NAME -->`` and a code block, by name."""
    return dict(re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S))


def station() -> str:
    files = doc_files(DOC.read_text())
    with tempfile.TemporaryDirectory() as folder:
        for name in ("station.toml", "station.csv"):
            (Path(folder) / name).write_text(files[name])
        scenario = load_scenario(Path(folder) / "station.toml")
        generation = scenario.generation_w()["roof"]
        notes = scenario.weather_notes()
    steps = ", ".join(f"{t:%H:%M} {w:.0f} W" for t, w in generation.items())
    return "```text\n" + "\n".join(notes) + f"\n```\n\nGeneration of 'roof': {steps}."


SECTIONS: dict[str, Callable[[], str]] = {
    "fields": field_reference,
    "bundled": bundled,
    "example": example,
    "validate": validated,
    "problems": problems,
    "station": station,
}


def render(text: str) -> str:
    for name, fn in SECTIONS.items():
        text = replace_section(text, name, fn(), where=str(DOC))
    return text


def main() -> int:
    return doc_main(DOC, render, "make_scenario_doc.py", __doc__)


if __name__ == "__main__":
    sys.exit(main())
