"""Generated workbooks, read back with openpyxl: names, labels, locks, validation, protection, metadata."""

from __future__ import annotations

import base64
import csv
import hashlib
import re
import zipfile

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from openpyxl.utils import range_boundaries

from tests.conftest import FORMATS, blank
from xltool.cli import main
from xltool.layout import layout_for

# The official labels of formats.md, typed here independently of the spec.
COMMON_T3 = [
    "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", "申请人情况", "自然人", "法人或其他组织",
    "总计", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他",
    "一、本年新收政府信息公开申请数量", "二、上年结转政府信息公开申请数量", "三、本年度办理结果", "（一）予以公开",
    "（二）部分公开（区分处理的，只计这一情形，不计其他情形）", "（三）不予公开", "1.属于国家秘密", "2.其他法律行政法规禁止公开",
    "3.危及“三安全一稳定”", "4.保护第三方合法权益", "5.属于三类内部事务信息", "6.属于四类过程性信息", "7.属于行政执法案卷",
    "8.属于行政查询事项", "（四）无法提供", "1.本机关不掌握相关政府信息", "2.没有现成信息需要另行制作",
    "3.补正后申请内容仍不明确", "（五）不予处理", "1.信访举报投诉类申请", "2.重复申请", "3.要求提供公开出版物",
    "4.无正当理由大量反复申请", "5.要求行政机关确认或重新出具已获取信息", "（六）其他处理", "（七）总计",
    "四、结转下年度继续办理",
]
COMMON_T4 = ["行政复议", "行政诉讼", "未经复议直接起诉", "复议后起诉", "结果维持", "结果纠正", "其他结果", "尚未审结", "总计"]
LABELS = {
    "2019": {
        "主动公开": ["二、主动公开政府信息情况", "第二十条第（一）项", "第二十条第（五）项", "第二十条第（六）项",
                 "第二十条第（八）项", "第二十条第（九）项", "信息内容", "规章", "规范性文件", "本年新制作数量", "本年新公开数量",
                 "对外公开总数量", "行政许可", "其他对外管理服务事项", "上一年项目数量", "本年增/减", "处理决定数量", "行政处罚",
                 "行政强制", "行政事业性收费", "政府集中采购", "采购项目数量", "采购总金额"],
        "依申请公开": ["三、收到和处理政府信息公开申请情况", *COMMON_T3],
        "复议诉讼": ["四、政府信息公开行政复议、行政诉讼情况", *COMMON_T4],
    },
    "2021": {
        "主动公开": ["二、主动公开政府信息情况", "第二十条第（一）项", "第二十条第（五）项", "第二十条第（六）项",
                 "第二十条第（八）项", "信息内容", "规章", "行政规范性文件", "本年制发件数", "本年废止件数", "现行有效件数",
                 "行政许可", "本年处理决定数量", "行政处罚", "行政强制", "行政事业性收费", "本年收费金额（单位：万元）"],
        "依申请公开": ["三、收到和处理政府信息公开申请情况", *COMMON_T3,
                  "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
                  "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", "3.其他"],
        "复议诉讼": ["四、政府信息公开行政复议、行政诉讼情况", *COMMON_T4],
    },
}
NAME_COUNT = {"2019": 198, "2021": 200}
META_KEYS = {"format", "template_version", "year", "agency_code", "agency_name", "role", "generated_at",
             "generator", "fingerprint"}


@pytest.fixture
def book(tmp_path, fmt):
    return load_workbook(blank(tmp_path, fmt))


def test_every_official_label_is_printed_exactly(book, fmt):
    for sheet, labels in LABELS[fmt].items():
        printed = {c.value for row in book[sheet].iter_rows() for c in row if isinstance(c.value, str)}
        missing = [label for label in labels if label not in printed]
        assert not missing, f"{sheet}: {missing}"
    if fmt == "2021":
        printed = {c.value for row in book["依申请公开"].iter_rows() for c in row}
        assert "（六）其他处理" in printed  # a group in 2021, a leaf row in 2019


def _row_label(ws, row: int, label_cols: int) -> str:
    """The innermost label of a table row: the rightmost non-empty label cell, or a group merged over it."""
    found = None
    for col in range(1, label_cols + 1):
        value = _merged_value(ws, row, col)
        if value:
            found = value
    return found


