"""The published report as a DOCX document, written through python-docx's API.

Tables are built cell by cell with ``cell.merge`` for the official merged headers, single borders on
every cell, and column widths that fill the page: a table wider than :data:`LANDSCAPE_FROM` grid columns
(T3, T4) gets a landscape section of its own. Fonts follow Chinese government documents (GB/T 9704):
方正小标宋简体 title, 黑体 and 楷体_GB2312 headings, 仿宋_GB2312 body, 宋体 tables, each set as the East-Asian
font of its style, and each declared in the font table with a common Windows alternative (``w:altName``);
where none is installed, LibreOffice falls back to a CJK font it has (Noto CJK). The bytes are
reproducible: fixed document properties and zip entry times, from :attr:`Publication.created`.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_ALIGN_VERTICAL, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Emu, Pt, RGBColor, Twips

from xltool.publish import GridCell, Publication, TableGrid

LANDSCAPE_FROM = 7  # grid columns from which a table is set on a landscape page
A4 = (Cm(21.0), Cm(29.7))
MARGINS = {False: (Cm(3.7), Cm(3.5), Cm(2.8), Cm(2.6)),  # portrait: top, bottom, left, right (GB/T 9704)
           True: (Cm(1.8), Cm(1.5), Cm(1.8), Cm(1.8))}
LATIN = "Times New Roman"
# East-Asian fonts of the document, each with the alternative Word uses when it is not installed
FONTS = {"方正小标宋简体": "宋体", "黑体": "SimHei", "楷体_GB2312": "楷体", "仿宋_GB2312": "仿宋", "宋体": "SimSun"}
STYLES = {  # style: (East-Asian font, size in pt, bold)
    "Title": ("方正小标宋简体", 22, False),
    "Heading 1": ("黑体", 16, False),
    "Heading 2": ("楷体_GB2312", 16, True),
    "Normal": ("仿宋_GB2312", 16, False),
}
TABLE_STYLE, TABLE_FONT = "Table Text", ("宋体", 10.5)
WIDE_TABLE_PT = 9
WEIGHTS = {"group": 1.5, "label": 7.0, "blocks-label": 2.2, "data": 2.3}  # relative column widths


def docx_bytes(publication: Publication) -> bytes:
    doc = Document()
    _setup(doc, publication)
    landscape = False
    _page(doc.sections[0], landscape)
    doc.add_paragraph(publication.title, style="Title")
    if publication.note:
        _plain(doc.add_paragraph(publication.note), center=True)
    for section in publication.sections:
        wide = section.table is not None and section.table.width >= LANDSCAPE_FROM
        if wide != landscape:
            landscape = wide
            _page(doc.add_section(WD_SECTION.NEW_PAGE), landscape)
        doc.add_paragraph(section.title, style="Heading 1")
        for paragraph in section.paragraphs:
            if paragraph.kind == "heading":
                doc.add_paragraph(paragraph.text, style="Heading 2")
                continue
            run = doc.add_paragraph().add_run(paragraph.text)
            if paragraph.kind == "ask":
                run.font.highlight_color = WD_COLOR_INDEX.YELLOW
        if section.table is not None:
            _table(doc, section.table, _usable_width(doc.sections[-1]))
    buffer = io.BytesIO()
    doc.save(buffer)
    return _normalise(buffer.getvalue(), publication.created)


def _setup(doc, publication: Publication) -> None:
    """Styles, language and properties of a fresh python-docx document."""
    doc.part.package.rels.pop(next((k for k, r in doc.part.package.rels.items()
                                    if r.reltype.endswith("/thumbnail")), None), None)  # python-docx's preview
    defaults = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    for lang in defaults.findall(qn("w:lang")):  # Chinese text is Chinese; digits keep Latin line breaking
        lang.set(qn("w:eastAsia"), "zh-CN")
    theme_lang = doc.settings.element.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:eastAsia"), "zh-CN")
    for name, (font, size, bold) in STYLES.items():
        style = doc.styles[name]
        _fonts(style.element.get_or_add_rPr(), font)
        style.font.size, style.font.bold, style.font.italic = Pt(size), bold, False
        _black(style.element.get_or_add_rPr())
        p_pr = style.element.get_or_add_pPr()
        for border in p_pr.findall(qn("w:pBdr")):
            p_pr.remove(border)
        fmt = style.paragraph_format
        fmt.space_before, fmt.space_after = Pt(6 if name != "Normal" else 0), Pt(6 if name != "Normal" else 0)
        fmt.line_spacing_rule, fmt.line_spacing = WD_LINE_SPACING.EXACTLY, Pt(28 if name != "Title" else 36)
    doc.styles["Title"].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.styles["Normal"].paragraph_format.first_line_indent = Pt(32)  # two characters
    for name in ("Title", "Heading 1", "Heading 2"):
        doc.styles[name].paragraph_format.first_line_indent = Pt(0)
    table_style = doc.styles.add_style(TABLE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    table_style.base_style = doc.styles["Normal"]
    _fonts(table_style.element.get_or_add_rPr(), TABLE_FONT[0])
    table_style.font.size = Pt(TABLE_FONT[1])
    fmt = table_style.paragraph_format
    fmt.first_line_indent, fmt.space_before, fmt.space_after = Pt(0), Pt(0.5), Pt(0.5)
    fmt.line_spacing = 1.0
    props = doc.core_properties
    created = publication.created.replace(tzinfo=None)
    props.title, props.author, props.last_modified_by, props.comments = publication.title, "xltool", "xltool", ""
    props.created = props.modified = created
    props.revision = 1


def _fonts(r_pr, east_asia: str) -> None:
    """Latin text in Times New Roman, Chinese in ``east_asia``: explicit names, no theme fonts."""
    fonts = r_pr.get_or_add_rFonts()
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    for attr, value in (("w:ascii", LATIN), ("w:hAnsi", LATIN), ("w:eastAsia", east_asia), ("w:cs", LATIN)):
        fonts.set(qn(attr), value)


def _black(r_pr) -> None:
    for color in r_pr.findall(qn("w:color")):
        r_pr.remove(color)
    color = OxmlElement("w:color")
    color.set(qn("w:val"), str(RGBColor(0, 0, 0)))
    r_pr.append(color)


def _plain(paragraph, *, center: bool = False):
    paragraph.paragraph_format.first_line_indent = Pt(0)
    if center:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    return paragraph


def _page(section, landscape: bool) -> None:
    width, height = A4
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (height, width) if landscape else (width, height)
    section.top_margin, section.bottom_margin, section.left_margin, section.right_margin = MARGINS[landscape]


def _usable_width(section) -> Emu:
    return Emu(section.page_width - section.left_margin - section.right_margin)


def column_weights(grid: TableGrid) -> list[float]:
    """Relative widths: narrow row-group columns, a wide label column, equal data columns."""
    if grid.label_cols == 1 and grid.head == 0:
        labels = [WEIGHTS["blocks-label"]]
    else:
        labels = [WEIGHTS["group"]] * max(grid.label_cols - 1, 0) + [WEIGHTS["label"]] * min(grid.label_cols, 1)
    return labels + [WEIGHTS["data"]] * (grid.width - grid.label_cols)


def _table(doc, grid: TableGrid, usable: Emu) -> None:
    table = doc.add_table(rows=grid.height, cols=grid.width)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    weights = column_weights(grid)
    widths = [Twips(int(usable.twips * w / sum(weights))) for w in weights]  # whole twips: never wider than the page
    _table_properties(table, sum(widths))
    for column, width in zip(table.columns, widths):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths):
            cell.width = width
            cell.vertical_alignment = WD_ALIGN_VERTICAL.CENTER  # before merging: every part of a merge centred
    for i, row in enumerate(table.rows):
        _row_properties(row, header=i < grid.head)
    size = Pt(WIDE_TABLE_PT) if grid.width >= LANDSCAPE_FROM else None
    for c in grid.cells:
        cell = table.cell(c.row, c.col)
        if c.rowspan > 1 or c.colspan > 1:
            cell = cell.merge(table.cell(c.row + c.rowspan - 1, c.col + c.colspan - 1))
        _write(cell, c, size, keep=c.row + c.rowspan < grid.height)


def _write(cell, c: GridCell, size, *, keep: bool) -> None:
    paragraph, *extra = cell.paragraphs  # a fresh cell: one empty paragraph (merging empty cells adds none)
    for other in extra:
        other._p.getparent().remove(other._p)
    cell.vertical_alignment = WD_ALIGN_VERTICAL.CENTER
    paragraph.style = TABLE_STYLE
    paragraph.paragraph_format.keep_with_next = keep  # a table that fits on a page is not split
    leaf_label = c.role == "row" and c.rowspan == 1
    paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT if leaf_label else WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run(c.text)
    if c.role == "caption":
        run.bold = True
    if size is not None:
        run.font.size = size


def _table_properties(table, width: int) -> None:
    """Single borders on every cell, as the official format prints them, and the table's full width."""
    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        line = OxmlElement(f"w:{edge}")
        for key, value in (("val", "single"), ("sz", "4"), ("space", "0"), ("color", "000000")):
            line.set(qn(f"w:{key}"), value)
        borders.append(line)
    tbl_pr.append(borders)
    tbl_w = tbl_pr.find(qn("w:tblW"))
    if tbl_w is None:
        tbl_w = OxmlElement("w:tblW")
        tbl_pr.append(tbl_w)
    tbl_w.set(qn("w:w"), str(Emu(width).twips))
    tbl_w.set(qn("w:type"), "dxa")
    _order(tbl_pr)


