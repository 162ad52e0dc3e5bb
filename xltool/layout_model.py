"""The parts a sheet layout is made of: text, formula, input and given cells, highlights, plain table sheets.

Rows and columns are 0-based. :mod:`xltool.layout` builds them from the spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from math import ceil
from typing import NamedTuple

from xltool.addresses import address
from xltool.spec import CellType, Template

META_SHEET = "_xltool"
SUMMARY_SHEETS = ("报送情况", "汇总明细", "来源", "说明汇总")  # the extra sheets of a summary workbook
TABLE_TOP = 2  # a table starts under its heading row and one blank row
DEFAULT_WIDTH = 8.43  # a column's width in characters when none is set (Excel's default)
FITTED = ("label", "header", "corner", "caption", "instruction")  # texts whose rows grow to show every line


@dataclass(frozen=True)
class Text:
    """A constant cell: a label, heading or note. ``source`` names a metadata key that fills it; a text that
    ``fills`` is a template over :func:`summary_values` (a summary's cover)."""

    row: int
    col: int
    value: str
    role: str
    last_row: int
    last_col: int
    source: str | None = None
    fills: bool = False

    @property
    def merged(self) -> bool:
        return (self.last_row, self.last_col) != (self.row, self.col)


@dataclass(frozen=True)
class Formula:
    row: int
    col: int
    formula: str  # with the leading "="
    role: str  # total, check-side, check-diff, check-status, check-count
    code: str | None = None  # the data point it computes, for totals


class Input(NamedTuple):
    row: int
    col: int
    code: str | None  # the data point, or None for a cover field or an explanation typed by the clerk
    type: CellType | None  # None: free text
    choices: tuple[str, ...] = ()  # free text chosen from a list (the rule of an explanation)


class Given(NamedTuple):
    """A locked number the generator writes for one workbook: last year's value of a data point."""

    row: int
    col: int
    code: str


class Highlight(NamedTuple):
    """Conditional format: the cell turns red (``bad``) or amber (``warn``) while ``formula`` is true."""

    row: int
    col: int
    formula: str
    style: str = "bad"


@dataclass
class SheetLayout:
    name: str
    texts: list[Text] = field(default_factory=list)
    formulas: list[Formula] = field(default_factory=list)
    inputs: list[Input] = field(default_factory=list)
    highlights: list[Highlight] = field(default_factory=list)
    given: list[Given] = field(default_factory=list)
    widths: dict[int, float] = field(default_factory=dict)
    header_rows: tuple[int, int] | None = None  # repeated on every printed page
    optional: bool = False  # a workbook generated before the sheet existed may lack it

    @cached_property
    def filled(self) -> tuple[Text, ...]:
        """The texts that the workbook's metadata fills (its agency, its year)."""
        return tuple(t for t in self.texts if t.source or t.fills)

    @cached_property
    def heights(self) -> dict[int, float]:
        """Row heights in points: 24 for the title, and what its wrapped lines need for a row of labels or
        instructions. Only a workbook being written asks, so a check never works them out."""
        heights: dict[int, float] = {t.row: 24 for t in self.texts if t.role == "title"}
        for text in self.texts:
            if text.role in FITTED:
                width = sum(self.widths.get(c, DEFAULT_WIDTH) for c in range(text.col, text.last_col + 1))
                needed = 15 * text_lines(text.value, width) / (text.last_row - text.row + 1)
                for r in range(text.row, text.last_row + 1):
                    heights[r] = max(heights.get(r, 15), needed)
        return heights


@dataclass
class ExtraSheet:
    """A plain table sheet (summaries: status, details, provenance). Every value is written as data.

    ``rows`` is iterated once, while the file is written, so a generator keeps a large table out of memory:
    its rows are streamed into the sheet's XML instead of being held by xlsxwriter.
    """

    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[object]]
    count: int  # number of rows
    widths: Sequence[float] = ()  # of the first columns; the others keep the default width
    repeat_columns: int = 0  # a wide data sheet: its first columns are printed on every page, not shrunk to one

    def width(self, col: int) -> float:
        return self.widths[col] if col < len(self.widths) else DEFAULT_WIDTH


@dataclass
class Layout:
    template: Template
    sheets: list[SheetLayout]
    positions: dict[str, tuple[str, int, int]]  # data point code -> (sheet, row, col)
    fingerprint: str
    names: dict[str, tuple[str, int, int, int, int]] = field(default_factory=dict)  # other defined names: ranges
    previous: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # code -> its cell of last year's value

    def sheet(self, name: str) -> SheetLayout:
        return next(s for s in self.sheets if s.name == name)


def sum_expression(cells: list[tuple[int, int]]) -> str:
    """``SUM(D7:D25)`` for a contiguous run in one row or column, else ``D5+D6+…``."""
    rows = {r for r, _ in cells}
    cols = {c for _, c in cells}
    ordered = sorted(cells)
    contiguous = len(cells) > 2 and (
        (len(cols) == 1 and max(rows) - min(rows) + 1 == len(cells))
        or (len(rows) == 1 and max(cols) - min(cols) + 1 == len(cells))
    )
    if contiguous:
        return f"SUM({address(*ordered[0])}:{address(*ordered[-1])})"
    return "+".join(address(r, c) for r, c in cells)


def text_lines(text: str, width: float) -> int:
    """Lines a wrapped label needs in a column of ``width`` characters (a CJK glyph is two)."""
    if 2 * len(text) <= width - 1 and "\n" not in text:
        return 1
    wide = _wide()
    return sum(max(1, ceil((len(line) + len(wide.findall(line))) / max(width - 1, 1))) for line in text.split("\n"))


@cache
def _wide() -> re.Pattern:
    """A glyph two columns wide (CJK and beyond), compiled on first use; written as the complement of the narrow
    ones, which ``re`` compiles in a fifth of the time of the range up to U+10FFFF (1 ms instead of 4)."""
    return re.compile("[^\x00-\u2e80]")


def heading(sheet: SheetLayout, text: str, width: int) -> None:
    sheet.texts.append(Text(0, 0, text, "title", 0, width - 1))


