"""What a workbook holds, as plain data: sheets, cells, merges, validations, names, metadata.

The reader fills these; the checker, the merger and the annotator read them. Nothing here parses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


@dataclass(frozen=True)
class ErrorValue:
    """A cell error such as ``#DIV/0!`` or ``#REF!``, typed or cached."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class CellData:
    """One ``<c>`` element.

    ``value`` is what the file stores: None (no value), str, float, bool or ErrorValue (an ISO date
    string for ``t="d"``). For a formula cell it is the cached result, which xltool never trusts.
    ``formula`` is the formula text with a leading ``=`` (shared formulas already expanded for each
    cell), or None. ``locked`` follows the cell style (cells are locked unless their style says not).
    ``date_style`` is true when the number format shows the number as a date or time.
    """

    value: object = None
    formula: str | None = None
    locked: bool = True
    date_style: bool = False


class Validation(NamedTuple):
    """One ``<dataValidation>``: its type (whole, decimal, list, …), operator, formulas, and cells.

    ``cells`` is the expanded ``sqref``. A range of more than 100,000 cells (a whole column, a whole
    sheet) is clipped to the sheet's used area, the bounding box of its ``<c>`` elements; ``clipped``
    then says so. Cells outside it have no ``<c>`` element, so nothing the checker reads is lost.
    """

    type: str
    operator: str
    formula1: str | None
    formula2: str | None
    cells: frozenset[tuple[int, int]]
    clipped: bool = False


@dataclass
class SheetData:
    """One worksheet as read. Never changed once read: the reader gives files whose sheet is the same bytes (with
    the same shared strings and styles) the same SheetData."""

    name: str
    state: str  # "visible", "hidden" or "veryHidden"
    cells: dict[tuple[int, int], CellData] = field(default_factory=dict)  # (row, col), 0-based
    merged: set[tuple[int, int, int, int]] = field(default_factory=set)  # (first_row, first_col, last_row, last_col)
    protection: dict[str, str] | None = None  # attributes of <sheetProtection>, None when absent
    validations: list[Validation] = field(default_factory=list)
    conditional_formulas: dict[tuple[int, int], list[str]] = field(default_factory=dict)  # top-left cell of each range
    default_locked: bool = True  # locked state of cells with no <c> element (row/column styles ignored)


@dataclass
class WorkbookData:
    path: Path
    sheets: list[SheetData]  # in workbook order
    defined_names: dict[str, str]  # workbook-scoped name -> reference text without "=", e.g. "'依申请公开'!$D$5"
    local_names: dict[tuple[str, str], str]  # (sheet, name) -> reference, for sheet-scoped names
    workbook_protection: dict[str, str] | None
    macros: bool  # a VBA project or a macro-enabled content type is in the package
    external_parts: list[str]  # externalLink parts, OLE objects, connections, query tables
    meta: dict[str, str]  # the _xltool sheet's key/value rows; {} when there is no such sheet

    def sheet(self, name: str) -> SheetData | None:
        return next((s for s in self.sheets if s.name == name), None)

