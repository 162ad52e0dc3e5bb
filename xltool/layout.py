"""Where everything of a template goes in the workbook: the expected content of every sheet.

The layout is derived from the spec alone. The generator writes it; the checker compares a returned
workbook with it; the merger writes it again with summed values. Rows and columns are 0-based.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cache
from math import ceil

from xltool.addresses import address
from xltool.spec import Axis, Block, Cell, CellType, Table, Template, load_format

META_SHEET = "_xltool"
SUMMARY_SHEETS = ("报送情况", "汇总明细", "来源")  # the extra sheets of a summary workbook
TABLE_TOP = 2  # a table starts under its heading row and one blank row
DEFAULT_WIDTH = 8.43  # a column's width in characters when none is set (Excel's default)


@dataclass(frozen=True)
class Text:
    """A constant cell: a label, heading or note. ``source`` names a metadata key that fills it."""

    row: int
    col: int
    value: str
    role: str
    last_row: int
    last_col: int
    source: str | None = None

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


@dataclass(frozen=True)
class Input:
    row: int
    col: int
    code: str | None  # the data point, or None for a cover field typed by the clerk
    type: CellType | None  # None: free text


@dataclass(frozen=True)
class Highlight:
    """Conditional format: the cell turns red while ``formula`` is true."""

    row: int
    col: int
    formula: str


@dataclass
class SheetLayout:
    name: str
    texts: list[Text] = field(default_factory=list)
    formulas: list[Formula] = field(default_factory=list)
    inputs: list[Input] = field(default_factory=list)
    highlights: list[Highlight] = field(default_factory=list)
    widths: dict[int, float] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)
    header_rows: tuple[int, int] | None = None  # repeated on every printed page


@dataclass
class Layout:
    template: Template
    sheets: list[SheetLayout]
    positions: dict[str, tuple[str, int, int]]  # data point code -> (sheet, row, col)
    fingerprint: str

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
    return sum(max(1, ceil(sum(2 if ord(ch) > 0x2E80 else 1 for ch in line) / max(width - 1, 1)))
               for line in text.split("\n"))


def _fit_height(sheet: SheetLayout, text: Text) -> None:
    width = sum(sheet.widths.get(c, DEFAULT_WIDTH) for c in range(text.col, text.last_col + 1))
    rows = text.last_row - text.row + 1
    needed = 15 * text_lines(text.value, width) / rows
    for r in range(text.row, text.last_row + 1):
        sheet.heights[r] = max(sheet.heights.get(r, 15), needed)


@cache
def layout_for(format_name: str) -> Layout:
    """The layout of a shipped format, built once per process."""
    return build_layout(load_format(format_name))


def build_layout(template: Template) -> Layout:
    positions: dict[str, tuple[str, int, int]] = {}
    tables = []
    for table in template.tables:
        sheet = SheetLayout(table.sheet)
        if table.layout == "blocks":
            _blocks(sheet, table, template, positions)
        else:
            _matrix(sheet, table, template, positions)
        tables.append(sheet)
    _totals(template, positions, {s.name: s for s in tables})
    sheets = [_cover(template), *tables, _checks(template, positions, {s.name: s for s in tables})]
    for sheet in sheets:
        for text in sheet.texts:
            if text.role in ("label", "header", "corner", "caption", "instruction"):
                _fit_height(sheet, text)
    return Layout(template, sheets, positions, _fingerprint(template, sheets))


def _heading(sheet: SheetLayout, text: str, width: int) -> None:
    sheet.texts.append(Text(0, 0, text, "title", 0, width - 1))
    sheet.heights[0] = 24


def _cover(template: Template) -> SheetLayout:
    cover = template.cover
    sheet = SheetLayout(cover.sheet, widths={0: 16, 1: 30, 2: 30, 3: 30})
    _heading(sheet, cover.heading, 4)
    row = TABLE_TOP
    for f in cover.fields:
        sheet.texts.append(Text(row, 0, f.label, "field", row, 0))
        if f.source:
            constant = f.source == "basis"
            sheet.texts.append(Text(row, 1, template.basis if constant else "", "value", row, 3,
                                    source=None if constant else f.source))
        else:
            sheet.inputs.append(Input(row, 1, None, None))
        row += 1
    row += 1
    sheet.texts.append(Text(row, 0, "填报说明", "caption", row, 3))
    for line in cover.instructions:
        row += 1
        sheet.texts.append(Text(row, 0, line, "instruction", row, 3))
    return sheet


def _blocks(sheet: SheetLayout, table: Table, template: Template, positions: dict[str, tuple[str, int, int]]) -> None:
    width = 1 + max(len(b.columns) for b in table.blocks)
    _heading(sheet, table.heading, width)
    sheet.widths = {0: 28, **{c: 18 for c in range(1, width)}}
    row = TABLE_TOP
    sheet.header_rows = None
    for block in table.blocks:
        if block.note:
            sheet.texts.append(Text(row, 0, block.caption, "caption", row, width - 2))
            sheet.texts.append(Text(row, width - 1, block.note, "note", row, width - 1))
        else:
            sheet.texts.append(Text(row, 0, block.caption, "caption", row, width - 1))
        row += 1
        sheet.texts.append(Text(row, 0, table.corner, "header", row, 0))
        for j, col in enumerate(block.columns):
            sheet.texts.append(Text(row, 1 + j, col.label, "header", row, 1 + j))
        row += 1
        for r, codes in zip(block.rows, block.codes):
            sheet.texts.append(Text(row, 0, r.label, "label", row, 0))
            for j, code in enumerate(codes):
                _place(sheet, template.cells[code], row, 1 + j, positions)
            row += 1


def _place(sheet: SheetLayout, cell: Cell, row: int, col: int, positions: dict) -> None:
    positions[cell.code] = (sheet.name, row, col)
    if cell.is_input:
        sheet.inputs.append(Input(row, col, cell.code, cell.type))


def _runs(items: tuple[Axis, ...], level: int) -> list[tuple[int, int, str]]:
    """Runs of consecutive items sharing the same group path down to ``level``: (first, last, label)."""
    runs: list[tuple[int, int, str]] = []
    for i, item in enumerate(items):
        groups = item.groups
        if len(groups) <= level:
            continue
        key = groups[: level + 1]
        if runs and runs[-1][1] == i - 1 and items[runs[-1][0]].groups[: level + 1] == key:
            runs[-1] = (runs[-1][0], i, groups[level])
        else:
            runs.append((i, i, groups[level]))
    return runs


def _matrix(sheet: SheetLayout, table: Table, template: Template, positions: dict[str, tuple[str, int, int]]) -> None:
    columns, rows, corner = table.columns, table.rows, table.corner
    label_cols = max((len(r.groups) + 1 for r in rows if r.label), default=0)
    depth = max(len(c.groups) + 1 for c in columns)
    top, first_data_row = TABLE_TOP, TABLE_TOP + depth
    _heading(sheet, table.heading, label_cols + len(columns))
    if label_cols:
        sheet.widths = {0: 10, **{c: 12 for c in range(1, label_cols - 1)}, label_cols - 1: 38}
        if label_cols == 1:
            sheet.widths = {0: 38}
        sheet.texts.append(Text(top, 0, corner, "corner", top + depth - 1, label_cols - 1))
    for j in range(len(columns)):
        sheet.widths[label_cols + j] = 10 if label_cols else 9
    sheet.header_rows = (top, first_data_row - 1)
    for level in range(depth - 1):
        for first, last, label in _runs(columns, level):
            sheet.texts.append(Text(top + level, label_cols + first, label, "header", top + level, label_cols + last))
    for j, col in enumerate(columns):
        level = len(col.groups)
        sheet.texts.append(Text(top + level, label_cols + j, col.label, "header", top + depth - 1, label_cols + j))
    for level in range(label_cols - 1):
        for first, last, label in _runs(rows, level):
            sheet.texts.append(Text(first_data_row + first, level, label, "label", first_data_row + last, level))
    for i, (r, codes) in enumerate(zip(rows, table.codes)):
        row = first_data_row + i
        if r.label:
            level = len(r.groups)
            sheet.texts.append(Text(row, level, r.label, "label", row, label_cols - 1))
        for j, code in enumerate(codes):
            _place(sheet, template.cells[code], row, label_cols + j, positions)


def _totals(template: Template, positions: dict, sheets: dict[str, SheetLayout]) -> None:
    for cell in template.cells.values():
        if cell.total_of:
            name, row, col = positions[cell.code]
            parts = [positions[p][1:] for p in cell.total_of]
            sheets[name].formulas.append(Formula(row, col, "=" + sum_expression(parts), "total", cell.code))
    for ident in template.identities:
        name, row, col = positions[ident.anchor]
        left = sum_expression([positions[c][1:] for c in ident.left])
        right = sum_expression([positions[c][1:] for c in ident.right])
        op = "<>" if ident.relation == "=" else ">"
        sheets[name].highlights.append(Highlight(row, col, f"=ROUND(({left})-({right}),{template.decimals}){op}0"))


def _checks(template: Template, positions: dict, tables: dict[str, SheetLayout]) -> SheetLayout:
    spec = template.checks
    sheet = SheetLayout(spec.sheet, widths={0: 8, 1: 70, 2: 10, 3: 10, 4: 10, 5: 10})
    _heading(sheet, spec.heading, len(spec.columns))
    first = TABLE_TOP + 2
    last = first + len(template.identities) - 1
    sheet.texts.append(Text(TABLE_TOP, 0, spec.summary, "field", TABLE_TOP, 1))
    sheet.formulas.append(Formula(TABLE_TOP, 2, f'=COUNTIF({address(first, 5, True)}:{address(last, 5, True)},'
                                                f'"{spec.failed}")', "check-count"))
    sheet.highlights.append(Highlight(TABLE_TOP, 2, f"={address(TABLE_TOP, 2)}>0"))
    for j, label in enumerate(spec.columns):
        sheet.texts.append(Text(TABLE_TOP + 1, j, label, "header", TABLE_TOP + 1, j))
    sheet.header_rows = (TABLE_TOP + 1, TABLE_TOP + 1)
    for i, ident in enumerate(template.identities):
        row = first + i
        sheet.texts.append(Text(row, 0, ident.rule, "label", row, 0))
        sheet.texts.append(Text(row, 1, ident.description, "label", row, 1))
        sheet.formulas.append(Formula(row, 2, "=" + "+".join(ident.left), "check-side"))
        sheet.formulas.append(Formula(row, 3, "=" + "+".join(ident.right), "check-side"))
        sheet.formulas.append(Formula(row, 4, f"={address(row, 2)}-{address(row, 3)}", "check-diff"))
        test = "=0" if ident.relation == "=" else "<=0"
        sheet.formulas.append(Formula(row, 5, f'=IF(ROUND({address(row, 4)},{template.decimals}){test},'
                                              f'"{spec.passed}","{spec.failed}")', "check-status"))
        sheet.highlights.append(Highlight(row, 5, f'={address(row, 5)}="{spec.failed}"'))
    return sheet


_FINGERPRINTED_TYPE_KEYS = ("name", "whole", "min", "decimals", "unit", "prompt", "alert")


def _fingerprint(template: Template, sheets: list[SheetLayout]) -> str:
    """A hash of everything the template puts in a workbook: labels, positions, formulas, types."""
    payload = {
        "format": template.format,
        "version": template.version,
        "sheets": [asdict(s) for s in sheets],
    }
    for sheet in payload["sheets"]:  # a cell type is hashed with the keys of template version 1 only
        for cell in sheet["inputs"]:
            if cell["type"] is not None:
                cell["type"] = {k: cell["type"][k] for k in _FINGERPRINTED_TYPE_KEYS}
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    return "sha256:" + hashlib.sha256(blob).hexdigest()