def _merged_value(ws, row: int, col: int):
    for rng in ws.merged_cells.ranges:
        if rng.min_row <= row <= rng.max_row and rng.min_col <= col <= rng.max_col:
            return ws.cell(rng.min_row, rng.min_col).value
    return ws.cell(row, col).value


def test_every_data_point_is_named_and_points_at_its_labelled_row_and_column(book, fmt):
    template = layout_for(fmt).template
    names = dict(book.defined_names.items())
    codes = [n for n in names if re.fullmatch(r"T[234]_[A-Z_]+", n)]
    assert len(codes) == NAME_COUNT[fmt] == len(template.cells)
    for code in codes:
        ((sheet, ref),) = list(names[code].destinations)
        ws = book[sheet]
        col, row, _, _ = range_boundaries(ref.replace("$", ""))
        cell = template.cells[code]
        assert code.startswith(cell.table)
        if cell.table == "T2":
            header_row = max(r for r in range(1, row) if ws.cell(r, 1).value == "信息内容")
            assert ws.cell(row, 1).value == cell.row_label, code
            assert ws.cell(header_row, col).value == cell.column_label, code
        elif cell.table == "T3":
            assert _row_label(ws, row, 3) == cell.row_label, code
            headers = [_merged_value(ws, r, col) for r in (3, 4, 5)]
            assert cell.column_label in headers and headers[-1] == cell.column_label, code
        else:  # T4: one data row, the group over the column is the "row"
            assert row == 6
            assert _merged_value(ws, 5, col) == cell.column_label, code
            assert cell.row_label in (_merged_value(ws, 3, col), _merged_value(ws, 4, col)), code


def test_inputs_are_open_with_validation_and_totals_are_locked_formulas(book, fmt):
    template = layout_for(fmt).template
    validations = {}
    for sheet in ("主动公开", "依申请公开", "复议诉讼"):
        for dv in book[sheet].data_validations.dataValidation:
            for rng in dv.sqref.ranges:
                validations[(sheet, rng.coord)] = dv
    kinds = set()
    for code, (sheet, ref) in ((n, next(iter(d.destinations))) for n, d in book.defined_names.items()
                               if n in template.cells):
        ref = ref.replace("$", "")
        cell = book[sheet][ref]
        spec_cell = template.cells[code]
        if spec_cell.is_input:
            assert cell.protection.locked is False, code
            assert cell.value is None, code  # blank, not 0: the checker must see what was not filled
            dv = validations[(sheet, ref)]
            assert dv.showErrorMessage and dv.error and dv.prompt and dv.errorStyle in (None, "stop")
            if spec_cell.type.whole and spec_cell.type.min == 0:
                assert (dv.type, dv.operator, dv.formula1) == ("whole", "greaterThanOrEqual", "0"), code
                kinds.add("count")
            elif spec_cell.type.whole:
                assert dv.type == "whole" and dv.operator in (None, "between") and float(dv.formula1) < 0, code
                assert code.endswith("_CHANGE")
                kinds.add("signed")
            else:
                assert (dv.type, dv.operator, dv.formula1) == ("decimal", "greaterThanOrEqual", "0"), code
                assert code.endswith("_AMOUNT")
                kinds.add("amount")
        else:
            assert cell.protection.locked is not False, code
            assert str(cell.value).startswith("=SUM("), (code, cell.value)
    assert kinds == ({"count", "signed", "amount"} if fmt == "2019" else {"count", "amount"})
    assert template.cells["T3_FORWARD_LEGAL"].is_input


def _sha512(password: str, salt: bytes, spin: int) -> str:
    digest = hashlib.sha512(salt + password.encode("utf-16-le")).digest()
    for i in range(spin):
        digest = hashlib.sha512(digest + i.to_bytes(4, "little")).digest()
    return base64.b64encode(digest).decode()


def test_every_sheet_is_protected_with_a_sha512_hash_of_the_password(tmp_path, fmt, monkeypatch):
    monkeypatch.setenv("XLTOOL_PASSWORD", "秘密-2024")
    book = load_workbook(blank(tmp_path, fmt))
    for ws in book.worksheets:
        p = ws.protection
        assert p.sheet and p.algorithmName == "SHA-512" and not p.password, ws.title
        assert p.hashValue == _sha512("秘密-2024", base64.b64decode(p.saltValue), int(p.spinCount)), ws.title
        assert p.hashValue != _sha512("xltool", base64.b64decode(p.saltValue), int(p.spinCount))
    assert book.security.lockStructure
    assert "秘密" not in str(zipfile.ZipFile(tmp_path / "a.xlsx").read("xl/workbook.xml"), "utf-8")


