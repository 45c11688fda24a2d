"""Rewrite the generated sections of a Markdown doc, leaving the hand-written text alone.

A section is everything between ``<!-- BEGIN GENERATED: name -->`` and
``<!-- END GENERATED: name -->``. Used by scripts/make_*_doc.py and by benchmarks/.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path


def replace_section(text: str, name: str, body: str, *, where: str = "doc") -> str:
    """``text`` with section ``name`` replaced by ``body``; SystemExit if the markers are absent."""
    key = re.escape(name)
    pattern = re.compile(
        rf"(<!-- BEGIN GENERATED: {key} -->\n).*?(<!-- END GENERATED: {key} -->)", re.S
    )
    if not pattern.search(text):
        raise SystemExit(f"{where}: markers for generated section {name!r} are missing")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


def update_doc(path: Path, sections: dict[str, str]) -> bool:
    """Write ``sections`` into the doc at ``path``, appending missing ones; True if it changed."""
    old = path.read_text() if path.exists() else ""
    new = old
    for name, body in sections.items():
        if f"<!-- BEGIN GENERATED: {name} -->" not in new:
            new += f"\n<!-- BEGIN GENERATED: {name} -->\n<!-- END GENERATED: {name} -->\n"
        new = replace_section(new, name, body, where=str(path))
    if new != old:
        path.write_text(new)
    return new != old


def doc_main(doc: Path, render: Callable[[str], str], script: str, description: str | None) -> int:
    """The command line of a doc generator: rewrite ``doc`` with ``render``, or with ``--check``
    exit 1 (saying which script to run) when the file is stale."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {doc.name} is stale")
    args = parser.parse_args()
    old = doc.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print(f"{doc} is out of date: run python scripts/{script}", file=sys.stderr)
            return 1
        return 0
    doc.write_text(new)
    print(f"wrote {doc}")
    return 0
