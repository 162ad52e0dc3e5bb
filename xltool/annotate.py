"""The annotated copy sent back to an agency: a 审核结果 sheet first, flagged cells coloured and commented.

The original file is only read; the copy is written atomically under a name no other copy of this run has.
A clerk may fix the numbers in the annotated copy itself and send it back: its 审核结果 sheet carries a
digest of its own content, by which the checker recognises it as xltool's and does not count it as a change
of the workbook's structure (a sheet of that name with other content still is one).
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from xltool.errors import UsageError
from xltool.files import atomic_write, safe_filename, shown, unique_name
from xltool.findings import CATALOGUE
from xltool.layout import text_lines
from xltool.render import SEVERITY, verdict
from xltool.results import FileReport

RESULT_SHEET = "审核结果"
HEADER = ["序号", "级别", "位置", "行", "列", "说明"]
WIDTHS = (6, 6, 16, 26, 14, 90)
FILLS = {"error": "FFC7CE", "warning": "FFEB9C"}
DIGEST_PREFIX = "xltool 审核结果校验码："
_TOP = 3  # rows above the header: title, counts, blank


def annotated_name(report: FileReport) -> str:
    return safe_filename(f"{shown(report.path.stem)}_{RESULT_SHEET}", ".xlsx")


def content_digest(cells: Mapping[tuple[int, int], object]) -> str:
    """A digest of a result sheet's text, (row, col) 0-based -> value, the digest cell itself left out."""
    lines = [f"{r},{c},{v}" for (r, c), v in sorted(cells.items())
             if v not in (None, "") and not str(v).startswith(DIGEST_PREFIX)]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:32]


def is_own_result_sheet(cells: Mapping[tuple[int, int], object]) -> bool:
    """True when a sheet's text is a result sheet exactly as xltool wrote it (its digest still matches)."""
    stamps = [str(v) for v in cells.values() if str(v).startswith(DIGEST_PREFIX)]
    return len(stamps) == 1 and stamps[0] == DIGEST_PREFIX + content_digest(cells)


def annotate(report: FileReport, out_dir: Path, taken: set[str] | None = None) -> Path | None:
    """Write the annotated copy of a checked file into ``out_dir``; None when the file cannot be opened."""
    from openpyxl import load_workbook

    out_dir = Path(out_dir)
    target = unique_name(out_dir, annotated_name(report), set() if taken is None else taken)
    if target.resolve() == report.path.resolve():
        raise UsageError(f"{shown(target)} would replace the checked file")
    if any(CATALOGUE[f.code].refuses or f.code == "internal-error" for f in report.findings):
        return None  # refused unread (a bomb, a pipe, macros, not a workbook): never opened again, here either
    try:
        book = load_workbook(io.BytesIO(report.path.read_bytes()))
    except Exception:  # unreadable files were reported already; there is nothing to annotate
        return None
    if RESULT_SHEET in book.sheetnames:  # an earlier annotation: replaced by this one
        del book[RESULT_SHEET]
    _mark_cells(book, report)
    _result_sheet(book, report)
    buffer = io.BytesIO()
    book.save(buffer)
    atomic_write(target, buffer.getvalue())
    return target


def _mark_cells(book, report: FileReport) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    by_cell: dict[tuple[str, str], list] = defaultdict(list)
    for f in report.findings:
        if f.sheet in book.sheetnames and f.cell and f.severity in FILLS:
            by_cell[(f.sheet, f.cell)].append(f)
    for (sheet, cell), found in by_cell.items():
        target = book[sheet][cell]
        severity = "error" if any(f.severity == "error" for f in found) else "warning"
        target.fill = PatternFill("solid", fgColor=FILLS[severity])
        text = "\n".join(f"【{SEVERITY[f.severity]}】{f.message}" for f in found)
        target.comment = Comment(text, "xltool", width=360, height=min(60 + 60 * len(found), 400))


def _result_sheet(book, report: FileReport) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.hyperlink import Hyperlink

    ws = book.create_sheet(RESULT_SHEET, 0)
    who = report.agency_name or "（未知单位）"
    if report.agency_code:
        who += f"（{report.agency_code}）"
    errors, warnings = len(report.errors), len(report.warnings)
    texts: dict[tuple[int, int], str] = {
        (0, 0): f"审核结果：{who}  {report.year or ''}年度  结论：{verdict(report)}",
        (1, 0): f"错误 {errors} 个，警告 {warnings} 个。审核时间 {report.checked_at}（UTC）。"
                "错误须改正后重新报送；红色单元格为错误，黄色为警告，点击“位置”可跳转。",
    }
    for col, label in enumerate(HEADER):
        texts[(_TOP, col)] = label
    row = _TOP
    for row, f in enumerate(report.findings, start=_TOP + 1):
        place = f"{f.sheet}!{f.cell}" if f.sheet and f.cell else (f.sheet or "")
        for col, value in enumerate((str(row - _TOP), SEVERITY[f.severity], place, f.row, f.column, f.message)):
            texts[(row, col)] = value or ""
    if not report.findings:
        row = _TOP + 1
        texts[(row, 0)] = "审核通过，未发现问题。"
    texts[(row + 2, 0)] = DIGEST_PREFIX + content_digest(texts)
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    lines: dict[int, int] = defaultdict(lambda: 1)
    for (r, c), value in texts.items():
        cell = ws.cell(r + 1, c + 1)
        cell.value, cell.data_type = value, "s"  # text, even when it starts with "=": never a formula
        if _TOP <= r <= _TOP + len(report.findings):
            cell.border = box
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            lines[r] = max(lines[r], text_lines(value, WIDTHS[c]))
    for r, n in lines.items():  # office suites do not all grow a row to its wrapped text: say its height
        ws.row_dimensions[r + 1].height = 15 * n + 4
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(HEADER))
    ws.cell(1, 1).font = Font(bold=True, size=14, color="9C0006" if errors else "006100")
    ws.cell(2, 1).alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[2].height = 32
    for col in range(1, len(HEADER) + 1):
        header = ws.cell(_TOP + 1, col)
        header.font = Font(bold=True)
        header.fill = PatternFill("solid", fgColor="D9E1F2")
    for i, f in enumerate(report.findings, start=_TOP + 2):
        if f.severity in FILLS:
            ws.cell(i, 2).fill = PatternFill("solid", fgColor=FILLS[f.severity])
        if f.sheet in book.sheetnames and f.cell:
            link = ws.cell(i, 3)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{f.sheet}'!{f.cell}")
            link.font = Font(color="0563C1", underline="single")
    for col, width in zip("ABCDEF", WIDTHS):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = ws.cell(_TOP + 2, 1).coordinate
    ws.print_title_rows = f"{_TOP + 1}:{_TOP + 1}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    book.active = 0
    for sheet in book.worksheets:
        sheet.sheet_view.tabSelected = sheet.title == RESULT_SHEET