def test_metadata_sheet_is_very_hidden_with_its_keys(book, fmt):
    meta = book["_xltool"]
    assert meta.sheet_state == "veryHidden"
    rows = {r[0].value: r[1].value for r in meta.iter_rows()}
    assert META_KEYS <= set(rows)
    assert rows["format"] == f"gov-disclosure-{fmt}" and rows["year"] == str(FORMATS[fmt])
    assert rows["agency_name"] == "某某局" and rows["agency_code"] == "T001" and rows["role"] == "agency"
    assert rows["fingerprint"] == layout_for(fmt).fingerprint
    assert [ws.title for ws in book.worksheets if ws.sheet_state == "visible"] == [
        "封面", "主动公开", "依申请公开", "复议诉讼", "校验", "说明"]


def test_cover_carries_agency_and_year_locked_and_contact_fields_open(book, fmt):
    cover = book["封面"]
    values = {cover.cell(r, 1).value: cover.cell(r, 2) for r in range(1, 12)}
    assert values["填报单位"].value == "某某局" and values["填报单位"].protection.locked is not False
    assert values["报告年度"].value == str(FORMATS[fmt])
    for field in ("填报人", "联系电话", "填报日期"):
        assert values[field].protection.locked is False


def test_check_sheet_lists_every_identity_with_live_formulas(book, fmt):
    template = layout_for(fmt).template
    ws = book["校验"]
    rows = [r for r in ws.iter_rows(min_row=5, values_only=True) if r[0]]
    assert [r[0] for r in rows] == [i.rule for i in template.identities if not i.cross_year]
    assert {r[0] for r in rows} == ({"H1", "H2", "H3", "H4", "S5", "S4"} if fmt == "2019" else {"H1", "H2", "H3", "H4", "S3"})
    for r in rows:
        assert all(str(v).startswith("=") for v in r[2:6])
        assert '"不通过"' in r[5]
    assert ws.conditional_formatting  # failing checks turn red
    assert book["依申请公开"].conditional_formatting  # and so do the failing cells in the table


def test_generation_is_byte_identical(tmp_path, fmt):
    first = blank(tmp_path, fmt, "one.xlsx").read_bytes()
    second = blank(tmp_path, fmt, "two.xlsx").read_bytes()
    assert first == second


def test_page_setup_is_a4_landscape(book):
    for name in ("主动公开", "依申请公开", "复议诉讼"):
        ws = book[name]
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize in (9, "9")
        assert ws.sheet_properties.pageSetUpPr.fitToPage


