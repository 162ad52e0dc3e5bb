"""Where everything of a template goes in the workbook: the expected content of every sheet.

The layout is derived from the spec alone. The generator writes it; the checker compares a returned
workbook with it; the merger writes it again with summed values. Rows and columns are 0-based.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from math import ceil

from xltool.addresses import address
from xltool.spec import Axis, Block, Cell, CellType, Table, Template, load_format, split_previous

META_SHEET = "_xltool"
SUMMARY_SHEETS = ("报送情况", "汇总明细", "来源", "说明汇总")  # the extra sheets of a summary workbook
TABLE_TOP = 2  # a table starts under its heading row and one blank row
DEFAULT_WIDTH = 8.43  # a column's width in characters when none is set (Excel's default)


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


@dataclass(frozen=True)
class Input:
    row: int
    col: int
    code: str | None  # the data point, or None for a cover field or an explanation typed by the clerk
    type: CellType | None  # None: free text
    choices: tuple[str, ...] = ()  # free text chosen from a list (the rule of an explanation)


@dataclass(frozen=True)
class Given:
    """A locked number the generator writes for one workbook: last year's value of a data point."""

    row: int
    col: int
    code: str


@dataclass(frozen=True)
class Highlight:
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
    heights: dict[int, float] = field(default_factory=dict)
    header_rows: tuple[int, int] | None = None  # repeated on every printed page
    optional: bool = False  # a workbook generated before the sheet existed may lack it


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
    return sum(max(1, ceil(sum(2 if ord(ch) > 0x2E80 else 1 for ch in line) / max(width - 1, 1)))
               for line in text.split("\n"))


def _fit_height(sheet: SheetLayout, text: Text) -> None:
    width = sum(sheet.widths.get(c, DEFAULT_WIDTH) for c in range(text.col, text.last_col + 1))
    rows = text.last_row - text.row + 1
    needed = 15 * text_lines(text.value, width) / rows
    for r in range(text.row, text.last_row + 1):
        sheet.heights[r] = max(sheet.heights.get(r, 15), needed)


@cache
def layout_for(format_name: str, role: str = "agency", previous: bool = False) -> Layout:
    """The layout of a shipped format for an agency's workbook or a summary, with or without last year's
    figures (``generate --previous``), built once per process."""
    return build_layout(load_format(format_name), role, previous)


def text_value(text: Text, meta: Mapping[str, str], template: Template) -> str:
    """What a text cell holds in a workbook with this metadata."""
    if text.fills:
        return text.value.format(**summary_values(meta, template))
    return meta.get(text.source, "") if text.source else text.value


def summary_values(meta: Mapping[str, str], template: Template) -> dict[str, object]:
    """What a summary's cover may say of it: {name}, {code}, {count}, {format_name}, {year}, {generator}."""
    return {"name": meta.get("agency_name", ""), "code": meta.get("agency_code") or template.cover.summary_no_code,
            "count": len([m for m in meta.get("members", "").split(",") if m]), "format_name": template.name,
            "year": meta.get("year", ""), "generator": meta.get("generator", "")}


def build_layout(template: Template, role: str = "agency", previous: bool = False) -> Layout:
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
    explanations, names = _explanations(template)
    last_year = _previous(template) if previous else None
    prev_cells = {g.code: (last_year.name, g.row, g.col) for g in last_year.given} if last_year else {}
    checks = _checks(template, positions, prev_cells)
    sheets = [_cover(template, role), *tables, checks, explanations, *([last_year] if last_year else [])]
    for sheet in sheets:
        for text in sheet.texts:
            if text.role in ("label", "header", "corner", "caption", "instruction"):
                _fit_height(sheet, text)
    agency = [_cover(template, "agency") if s is sheets[0] else s for s in sheets]
    return Layout(template, sheets, positions, _fingerprint(template, agency), names, prev_cells)


def _explanations(template: Template) -> tuple[SheetLayout, dict[str, tuple[str, int, int, int, int]]]:
    """The open two-column sheet where the agency explains soft findings; its defined name EXPLANATIONS."""
    spec = template.explanations
    sheet = SheetLayout(spec.sheet, widths={0: 12, 1: 100}, optional=True)
    _heading(sheet, spec.heading, 2)
    sheet.texts.append(Text(1, 0, spec.note, "instruction", 1, 1))
    top = TABLE_TOP + 1
    for j, label in enumerate(spec.columns):
        sheet.texts.append(Text(top, j, label, "header", top, j))
    sheet.header_rows = (top, top)
    first, last = top + 1, top + spec.rows
    for row in range(first, last + 1):
        sheet.inputs.append(Input(row, 0, None, None, choices=template.soft_rules))
        sheet.inputs.append(Input(row, 1, None, None))
    return sheet, {"EXPLANATIONS": (spec.sheet, first, 0, last, 1)}


def _previous(template: Template) -> SheetLayout:
    """The locked sheet of last year's values that this year's cross-year rules refer to."""
    spec = template.previous
    sheet = SheetLayout(spec.sheet, widths={0: 28, 1: 40, 2: 24, 3: 14})
    _heading(sheet, spec.heading, len(spec.columns))
    for j, label in enumerate(spec.columns):
        sheet.texts.append(Text(TABLE_TOP, j, label, "header", TABLE_TOP, j))
    sheet.header_rows = (TABLE_TOP, TABLE_TOP)
    referred = {split_previous(c)[1] for i in template.identities for c in (*i.left, *i.right) if split_previous(c)[0]}
    for row, cell in enumerate((c for c in template.cells.values() if c.code in referred), start=TABLE_TOP + 1):
        for j, text in enumerate((cell.code, cell.row_label, cell.column_label)):
            sheet.texts.append(Text(row, j, text, "label", row, j))
        sheet.given.append(Given(row, 3, cell.code))
    return sheet


