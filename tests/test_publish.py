"""`xltool publish`: the official tables (and the sentences that restate them) as HTML and DOCX.

Every published number is read back — from the HTML by ``data-code`` and by walking the table's own row
and column headers, from the DOCX by position and by its labels, from the PDF LibreOffice makes of the
DOCX — and compared with what ``xltool export`` says of the same workbook.
"""

from __future__ import annotations

import importlib.util
import random
import re
import shutil
import subprocess
import zipfile
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import docx
import html5lib
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from tests.conftest import FORMATS, blank, fill, filled, soffice
from tests.fill import random_values, type_into
from xltool import export
from xltool.check import check_file
from xltool.cli import main
from xltool.errors import SpecError, UsageError
from xltool.layout import TABLE_TOP, layout_for
from xltool.merge import merge
from xltool.publish import NotPublishable, publish
from xltool.report_text import load_phrasing, read_phrasing, text_folder
from xltool.roster import Agency

KINDS = ["2019", "2021", "summary"]
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
HOSTILE = '<script>alert(1)</script>"&amp;'
SUMMARY_NAME = "测试市"
ROOT = Path(__file__).resolve().parents[1]


# --- fixtures: real workbooks, published once per module ----------------------------------------------------------

@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    """A random valid workbook of each format, and a summary of three 2021 agencies."""
    root = tmp_path_factory.mktemp("books")
    out = {fmt: filled(root, fmt, seed=20 + i, name=f"agency-{fmt}.xlsx")[0] for i, fmt in enumerate(FORMATS)}
    members = root / "members"
    members.mkdir()
    template = layout_for("2021").template
    for i in range(3):
        values = random_values(template, random.Random(40 + i))
        values["T2_FEES_AMOUNT"] = [Decimal("0.1"), Decimal("0.2"), Decimal("1234.5678")][i]
        fill(blank(members, "2021", f"m{i}.xlsx", Agency(f"M{i}", f"成员单位{i}")), "2021", values)
    out["summary"] = root / "summary.xlsx"
    merge([members], out["summary"], name=SUMMARY_NAME)
    return out