def test_generate_roster_names_files_after_agencies(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_bytes("\ufeffcode,name,type\nA01,市教育局,部门\nA02,某镇/街道:一*,乡镇街道\n".encode("utf-8"))
    result = CliRunner().invoke(main, ["generate", "--format", "2021", "--year", "2024", "--roster", str(roster),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["A01_市教育局.xlsx", "A02_某镇_街道_一_.xlsx"]
    meta = load_workbook(tmp_path / "out" / "A02_某镇_街道_一_.xlsx")["_xltool"]
    assert {r[0].value: r[1].value for r in meta.iter_rows()}["agency_name"] == "某镇/街道:一*"


@pytest.mark.parametrize("args, message", [
    (["--format", "2019", "--year", "2023", "--agency", "x"], "2019–2020"),
    (["--format", "2021", "--year", "2023"], "either --agency"),
    (["--format", "2030", "--year", "2023", "--agency", "x"], "Invalid value"),
], ids=["format-year-mismatch", "no-agency", "unknown-format"])
def test_generate_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(main, ["generate", *args, "-o", str(tmp_path / "a.xlsx")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "a.xlsx").exists()


@pytest.mark.parametrize("content, message", [
    (b"name\nx\n", "code,name"),
    (b"code,name\nA1,x\nA1,y\n", "appears twice"),
    ("code,name\nA1,局\n".encode("gbk"), "UTF-8"),
], ids=["no-code-column", "duplicate-code", "not-utf8"])
def test_bad_roster_is_a_one_line_error(tmp_path, content, message):
    roster = tmp_path / "r.csv"
    roster.write_bytes(content)
    result = CliRunner().invoke(main, ["generate", "--format", "2021", "--year", "2023", "--roster", str(roster),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_roster_from_xlsx(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["code", "name"])
    wb.active.append(["B1", "某街道办事处"])
    wb.save(tmp_path / "r.xlsx")
    result = CliRunner().invoke(main, ["generate", "--format", "2021", "--year", "2023", "--roster",
                                       str(tmp_path / "r.xlsx"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["B1_某街道办事处.xlsx"]


def test_csv_roster_reader_ignores_blank_lines(tmp_path):
    from xltool.roster import load_roster

    path = tmp_path / "r.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["code", "name"], [], ["X1", " 某局 "]])
    assert [(a.code, a.name) for a in load_roster(path)] == [("X1", "某局")]


def test_generate_never_overwrites_a_returned_report_unless_forced(tmp_path):
    out = tmp_path / "out"
    roster = tmp_path / "r.csv"
    roster.write_text("code,name\nA1,某局\nA2,某镇\n", encoding="utf-8")
    args = ["generate", "--format", "2021", "--year", "2023", "--roster", str(roster), "-o", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    returned = out / "A1_某局.xlsx"
    returned.write_bytes(b"a returned report")
    (out / "A2_某镇.xlsx").unlink()
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "refusing to overwrite" in refused.output
    assert returned.read_bytes() == b"a returned report" and not (out / "A2_某镇.xlsx").exists()
    single = CliRunner().invoke(main, ["generate", "--format", "2021", "--year", "2023", "--agency", "某局",
                                       "-o", str(returned)])
    assert single.exit_code == 2 and returned.read_bytes() == b"a returned report"
    assert CliRunner().invoke(main, [*args, "--force"]).exit_code == 0
    assert returned.read_bytes().startswith(b"PK")


def test_rows_compressed_behind_arrive_whole_in_order_and_errors_surface():
    """The summary's long sheets are compressed in a second thread: every byte arrives, in order; an error of
    the thread is raised where the rows are written; the thread never outlives the block."""
    import threading

    from xltool.finish import _Behind

    class Stream:
        def __init__(self, fail_at: int | None = None):
            self.parts, self.fail_at = [], fail_at

        def write(self, data: bytes) -> None:
            if self.fail_at is not None and len(self.parts) == self.fail_at:
                raise OSError(28, "No space left on device")
            self.parts.append(data)

    rows = [f"<row r='{i}'>{'x' * (i % 3000)}</row>".encode() for i in range(4000)]  # 5 MB
    threads = threading.active_count()
    stream = Stream()
    with _Behind(stream) as out:
        for row in rows:
            out.write(row)
    assert b"".join(stream.parts) == b"".join(rows) and len(stream.parts) == 5
    assert threading.active_count() == threads
    with pytest.raises(OSError, match="No space"), _Behind(Stream(fail_at=1)) as out:
        for row in rows:
            out.write(row)
    assert threading.active_count() == threads


def test_a_wrapped_label_counts_cjk_and_beyond_as_two_columns():
    from xltool.layout import text_lines

    assert text_lines("a" * 20, 11) == 2 and text_lines("a" * 10, 11) == 1
    for wide in ("中", "⺁", "，", "\U00020000"):  # CJK, the first wide code point, full-width comma, plane 2
        assert text_lines(wide * 10, 11) == 2, hex(ord(wide))
    for narrow in ("a", "é", "—", "⺀"):  # up to U+2E80, one column
        assert text_lines(narrow * 10 + "\n" + narrow, 11) == 2, hex(ord(narrow))


@pytest.mark.parametrize("fmt", FORMATS)
def test_remembered_formula_preparation_writes_what_xlsxwriter_writes(tmp_path, monkeypatch, fmt):
    """xlsxwriter's preparation of a formula (a validation, a conditional format) is remembered between
    workbooks: every part of a workbook is byte for byte what xlsxwriter's own preparation gives."""
    import xltool.generate
    from xltool.roster import Agency

    def parts(name: str) -> dict[str, bytes]:
        path = tmp_path / name
        xltool.generate.generate_workbook(path, fmt, 2023, Agency("A01", "测试单位"), generated_at="2024-01-02T03:04:05Z")
        with zipfile.ZipFile(path) as z:
            return {n: z.read(n) for n in z.namelist()}

    parts("warm.xlsx")  # the memo holds every formula of the format now
    remembered = parts("remembered.xlsx")
    monkeypatch.setattr(xltool.generate, "_Worksheet", xltool.generate.Worksheet)
    assert remembered == parts("plain.xlsx")
    assert len(xltool.generate._PREPARED) >= 100