def _heading(sheet: SheetLayout, text: str, width: int) -> None:
    sheet.texts.append(Text(0, 0, text, "title", 0, width - 1))
    sheet.heights[0] = 24


def _cover(template: Template, role: str) -> SheetLayout:
    """The cover: who fills it in and how, for an agency; what it is, for a summary (no clerk's fields)."""
    cover = template.cover
    summary = role == "summary"
    sheet = SheetLayout(cover.sheet, widths={0: 16, 1: 30, 2: 30, 3: 30})
    _heading(sheet, cover.heading, 4)
    row = TABLE_TOP
    for f in cover.fields:
        if f.source is None and summary:
            continue
        sheet.texts.append(Text(row, 0, f.label, "field", row, 0))
        if f.source == "basis":
            sheet.texts.append(Text(row, 1, template.basis, "value", row, 3))
        elif f.source == "agency_code" and summary:
            sheet.texts.append(Text(row, 1, "{code}", "value", row, 3, fills=True))
        elif f.source:
            sheet.texts.append(Text(row, 1, "", "value", row, 3, source=f.source))
        else:
            sheet.inputs.append(Input(row, 1, None, None))
        row += 1
    row += 1
    sheet.texts.append(Text(row, 0, cover.summary_caption if summary else cover.caption, "caption", row, 3))
    for line in cover.summary_instructions if summary else cover.instructions:
        row += 1
        sheet.texts.append(Text(row, 0, line, "instruction", row, 3, fills=summary))
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
        if ident.cross_year:
            continue  # shown live only on the check sheet, with last year's figures
        name, row, col = positions[ident.anchor]
        left = sum_expression([positions[c][1:] for c in ident.left])
        right = sum_expression([positions[c][1:] for c in ident.right]) if ident.right else "0"
        sheets[name].highlights.append(Highlight(row, col, f"=ROUND(({left})-({right}),{template.decimals})"
                                                          f"{_FAILS[ident.relation]}0"))


_FAILS = {"=": "<>", "<=": ">", ">=": "<"}  # the difference left - right fails the relation when it is so to 0
_HOLDS = {"=": "=", "<=": "<=", ">=": ">="}


def _checks(template: Template, positions: dict, previous: dict[str, tuple[str, int, int]]) -> SheetLayout:
    """The live check sheet: one line per identity, cross-year ones only when last year's figures are given."""
    spec = template.checks
    sheet = SheetLayout(spec.sheet, widths={0: 8, 1: 70, 2: 10, 3: 10, 4: 10, 5: 10})
    _heading(sheet, spec.heading, len(spec.columns))
    shown = [i for i in template.identities if previous or not i.cross_year]
    first = TABLE_TOP + 2
    last = first + len(shown) - 1

    def side(refs: tuple[str, ...]) -> str:
        terms = []
        for ref in refs:
            is_previous, code = split_previous(ref)
            if is_previous:
                name, row, col = previous[code]
                terms.append(f"'{name}'!{address(row, col)}")
            else:
                terms.append(code)
        return "=" + ("+".join(terms) or "0")

    sheet.texts.append(Text(TABLE_TOP, 0, spec.summary, "field", TABLE_TOP, 1))
    sheet.formulas.append(Formula(TABLE_TOP, 2, f'=COUNTIF({address(first, 5, True)}:{address(last, 5, True)},'
                                                f'"{spec.failed}")', "check-count"))
    sheet.highlights.append(Highlight(TABLE_TOP, 2, f"={address(TABLE_TOP, 2)}>0"))
    for j, label in enumerate(spec.columns):
        sheet.texts.append(Text(TABLE_TOP + 1, j, label, "header", TABLE_TOP + 1, j))
    sheet.header_rows = (TABLE_TOP + 1, TABLE_TOP + 1)
    for i, ident in enumerate(shown):
        row = first + i
        failed = template.previous.explain if ident.cross_year else spec.failed
        sheet.texts.append(Text(row, 0, ident.rule, "label", row, 0))
        sheet.texts.append(Text(row, 1, ident.description, "label", row, 1))
        sheet.formulas.append(Formula(row, 2, side(ident.left), "check-side"))
        sheet.formulas.append(Formula(row, 3, side(ident.right), "check-side"))
        sheet.formulas.append(Formula(row, 4, f"={address(row, 2)}-{address(row, 3)}", "check-diff"))
        sheet.formulas.append(Formula(row, 5, f'=IF(ROUND({address(row, 4)},{template.decimals})'
                                              f'{_HOLDS[ident.relation]}0,"{spec.passed}","{failed}")', "check-status"))
        sheet.highlights.append(Highlight(row, 5, f'={address(row, 5)}="{failed}"',
                                          "warn" if ident.cross_year else "bad"))
    return sheet


def _fingerprint(template: Template, sheets: list[SheetLayout]) -> str:
    """A hash of what decides whether a workbook is correct: labels and where they stand, data point codes and
    positions, formulas, cell types and their validation. Widths, heights, colours, print settings and the
    wording of prompts are not in it: a cosmetic change of the template keeps the workbooks sent out valid."""
    def cell_type(t: CellType | None) -> list | None:
        return None if t is None else [t.name, t.whole, t.min, t.decimals, t.unit]

    payload = {
        "format": template.format,
        "version": template.version,
        "sheets": [{"name": s.name,
                    "texts": [[t.row, t.col, t.value, t.last_row, t.last_col, t.source] for t in s.texts],
                    "formulas": [[f.row, f.col, f.formula, f.code] for f in s.formulas],
                    "inputs": [[i.row, i.col, i.code, cell_type(i.type)] for i in s.inputs]} for s in sheets],
    }
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    return "sha256:" + hashlib.sha256(blob).hexdigest()
