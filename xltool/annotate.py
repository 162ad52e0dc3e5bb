"""The annotated copy sent back to an agency: flagged cells coloured and commented, a findings sheet first.

The original file is only read. The copy is written beside nothing it could replace, atomically.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.hyperlink import Hyperlink

from xltool.errors import UsageError
from xltool.files import atomic_write
from xltool.findings import CATALOGUE
from xltool.render import SEVERITY
from xltool.results import FileReport

RESULT_SHEET = "审核结果"
FILLS = {"error": PatternFill("solid", fgColor="FFC7CE"), "warning": PatternFill("solid", fgColor="FFEB9C")}
HEADER = ["序号", "级别", "代码", "规则", "工作表", "单元格", "数据点", "行", "列", "说明"]


def annotated_name(report: FileReport) -> str:
    return f"{report.path.stem}_审核结果.xlsx"


def annotate(report: FileReport, out_dir: Path) -> Path | None:
    """Write the annotated copy of a checked file into ``out_dir``; None when the file cannot be opened."""
    out_dir = Path(out_dir)
    target = out_dir / annotated_name(report)
    if target.resolve() == report.path.resolve():
        raise UsageError(f"{target} would replace the checked file")
    if any(CATALOGUE[f.code].refuses for f in report.findings):
        return None  # refused unread (a bomb, a pipe, macros, not a workbook): never opened again, here either
    try:
        book = load_workbook(io.BytesIO(report.path.read_bytes()))
    except Exception:  # unreadable files were reported already; there is nothing to annotate
        return None
    by_cell: dict[tuple[str, str], list] = defaultdict(list)
    for f in report.findings:
        if f.sheet in book.sheetnames and f.cell:
            by_cell[(f.sheet, f.cell)].append(f)
    for (sheet, cell), found in by_cell.items():
        target_cell = book[sheet][cell]
        severity = "error" if any(f.severity == "error" for f in found) else "warning"
        target_cell.fill = FILLS[severity]
        text = "\n".join(f"【{SEVERITY[f.severity]}】{f.message}" for f in found)
        target_cell.comment = Comment(text, "xltool", width=360, height=min(60 + 60 * len(found), 400))
    ws = book.create_sheet(RESULT_SHEET, 0)
    for col, label in enumerate(HEADER, start=1):
        _text(ws, 1, col, label).font = Font(bold=True)
    if not report.findings:
        _text(ws, 2, 1, "审核通过，未发现问题。")
    for i, f in enumerate(report.findings, start=1):
        row = i + 1
        values = [str(i), SEVERITY[f.severity], f.code, f.rule, f.sheet, f.cell, f.name, f.row, f.column, f.message]
        for col, value in enumerate(values, start=1):
            _text(ws, row, col, value or "")
        if f.sheet in book.sheetnames and f.cell:
            link = ws.cell(row, 6)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{f.sheet}'!{f.cell}")
            link.font = Font(color="0563C1", underline="single")
        ws.cell(row, 2).fill = FILLS[f.severity]
        ws.cell(row, 10).alignment = Alignment(wrap_text=True, vertical="top")
    for col, width in zip("ABCDEFGHIJ", (6, 6, 18, 6, 12, 8, 22, 24, 12, 90)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    book.active = 0
    for sheet in book.worksheets:
        sheet.sheet_view.tabSelected = sheet.title == RESULT_SHEET
    buffer = io.BytesIO()
    book.save(buffer)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(target, buffer.getvalue())
    return target


def _text(ws, row: int, col: int, value: str):
    """Write ``value`` as text, even when it starts with ``=`` (never as a formula)."""
    cell = ws.cell(row, col)
    cell.value = value
    cell.data_type = "s"
    return cell
