"""`xltool check` on real generated workbooks: each test changes one thing and asserts the exact finding."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from tests.conftest import FORMATS, blank, cell_of, fill, filled, libreoffice_convert, libreoffice_resave
from tests.fill import random_values
from xltool.check import check_file
from xltool.cli import main
from xltool.evaluate import compile_formula
from xltool.layout import layout_for
from xltool.structure import normalise_formula

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def located(report, code=None, rule=None):
    """(code, rule, name, cell) of the findings, optionally of one code or rule."""
    return [(f.code, f.rule, f.name, f.cell) for f in report.findings
            if (code is None or f.code == code) and (rule is None or f.rule == rule)]


def identity_findings(report):
    return sorted((f.rule, f.name, f.expected, f.actual) for f in report.findings if f.code == "identity-violated")


def test_a_valid_fill_passes_with_no_finding(tmp_path, fmt):
    path, _ = filled(tmp_path, fmt)
    report = check_file(path)
    assert report.findings == () and report.valid
    assert (report.format, report.year, report.agency_code, report.role) == (
        f"gov-disclosure-{fmt}", FORMATS[fmt], "T001", "agency")


def test_a_blank_workbook_reports_every_input_as_missing(tmp_path, fmt):
    report = check_file(blank(tmp_path, fmt))
    inputs = [c for c in layout_for(fmt).template.cells.values() if c.is_input]
    assert sorted(f.name for f in report.findings) == sorted(c.code for c in inputs)
    assert {f.code for f in report.findings} == {"missing-value"}


def _overwrite(tmp_path, fmt, changes, seed=1):
    values = random_values(layout_for(fmt).template, random.Random(seed))
    path = fill(blank(tmp_path, fmt), fmt, values)
    fill(path, fmt, changes)
    return check_file(path), values


def test_h1_broken_by_typing_over_a_row_total(tmp_path):
    report, values = _overwrite(tmp_path, "2021", {"T3_GRANTED_TOTAL": 999})
    assert ("formula-altered", None, "T3_GRANTED_TOTAL", "J8") in located(report)
    h1 = next(f for f in report.findings if f.rule == "H1")
    assert (h1.name, h1.sheet, h1.cell, h1.row, h1.column, h1.actual) == (
        "T3_GRANTED_TOTAL", "依申请公开", "J8", "（一）予以公开", "总计", 999)
    assert h1.expected == sum(values[f"T3_GRANTED_{c}"] for c in ("NATURAL", "BUSINESS", "RESEARCH", "NONPROFIT",
                                                                  "LEGAL", "OTHERORG"))
    assert "H1" in h1.message and "（一）予以公开" in h1.message and "相差" in h1.message
    assert not report.valid


def test_h2_broken_by_typing_over_a_column_total(tmp_path):
    report, _ = _overwrite(tmp_path, "2021", {"T3_TOTAL_LEGAL": 500})
    h2 = [(f.name, f.cell, f.column) for f in report.findings if f.rule == "H2"]
    assert ("T3_TOTAL_LEGAL", "H29", "法律服务机构") in h2


def test_h3_broken_by_the_forwarded_count(tmp_path, fmt):
    template = layout_for(fmt).template
    values = random_values(template, random.Random(5))
    values["T3_FORWARD_RESEARCH"] += 4
    report = check_file(fill(blank(tmp_path, fmt), fmt, values))
    assert located(report) == [("identity-violated", "H3", "T3_FORWARD_RESEARCH", "F30" if fmt == "2021" else "F28"),
                               ("identity-violated", "H3", "T3_FORWARD_TOTAL", "J30" if fmt == "2021" else "J28")]
    first = report.findings[0]
    assert (first.row, first.column, first.actual - first.expected) == ("四、结转下年度继续办理", "科研机构", -4)


def test_h4_broken_by_typing_over_a_t4_total(tmp_path, fmt):
    report, _ = _overwrite(tmp_path, fmt, {"T4_SUIT_TOTAL": 77})
    assert located(report, rule="H4") == [("identity-violated", "H4", "T4_SUIT_TOTAL", "J6")]
    assert located(report, code="formula-altered") == [("formula-altered", None, "T4_SUIT_TOTAL", "J6")]
    assert report.findings[-1].row == "未经复议直接起诉"


def test_soft_identity_is_a_warning(tmp_path):
    report, _ = _overwrite(tmp_path, "2021", {"T2_NORMS_ISSUED": 50, "T2_NORMS_INFORCE": 10, "T2_NORMS_REPEALED": 1})
    assert [(f.code, f.severity, f.rule, f.name) for f in report.findings] == [
        ("identity-violated", "warning", "S3", "T2_NORMS_ISSUED")]
    assert report.valid


def test_the_seed_report_as_published_breaks_h1_and_h2_only(tmp_path):
    sys.path.insert(0, str(SAMPLES))
    import make_samples

    report = check_file(make_samples.seed(tmp_path))
    assert identity_findings(report) == [("H1", "T3_OTHER_TOTAL", 1, 0), ("H2", "T3_TOTAL_TOTAL", 18, 19)]
    h1 = next(f for f in report.findings if f.rule == "H1")
    assert (h1.row, h1.column, h1.cell) == ("（六）其他处理", "总计", "J26")
    # the published totals were typed over the formulas, and the amount was typed with its unit
    assert {f.code for f in report.findings} == {"identity-violated", "formula-altered", "not-a-number"}
    nan = next(f for f in report.findings if f.code == "not-a-number")
    assert nan.name == "T2_PROCUREMENT_AMOUNT" and "8101.1" in nan.message


@pytest.mark.parametrize("code, value, finding, hint", [
    ("T3_NEW_NATURAL", None, "missing-value", "请填 0"),
    ("T3_NEW_NATURAL", "12", "not-a-number", "请填写数字 12"),
    ("T3_NEW_NATURAL", "１２", "not-a-number", "请填写数字 12"),
    ("T3_NEW_NATURAL", "/", "not-a-number", "填数字 0"),
    ("T3_NEW_NATURAL", "-", "not-a-number", "填数字 0"),
    ("T2_FEES_AMOUNT", "251000元", "not-a-number", "请填写数字 25.1"),
    ("T3_NEW_NATURAL", -1, "negative", "大于或等于 0"),
    ("T3_NEW_NATURAL", 2.5, "not-whole", "整数"),
    ("T2_FEES_AMOUNT", 1.23456, "too-many-decimals", "4 位小数"),
    ("T2_FEES_AMOUNT", -0.5, "negative", "大于或等于 0"),
    ("T3_NEW_NATURAL", 1e20, "too-large", "超出合理范围"),
    ("T3_NEW_NATURAL", True, "not-a-number", "逻辑值"),
    ("T3_NEW_NATURAL", "#DIV/0!", "error-value", "#DIV/0!"),
], ids=["blank", "numeric-text", "full-width", "slash", "dash", "yuan", "negative", "not-whole", "decimals",
        "negative-amount", "huge", "boolean", "error"])
def test_input_values(tmp_path, code, value, finding, hint):
    report, _ = _overwrite(tmp_path, "2021", {code: value})
    mine = [f for f in report.findings if f.name == code]
    assert [f.code for f in mine] == [finding]
    assert hint in mine[0].message
    assert mine[0].sheet == cell_of("2021", code)[0] and mine[0].cell == cell_of("2021", code)[1]


def test_signed_change_accepts_negatives_in_2019(tmp_path):
    report, _ = _overwrite(tmp_path, "2019", {"T2_LICENSING_CHANGE": -8})
    assert report.findings == ()


def test_a_formula_typed_into_an_input_counts_by_its_value(tmp_path):
    template = layout_for("2021").template
    values = random_values(template, random.Random(2))
    path = fill(blank(tmp_path, "2021"), "2021", {**values, "T3_GRANTED_NATURAL": "=3+4"})
    seven = dict(values, T3_GRANTED_NATURAL=7)
    # with 7 in that cell the fill is consistent exactly when H3 holds with 7
    report = check_file(path)
    h3_ok = seven["T3_NEW_NATURAL"] + seven["T3_CARRY_NATURAL"] == sum(
        seven[f"T3_{r}_NATURAL"] for r in ("GRANTED", "PARTIAL", "DENIED_SECRET", "DENIED_LAW", "DENIED_SAFETY",
                                            "DENIED_THIRDPARTY", "DENIED_INTERNAL", "DENIED_PROCESS",
                                            "DENIED_ENFORCEMENT", "DENIED_QUERY", "UNABLE_NOTHELD",
                                            "UNABLE_NEEDCREATE", "UNABLE_UNCLEAR", "REJECTED_PETITION",
                                            "REJECTED_REPEAT", "REJECTED_PUBLICATION", "REJECTED_MASS",
                                            "REJECTED_CONFIRM", "OTHER_NOCORRECTION", "OTHER_NOFEE", "OTHER_OTHER",
                                            "FORWARD"))
    warning = next(f for f in report.findings if f.code == "formula-in-input")
    assert (warning.severity, warning.name, warning.actual) == ("warning", "T3_GRANTED_NATURAL", 7.0)
    assert ("H3" in {f.rule for f in report.findings}) == (not h3_ok)
    # make it consistent with 7 and it passes, with the warning only
    values["T3_FORWARD_NATURAL"] += values["T3_GRANTED_NATURAL"] - 7
    if values["T3_FORWARD_NATURAL"] < 0:
        values["T3_NEW_NATURAL"] -= values["T3_FORWARD_NATURAL"]
        values["T3_FORWARD_NATURAL"] = 0
    fill(path, "2021", {**values, "T3_GRANTED_NATURAL": "=3+4"})
    report = check_file(path)
    assert [f.code for f in report.findings] == ["formula-in-input"] and report.valid


@pytest.mark.parametrize("formula", ['=WEBSERVICE("http://example.invalid/")', "='[other.xlsx]Sheet1'!A1",
                                     '=HYPERLINK("http://example.invalid/","x")', "=cmd|' /c calc'!A0"],
                         ids=["webservice", "external-workbook", "hyperlink", "dde"])
def test_formulas_reaching_outside_are_errors_and_never_run(tmp_path, formula):
    report, _ = _overwrite(tmp_path, "2021", {"T3_NEW_LEGAL": formula})
    mine = [f for f in report.findings if f.name == "T3_NEW_LEGAL"]
    assert [f.code for f in mine] == ["external-link"] and not report.valid


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), fmt=st.sampled_from(sorted(FORMATS)), data=st.data())
def test_property_valid_fills_pass_and_a_corrupted_total_is_found_where_it_was_made(tmp_path_factory, seed, fmt,
                                                                                    data):
    tmp = tmp_path_factory.mktemp("prop")
    template = layout_for(fmt).template
    values = random_values(template, random.Random(seed))
    path = fill(blank(tmp, fmt), fmt, values)
    assert check_file(path).findings == ()
    totals = [c for c in template.cells.values() if not c.is_input]
    target = data.draw(st.sampled_from(totals), label="total")
    delta = data.draw(st.integers(1, 50), label="delta")
    from tests.fill import totals as all_totals

    fill(path, fmt, {target.code: all_totals(template, values)[target.code] + delta})
    report = check_file(path)
    sheet, address = cell_of(fmt, target.code)
    assert ("formula-altered", None, target.code, address) in located(report)
    assert any(f.code == "identity-violated" and f.name == target.code and f.cell == address and f.sheet == sheet
               for f in report.findings)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), data=st.data())
def test_property_a_changed_t3_input_breaks_h3_in_its_column(tmp_path_factory, seed, data):
    tmp = tmp_path_factory.mktemp("prop")
    fmt = "2021"
    template = layout_for(fmt).template
    values = random_values(template, random.Random(seed))
    target = data.draw(st.sampled_from([c for c in template.cells.values()
                                        if c.is_input and c.table == "T3"]), label="input")
    values[target.code] += data.draw(st.integers(1, 9), label="delta")
    report = check_file(fill(blank(tmp, fmt), fmt, values))
    assert (f"T3_FORWARD_{target.column}", "H3") in {(f.name, f.rule) for f in report.findings}


@pytest.mark.libreoffice
def test_a_workbook_resaved_by_libreoffice_still_passes(tmp_path, fmt):
    path, _ = filled(tmp_path, fmt)
    resaved = libreoffice_resave(path, tmp_path / "lo")
    report = check_file(resaved)
    # LibreOffice keeps everything but the very hidden state of _xltool, which it saves as hidden
    assert report.findings == () and report.valid


def test_a_plain_workbook_is_an_unknown_template(tmp_path):
    wb = Workbook()
    wb.active["A1"] = "某局 2023 年报"
    wb.save(tmp_path / "plain.xlsx")
    report = check_file(tmp_path / "plain.xlsx")
    assert [f.code for f in report.findings] == ["unknown-template"] and not report.valid


def test_a_file_that_is_not_a_workbook_is_unreadable(tmp_path):
    path = tmp_path / "notes.xlsx"
    path.write_bytes(b"\x00\x01 just some bytes" * 10)
    report = check_file(path)
    assert [f.code for f in report.findings] in (["unreadable-file"], ["not-a-workbook"]) and not report.valid


def test_structure_edits_are_found(tmp_path):
    path, _ = filled(tmp_path, "2021")
    book = load_workbook(path)
    book["校验"].title = "检查"
    book["依申请公开"]["A6"] = "一、本年新收申请"
    book["复议诉讼"].protection.sheet = False
    book.create_sheet("备注")
    book.save(path)
    report = check_file(path)
    codes = {(f.code, f.sheet) for f in report.findings}
    assert ("structure-changed", "校验") in codes and ("structure-changed", "备注") in codes
    assert ("structure-changed", "检查") in codes
    label = next(f for f in report.findings if f.code == "label-altered")
    assert (label.sheet, label.cell, label.expected, label.actual) == (
        "依申请公开", "A6", "一、本年新收政府信息公开申请数量", "一、本年新收申请")
    assert ("protection-removed", "复议诉讼") in codes


def test_inserted_row_moves_the_names_and_says_so(tmp_path):
    path, _ = filled(tmp_path, "2021")
    book = load_workbook(path)
    book["依申请公开"].insert_rows(10)
    # openpyxl does not move defined names; do what Excel does on insert
    for name, defined in list(book.defined_names.items()):
        sheet, ref = next(iter(defined.destinations))
        if sheet == "依申请公开":
            col, row = ref.replace("$", "")[0], int(ref.replace("$", "")[1:])
            if row >= 10:
                defined.attr_text = f"'依申请公开'!${col}${row + 1}"
    book.save(path)
    report = check_file(path)
    moved = [f for f in report.findings if f.code == "structure-changed" and f.name == "T3_DENIED_SAFETY_LEGAL"]
    assert moved and "现指向 依申请公开!H13，模板中为 依申请公开!H12" in moved[0].message
    assert "插入或删除了行" in moved[0].message
    assert not report.valid


def test_cached_and_uncached_evaluation_give_the_same_findings(tmp_path):
    altered, _ = _overwrite(tmp_path, "2021", {"T3_GRANTED_TOTAL": "=SUM(D7:H7)", "T3_NEW_LEGAL": "=2*3"})
    path = altered.path
    fast = [f.to_dict() for f in check_file(path).findings]
    compile_formula.cache_clear()
    slow = [f.to_dict() for f in check_file(path).findings]
    assert fast == slow and any(f["code"] == "formula-altered" for f in fast)
    clean, _ = filled(tmp_path, "2021", name="clean.xlsx")
    cached = check_file(clean).findings
    compile_formula.cache_clear()
    assert cached == check_file(clean).findings == ()


def test_formula_normalisation_folds_what_clients_rewrite():
    assert normalise_formula("='依申请公开'!$D$5 + 依申请公开!d6") == normalise_formula("=依申请公开!D5+'依申请公开'!D6")
    assert normalise_formula("=_xlfn.SUM(A1:A3)") == normalise_formula("=sum(a1:a3)")
    assert normalise_formula("=SUM(A1:A3)") != normalise_formula("=SUM(A1:A4)")
    assert normalise_formula('=IF(A1=0,"通过","不通过")') != normalise_formula('=IF(A1=0,"通过","通过")')


# -- outputs ------------------------------------------------------------------------------------


def _mixed_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    filled(folder, "2021", name="good.xlsx")
    _, values = filled(folder, "2021", seed=3, name="bad.xlsx", agency=None)
    fill(folder / "bad.xlsx", "2021", {"T3_FORWARD_NATURAL": values["T3_FORWARD_NATURAL"] + 1,
                                       "T2_FEES_AMOUNT": "12万元"})
    return folder


def test_cli_json_contract_and_exit_codes(tmp_path):
    folder = _mixed_folder(tmp_path)
    result = CliRunner().invoke(main, ["check", str(folder), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False and [Path(f["path"]).name for f in data["files"]] == ["bad.xlsx", "good.xlsx"]
    bad = data["files"][0]
    assert set(bad) >= {"path", "valid", "format", "year", "agency", "findings"}
    for f in bad["findings"]:
        assert set(f) == {"code", "reason", "severity", "rule", "sheet", "cell", "name", "table", "row", "column",
                          "expected", "actual", "message"}
    h3 = next(f for f in bad["findings"] if f["rule"] == "H3")
    assert (h3["name"], h3["sheet"], h3["cell"], h3["row"], h3["column"], h3["severity"]) == (
        "T3_FORWARD_NATURAL", "依申请公开", "D30", "四、结转下年度继续办理", "自然人", "error")
    ok = CliRunner().invoke(main, ["check", str(folder / "good.xlsx")])
    assert ok.exit_code == 0 and "✓ good.xlsx" in ok.output and "通过 1 个" in ok.output
    missing = CliRunner().invoke(main, ["check", str(tmp_path / "nothing-here")])
    assert missing.exit_code == 1 and "找不到该文件" in missing.output and "Traceback" not in missing.output


def test_text_report_names_agency_cell_and_labels(tmp_path):
    folder = _mixed_folder(tmp_path)
    result = CliRunner().invoke(main, ["check", str(folder / "bad.xlsx")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("✗ bad.xlsx  某某局（T001）") and "不通过" in lines[0]
    assert any("H3 依申请公开!D30 T3_FORWARD_NATURAL" in line and "自然人" in line for line in lines)
    assert any("T2_FEES_AMOUNT" in line and "请填写数字 12" in line for line in lines)


def test_annotated_copy_marks_every_flagged_cell_and_leaves_the_original(tmp_path):
    folder = _mixed_folder(tmp_path)
    before = (folder / "bad.xlsx").read_bytes()
    out = tmp_path / "back"
    result = CliRunner().invoke(main, ["check", str(folder), "--annotate", str(out)])
    assert result.exit_code == 1
    assert (folder / "bad.xlsx").read_bytes() == before
    copy = out / "bad_审核结果.xlsx"
    book = load_workbook(copy)
    assert book.sheetnames[0] == "审核结果" and book.active.title == "审核结果"
    report = check_file(folder / "bad.xlsx")
    for f in report.findings:
        cell = book[f.sheet][f.cell]
        assert cell.comment is not None and f.message in cell.comment.text
        assert cell.fill.fgColor.rgb.endswith("FFC7CE" if f.severity == "error" else "FFEB9C")
    ws = book["审核结果"]
    assert ws["A1"].value == "审核结果：某某局（T001）  2023年度  结论：退回"
    assert ws["A2"].value.startswith(f"错误 {len(report.errors)} 个，警告 0 个。审核时间 ")
    assert [c.value for c in ws[4]] == ["序号", "级别", "位置", "行", "列", "说明"]
    listed = [row for row in ws.iter_rows(min_row=5, max_row=4 + len(report.findings), values_only=True)]
    assert [(r[0], r[1], r[2], r[5]) for r in listed] == [
        (str(i), "错误", f"{f.sheet}!{f.cell}", f.message) for i, f in enumerate(report.findings, start=1)]
    links = [c.hyperlink.location for c in ws["C"] if c.hyperlink]
    assert "'依申请公开'!D30" in links
    assert ws.print_title_rows == "$4:$4" and ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert (out / "good_审核结果.xlsx").exists()
    assert load_workbook(out / "good_审核结果.xlsx")["审核结果"]["A1"].value.endswith("结论：通过")


def test_a_corrected_annotated_copy_passes_and_a_foreign_result_sheet_does_not(tmp_path):
    folder = _mixed_folder(tmp_path)
    (tmp_path / "seed3").mkdir()
    _, values = filled(tmp_path / "seed3", "2021", seed=3, name="bad.xlsx")  # what bad.xlsx should hold
    out = tmp_path / "back"
    CliRunner().invoke(main, ["check", str(folder / "bad.xlsx"), "--annotate", str(out)])
    copy = out / "bad_审核结果.xlsx"
    fill(copy, "2021", {"T3_FORWARD_NATURAL": values["T3_FORWARD_NATURAL"], "T2_FEES_AMOUNT": 12})
    fixed = check_file(copy)
    assert fixed.findings == () and fixed.valid  # the clerk fixed the numbers in the copy itself
    again = CliRunner().invoke(main, ["check", str(copy), "--annotate", str(out)])  # annotating it again
    assert again.exit_code == 0 and check_file(out / "bad_审核结果_审核结果.xlsx").findings == ()
    book = load_workbook(copy)
    book["审核结果"]["F5"] = "已改正"  # the sheet of that name, but not as xltool wrote it
    book.save(copy)
    assert [(f.code, f.reason, f.sheet) for f in check_file(copy).findings] == [
        ("structure-changed", "sheet-added", "审核结果")]


@pytest.mark.libreoffice
def test_result_sheet_prints_on_a4_landscape_with_every_message_whole(tmp_path):
    folder = _mixed_folder(tmp_path)
    out = tmp_path / "back"
    CliRunner().invoke(main, ["check", str(folder / "bad.xlsx"), "--annotate", str(out)])
    copy = out / "bad_审核结果.xlsx"
    pdf = libreoffice_convert(copy, tmp_path / "pdf", "pdf")
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "1", str(pdf)], capture_output=True, text=True, check=True)
    width, height = (float(v) for v in info.stdout.split("Page    1 size:")[1].split("pts")[0].split(" x "))
    assert "(A4)" in info.stdout and width > height  # A4 landscape
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    def flat(text: str) -> str:  # pdftotext breaks lines and takes a "-" at a line's end for a hyphen
        return "".join(text.split()).replace("-", "")

    assert "结论：退回" in flat(first)
    for f in check_file(folder / "bad.xlsx").findings:  # wrapped, never cut at the page edge or the row's foot
        message = flat(f.message)  # (the text of wrapped cells comes out in pieces: look for its start and end)
        assert message[:16] in flat(first) and message[-16:] in flat(first)
    assert load_workbook(libreoffice_resave(copy, tmp_path / "lo")).sheetnames[0] == "审核结果"


def _bug(*args, **kwargs):
    raise KeyError("a bug in xltool")


@pytest.mark.parametrize("target, stage", [("xltool.reader._Reader._sheet", "读取文件"),
                                           ("xltool.values._value_findings", "审核文件")],
                         ids=["reader", "values"])
def test_a_bug_in_xltool_is_reported_as_its_own_failure_not_the_files(tmp_path, monkeypatch, target, stage):
    path, _ = filled(tmp_path)
    monkeypatch.setattr(target, _bug)
    report = check_file(path)
    assert [(f.code, f.severity) for f in report.findings] == [("internal-error", "error")]
    message = report.findings[0].message
    assert f"xltool 在{stage}时自身出错（KeyError: 'a bug in xltool'）" in message
    assert "不是文件的问题" in message and "损坏" not in message
    result = CliRunner().invoke(main, ["check", "--json", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    found = json.loads(result.output)["files"][0]["findings"]
    assert [f["code"] for f in found] == ["internal-error"]
    text = CliRunner().invoke(main, ["check", str(path)])
    assert text.exit_code == 1 and "internal-error" in text.output and f"xltool 在{stage}时自身出错" in text.output


def test_a_bug_outside_checking_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    path, _ = filled(tmp_path)
    monkeypatch.setattr("xltool.render.render_text", _bug)
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1 and not isinstance(result.exception, KeyError)
    assert result.output.strip().splitlines() == [
        "Error: internal error in xltool (KeyError: 'a bug in xltool'). This is a bug in xltool, not a problem "
        "with your files; please report it (XLTOOL_DEBUG=1 shows the traceback)."]
