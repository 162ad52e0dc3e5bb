"""Where everything of a template goes in the workbook: the expected content of every sheet.

The layout is derived from the spec alone. The generator writes it; the checker compares a returned
workbook with it; the merger writes it again with summed values. Rows and columns are 0-based.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache

from xltool.layout_checks import FAILS, check_sheet, explanations_sheet, previous_sheet
from xltool.layout_model import (  # the parts, for the modules that read a layout
    DEFAULT_WIDTH,
    META_SHEET,
    SUMMARY_SHEETS,
    TABLE_TOP,
    ExtraSheet,
    Formula,
    Given,
    Highlight,
    Input,
    Layout,
    SheetLayout,
    Text,
    heading,
    sum_expression,
    text_lines,
)
from xltool.spec import Axis, Cell, CellType, Table, Template, load_format

__all__ = [  # the layout, and the parts it is made of (xltool.layout_model), for the modules that read one
    "DEFAULT_WIDTH", "META_SHEET", "SUMMARY_SHEETS", "ExtraSheet", "Formula", "Given", "Highlight", "Input", "Layout",
    "SheetLayout", "Text", "build_layout", "layout_for", "summary_values", "text_lines", "text_value",
]

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
    explanations, names = explanations_sheet(template)
    last_year = previous_sheet(template) if previous else None
    prev_cells = {g.code: (last_year.name, g.row, g.col) for g in last_year.given} if last_year else {}
    checks = check_sheet(template, positions, prev_cells)
    sheets = [_cover(template, role), *tables, checks, explanations, *([last_year] if last_year else [])]
    agency = [_cover(template, "agency") if s is sheets[0] else s for s in sheets]
    return Layout(template, sheets, positions, _fingerprint(template, agency), names, prev_cells)


def _cover(template: Template, role: str) -> SheetLayout:
    """The cover: who fills it in and how, for an agency; what it is, for a summary (no clerk's fields)."""
    cover = template.cover
    summary = role == "summary"
    sheet = SheetLayout(cover.sheet, widths={0: 16, 1: 30, 2: 30, 3: 30})
    heading(sheet, cover.heading, 4)
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
    heading(sheet, table.heading, width)
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
    heading(sheet, table.heading, label_cols + len(columns))
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
                                                          f"{FAILS[ident.relation]}0"))


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
