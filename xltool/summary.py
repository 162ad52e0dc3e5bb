"""A summary's own sheets — 报送情况, 汇总明细, 来源 — written by merge and read back to verify what a summary
claims: the agencies it says it holds, the numbers it says it summed, and the files it summed them from.

A summary that does not hold up (forged, edited, or stale) is refused, so that the agencies' own files are
merged instead of numbers nobody can vouch for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

from xltool.addresses import address
from xltool.findings import Finding
from xltool.layout import SUMMARY_SHEETS, ExtraSheet, Layout
from xltool.results import DataPoints
from xltool.workbook_data import SheetData, WorkbookData

STATUS_SHEET, DETAIL_SHEET, SOURCE_SHEET, EXPLAINED_SHEET = SUMMARY_SHEETS
DETAIL_HEAD = ("单位代码", "单位名称", "角色", "成员单位")
SOURCE_HEAD = ("文件名", "大小（字节）", "SHA-256", "格式", "年度", "单位代码", "单位名称", "角色", "修改时间（UTC）", "结论")
ROLE_NAMES = {"agency": "单位", "summary": "汇总"}
ACCEPTED = ("已采纳", "已采纳（有警告）", "已采纳（有说明）")


class Member(NamedTuple):
    """One row of 汇总明细: an accepted file, the agencies it stands for, and its numbers."""

    code: str
    name: str
    role: str  # agency or summary
    members: tuple[str, ...]
    values: Mapping[str, float]


def status_sheet(rows: Sequence[Sequence[object]]) -> ExtraSheet:
    return ExtraSheet(STATUS_SHEET, ["序号", "单位代码", "单位名称", "状态", "错误数", "警告数", "主要问题", "文件"], rows,
                      len(rows), widths=(6, 10, 26, 16, 7, 7, 80, 34))


def detail_sheet(layout: Layout, members: Sequence[Member]) -> ExtraSheet:
    cells = layout.template.cells
    header = [*DETAIL_HEAD, *(f"{c.code}\n{c.row_label}／{c.column_label}" for c in cells.values())]
    rows = ([m.code, m.name, ROLE_NAMES.get(m.role, m.role), ",".join(m.members),
             *(m.values.in_order() if isinstance(m.values, DataPoints) and m.values.format == layout.template.format
               else [m.values.get(code) for code in cells])] for m in members)
    return ExtraSheet(DETAIL_SHEET, header, rows, len(members), widths=(12, 28, 8, 20, *([16] * len(cells))),
                      repeat_columns=len(DETAIL_HEAD))


def explanations_sheet(explained: Sequence[tuple[object, object]]) -> ExtraSheet:
    """说明汇总: every soft finding accepted on the agency's written explanation, with the check's two sides."""
    rows = [[r.agency_code or "", r.agency_name or "", f.rule, f"{f.sheet}!{f.cell}" if f.cell else "",
             f.detail.get("description", ""), f.actual, f.expected, f.detail.get("explanation", "")]
            for r, f in explained]
    return ExtraSheet(EXPLAINED_SHEET, ["单位代码", "单位名称", "规则", "位置", "核对内容", "本年（左边）", "对照（右边）", "单位的说明"],
                      rows, len(rows), widths=(10, 26, 6, 16, 50, 12, 12, 60))


def source_sheet(rows: Sequence[Sequence[object]]) -> ExtraSheet:
    return ExtraSheet(SOURCE_SHEET, list(SOURCE_HEAD), rows, len(rows), widths=(36, 12, 66, 22, 8, 12, 28, 8, 22, 16))


# -- reading a summary back --------------------------------------------------------------------------

def summed_files(book: WorkbookData) -> tuple[tuple[str, str], ...]:
    """(agency code, sha256) of every agency file the summary says it summed (its 来源 sheet)."""
    rows = sheet_rows(book.sheet(SOURCE_SHEET))
    if not rows:
        return ()
    col = {name: i for i, name in enumerate(rows[0])}
    if not {"单位代码", "SHA-256", "角色", "结论"} <= set(col):
        return ()
    return tuple((row[col["单位代码"]], row[col["SHA-256"]]) for row in rows[1:]
                 if row[col["角色"]] == "agency" and row[col["结论"]] in ACCEPTED)


def verify(book: WorkbookData, layout: Layout, claimed: Iterable[str], values: Mapping[str, float]) -> list[Finding]:
    """The findings on what a summary claims: its members are the agencies of its 汇总明细, each once, and each
    input of its tables is the exact sum of its 汇总明细 rows."""
    rows = sheet_rows(book.sheet(DETAIL_SHEET))
    if not rows or tuple(rows[0][:len(DETAIL_HEAD)]) != DETAIL_HEAD:
        return [Finding("summary-unverified", reason="no-detail", sheet=DETAIL_SHEET)]
    columns = {str(head).split("\n", 1)[0]: i for i, head in enumerate(rows[0])}
    held: list[str] = []
    for row in rows[1:]:
        held.extend(m for m in str(row[3] or "").split(",") if m)
    twice = sorted({m for m in held if held.count(m) > 1})
    claimed = sorted(set(claimed))
    if twice or sorted(set(held)) != claimed:
        return [Finding("summary-unverified", reason="members-differ", sheet=DETAIL_SHEET,
                        expected="、".join(sorted(set(held))), actual="、".join(claimed),
                        detail={"twice": "、".join(twice) or "无"})]
    found = []
    for code, cell in layout.template.cells.items():
        if not cell.is_input:
            continue
        col = columns.get(code)
        parts = [row[col] for row in rows[1:]] if col is not None else []
        if col is None or not all(isinstance(v, float) for v in parts):
            return [Finding("summary-unverified", reason="no-detail", sheet=DETAIL_SHEET)]
        total = float(sum((Decimal(repr(v)) for v in parts), Decimal(0)))
        if values.get(code) != total:
            sheet, row, column = layout.positions[code]
            found.append(Finding("summary-unverified", reason="sum-differs", sheet=sheet, cell=address(row, column),
                                 **cell.labels, expected=total, actual=values.get(code)))
    return found


def sheet_rows(sheet: SheetData | None) -> list[list[object]]:
    """A plain table sheet as rows of values (None where a cell is empty)."""
    if sheet is None or not sheet.cells:
        return []
    width = 1 + max(c for _, c in sheet.cells)
    height = 1 + max(r for r, _ in sheet.cells)
    rows = [[None] * width for _ in range(height)]
    for (r, c), cell in sheet.cells.items():
        rows[r][c] = cell.value
    return rows
