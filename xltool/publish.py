"""Publish a checked workbook: the report's official tables (and the sentences that restate them) as
HTML for the website and DOCX for the report document, so that nobody retypes a number.

Only a workbook that checking accepts is published. Its numbers are the checked values (inputs and the
totals its formulas compute); every label, merged header and caption comes from the format's spec
through :func:`xltool.layout.layout_for`, so the published table is the workbook's table, cell for cell;
all the document's own wording comes from the phrasing file (:mod:`xltool.report_text`). This module
builds the document as plain data (:class:`Publication`); :mod:`xltool.publish_html` and
:mod:`xltool.publish_docx` write it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from xltool.check import check_file
from xltool.errors import UsageError, XltoolError
from xltool.files import atomic_write, output_folder, refuse_unsafe_output, safe_filename, shown
from xltool.layout import TABLE_TOP, layout_for
from xltool.reader import read_workbook
from xltool.report_text import Paragraph as TextParagraph
from xltool.report_text import Phrasing, load_phrasing, number_text
from xltool.results import FileReport
from xltool.spec import Table, Template

KINDS = {".html": "html", ".htm": "html", ".docx": "docx"}
FALLBACK_TIME = datetime(2000, 1, 1, tzinfo=timezone.utc)  # a workbook that does not say when it was made


class NotPublishable(XltoolError):
    """The workbook did not pass the check: nothing is published. ``report`` holds the findings."""

    def __init__(self, report: FileReport):
        super().__init__(f"{shown(report.path.name)} 未通过审核，未发布任何文件。")
        self.report = report


@dataclass(frozen=True)
class GridCell:
    """One cell of a published table, at its top-left grid position, with its span.

    ``role``: ``column`` (a column header), ``row`` (a row label or row group), ``caption`` (a block's
    caption across the table), ``note`` (a caption's note), ``corner`` (the box over the row labels), or
    ``data`` (a data point: ``code`` names it, ``text`` is its number as printed).
    """

    row: int
    col: int
    text: str
    role: str
    rowspan: int = 1
    colspan: int = 1
    code: str | None = None


@dataclass(frozen=True)
class TableGrid:
    id: str
    heading: str
    width: int  # grid columns
    height: int  # grid rows
    head: int  # leading rows that head the whole table (a matrix table's column headers); 0 for blocks
    bodies: tuple[tuple[int, int], ...]  # row groups [first, last) after the head: one per block
    label_cols: int  # leading columns of row labels
    rows: tuple[tuple[GridCell, ...], ...]  # the cells anchored in each grid row, left to right

    @property
    def cells(self) -> tuple[GridCell, ...]:
        return tuple(c for row in self.rows for c in row)


@dataclass(frozen=True)
class Paragraph:
    kind: str  # "heading", "ask" or "say"
    pieces: tuple[tuple[str, str | None], ...]  # (text, the code or sum a number restates, else None)
    sentence: str | None = None  # the id of a say sentence in the phrasing file

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.pieces)


@dataclass(frozen=True)
class Section:
    id: str  # an anchor: the table id, or s<number>
    title: str
    paragraphs: tuple[Paragraph, ...]
    table: TableGrid | None


@dataclass(frozen=True)
class Publication:
    title: str
    note: str  # a summary's "(sums N agencies)"; "" for an agency
    sections: tuple[Section, ...]
    created: datetime  # fixed document timestamp: reproducible output
    format: str
    year: int

    def plain_text(self) -> str:
        """Title, section titles and paragraphs as plain lines (tables left out): what --with-text adds."""
        lines = [self.title] + ([self.note] if self.note else [])
        for section in self.sections:
            lines.append(section.title)
            lines.extend(p.text for p in section.paragraphs)
        return "\n".join(lines)


def publish(path: Path, out: Path, *, with_text: bool = False, overwrite: bool = False) -> list[Path]:
    """Publish the workbook at ``path`` to ``out``: an ``.html`` or ``.docx`` file, or a folder (both, named
    after the workbook). Raises :class:`NotPublishable` (nothing written) when the workbook is not valid,
    and a one-line :class:`UsageError` for an output that cannot or may not be written."""
    path, out = Path(path), Path(out)
    targets, folder = _targets(path, out)
    if folder is None or folder.is_dir():  # a folder still to be made holds nothing yet
        _refuse_targets(path, targets, overwrite)
    report = check_file(path)
    if not report.valid or not report.format:
        raise NotPublishable(report)
    publication = build_publication(report, _metadata(path), with_text=with_text)
    if folder is not None:
        output_folder(folder)
        _refuse_targets(path, targets, overwrite)
    for kind, target in targets:
        atomic_write(target, render(publication, kind))
    return [target for _, target in targets]


def render(publication: Publication, kind: str) -> bytes:
    """The file's bytes. The writers import this module's types, so they are imported here, when needed."""
    if kind == "html":
        from xltool.publish_html import html_bytes

        return html_bytes(publication)
    from xltool.publish_docx import docx_bytes

    return docx_bytes(publication)


def _targets(source: Path, out: Path) -> tuple[list[tuple[str, Path]], Path | None]:
    """What to write: [(kind, path)], and the folder they go in when ``out`` names one."""
    kind = KINDS.get(out.suffix.lower())
    if kind and not out.is_dir():
        return [(kind, out)], None
    if out.is_dir() or not out.suffix:
        return [(k, out / safe_filename(source.stem, "." + k)) for k in ("html", "docx")], out
    raise UsageError(f"-o names an .html or .docx file, or a folder: {shown(out)}")


def _refuse_targets(source: Path, targets: list[tuple[str, Path]], overwrite: bool) -> None:
    for _, target in targets:
        refuse_unsafe_output(target, [source])
        if target.exists() and not overwrite:
            raise UsageError(f"{shown(target)} exists; use --force to replace it")


def _metadata(path: Path) -> dict[str, str]:
    """The workbook's ``_xltool`` rows (full agency name, generated_at), which the report does not keep."""
    return read_workbook(path).meta


def document_time(meta: Mapping[str, str]) -> datetime:
    """``SOURCE_DATE_EPOCH`` when set, else when the workbook was generated: the same input gives the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    try:
        return datetime.strptime(meta.get("generated_at", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return FALLBACK_TIME


def build_publication(report: FileReport, meta: Mapping[str, str], *, with_text: bool = False) -> Publication:
    """The document, as data, from a valid report and the workbook's metadata."""
    template = layout_for(report.format).template
    phrasing = load_phrasing(template.format)
    values = report.values
    name = meta.get("agency_name") or report.agency_name or ""
    note = phrasing.note_for(len(report.members)) if report.role == "summary" else ""
    tables = {t.id: t for t in template.tables}
    sections = []
    for number, section in enumerate(phrasing.sections, 1):
        if section.table is None and not with_text:
            continue
        paragraphs = tuple(_paragraph(p, values) for p in section.body) if with_text else ()
        grid = table_grid(template, tables[section.table], values, phrasing) if section.table else None
        sections.append(Section(section.table or f"s{number}", section.title, paragraphs, grid))
    return Publication(phrasing.title_for(name, report.year), note, tuple(sections), document_time(meta),
                       template.format, report.year)


def _paragraph(paragraph: TextParagraph, values: Mapping[str, float]) -> Paragraph:
    if paragraph.sentence is None:
        return Paragraph(paragraph.kind, ((paragraph.text, None),))
    return Paragraph("say", paragraph.sentence.pieces(values), paragraph.sentence.id)


def table_grid(template: Template, table: Table, values: Mapping[str, float], phrasing: Phrasing) -> TableGrid:
    """The published grid of a table: the workbook layout's labels and merges (title row left out), every
    data cell with its number, and a block narrower than the table widened to its right edge."""
    layout = layout_for(template.format)
    sheet = layout.sheet(table.sheet)
    roles = {"header": "column", "label": "row", "corner": "corner", "caption": "caption", "note": "note"}
    cells: dict[tuple[int, int], GridCell] = {}
    for text in sheet.texts:
        if text.role not in roles:
            continue
        cells[text.row - TABLE_TOP, text.col] = GridCell(text.row - TABLE_TOP, text.col, text.value, roles[text.role],
                                                         text.last_row - text.row + 1, text.last_col - text.col + 1)
    data_rows = set()
    for code, (name, row, col) in layout.positions.items():
        if name == table.sheet:
            text = number_text(values[code], template.cells[code].type.decimals)
            cells[row - TABLE_TOP, col] = GridCell(row - TABLE_TOP, col, text, "data", code=code)
            data_rows.add(row - TABLE_TOP)
    width = max(c.col + c.colspan for c in cells.values())
    height = max(c.row + c.rowspan for c in cells.values())
    cells = _widen(cells, width)
    cells = _with_units(cells, template, phrasing)
    if table.layout == "blocks":
        starts = sorted(r for (r, _), c in cells.items() if c.role == "caption")
        head, bodies = 0, tuple(zip(starts, [*starts[1:], height]))
    else:
        head = min(data_rows)
        bodies = ((head, height),)
    label_cols = min(c.col for c in cells.values() if c.role == "data")
    rows = tuple(tuple(sorted((c for (r, _), c in cells.items() if r == i), key=lambda c: c.col))
                 for i in range(height))
    return TableGrid(table.id, table.heading, width, height, head, bodies, label_cols, rows)


def _widen(cells: dict[tuple[int, int], GridCell], width: int) -> dict[tuple[int, int], GridCell]:
    """A row that ends before the table's right edge (a block with fewer columns) gets its last cell
    spread to the edge, as the official form prints it, instead of leaving empty boxes."""
    covered: dict[int, int] = {}
    for c in cells.values():
        for r in range(c.row, c.row + c.rowspan):
            covered[r] = max(covered.get(r, 0), c.col + c.colspan)
    out = dict(cells)
    for r, end in covered.items():
        if end < width:
            last = max((c for c in cells.values() if c.row == r and c.rowspan == 1), key=lambda c: c.col)
            out[r, last.col] = GridCell(last.row, last.col, last.text, last.role, 1, width - last.col, last.code)
    return out


def _with_units(cells: dict[tuple[int, int], GridCell], template: Template,
                phrasing: Phrasing) -> dict[tuple[int, int], GridCell]:
    """A column header over amounts whose label does not state their unit gets it (采购总金额（万元）)."""
    out = dict(cells)
    for (r, col), c in cells.items():
        below = min((d for (rr, cc), d in cells.items() if cc == col and rr > r), key=lambda d: d.row, default=None)
        if c.role != "column" or below is None or below.role != "data":
            continue  # not a header, or a header over other headers (申请人情况)
        unit = template.cells[below.code].type.unit
        if not template.cells[below.code].type.whole and unit and unit not in c.text:
            out[r, col] = GridCell(c.row, c.col, c.text + phrasing.unit_for(unit), c.role, c.rowspan, c.colspan)
    return out