@pytest.fixture(scope="module")
def published(books, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """kind -> (HTML, DOCX), both with --with-text, published into a folder."""
    root = tmp_path_factory.mktemp("published")
    out = {}
    for kind, book in books.items():
        html, docx_path = publish(book, root / kind, with_text=True)
        out[kind] = (html, docx_path)
    return out


@pytest.fixture(scope="module")
def exported(books) -> dict[str, dict[str, int | Decimal]]:
    """kind -> every data point's value as ``xltool export`` gives it."""
    out = {}
    for kind, book in books.items():
        rows = list(export.rows([check_file(book)]))
        assert rows and all(r["valid"] for r in rows)
        out[kind] = {r["code"]: r["value"] for r in rows}
    return out


def _fmt(kind: str) -> str:
    return "2021" if kind == "summary" else kind


def _template(kind: str):
    return layout_for(_fmt(kind)).template


# --- reading the HTML back ----------------------------------------------------------------------------------------

def _parse(path: Path):
    parser = html5lib.HTMLParser(strict=True, tree=html5lib.getTreeBuilder("etree"), namespaceHTMLElements=False)
    return parser.parse(path.read_text(encoding="utf-8"))


def _text(element) -> str:
    return "".join(element.itertext())


def _grid(table) -> dict[tuple[int, int], object]:
    """The table's slots (row, col) -> the cell element covering it, rowspan and colspan expanded."""
    slots: dict[tuple[int, int], object] = {}
    rows = [tr for group in table for tr in (group if group.tag in ("thead", "tbody") else [group]) if tr.tag == "tr"]
    for r, tr in enumerate(rows):
        c = 0
        for cell in tr:
            while (r, c) in slots:
                c += 1
            for dr in range(int(cell.get("rowspan", 1))):
                for dc in range(int(cell.get("colspan", 1))):
                    assert (r + dr, c + dc) not in slots, "overlapping cells"
                    slots[r + dr, c + dc] = cell
            c += int(cell.get("colspan", 1))
    return slots


def _html_labels(slots, r: int, c: int) -> set[str]:
    """The headers of the data cell at (r, c): row headers to its left, column headers above it up to the
    caption of its block (a ``rowgroup`` header)."""
    labels = {_text(slots[r, x]) for x in range(c) if slots[r, x].tag == "th"}
    for y in range(r - 1, -1, -1):
        if any(cell.get("scope") == "rowgroup" for (yy, _), cell in slots.items() if yy == y):
            break
        cell = slots.get((y, c))
        if cell is not None and cell.tag == "th":
            labels.add(_text(cell))
    return labels


def _column_header(cell, phrasing) -> str:
    """How a column's header prints its label: with its unit when the label does not say it (amounts)."""
    label, unit = cell.column_label, cell.type.unit
    return label + phrasing.unit_for(unit) if not cell.type.whole and unit not in label else label


def _by_labels(template, table_id: str, labels: set[str], phrasing) -> list[str]:
    return [code for code, cell in template.cells.items() if cell.table == table_id
            and cell.row_label in labels and _column_header(cell, phrasing) in labels]


@pytest.mark.parametrize("kind", KINDS)
def test_html_gives_back_every_data_point_by_code_and_by_labels(published, exported, kind):
    template, phrasing = _template(kind), load_phrasing(_fmt(kind))
    root = _parse(published[kind][0])  # strict: any HTML5 parse error raises
    tables = root.findall(".//table")
    assert [t.get("id") for t in tables] == [f"table-{t.id}" for t in template.tables]
    by_code = {}
    for spec_table, table in zip(template.tables, tables):
        slots = _grid(table)
        for (r, c), cell in slots.items():
            code = cell.get("data-code")
            if code is None or slots.get((r, c - 1)) is cell or slots.get((r - 1, c)) is cell:
                continue  # a label, or a slot that a spanning data cell covers beyond its first
            assert cell.tag == "td" and code not in by_code, code
            by_code[code] = _text(cell)
            found = _by_labels(template, spec_table.id, _html_labels(slots, r, c), phrasing)
            assert found == [code], (code, _html_labels(slots, r, c))
    assert set(by_code) == set(template.cells) == set(exported[kind])
    for code, value in exported[kind].items():
        assert NUMBER.fullmatch(by_code[code]) and Decimal(by_code[code]) == Decimal(value), code


@pytest.mark.parametrize("kind", KINDS)
def test_html_headers_and_merges_are_the_official_tables(books, published, kind):
    """T3 and T4 merge exactly the cells the generated workbook merges (the official form); every header is
    a <th> with a scope; the blocks of T2 each have their caption and fill the table's width."""
    root = _parse(published[kind][0])
    layout = layout_for(_fmt(kind))
    sheets = load_workbook(books[kind])
    for spec_table, table in zip(layout.template.tables, root.findall(".//table")):
        slots = _grid(table)
        width = 1 + max(c for _, c in slots)
        assert all((r, c) in slots for r in range(1 + max(r for r, _ in slots)) for c in range(width))
        for cell in table.iter("th"):
            assert cell.get("scope") in ("col", "row", "rowgroup")
        if spec_table.layout == "blocks":
            captions = [_text(th) for th in table.iter("th") if th.get("scope") == "rowgroup"]
            assert captions == [b.caption for b in spec_table.blocks]
            assert len(table.findall("tbody")) == len(spec_table.blocks)
            continue
        published_merges = set()
        for (r, c), cell in slots.items():
            if slots.get((r - 1, c)) is not cell and slots.get((r, c - 1)) is not cell:
                span = (int(cell.get("rowspan", 1)), int(cell.get("colspan", 1)))
                if span != (1, 1):
                    published_merges.add((r + TABLE_TOP, c, r + TABLE_TOP + span[0] - 1, c + span[1] - 1))
        workbook_merges = {(m.min_row - 1, m.min_col - 1, m.max_row - 1, m.max_col - 1)
                           for m in sheets[spec_table.sheet].merged_cells.ranges if m.min_row > 1}  # not the title
        assert published_merges == workbook_merges, spec_table.id
        head = table.find("thead")
        assert head is not None and all(cell.tag in ("th", "td") and not cell.get("data-code")
                                        for tr in head for cell in tr)


@pytest.mark.parametrize("kind", KINDS)
def test_html_is_self_contained_with_no_script_and_phone_and_print_styles(published, kind):
    path = published[kind][0]
    root = _parse(path)
    assert root.get("lang") == "zh-CN"
    assert root.find(".//meta[@charset]").get("charset").lower() == "utf-8"
    assert not root.findall(".//script") and not root.findall(".//link") and not root.findall(".//iframe")
    for element in root.iter():
        for attr, value in element.attrib.items():
            assert not attr.startswith("on"), (element.tag, attr)
            if attr in ("src", "href", "action", "srcset", "style"):
                assert not re.search(r"https?:|//|url\(", value), (element.tag, attr, value)
    css = "".join(_text(s) for s in root.iter("style"))
    assert not re.search(r"https?:|url\(|@import", css)
    assert re.search(r"@page\s*\{[^}]*size:\s*A4 landscape", css)
    assert re.search(r"\.scroll\s*\{[^}]*overflow-x:\s*auto", css)
    for table in root.findall(".//table"):  # every table scrolls inside its own wrapper on a narrow screen
        wrapper = next(d for d in root.iter("div") if table in list(d))
        assert "scroll" in wrapper.get("class").split()


@pytest.mark.parametrize("kind", KINDS)
def test_docx_gives_back_every_data_point_by_position_and_by_labels(published, exported, kind):
    layout, phrasing = layout_for(_fmt(kind)), load_phrasing(_fmt(kind))
    document = docx.Document(str(published[kind][1]))
    tables = dict(zip((t.sheet for t in layout.template.tables), document.tables))
    assert len(document.tables) == len(layout.template.tables)
    grids = {sheet: _docx_grid(table) for sheet, table in tables.items()}
    for code, (sheet, row, col) in layout.positions.items():
        grid = grids[sheet]
        text = grid[row - TABLE_TOP][col][1]  # the position the workbook's layout gives it
        assert NUMBER.fullmatch(text) and Decimal(text) == Decimal(exported[kind][code]), code
        spec_table = layout.template.cells[code].table
        found = _by_labels(layout.template, spec_table, _docx_labels(grid, row - TABLE_TOP, col), phrasing)
        assert found == [code], code


def _docx_grid(table) -> list[list[tuple[object, str]]]:
    """(the cell's XML element, its text) at every grid position: a merged cell is at every position it covers."""
    return [[(cell._tc, cell.text) for cell in row.cells] for row in table.rows]


def _docx_labels(grid, r: int, c: int) -> set[str]:
    labels = {text for tc, text in grid[r][:c] if not NUMBER.fullmatch(text)}
    for y in range(r - 1, -1, -1):
        tc, text = grid[y][c]
        if c > 0 and tc is grid[y][0][0] and not NUMBER.fullmatch(grid[r][0][1]):
            break  # a caption over the row labels and this column: the block above is another one
        if not NUMBER.fullmatch(text):
            labels.add(text)
    return labels


@pytest.mark.parametrize("kind", KINDS)
def test_docx_merges_borders_fonts_and_page_widths(books, published, kind):
    layout = layout_for(_fmt(kind))
    document = docx.Document(str(published[kind][1]))
    sheets = load_workbook(books[kind])
    for spec_table, table in zip(layout.template.tables, document.tables):
        borders = table._tbl.tblPr.find(docx.oxml.ns.qn("w:tblBorders"))
        assert [(b.tag.split("}")[1], b.get(docx.oxml.ns.qn("w:val"))) for b in borders] == [
            (edge, "single") for edge in ("top", "left", "bottom", "right", "insideH", "insideV")]
        if spec_table.layout == "matrix":
            grid = _docx_grid(table)
            for m in sheets[spec_table.sheet].merged_cells.ranges:
                if m.min_row == 1:
                    continue  # the title row is the section heading
                first = grid[m.min_row - 1 - TABLE_TOP][m.min_col - 1][0]
                assert first is grid[m.max_row - 1 - TABLE_TOP][m.max_col - 1][0], m.coord
                assert first is not grid[m.min_row - 1 - TABLE_TOP][m.max_col][0] if m.max_col < len(grid[0]) \
                    else True, m.coord
    styles = document.styles
    east_asia = docx.oxml.ns.qn("w:eastAsia")
    assert styles["Normal"].element.rPr.rFonts.get(east_asia) in ("仿宋_GB2312", "仿宋")
    assert styles["Table Text"].element.rPr.rFonts.get(east_asia) == "宋体"
    # every table fits its page; the wide T3 and T4 are on landscape pages
    for table, section in _tables_with_sections(document):
        width = sum(int(col.get(docx.oxml.ns.qn("w:w"))) for col in table._tbl.tblGrid)
        usable = docx.shared.Length(section.page_width - section.left_margin - section.right_margin).twips
        assert width <= usable + 5
        wide = len(table.columns) > 6
        assert (section.page_width > section.page_height) == wide


def _tables_with_sections(document):
    """(table, the section it is printed in), from the section breaks in the body."""
    from docx.section import Section

    pending, out = [], []
    body = document.element.body
    for child in body:
        if child.tag == docx.oxml.ns.qn("w:tbl"):
            pending.append(docx.table.Table(child, document))
        sect = child.find(f"{docx.oxml.ns.qn('w:pPr')}/{docx.oxml.ns.qn('w:sectPr')}")
        if sect is not None or child.tag == docx.oxml.ns.qn("w:sectPr"):
            section = Section(sect if sect is not None else child, document.part)
            out.extend((t, section) for t in pending)
            pending = []
    assert not pending and out
    return out


# --- the sentences ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_with_text_restates_the_tables_with_the_same_numbers(books, published, exported, kind):
    template, phrasing = _template(kind), load_phrasing(_fmt(kind))
    values = exported[kind]
    # the group sums are exactly the groups of the official T3, and 行政诉讼 is both kinds of suit
    for group in ("DENIED", "UNABLE", "REJECTED"):
        assert phrasing.sums[group] == tuple(c for c, cell in template.cells.items() if cell.table == "T3"
                                             and cell.row.startswith(group + "_") and cell.column == "TOTAL")
    assert phrasing.sums["SUITS"] == ("T4_SUIT_TOTAL", "T4_SUITAFTER_TOTAL")
    html_text = _text(_parse(published[kind][0]).find(".//main"))
    docx_text = "\n".join(p.text for p in docx.Document(str(published[kind][1])).paragraphs)
    for sentence in phrasing.sentences:
        expected = {slot.name: sum((Decimal(values[c]) for c in slot.codes), Decimal(0)) for slot in sentence.slots}
        assert sentence.read(html_text) == expected, sentence.id
        assert sentence.read(docx_text) == expected, sentence.id
    # the HTML marks which data point (or sum) each number restates
    for span in _parse(published[kind][0]).iter("span"):
        slot = next(s for sentence in phrasing.sentences for s in sentence.slots if s.name == span.get("data-ref"))
        assert Decimal(_text(span)) == sum(Decimal(values[c]) for c in slot.codes)
    # the skeleton: 一 … 六 in order, the table headings from the spec, marked places for the agency's text
    titles = [_text(h) for h in _parse(published[kind][0]).iter("h2")]
    assert [t[:2] for t in titles] == ["一、", "二、", "三、", "四、", "五、", "六、"]
    assert titles[1:4] == [t.heading for t in template.tables]
    asks = [_text(p) for p in _parse(published[kind][0]).iter("p") if p.get("class") == "ask"]
    assert asks and all(a.startswith("【请填写：") and a.endswith("】") for a in asks)
    assert len([p for p in docx.Document(str(published[kind][1])).paragraphs if p.text.startswith("【请填写：")]) \
        == len(asks)


def test_without_text_only_the_tables_are_published(books, tmp_path):
    out = publish(books["2021"], tmp_path / "tables.html")
    assert out == [tmp_path / "tables.html"]
    root = _parse(out[0])
    assert [_text(h) for h in root.iter("h2")] == [t.heading for t in _template("2021").tables]
    assert not [p for p in root.iter("p")] and not root.findall(".//span[@data-ref]")


def test_summary_is_titled_with_its_name_year_and_number_of_agencies(books, published):
    report = check_file(books["summary"])
    assert report.role == "summary" and len(report.members) == 3
    root = _parse(published["summary"][0])
    title = _text(root.find(".//h1"))
    assert title.startswith(SUMMARY_NAME) and str(report.year) in title
    note = _text(root.find(".//p[@class='note']"))
    assert re.search(rf"\D{len(report.members)}\D", note)
    document = docx.Document(str(published["summary"][1]))
    assert document.paragraphs[0].text == title and document.paragraphs[1].text == note
    assert document.core_properties.title == title
    # the summed amounts are exact: 0.1 + 0.2 + 1234.5678 万元
    cell = root.find(".//td[@data-code='T2_FEES_AMOUNT']")
    assert _text(cell) == str(Decimal("0.1") + Decimal("0.2") + Decimal("1234.5678"))


def test_amount_units_come_from_the_spec_where_the_label_lacks_them(published):
    for kind in ("2019", "2021"):
        template, phrasing = _template(kind), load_phrasing(kind)
        headers = {_text(th) for th in _parse(published[kind][0]).iter("th")}
        for cell in template.cells.values():
            if not cell.type.whole:
                assert cell.type.unit and cell.type.unit in _column_header(cell, phrasing)
                assert _column_header(cell, phrasing) in headers
        if kind == "2019":  # 采购总金额 has no unit in the official label: the spec's unit is printed after it
            cell = template.cells["T2_PROCUREMENT_AMOUNT"]
            assert cell.type.unit not in cell.column_label
            assert cell.column_label + phrasing.unit_for(cell.type.unit) in headers


def test_zero_is_printed_as_zero_and_counts_as_whole_numbers(tmp_path):
    template = layout_for("2019").template
    values = random_values(template, random.Random(5))
    zeros = [c for c, cell in template.cells.items() if cell.is_input and cell.table == "T2"]
    values.update({c: 0 for c in zeros})
    values["T2_LICENSING_CHANGE"] = -8
    values["T2_LICENSING_PREV"] = 12
    book = fill(blank(tmp_path, "2019", "zeros.xlsx"), "2019", values)
    root = _parse(publish(book, tmp_path / "zeros.html")[0])
    cells = {td.get("data-code"): _text(td) for td in root.iter("td") if td.get("data-code")}
    assert cells["T2_LICENSING_CHANGE"] == "-8"
    assert all(cells[c] == "0" for c in zeros if c != "T2_LICENSING_CHANGE" and c != "T2_LICENSING_PREV")
    assert all(NUMBER.fullmatch(v) and "." not in v for c, v in cells.items() if template.cells[c].type.whole)


# --- safety: hostile names, invalid workbooks, outputs ------------------------------------------------------------

def test_a_hostile_agency_name_stays_text(tmp_path):
    book, _ = filled(tmp_path, "2021", seed=8, name="hostile.xlsx", agency=Agency("X1", HOSTILE))
    html, docx_path = publish(book, tmp_path / "out", with_text=True)
    root = _parse(html)
    assert not root.findall(".//script")
    assert _text(root.find(".//h1")).startswith(HOSTILE) and _text(root.find(".//title")).startswith(HOSTILE)
    assert docx.Document(str(docx_path)).paragraphs[0].text.startswith(HOSTILE)


def test_an_invalid_workbook_is_not_published(tmp_path):
    book, values = filled(tmp_path, "2021", seed=9, name="broken.xlsx")
    type_into(book, "2021", {"T3_FORWARD_NATURAL": values["T3_FORWARD_NATURAL"] + 1})
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["publish", str(book), "-o", str(out), "--with-text"])
    assert result.exit_code == 1
    assert "H3" in result.stdout and "T3_FORWARD_NATURAL" in result.stdout and "不通过" in result.stdout
    assert "未发布" in result.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["broken.xlsx"]
    with pytest.raises(NotPublishable) as caught:
        publish(book, tmp_path / "x.html")
    assert not caught.value.report.valid and not (tmp_path / "x.html").exists()


