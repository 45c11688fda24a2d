"""Tables of formatted cells as HTML, with a footnote for every dash that says why it is one."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from greenhop.report.format import DASH


@dataclass(frozen=True)
class Cell:
    """One cell: its text (escaped, unless ``raw``), an optional footnote (why the cell is a
    dash, or what it leaves out), and whether to emphasise it."""

    text: str
    note: str | None = None
    strong: bool = False
    raw: bool = False

    @classmethod
    def missing(cls, why: str) -> Cell:
        """A dash, with ``why`` as its footnote."""
        return cls(DASH, note=why)


@dataclass
class Footnotes:
    """The page's footnotes: one number per distinct text, in order of first use."""

    texts: list[str] = field(default_factory=list)

    def ref(self, text: str) -> str:
        """The superscript link to the footnote ``text`` (added on first use)."""
        if text not in self.texts:
            self.texts.append(text)
        n = self.texts.index(text) + 1
        return f'<sup><a href="#note-{n}">{n}</a></sup>'

    def html(self, first: int = 0) -> str:
        """The footnotes from number ``first + 1`` on (those a table just added)."""
        if len(self.texts) <= first:
            return ""
        items = "".join(
            f'<li id="note-{i}">{html.escape(t)}</li>'
            for i, t in enumerate(self.texts[first:], first + 1)
        )
        return f'<ol class="notes" start="{first + 1}">{items}</ol>'


@dataclass(frozen=True)
class Table:
    """A table: a header row, rows of cells (str or :class:`Cell`); the first column labels the
    row. ``numeric`` columns are right-aligned (default: all but the first)."""

    header: Sequence[str]
    rows: Sequence[Sequence[str | Cell]]
    caption: str = ""
    numeric: Sequence[bool] | None = None
    raw_header: bool = False
    nowrap: bool = False  # cells never wrap (the table scrolls in its box instead)

    def html(self, notes: Footnotes) -> str:
        numeric = (
            list(self.numeric)
            if self.numeric is not None
            else ([False] + [True] * (len(self.header) - 1))
        )
        head = "".join(
            f'<th scope="col"{" class=num" if numeric[i] else ""}>'
            f"{h if self.raw_header else html.escape(h)}</th>"
            for i, h in enumerate(self.header)
        )
        body = []
        for row in self.rows:
            cells = []
            for i, c in enumerate(row):
                cell = c if isinstance(c, Cell) else Cell(str(c))
                text = cell.text if cell.raw else html.escape(cell.text)
                if cell.strong:
                    text = f"<strong>{text}</strong>"
                if cell.note:
                    text += notes.ref(cell.note)
                tag = "th scope=row" if i == 0 else "td"
                cls = " class=num" if numeric[i] else ""
                cells.append(f"<{tag}{cls}>{text}</{tag.split()[0]}>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        cls = ' class="nowrap"' if self.nowrap else ""
        return (
            f'<div class="scroll"><table{cls}>{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )
