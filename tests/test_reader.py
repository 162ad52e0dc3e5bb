"""The one-pass reader: real generated, filled and re-saved workbooks, hand-made XML, and hostile files."""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import time
import tracemalloc
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import as_nobody, blank, fill, libreoffice_resave
from xltool.generate import generate_workbook
from xltool.layout import layout_for
from xltool.package import ReadError
from xltool.reader import read_workbook
from xltool.workbook_data import ErrorValue
from xltool.roster import Agency

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRICT_REL_NS = "http://purl.oclc.org/ooxml/officeDocument/relationships"


@pytest.fixture
def generated(tmp_path) -> Path:
    path = tmp_path / "a.xlsx"
    generate_workbook(path, "2021", 2023, Agency("T001", "某某局"))
    return path


# -- a generated workbook ---------------------------------------------------------------------------

def test_generated_workbook_sheets_names_and_meta(generated):
    book = read_workbook(generated)
    layout = layout_for("2021")
    assert [s.name for s in book.sheets] == [s.name for s in layout.sheets] + ["_xltool"]
    assert [s.state for s in book.sheets] == ["visible"] * len(layout.sheets) + ["veryHidden"]
    assert book.sheet("_xltool").state == "veryHidden" and book.sheet("nope") is None
    assert book.defined_names["T3_NEW_NATURAL"] == "'依申请公开'!$D$6"
    assert layout.positions["T3_NEW_NATURAL"] == ("依申请公开", 5, 3)
    for code, (sheet, row, col) in layout.positions.items():
        assert code in book.defined_names
        assert book.defined_names[code].startswith(f"'{sheet}'!")
    assert ("依申请公开", "_xlnm.Print_Titles") in book.local_names
    assert "_xlnm.Print_Titles" not in book.defined_names
    assert book.meta["format"] == "gov-disclosure-2021"
    assert book.meta["year"] == "2023" and book.meta["agency_code"] == "T001" and book.meta["agency_name"] == "某某局"
    assert book.meta["role"] == "agency" and book.meta["members"] == ""
    assert book.workbook_protection["workbookAlgorithmName"] == "SHA-512"
    assert book.workbook_protection["lockStructure"] == "1"
    assert book.macros is False and book.external_parts == []
    assert book.path == generated


def test_generated_workbook_cells_locks_validation_protection(generated):
    book = read_workbook(generated)
    layout = layout_for("2021")
    sheet_layout = layout.sheet("依申请公开")
    sheet = book.sheet("依申请公开")
    total = next(f for f in sheet_layout.formulas if f.role == "total")
    cell = sheet.cells[(total.row, total.col)]
    assert cell.formula.startswith("=SUM(") and cell.formula == total.formula
    assert cell.value is None and cell.locked
    for f in sheet_layout.formulas:
        assert sheet.cells[(f.row, f.col)].formula == f.formula
    _, row, col = layout.positions["T3_NEW_NATURAL"]
    entry = sheet.cells[(row, col)]
    assert entry.locked is False and entry.value is None and entry.formula is None and not entry.date_style
    validation = next(v for v in sheet.validations if (row, col) in v.cells)
    assert (validation.type, validation.operator, validation.formula1) == ("whole", "greaterThanOrEqual", "0")
    assert validation.formula2 is None and not validation.clipped
    label = sheet.cells[(0, 0)]
    assert label.locked and isinstance(label.value, str) and label.value
    assert sheet.merged and all(r1 <= r2 and c1 <= c2 for r1, c1, r2, c2 in sheet.merged)
    for text in sheet_layout.texts:
        if text.merged:
            assert (text.row, text.col, text.last_row, text.last_col) in sheet.merged
    for s in book.sheets:
        assert s.protection is not None and s.protection["algorithmName"] == "SHA-512"
        assert s.protection["sheet"] == "1" and s.protection["spinCount"] == "100000"
        assert s.default_locked is True
    highlights = [h for s in layout.sheets for h in s.highlights]
    assert highlights
    for h in highlights:
        sheet_of = next(s.name for s in layout.sheets if h in s.highlights)
        expected = h.formula if h.formula.startswith("=") else "=" + h.formula
        assert expected in book.sheet(sheet_of).conditional_formulas[(h.row, h.col)]


def test_both_formats_read(tmp_path, fmt):
    book = read_workbook(blank(tmp_path, fmt))
    layout = layout_for(fmt)
    assert set(layout.positions) <= set(book.defined_names)
    assert book.meta["format"] == layout.template.format


def test_filled_with_openpyxl_reads_back_typed_values(tmp_path):
    path = blank(tmp_path)
    inputs = [code for code, c in layout_for("2021").template.cells.items() if c.is_input]
    values = {inputs[0]: 7, inputs[1]: 2.5, inputs[2]: "12", inputs[3]: "=1+2", inputs[4]: True,
              inputs[5]: datetime(2023, 5, 6), inputs[6]: -3, inputs[7]: "无"}
    fill(path, "2021", values)
    book = read_workbook(path)

    def read(code):
        sheet, row, col = layout_for("2021").positions[code]
        return book.sheet(sheet).cells[(row, col)]

    assert read(inputs[0]).value == 7.0 and type(read(inputs[0]).value) is float
    assert read(inputs[1]).value == 2.5
    assert read(inputs[2]).value == "12" and read(inputs[2]).formula is None
    assert read(inputs[3]).formula == "=1+2" and read(inputs[3]).value is None  # openpyxl keeps no cached value
    assert read(inputs[4]).value is True
    assert read(inputs[5]).date_style is True and isinstance(read(inputs[5]).value, float)
    assert read(inputs[6]).value == -3.0
    assert read(inputs[7]).value == "无"
    assert all(read(c).locked is False for c in inputs[:8])
    # openpyxl keeps the rest: names, protection, validations, meta, hidden sheet
    assert book.meta["format"] == "gov-disclosure-2021"
    assert book.sheet("_xltool").state == "veryHidden"
    assert book.sheet("依申请公开").protection["algorithmName"] == "SHA-512"
    assert "T3_NEW_NATURAL" in book.defined_names
    assert any(v.type == "whole" for v in book.sheet("依申请公开").validations)


@pytest.mark.libreoffice
def test_libreoffice_resave_reads_with_same_names_and_formulas(tmp_path):
    src = blank(tmp_path)
    fill(src, "2021", {"T3_NEW_NATURAL": 4, "T3_NEW_BUSINESS": 5})
    original = read_workbook(src)
    resaved_path = libreoffice_resave(src, tmp_path / "lo")
    resaved = read_workbook(resaved_path)
    assert [s.name for s in resaved.sheets] == [s.name for s in original.sheets]
    assert resaved.sheet("_xltool").state in ("hidden", "veryHidden")  # LibreOffice saves very hidden as hidden
    assert set(resaved.defined_names) == set(original.defined_names)
    for name, ref in original.defined_names.items():
        assert resaved.defined_names[name].replace("'", "") == ref.replace("'", "")
    for before, after in zip(original.sheets, resaved.sheets):
        formulas = {k: c.formula.replace("'", "") for k, c in before.cells.items() if c.formula}
        assert {k: c.formula.replace("'", "") for k, c in after.cells.items() if c.formula} == formulas
        unlocked = {k for k, c in before.cells.items() if not c.locked}
        assert unlocked <= {k for k, c in after.cells.items() if not c.locked}
        assert before.merged == after.merged
        valid_before = {p: (v.type, v.operator, v.formula1) for v in before.validations for p in v.cells}
        valid_after = {p: (v.type, v.operator, v.formula1) for v in after.validations for p in v.cells}
        assert valid_after == valid_before
        assert after.protection["algorithmName"] == "SHA-512"
    assert resaved.meta == original.meta
    sheet, row, col = layout_for("2021").positions["T3_NEW_NATURAL"]
    assert resaved.sheet(sheet).cells[(row, col)].value == 4.0
    _, row, col = layout_for("2021").positions["T3_NEW_TOTAL"]
    assert resaved.sheet(sheet).cells[(row, col)].formula == "=SUM(D6:I6)"
    assert resaved.sheet(sheet).cells[(row, col)].value == 9.0  # LibreOffice recalculated


@pytest.mark.libreoffice
def test_libreoffice_xls_and_ods_are_refused_with_their_codes(tmp_path):
    exe = shutil.which("soffice")
    if exe is None:
        pytest.fail("LibreOffice (soffice) is not installed; .ci/run installs it")
    src = blank(tmp_path)
    out = tmp_path / "conv"
    profile = tmp_path / ".lo-profile"
    for target in ("xls:MS Excel 97", "ods"):
        subprocess.run([exe, f"-env:UserInstallation=file://{profile}", "--headless", "--calc", "--convert-to",
                        target, "--outdir", str(out), str(src)], check=True, capture_output=True, timeout=180)
    with pytest.raises(ReadError) as xls:
        read_workbook(out / "a.xls")
    assert xls.value.code == "legacy-xls"
    with pytest.raises(ReadError) as ods:
        read_workbook(out / "a.ods")
    assert ods.value.code == "ods-file"


# -- hand-made packages -----------------------------------------------------------------------------

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="{book_type}"/>'
    '</Types>')
BOOK_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"


def craft(path: Path, sheets: list[tuple[str, str]], *, ns: str = MAIN, rel_ns: str = REL_NS,
          workbook_extra: str = "", states: dict | None = None, shared: list[str] | None = None,
          styles: str | None = None, extra: dict[str, bytes | str] | None = None, absolute: bool = False,
          book_type: str = BOOK_TYPE, drop: tuple[str, ...] = ()) -> Path:
    """A minimal .xlsx: ``sheets`` is [(name, worksheet inner XML)]; the sheet parts go under ``xl/ws/``."""
    states = states or {}
    entries = ['<sheet name="{}" sheetId="{}" r:id="rId{}"{}/>'.format(
        name, i + 1, i + 1, f' state="{states[name]}"' if name in states else "") for i, (name, _) in enumerate(sheets)]
    rels = [f'<Relationship Id="rId{i + 1}" Type="{REL_NS}/worksheet" '
            f'Target="{"/xl/ws/" if absolute else "ws/"}s{i + 1}.xml"/>' for i in range(len(sheets))]
    parts: dict[str, bytes | str] = {
        "[Content_Types].xml": CONTENT_TYPES.format(book_type=book_type),
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                       f'relationships"><Relationship Id="rId1" Type="{REL_NS}/officeDocument" '
                       'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{ns}" xmlns:r="{rel_ns}">'
                           f'<sheets>{"".join(entries)}</sheets>{workbook_extra}</workbook>',
    }
    if shared is not None:
        parts["xl/sharedStrings.xml"] = f'<sst xmlns="{ns}">{"".join(shared)}</sst>'
        rels.append(f'<Relationship Id="rIdS" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>')
    if styles is not None:
        parts["xl/styles.xml"] = f'<styleSheet xmlns="{ns}">{styles}</styleSheet>'
        rels.append(f'<Relationship Id="rIdY" Type="{REL_NS}/styles" Target="styles.xml"/>')
    parts["xl/_rels/workbook.xml.rels"] = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                                          f'relationships">{"".join(rels)}</Relationships>')
    for i, (_, body) in enumerate(sheets):
        parts[f"xl/ws/s{i + 1}.xml"] = (f'<?xml version="1.0"?><worksheet xmlns="{ns}" xmlns:r="{rel_ns}">'
                                        f"{body}</worksheet>")
    parts.update(extra or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            if name not in drop:
                zf.writestr(name, data)
    return path


SHARED_FORMULAS = (
    "<sheetData>"
    '<row r="5"><c r="A5"><v>1</v></c><c r="B5"><v>2</v></c><c r="C5"><v>3</v></c>'
    '<c r="D5"><f t="shared" ref="D5:D9" si="0">SUM(A5:C5)</f><v>6</v></c>'
    '<c r="E5"><f t="shared" ref="E5:G5" si="1">D5*$A$1+Sheet2!B5</f><v>0</v></c>'
    '<c r="F5"><f t="shared" si="1"/><v>0</v></c><c r="G5"><f t="shared" si="1"/></c></row>'
    '<row r="6"><c r="D6"><f t="shared" si="0"/><v>0</v></c></row>'
    '<row r="9"><c r="D9"><f t="shared" si="0"/><v>0</v></c></row>'
    '<row r="10"><c r="D10"><f t="array" ref="D10:D11">A5:A6*2</f><v>2</v></c><c r="D11"><v>4</v></c></row>'
    "</sheetData>")


def test_shared_and_array_formulas_are_expanded(tmp_path):
    book = read_workbook(craft(tmp_path / "s.xlsx", [("Sheet1", SHARED_FORMULAS)]))
    cells = book.sheets[0].cells
    assert cells[(4, 3)].formula == "=SUM(A5:C5)" and cells[(4, 3)].value == 6.0
    assert cells[(5, 3)].formula == "=SUM(A6:C6)"
    assert cells[(8, 3)].formula == "=SUM(A9:C9)"
    assert cells[(4, 4)].formula == "=D5*$A$1+Sheet2!B5"
    assert cells[(4, 5)].formula == "=E5*$A$1+Sheet2!C5"
    assert cells[(4, 6)].formula == "=F5*$A$1+Sheet2!D5" and cells[(4, 6)].value is None
    assert cells[(9, 3)].formula == "=A5:A6*2" and cells[(10, 3)].formula is None and cells[(10, 3)].value == 4.0
    assert cells[(4, 0)].formula is None and cells[(4, 0)].value == 1.0
    # no styles part: every cell locked, nothing is a date
    assert all(c.locked and not c.date_style for c in cells.values())


CELL_TYPES = (
    "<sheetData>"
    '<row r="1">'
    '<c r="A1" t="s"><v>0</v></c>'  # rich text with a phonetic run
    '<c r="B1" t="inlineStr"><is><t>内联</t></is></c>'
    '<c r="C1" t="e"><v>#DIV/0!</v></c>'
    '<c r="D1" t="b"><v>1</v></c><c r="E1" t="b"><v>0</v></c>'
    '<c r="F1" t="str"><f>"a"&amp;"b"</f><v>ab</v></c>'
    '<c r="G1" t="d"><v>2023-05-06T00:00:00</v></c>'
    '<c r="H1"><v></v></c><c r="I1" t="n"><v>7</v></c><c r="J1"><v>1.5E3</v></c>'
    '<c r="K1" t="s"><v>1</v></c><c r="L1" t="s"><v>2</v></c>'
    '<c r="M1"><f>1/0</f><v></v></c><c r="N1" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
    '<c r="O1" t="inlineStr"><is><r><t>富</t></r><r><rPr><b/></rPr><t>文本</t></r></is></c>'
    "</row>"
    "<row><c><v>10</v></c><c><v>11</v></c><c r=\"E2\"><v>12</v></c><c><v>13</v></c></row>"  # no r on rows/cells
    '<row r="5"><c><v>50</v></c></row><row><c t="s"><v>1</v></c></row>'
    "</sheetData>")
SHARED_STRINGS = [
    '<si><r><t>中华</t></r><r><rPr><b/></rPr><t xml:space="preserve"> 人民 </t></r><rPh sb="0" eb="1"><t>ピン</t></rPh></si>',
    "<si><t>7</t></si>",
    "<si><t>line_x000D_break _x005F_x0041_</t></si>",
]


def test_cell_types(tmp_path):
    book = read_workbook(craft(tmp_path / "t.xlsx", [("Sheet1", CELL_TYPES)], shared=SHARED_STRINGS))
    cells = book.sheets[0].cells
    assert cells[(0, 0)].value == "中华 人民 "
    assert cells[(0, 1)].value == "内联"
    assert cells[(0, 2)].value == ErrorValue("#DIV/0!") and str(cells[(0, 2)].value) == "#DIV/0!"
    assert cells[(0, 3)].value is True and cells[(0, 4)].value is False
    assert cells[(0, 5)].value == "ab" and cells[(0, 5)].formula == '="a"&"b"'
    assert cells[(0, 6)].value == "2023-05-06T00:00:00"
    assert cells[(0, 7)].value is None and cells[(0, 7)].formula is None
    assert cells[(0, 8)].value == 7.0 and type(cells[(0, 8)].value) is float
    assert cells[(0, 9)].value == 1500.0
    assert cells[(0, 10)].value == "7"  # a number typed as text stays text
    assert cells[(0, 11)].value == "line\rbreak _x0041_"
    assert cells[(0, 12)].value is None and cells[(0, 12)].formula == "=1/0"
    assert cells[(0, 13)].value == ErrorValue("#DIV/0!") and cells[(0, 13)].formula == "=1/0"
    assert cells[(0, 14)].value == "富文本"
    assert [cells[(1, c)].value for c in (0, 1, 4, 5)] == [10.0, 11.0, 12.0, 13.0]
    assert cells[(4, 0)].value == 50.0 and cells[(5, 0)].value == "7"


STYLES = (
    '<numFmts><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/><numFmt numFmtId="165" formatCode="0.00"/>'
    '<numFmt numFmtId="166" formatCode="[$-F800]dddd\\,\\ mmmm\\ dd\\,\\ yyyy"/>'
    '<numFmt numFmtId="167" formatCode="#,##0_ ;[Red]\\-#,##0\\ "/><numFmt numFmtId="168" formatCode="@"/>'
    '<numFmt numFmtId="169" formatCode="&quot;天数&quot;0"/><numFmt numFmtId="170" formatCode="[h]:mm:ss"/>'
    '<numFmt numFmtId="171" formatCode="[DBNum1][$-804]General"/><numFmt numFmtId="172" formatCode="m/d/yy"/>'
    '<numFmt numFmtId="173" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/></numFmts>'
    '<cellXfs count="15">'
    '<xf numFmtId="0"/>'  # 0
    '<xf numFmtId="14"/>'  # 1 builtin date
    '<xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="166"/><xf numFmtId="167"/><xf numFmtId="168"/>'  # 2-6
    '<xf numFmtId="169"/><xf numFmtId="170"/><xf numFmtId="171"/><xf numFmtId="172"/><xf numFmtId="173"/>'  # 7-11
    '<xf numFmtId="3" applyProtection="1"><protection locked="0"/></xf>'  # 12 unlocked
    '<xf numFmtId="49"><protection locked="1" hidden="1"/></xf>'  # 13
    '<xf numFmtId="58"><protection locked="false"/></xf>'  # 14
    "</cellXfs>")
DATE_STYLES = {1: True, 2: True, 3: False, 4: True, 5: False, 6: False, 7: False, 8: True, 9: False, 10: True,
               11: True, 12: False, 13: False, 14: True}


def test_styles_locked_and_date(tmp_path):
    row = "".join(f'<c r="{chr(65 + i)}1" s="{i}"><v>1</v></c>' for i in range(15))
    body = f'<sheetData><row r="1">{row}<c r="P1"><v>2</v></c><c r="Q1" s="99"/></row></sheetData>'
    book = read_workbook(craft(tmp_path / "y.xlsx", [("Sheet1", body)], styles=STYLES))
    cells = book.sheets[0].cells
    assert {i: cells[(0, i)].date_style for i in range(1, 15)} == DATE_STYLES
    assert [i for i in range(15) if not cells[(0, i)].locked] == [12, 14]
    assert cells[(0, 15)].locked and not cells[(0, 15)].date_style  # no s: xf 0
    assert cells[(0, 16)].locked and cells[(0, 16)].value is None  # an s out of range: xf 0
    assert book.sheets[0].default_locked is True


def test_unlocked_default_style(tmp_path):
    styles = '<cellXfs><xf numFmtId="0"><protection locked="0"/></xf></cellXfs>'
    book = read_workbook(craft(tmp_path / "u.xlsx", [("S", '<sheetData><row r="1"><c r="A1"/></row></sheetData>')],
                               styles=styles))
    assert book.sheets[0].default_locked is False and book.sheets[0].cells[(0, 0)].locked is False


SHEET_FEATURES = (
    '<sheetData><row r="1"><c r="A1"><v>1</v></c><c r="C3"/></row><row r="30"><c r="J30"/></row></sheetData>'
    '<sheetProtection algorithmName="SHA-512" hashValue="x" saltValue="y" spinCount="100000" sheet="1" objects="1"/>'
    '<mergeCells count="2"><mergeCell ref="A1:C1"/><mergeCell ref="B3:B5"/></mergeCells>'
    '<conditionalFormatting sqref="D4 F6:G7"><cfRule type="expression" priority="1"><formula>$D$4&lt;&gt;0</formula>'
    '</cfRule><cfRule type="cellIs" operator="between" priority="2"><formula>1</formula><formula>2</formula>'
    "</cfRule></conditionalFormatting>"
    '<dataValidations count="5">'
    '<dataValidation type="whole" operator="greaterThanOrEqual" sqref="B2 D4:E5"><formula1>0</formula1>'
    "</dataValidation>"
    '<dataValidation type="decimal" sqref="A10"><formula1>0</formula1><formula2>100</formula2></dataValidation>'
    '<dataValidation sqref="A11"/>'
    '<dataValidation type="list" sqref="A1:XFD1048576"><formula1>"是,否"</formula1></dataValidation>'
    '<dataValidation type="whole" sqref="H:H"><formula1>1</formula1></dataValidation>'
    "</dataValidations>"
    '<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
    'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    '<x14:dataValidations count="1" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    '<x14:dataValidation type="list" allowBlank="1"><x14:formula1><xm:f>Lists!$A$1:$A$3</xm:f></x14:formula1>'
    "<xm:sqref>K2:K3</xm:sqref></x14:dataValidation></x14:dataValidations></ext></extLst>")


def test_merges_protection_validations_conditional_formats(tmp_path):
    book = read_workbook(craft(tmp_path / "f.xlsx", [("S", SHEET_FEATURES)]))
    sheet = book.sheets[0]
    assert sheet.merged == {(0, 0, 0, 2), (2, 1, 4, 1)}
    assert sheet.protection == {"algorithmName": "SHA-512", "hashValue": "x", "saltValue": "y",
                                "spinCount": "100000", "sheet": "1", "objects": "1"}
    assert sheet.conditional_formulas == {(3, 3): ["=$D$4<>0", "=1", "=2"], (5, 5): ["=$D$4<>0", "=1", "=2"]}
    whole, decimal, none, lst, column, ext = sheet.validations
    assert (whole.type, whole.operator, whole.formula1, whole.formula2) == ("whole", "greaterThanOrEqual", "0", None)
    assert whole.cells == {(1, 1), (3, 3), (3, 4), (4, 3), (4, 4)}
    assert (decimal.type, decimal.operator, decimal.formula2, decimal.cells) == ("decimal", "between", "100", {(9, 0)})
    assert (none.type, none.operator, none.formula1, none.cells) == ("none", "between", None, {(10, 0)})
    # a whole-sheet range is clipped to the used area A1:J30, not expanded to 17 billion cells
    assert lst.clipped and lst.formula1 == '"是,否"' and len(lst.cells) == 30 * 10 and (29, 9) in lst.cells
    assert column.clipped and column.cells == {(r, 7) for r in range(30)}
    assert (ext.type, ext.formula1, ext.cells) == ("list", "Lists!$A$1:$A$3", {(1, 10), (2, 10)})
    assert sheet.protection is not None


def test_workbook_names_states_protection_absolute_targets(tmp_path):
    names = ('<definedNames><definedName name="Total">Data!$A$1</definedName>'
             '<definedName name="Local" localSheetId="1">Hidden!$B$2:$C$3</definedName>'
             '<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">Data!$A$1:$B$2</definedName>'
             '<definedName name="Bad" localSheetId="9">Data!$A$1</definedName></definedNames>'
             '<workbookProtection lockStructure="1"/>')
    meta = ('<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>format</t></is></c>'
            '<c r="B1" t="inlineStr"><is><t>gov-disclosure-2019</t></is></c></row>'
            '<row r="2"><c r="A2" t="inlineStr"><is><t>year</t></is></c><c r="B2"><v>2021</v></c></row>'
            '<row r="3"><c r="A3" t="inlineStr"><is><t>code</t></is></c><c r="B3" t="inlineStr"><is><t>007</t></is>'
            '</c></row><row r="4"><c r="A4" t="inlineStr"><is><t>empty</t></is></c></row>'
            '<row r="5"><c r="B5" t="inlineStr"><is><t>no key</t></is></c></row></sheetData>')
    path = craft(tmp_path / "n.xlsx", [("Data", "<sheetData/>"), ("Hidden", "<sheetData/>"), ("_xltool", meta)],
                 workbook_extra=names, states={"Hidden": "hidden", "_xltool": "veryHidden"}, absolute=True)
    book = read_workbook(path)
    assert [(s.name, s.state) for s in book.sheets] == [("Data", "visible"), ("Hidden", "hidden"),
                                                        ("_xltool", "veryHidden")]
    assert book.defined_names == {"Total": "Data!$A$1"}
    assert book.local_names == {("Hidden", "Local"): "Hidden!$B$2:$C$3",
                                ("Data", "_xlnm._FilterDatabase"): "Data!$A$1:$B$2"}
    assert book.workbook_protection == {"lockStructure": "1"}
    assert book.meta == {"format": "gov-disclosure-2019", "year": "2021", "code": "007", "empty": ""}
    assert book.sheet("Data").protection is None and book.sheet("Data").cells == {}


def test_strict_ooxml_namespaces(tmp_path):
    body = ('<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" s="1"><f>SUM(A2:A3)</f><v>3</v></c></row>'
            '</sheetData><mergeCells><mergeCell ref="A5:B5"/></mergeCells>')
    path = craft(tmp_path / "strict.xlsx", [("严格", body)], ns=STRICT, rel_ns=STRICT_REL_NS,
                 shared=["<si><t>标签</t></si>"], styles='<cellXfs><xf/><xf><protection locked="0"/></xf></cellXfs>',
                 workbook_extra='<definedNames><definedName name="X">严格!$B$1</definedName></definedNames>')
    book = read_workbook(path)
    sheet = book.sheets[0]
    assert sheet.name == "严格" and sheet.cells[(0, 0)].value == "标签"
    assert sheet.cells[(0, 1)].formula == "=SUM(A2:A3)" and sheet.cells[(0, 1)].locked is False
    assert sheet.merged == {(4, 0, 4, 1)} and book.defined_names == {"X": "严格!$B$1"}


def test_macros_and_external_parts_are_reported_not_followed(tmp_path):
    ext_rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="x/externalLinkPath" Target="file:///C:/secret/other.xlsx" '
                'TargetMode="External"/></Relationships>')
    path = craft(tmp_path / "m.xlsm", [("S", "<sheetData/>")],
                 book_type="application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                 extra={"xl/vbaProject.bin": b"\x00" * 16, "xl/externalLinks/externalLink1.xml": "<externalLink/>",
                        "xl/externalLinks/_rels/externalLink1.xml.rels": ext_rels,
                        "xl/connections.xml": "<connections/>", "xl/embeddings/oleObject1.bin": b"x"})
    book = read_workbook(path)
    assert book.macros is True
    assert book.external_parts == ["xl/externalLinks/externalLink1.xml", "xl/connections.xml",
                                   "xl/embeddings/oleObject1.bin", "file:///C:/secret/other.xlsx"]
    assert read_workbook(craft(tmp_path / "ct.xlsx", [("S", "<sheetData/>")],
                               book_type="application/vnd.ms-excel.sheet.macroEnabled.main+xml")).macros is True


# -- refused files ------------------------------------------------------------------------------------

BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
                  + f']><worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t>'
                  '</is></c></row></sheetData></worksheet>')
XXE = (f'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]><worksheet xmlns="{MAIN}">'
       '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&x;</t></is></c></row></sheetData></worksheet>')


def _ok(tmp_path: Path) -> Path:
    return craft(tmp_path / "ok.xlsx", [("S", '<sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>')])


def _replace_part(tmp_path: Path, name: str, data: bytes | str) -> Path:
    return craft(tmp_path / "x.xlsx", [("S", "<sheetData/>")], extra={name: data})


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _zip_bomb(path: Path, size: int = 100 * 1024 * 1024) -> Path:
    """A workbook whose sheet inflates to ``size`` bytes of zeros (deflate: about 100 KB on disk)."""
    craft(path, [("S", "<sheetData/>")], drop=("xl/ws/s1.xml",))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("xl/ws/s1.xml", "w", force_zip64=True) as out:
        zeros = bytes(1024 * 1024)
        for _ in range(size // len(zeros)):
            out.write(zeros)
    return path


def _lying_bomb(path: Path) -> Path:
    """The same bomb with a forged header: every size field says 1,000 bytes."""
    _zip_bomb(path, 80 * 1024 * 1024)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/ws/s1.xml")
    # central directory entry: signature, then the uncompressed size at offset 24 (zip64: in the extra field)
    name = info.filename.encode()
    for signature, name_offset, size_offset in ((b"PK\x01\x02", 46, 24), (b"PK\x03\x04", 30, 22)):
        at = 0
        while (at := data.find(signature, at)) >= 0:
            length = struct.unpack_from("<H", data, at + 28 if signature == b"PK\x01\x02" else at + 26)[0]
            if data[at + name_offset: at + name_offset + length] == name:
                if struct.unpack_from("<I", data, at + size_offset)[0] == 0xFFFFFFFF:
                    extra_len = struct.unpack_from("<H", data, at + (30 if signature == b"PK\x01\x02" else 28))[0]
                    extra_at = at + name_offset + length
                    extra = data[extra_at: extra_at + extra_len]
                    z = extra.find(b"\x01\x00")
                    struct.pack_into("<Q", data, extra_at + z + 4, 1000)
                else:
                    struct.pack_into("<I", data, at + size_offset, 1000)
            at += 4
    path.write_bytes(bytes(data))
    return path


def _password_flagged(path: Path) -> Path:
    """A workbook whose zip entries say they are encrypted (general purpose flag bit 0)."""
    _ok(path.parent)
    data = bytearray((path.parent / "ok.xlsx").read_bytes())
    for signature, flag_offset in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):
        at = 0
        while (at := data.find(signature, at)) >= 0:
            struct.pack_into("<H", data, at + flag_offset, struct.unpack_from("<H", data, at + flag_offset)[0] | 1)
            at += 4
    path.write_bytes(bytes(data))
    return path


def _element_bomb(path: Path) -> Path:
    """A small zip whose sheet holds 1.2 million empty cells: refused before it is parsed into a tree."""
    return craft(path, [("S", "<sheetData><row>" + "<c/>" * 1_200_000 + "</row></sheetData>")])


def _truncated(tmp_path: Path) -> Path:
    src = blank(tmp_path, name="full.xlsx")
    data = src.read_bytes()
    path = tmp_path / "t.xlsx"
    path.write_bytes(data[: len(data) // 2])
    return path


def _write(name: str, data: bytes):
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return make


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
CASES = {
    # unreadable-file
    "random-bytes": ("unreadable-file", _write("r.xlsx", random.Random(0).randbytes(8192))),
    "empty": ("unreadable-file", _write("e.xlsx", b"")),
    "directory": ("unreadable-file", lambda p: (p / "d.xlsx").mkdir() or p / "d.xlsx"),
    "missing": ("unreadable-file", lambda p: p / "nothing.xlsx"),
    "truncated-zip": ("unreadable-file", _truncated),
    "no-workbook-part": ("unreadable-file", lambda p: _zip(p / "z.xlsx", {"a.txt": b"hello"})),
    "missing-sheet-part": ("unreadable-file", lambda p: craft(p / "ms.xlsx", [("S", "")], drop=("xl/ws/s1.xml",))),
    "corrupt-xml": ("unreadable-file", lambda p: craft(p / "c.xlsx", [("S", "<sheetData><row>")])),
    "entity-bomb": ("unreadable-file", lambda p: _replace_part(p, "xl/ws/s1.xml", BILLION_LAUGHS)),
    "external-entity": ("unreadable-file", lambda p: _replace_part(p, "xl/ws/s1.xml", XXE)),
    "bad-shared-string": ("unreadable-file", lambda p: craft(
        p / "b.xlsx", [("S", '<sheetData><row r="1"><c r="A1" t="s"><v>5</v></c></row></sheetData>')], shared=[])),
    "lying-zip-header": ("unreadable-file", lambda p: _lying_bomb(p / "lie.xlsx")),
    # zip-bomb
    "zip-bomb": ("zip-bomb", lambda p: _zip_bomb(p / "bomb.xlsx")),
    "element-bomb": ("zip-bomb", lambda p: _element_bomb(p / "cells.xlsx")),
    "zip-bomb-total": ("zip-bomb", lambda p: _zip(p / "many.xlsx", {f"xl/{i}.bin": bytes(60 << 20) for i in range(5)})),
    # legacy-xls, encrypted-file
    "ole2-xls": ("legacy-xls", _write("old.xlsx", OLE + "Workbook".encode("utf-16-le") + bytes(1000))),
    "ole2-encrypted": ("encrypted-file", _write(
        "enc.xlsx", OLE + "EncryptionInfo".encode("utf-16-le") + bytes(10) + "EncryptedPackage".encode("utf-16-le"))),
    "zip-password": ("encrypted-file", lambda p: _password_flagged(p / "pw.xlsx")),
    # ods-file
    "ods": ("ods-file", lambda p: _zip(p / "a.ods", {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
                                                    "content.xml": b"<office:document-content/>"})),
    # not-a-workbook
    "html": ("not-a-workbook", _write("page.xls", "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
                                                  "<table><tr><td>政府信息公开</td></tr></table></body></html>".encode())),
    "csv-gbk": ("not-a-workbook", _write("a.xlsx", "code,name\nT001,某某局\n".encode("gb18030"))),
    "text-utf16": ("not-a-workbook", _write("a.xlsx", "\ufeff年度报告\t1\r\n".encode("utf-16-le"))),
    "docx": ("not-a-workbook", lambda p: _zip(p / "w.xlsx", {"word/document.xml": b"<w:document/>"})),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_files_raise_read_error_with_the_exact_code(tmp_path, case):
    code, make = CASES[case]
    path = make(tmp_path)
    tracemalloc.start()
    start = time.process_time()  # this process's CPU seconds: the work done, whatever else the machine runs
    try:
        with pytest.raises(ReadError) as raised:
            read_workbook(path)
        elapsed = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert raised.value.code == code, raised.value.detail
    assert raised.value.detail and any("\u4e00" <= ch <= "\u9fff" for ch in raised.value.detail)
    assert str(raised.value) == raised.value.detail
    assert elapsed < 2, f"{case} took {elapsed:.2f} CPU seconds"
    assert peak < 80 * 1024 * 1024, f"{case} used {peak >> 20} MB"


def test_entity_detail_names_forbidden_entities(tmp_path):
    with pytest.raises(ReadError) as raised:
        read_workbook(_replace_part(tmp_path, "xl/ws/s1.xml", BILLION_LAUGHS))
    assert "实体" in raised.value.detail


def _read_code(path: Path) -> str:
    try:
        read_workbook(path)
    except ReadError as exc:
        return exc.code
    return "read"


def test_unreadable_file_permission_denied(tmp_path):
    path = _ok(tmp_path)
    path.chmod(0)
    if os.geteuid() == 0:
        assert as_nobody(_read_code, path) == "unreadable-file"
    else:
        with pytest.raises(ReadError) as raised:
            read_workbook(path)
        assert raised.value.code == "unreadable-file"


def test_fuzzed_bytes_never_escape_as_other_exceptions(tmp_path, generated):
    """Flip bytes of a real workbook and of a crafted one: only ReadError, or a result, ever comes out.

    The reader has no catch-all: any other exception would be a bug of xltool, and fails this test."""
    rng = random.Random(42)
    sources = [generated.read_bytes(), craft(tmp_path / "f.xlsx", [("S", SHEET_FEATURES)]).read_bytes(),
               craft(tmp_path / "g.xlsx", [("S", SHARED_FORMULAS)]).read_bytes()]
    target = tmp_path / "fuzz.xlsx"
    for i in range(1500):
        data = bytearray(sources[i % len(sources)])
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if i % 7 == 0:
            data = data[: rng.randrange(len(data))]
        target.write_bytes(bytes(data))
        try:
            read_workbook(target)
        except ReadError as exc:
            assert exc.code in {"unreadable-file", "zip-bomb", "not-a-workbook", "legacy-xls", "encrypted-file",
                                "ods-file"}


def test_stored_uncompressed_xml_with_a_doctype_is_refused(tmp_path):
    path = _replace_part(tmp_path, "xl/ws/s1.xml", f'<!DOCTYPE worksheet><worksheet xmlns="{MAIN}"/>')
    with pytest.raises(ReadError) as raised:
        read_workbook(path)
    assert raised.value.code == "unreadable-file"


def test_ok_file_is_read(tmp_path):
    book = read_workbook(str(_ok(tmp_path)))  # a str path is accepted too
    assert book.sheets[0].cells[(0, 0)].value == 1.0 and book.meta == {}


def test_shared_formulas_in_cells_without_addresses(tmp_path):
    body = ('<sheetData><row><c><v>1</v></c><c><f t="shared" ref="B1:B2" si="0">A1*2</f><v>2</v></c></row>'
            '<row><c><v>3</v></c><c><f t="shared" si="0"/></c></row></sheetData>')
    cells = read_workbook(craft(tmp_path / "n.xlsx", [("S", body)])).sheets[0].cells
    assert cells[(0, 1)].formula == "=A1*2" and cells[(1, 1)].formula == "=A2*2" and cells[(1, 0)].value == 3.0


XML_CASES = [
    b'<a xmlns="u"><b x="1">t</b></a>', b"\xef\xbb\xbf<a/>", b'<?xml version="1.0" encoding="UTF-16"?><a/>',
    '<?xml version="1.0" encoding="UTF-16"?><a>中</a>'.encode("utf-16"), b'<?xml version="1.0" encoding="GBK"?><a/>',
    b"<a>&amp;&#20013;&#x4e2d;</a>", b"<a>&foo;</a>", b"<!DOCTYPE a><a/>", b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    b'<!DOCTYPE a SYSTEM "http://example.com/a.dtd"><a/>', b"<p:a/>", b'<p:a xmlns:p="u"/>', b"<a><b></a>",
    b"<a/><b/>", b"", b"<a", b"<a><!-- c --><?pi x?><![CDATA[<x>]]></a>", b"<a x='1' x='2'/>", b"<a>\x01</a>",
    b'<a xmlns:p="u" p:x="1" p:x="2"/>',
]


@pytest.mark.parametrize("data", XML_CASES)
def test_checking_a_part_refuses_what_parsing_it_refuses(data):
    """check_xml (expat with defusedxml's handlers, no tree) accepts and refuses exactly what parse_xml does,
    with the same defusedxml exceptions."""
    from xml.etree.ElementTree import ParseError
    from xml.parsers.expat import ExpatError

    from xltool.xml_parts import check_xml, parse_xml

    def outcome(run, error):
        try:
            run(data)
        except error:
            return "damaged"
        except Exception as exc:  # defusedxml's DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
            return type(exc).__name__
        return "ok"

    assert outcome(check_xml, ExpatError) == outcome(parse_xml, ParseError)