def test_cli_writes_both_into_a_folder_and_refuses_to_overwrite_without_force(books, tmp_path):
    out = tmp_path / "site"
    first = CliRunner().invoke(main, ["publish", str(books["2021"]), "-o", str(out)])
    assert first.exit_code == 0, first.output
    written = sorted(p.name for p in out.iterdir())
    assert written == ["agency-2021.docx", "agency-2021.html"]
    assert first.stdout.count("已发布：") == 2
    again = CliRunner().invoke(main, ["publish", str(books["2021"]), "-o", str(out / "agency-2021.html")])
    assert again.exit_code == 2 and "--force" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    forced = CliRunner().invoke(main, ["publish", str(books["2021"]), "-o", str(out / "agency-2021.html"), "--force"])
    assert forced.exit_code == 0, forced.output
    wrong = CliRunner().invoke(main, ["publish", str(books["2021"]), "-o", str(tmp_path / "x.pdf")])
    assert wrong.exit_code == 2 and "Error:" in wrong.stderr and not (tmp_path / "x.pdf").exists()


def test_the_input_is_never_overwritten(books, tmp_path):
    disguised = tmp_path / "book.html"
    shutil.copyfile(books["2021"], disguised)
    before = disguised.read_bytes()
    with pytest.raises(UsageError, match="one of the inputs"):
        publish(disguised, disguised, overwrite=True)
    assert disguised.read_bytes() == before