_TBL_PR_ORDER = ["tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize", "tblStyleColBandSize",
                 "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders", "shd", "tblLayout", "tblCellMar", "tblLook"]


def _order(tbl_pr) -> None:
    """Children of ``w:tblPr`` in the schema's order (Word refuses a document otherwise)."""
    children = sorted(tbl_pr, key=lambda e: _TBL_PR_ORDER.index(e.tag.split("}")[1])
                      if e.tag.split("}")[1] in _TBL_PR_ORDER else len(_TBL_PR_ORDER))
    for child in children:
        tbl_pr.remove(child)
        tbl_pr.append(child)


def _row_properties(row, *, header: bool) -> None:
    """A row is never split across pages; the header rows are repeated on every page the table runs to."""
    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:cantSplit"))
    if header:
        tr_pr.append(OxmlElement("w:tblHeader"))


def _normalise(data: bytes, created: datetime) -> bytes:
    """The same bytes for the same document: every zip entry stamped with the document's time; the font
    table told the alternatives of the Chinese fonts."""
    stamp = (max(created.year, 1980), created.month, created.day, created.hour, created.minute, created.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            part = src.read(info.filename)
            if info.filename == "word/fontTable.xml":
                part = _declare_fonts(part)
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, part)
    return out.getvalue()


def _declare_fonts(part: bytes) -> bytes:
    declared = set(re.findall(rb'<w:font w:name="([^"]*)"', part))
    fonts = "".join(f'<w:font w:name="{name}"><w:altName w:val="{alt}"/><w:charset w:val="86"/>'
                    f'<w:family w:val="auto"/><w:pitch w:val="variable"/></w:font>'
                    for name, alt in FONTS.items() if name.encode("utf-8") not in declared)
    return part.replace(b"</w:fonts>", fonts.encode("utf-8") + b"</w:fonts>")