def test_docx_and_html_are_reproducible(books, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = publish(books["2021"], tmp_path / "a", with_text=True)
    b = publish(books["2021"], tmp_path / "b", with_text=True)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    meta = {row[0].value: row[1].value for row in load_workbook(books["2021"])["_xltool"].iter_rows()}
    generated = datetime.strptime(meta["generated_at"], "%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(a[1]) as package:
        assert {i.date_time for i in package.infolist()} == {generated.timetuple()[:6]}
        assert not [n for n in package.namelist() if "thumbnail" in n]
    assert docx.Document(str(a[1])).core_properties.created == generated.replace(tzinfo=timezone.utc)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    c = publish(books["2021"], tmp_path / "c.docx")[0]
    expected = datetime.fromtimestamp(1700000000, tz=timezone.utc)
    assert docx.Document(str(c)).core_properties.modified == expected


# --- the phrasing file --------------------------------------------------------------------------------------------

def _bad_phrasing(tmp_path: Path, old: str, new: str) -> Path:
    source = (text_folder() / "gov-disclosure-2021.toml").read_text(encoding="utf-8")
    assert old in source
    path = tmp_path / "gov-disclosure-2021.toml"
    path.write_text(source.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("{T3_NEW_TOTAL}", "{T3_NEW_TOTTAL}", "T3_NEW_TOTTAL} is neither a data point code"),
    ("件，上年结转{T3_CARRY_TOTAL}", "{T3_CARRY_TOTAL}", "need text between them"),
    ("件，上年结转{T3_CARRY_TOTAL}", "，1{T3_CARRY_TOTAL}", "need text between them"),
    ('DENIED = ["T3_DENIED_*_TOTAL"]', 'DENIED = ["T3_DENYED_*_TOTAL"]', "T3_DENYED_*_TOTAL is no data point code"),
    ('[[sections]]\ntable = "T4"\n', "", "must show every table"),
    ('ask = "【请填写：{}】"', 'asks = "【请填写：{}】"', "unknown key 'asks'"),
    ('{ heading = "（一）主动公开" }', '{ heading = "（一）{T2_RULES_ISSUED}" }', "only a say sentence"),
    ('title = "{agency}{year}', 'title = "{agency}{city}', "unknown placeholder {city}"),
], ids=["unknown-code", "adjacent-numbers", "digit-between", "bad-sum", "missing-table", "unknown-key",
        "placeholder-in-heading", "bad-title-field"])
def test_a_bad_phrasing_file_is_refused_naming_the_file(tmp_path, old, new, message):
    path = _bad_phrasing(tmp_path, old, new)
    with pytest.raises(SpecError) as caught:
        read_phrasing(path, layout_for("2021").template)
    assert str(caught.value).startswith(path.name + ":") and message in str(caught.value)


def test_every_shipped_format_has_a_phrasing_and_its_sentences_are_recognised(tmp_path):
    for fmt in FORMATS:
        phrasing = load_phrasing(fmt)
        values = {c: float(random.Random(c).randint(0, 10**6)) for c in layout_for(fmt).template.cells}
        for sentence in phrasing.sentences:
            text = "前文。" + sentence.render(values) + "后文。"
            expected = {s.name: Decimal(str(s.value(values))) for s in sentence.slots}
            assert sentence.read(text) == expected
            # a PDF's line breaks and spaces between characters, and half-width punctuation, do not hide it
            broken = "".join(piece if ref else " \n".join(piece) for piece, ref in sentence.pieces(values))
            assert sentence.read(broken.replace("，", ",").replace("；", ";")) == expected
            assert sentence.read(re.sub(r"\s+", "", broken)) == expected
            # a different number is read as it is printed: the pattern does not assume the values
            assert sentence.read(text.replace(sentence.render(values), sentence.render(
                {c: v + 1 for c, v in values.items()}))) != expected
    formats = sorted(layout_for(f).template.format for f in FORMATS)
    assert sorted(p.stem for p in text_folder().glob("*.toml")) == formats


# --- real clients: LibreOffice and Chromium -----------------------------------------------------------------------

def _convert_all(docx_paths: list[Path], out_dir: Path) -> list[Path]:
    exe = soffice()
    if exe is None:
        pytest.fail("LibreOffice (soffice) is not installed; .ci/run installs it")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([exe, f"-env:UserInstallation=file://{out_dir / '.lo-profile'}", "--headless",
                             "--convert-to", "pdf", "--outdir", str(out_dir), *map(str, docx_paths)],
                            capture_output=True, text=True, timeout=300)
    pdfs = [out_dir / (p.stem + ".pdf") for p in docx_paths]
    missing = [p.name for p in pdfs if not p.exists()]
    assert result.returncode == 0 and not missing, (missing, result.stdout, result.stderr)
    return pdfs


@pytest.mark.libreoffice
def test_libreoffice_converts_the_docx_to_a_pdf_that_holds_the_labels_and_numbers(published, exported, tmp_path):
    from pypdf import PdfReader

    sources = []
    for kind in KINDS:  # distinct names: one batch call converts them all
        sources.append(tmp_path / f"{kind}.docx")
        shutil.copyfile(published[kind][1], sources[-1])
    for kind, pdf in zip(KINDS, _convert_all(sources, tmp_path / "pdf")):
        text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
        squeezed = re.sub(r"\s+", "", text)
        template, phrasing = _template(kind), load_phrasing(_fmt(kind))
        for table in template.tables:
            assert table.heading in squeezed
        for cell in template.cells.values():
            assert re.sub(r"\s+", "", cell.row_label) in squeezed and cell.column_label in squeezed
        values = exported[kind]
        for table in template.tables:  # every row's numbers, in the table's order, on its printed line
            for row_codes in (table.codes if table.layout == "matrix" else [r for b in table.blocks for r in b.codes]):
                printed = " ".join(str(values[c]) for c in row_codes)
                assert printed in text, (kind, row_codes[0], printed)
        for sentence in phrasing.sentences:
            expected = {s.name: sum((Decimal(values[c]) for c in s.codes), Decimal(0)) for s in sentence.slots}
            assert sentence.read(squeezed) == expected, sentence.id


def _pictures():
    """scripts/publish_pictures.py, which makes the README's pictures: its Chromium call and PNG reader."""
    spec = importlib.util.spec_from_file_location("publish_pictures", ROOT / "scripts" / "publish_pictures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.chromium
def test_chromium_renders_the_page_with_the_tables_drawn(published, tmp_path):
    pictures = _pictures()
    if not shutil.which("chromium") and not shutil.which("chromium-browser"):
        pytest.fail("Chromium is not installed; .ci/run installs it (Debian package chromium)")
    png = pictures.screenshot(published["2021"][0], tmp_path / "page.png", (900, 1400))
    width, height, channels, pixels = pictures.png_decode(png.read_bytes())
    assert (width, height) == (900, 1400)
    rows = [row[::channels] for row in pixels]  # the red channel is enough
    dark = sum(1 for row in rows for v in row if v < 96)
    assert dark > width * height // 200  # text and table borders, not a blank page
    # long dark horizontal runs are the table's borders
    assert sum(1 for row in rows if max(len(m) for m in re.findall(rb"[\x00-\x60]+", row) or [b""]) > width // 3) > 5


def test_the_readme_shows_the_with_text_skeleton_of_the_sample():
    pictures = _pictures()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- publish-text:start -->\n```text\n(.*?)\n```\n<!-- publish-text:end -->", readme, re.S)
    assert block, "README.md has no publish-text block"
    assert block.group(1) == pictures._publication(pictures.SAMPLE, with_text=True).plain_text()
    for picture in ("publish-t3-html.png", "publish-docx.png"):
        assert f"docs/img/{picture}" in readme and (ROOT / "docs" / "img" / picture).stat().st_size > 10_000
