"""Last year's figures (issue 10): cross-year and plausibility rules, written explanations, every source of last
year's figures, the summary against last year's, and generate --previous."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from tests.conftest import libreoffice_resave
from tests.fill import next_year, random_values, totals, type_into
from xltool.addresses import address
from xltool import merge as merging
from xltool.cli import main
from xltool.generate import generate_workbook
from xltool.layout import layout_for
from xltool.roster import Agency

AGENCIES = [Agency("A01", "一局", "部门"), Agency("A02", "二局", "部门"), Agency("T01", "某镇", "乡镇街道")]


def _workbook(path: Path, fmt: str, year: int, agency: Agency, values: dict) -> Path:
    """A workbook generated for the agency, with ``values`` typed into it as a clerk would."""
    generate_workbook(path, fmt, year, agency)
    type_into(path, fmt, values)
    return path


def _fill_year(folder: Path, fmt: str, year: int, values: dict[str, dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for agency in AGENCIES:
        _workbook(folder / f"{agency.code}.xlsx", fmt, year, agency, values[agency.code])
    return folder


def _no_rules(values: dict) -> dict:
    return {c: (0 if c.startswith("T2_RULES_") else v) for c, v in values.items()}  # nobody here makes 规章


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    """2023 and 2024 (2021 format), consistent across the years; last year's summary and export beside."""
    root = tmp_path_factory.mktemp("years")
    template = layout_for("2021").template
    last = {a.code: _no_rules(random_values(template, random.Random(10 + i))) for i, a in enumerate(AGENCIES)}
    this = {a.code: _no_rules(next_year(template, last[a.code], random.Random(20 + i))) for i, a in enumerate(AGENCIES)}
    before = _fill_year(root / "2023", "2021", 2023, last)
    merging.merge([before], root / "summary-2023.xlsx", name="青山区", code="QS")
    for form in ("csv", "json"):
        out = CliRunner().invoke(main, ["export", str(before), f"--{form}", "-o", str(root / f"export-2023.{form}")])
        assert out.exit_code == 0, out.output
    roster = root / "roster.csv"
    roster.write_text("code,name,type\n" + "".join(f"{a.code},{a.name},{a.type}\n" for a in AGENCIES), encoding="utf-8")
    return {"root": root, "last": last, "this": this, "before": before, "roster": roster,
            "now": _fill_year(root / "2024", "2021", 2024, this)}


def _check(*args: str):
    result = CliRunner().invoke(main, ["check", "--json", *args])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def _codes(data: dict, name: str) -> list[tuple]:
    file = next(f for f in data["files"] if Path(f["path"]).name == name)
    return [(f["code"], f["rule"], f["cell"]) for f in file["findings"] if f["severity"] != "info"]


def test_a_consistent_year_passes_with_every_kind_of_previous_source(cycle):
    root = cycle["root"]
    sources = [[str(root / "summary-2023.xlsx")], [str(cycle["before"])], [str(root / "export-2023.csv")],
               [str(root / "export-2023.json")], [str(cycle["before"] / "A01.xlsx"), str(root / "export-2023.csv")]]
    seen = []
    for source in sources:
        code, data = _check(str(cycle["now"]), "--roster", str(cycle["roster"]),
                            *[a for s in source for a in ("--previous", s)])
        assert code == 0, data
        seen.append([(f["path"], _codes(data, Path(f["path"]).name)) for f in data["files"]])
    assert all(s == seen[0] for s in seen) and all(found == [] for _, found in seen[0])


def test_without_previous_the_run_says_once_that_no_cross_year_check_was_run(cycle):
    result = CliRunner().invoke(main, ["check", str(cycle["now"])])
    assert result.output.count("未提供上年数据（--previous），未进行跨年度核对。") == 1


def test_a_changed_carry_over_needs_an_explanation_and_is_accepted_with_one(cycle, tmp_path):
    this = dict(cycle["this"]["A01"])
    this["T3_CARRY_NATURAL"] += 1
    this["T3_FORWARD_NATURAL"] += 1  # H3 still holds: only last year's report disagrees
    path = tmp_path / "A01.xlsx"
    _workbook(path, "2021", 2024, AGENCIES[0], this)
    previous = ["--previous", str(cycle["root"] / "summary-2023.xlsx")]
    code, data = _check(str(path), *previous)
    assert code == 1
    assert _codes(data, "A01.xlsx") == [("identity-violated", "S1", "D7"), ("explanation-needed", "S1", "D7"),
                                        ("identity-violated", "S1", "J7"), ("explanation-needed", "S1", "J7")]
    s1 = data["files"][0]["findings"][0]
    assert (s1["severity"], s1["actual"], s1["expected"]) == ("warning", this["T3_CARRY_NATURAL"],
                                                            cycle["last"]["A01"]["T3_FORWARD_NATURAL"])
    book = load_workbook(path)
    book["说明"]["A5"], book["说明"]["B5"] = "S1", "上年报告漏报一件结转申请，已更正。"
    book.save(path)
    code, data = _check(str(path), *previous)
    assert code == 0 and data["files"][0]["explanations"] == [{"rule": "S1", "text": "上年报告漏报一件结转申请，已更正。"}]
    assert _codes(data, "A01.xlsx") == [("identity-violated", "S1", "D7"), ("identity-violated", "S1", "J7")]
    assert "单位的书面说明：上年报告漏报一件结转申请，已更正。" in data["files"][0]["findings"][0]["message"]
    text = CliRunner().invoke(main, ["check", str(path), *previous])
    assert "通过（有说明）" in text.output
    result = merging.merge([path], tmp_path / "s.xlsx", roster=[AGENCIES[0]])
    assert [e.status for e in result.entries] == ["已采纳"]  # no --previous: no cross-year check, nothing explained
    context_merge = CliRunner().invoke(main, ["merge", str(path), *previous, "--json", "-o", str(tmp_path / "s2.xlsx")])
    assert context_merge.exit_code == 0, context_merge.output
    assert [a["status"] for a in json.loads(context_merge.stdout)["agencies"]] == ["已采纳（有说明）"]
    rows = list(load_workbook(tmp_path / "s2.xlsx")["说明汇总"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[2], r[3], r[7]) for r in rows] == [("A01", "S1", f"依申请公开!{cell}", "上年报告漏报一件结转申请，已更正。")
                                                        for cell in ("D7", "J7")]
    no_expl = CliRunner().invoke(main, ["check", str(tmp_path / "A01.xlsx"), "--no-explanations", *previous])
    assert no_expl.exit_code == 0


def test_s2_s6_and_s8_are_found_at_their_cells(cycle, tmp_path):
    this = dict(cycle["this"]["T01"])
    this["T2_NORMS_INFORCE"] += 2  # not last year's 现行有效 + 制发 − 废止
    this["T2_RULES_ISSUED"], this["T2_RULES_INFORCE"] = 1, 1 + this["T2_RULES_REPEALED"]  # a town with 规章 (S6)
    last_fee = Decimal(repr(float(cycle["last"]["T01"]["T2_FEES_AMOUNT"])))
    this["T2_FEES_AMOUNT"] = max(last_fee, Decimal("0.5")) * 10000  # typed in 元 (S8)
    path = tmp_path / "T01.xlsx"
    _workbook(path, "2021", 2024, AGENCIES[2], this)
    code, data = _check(str(path), "--roster", str(cycle["roster"]), "--previous", str(cycle["before"]),
                        "--no-explanations")
    found = _codes(data, "T01.xlsx")
    assert ("identity-violated", "S2", "D6") in found
    assert {(c, r, cell) for c, r, cell in found if r == "S6"} >= {("implausible-value", "S6", "B5"),
                                                                   ("implausible-value", "S6", "D5")}
    assert ("implausible-value", "S8", "B16") in found
    assert code == 0  # soft findings only: accepted when explanations are not asked for
    unknown = CliRunner().invoke(main, ["check", "--json", "--no-explanations", str(path), "--roster",
                                        str(_roster_without_types(tmp_path))])
    notes = [f for f in json.loads(unknown.stdout)["files"][0]["findings"] if f["severity"] == "info"]
    assert [(f["code"], f["rule"]) for f in notes] == [("not-checked", "S6")]


def _roster_without_types(tmp_path: Path) -> Path:
    roster = tmp_path / "plain.csv"
    roster.write_text("code,name,type\nT01,某镇,\nA01,一局,部门\n", encoding="utf-8")
    return roster


def test_across_the_format_change_s1_holds_and_s2_is_skipped_with_a_note(tmp_path):
    old, new = layout_for("2019").template, layout_for("2021").template
    last = _no_rules(random_values(old, random.Random(5)))
    this = _no_rules(next_year(new, last, random.Random(6), last_template=old))
    a = Agency("A01", "一局", "部门")
    _workbook(tmp_path / "2020.xlsx", "2019", 2020, a, last)
    _workbook(tmp_path / "2021.xlsx", "2021", 2021, a, this)
    code, data = _check(str(tmp_path / "2021.xlsx"), "--previous", str(tmp_path / "2020.xlsx"))
    assert code == 0
    notes = [(f["code"], f["rule"]) for f in data["files"][0]["findings"]]
    assert notes == [("not-checked", "S2")]
    this["T3_CARRY_LEGAL"] += 1
    this["T3_FORWARD_LEGAL"] += 1
    type_into(tmp_path / "2021.xlsx", "2021", this)
    code, data = _check(str(tmp_path / "2021.xlsx"), "--previous", str(tmp_path / "2020.xlsx"))
    assert code == 1 and ("identity-violated", "S1", "H7") in _codes(data, "2021.xlsx")


def test_s4_in_the_2019_format(tmp_path):
    template = layout_for("2019").template
    last = _no_rules(random_values(template, random.Random(8)))
    this = _no_rules(next_year(template, last, random.Random(9)))
    this["T2_PENALTY_PREV"] += 3
    if this["T2_PENALTY_CHANGE"] + this["T2_PENALTY_PREV"] < 0:
        this["T2_PENALTY_CHANGE"] = -this["T2_PENALTY_PREV"]
    a = Agency("A01", "一局", "部门")
    _workbook(tmp_path / "2019.xlsx", "2019", 2019, a, last)
    _workbook(tmp_path / "2020.xlsx", "2019", 2020, a, this)
    code, data = _check(str(tmp_path / "2020.xlsx"), "--previous", str(tmp_path / "2019.xlsx"))
    sheet, row, col = layout_for("2019").positions["T2_PENALTY_PREV"]
    assert code == 1 and _codes(data, "2020.xlsx") == [("identity-violated", "S4", f"B{row + 1}"),
                                                       ("explanation-needed", "S4", f"B{row + 1}")]


def test_the_summary_is_checked_against_last_years_without_changing_the_exit_code(cycle, tmp_path):
    this = {k: dict(v) for k, v in cycle["this"].items()}
    this["A02"]["T3_CARRY_NATURAL"] += 4
    this["A02"]["T3_FORWARD_NATURAL"] += 4
    folder = _fill_year(tmp_path / "2024", "2021", 2024, this)
    book = load_workbook(folder / "A02.xlsx")
    book["说明"]["A5"], book["说明"]["B5"] = "S1", "更正"
    book.save(folder / "A02.xlsx")
    result = CliRunner().invoke(main, ["merge", str(folder), "--code", "QS", "--previous",
                                       str(cycle["root"] / "summary-2023.xlsx"), "-o", str(tmp_path / "s.xlsx")])
    assert result.exit_code == 0, result.output
    assert "汇总数与上年汇总表的核对" in result.output
    line = next(x for x in result.output.splitlines() if x.strip().startswith("S1 不成立：自然人"))
    assert "其中已有书面说明的单位：A02" in line


def test_previous_sources_that_disagree_or_are_damaged(cycle, tmp_path):
    other = tmp_path / "other"
    values = {k: dict(v) for k, v in cycle["last"].items()}
    values["A01"]["T2_LICENSING_DECISIONS"] += 1  # in no rule: both files valid, with other figures
    _fill_year(other, "2021", 2023, values)
    result = CliRunner().invoke(main, ["check", str(cycle["now"]), "--previous", str(cycle["before"] / "A01.xlsx"),
                                       "--previous", str(other / "A01.xlsx")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "last year's figures of A01 differ between A01.xlsx and A01.xlsx" in result.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    result = CliRunner().invoke(main, ["check", "--json", str(cycle["now"]), "--previous", str(broken)])
    data = json.loads(result.stdout)
    assert any("broken.xlsx" in note and "未通过审核" in note for note in data["notes"])
    assert all(any(f["reason"] == "no-previous-data" for f in file["findings"]) for file in data["files"])


def test_generate_with_previous_prefills_the_carry_over_and_shows_last_years_figures(cycle, tmp_path):
    out = tmp_path / "blank"
    result = CliRunner().invoke(main, ["generate", "--format", "2021", "--year", "2024", "--roster",
                                       str(cycle["roster"]), "--previous", str(cycle["root"] / "summary-2023.xlsx"),
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    path = next(out.glob("A01_*.xlsx"))
    book = load_workbook(path)
    assert "上年数据" in book.sheetnames and book["上年数据"].protection.sheet
    positions = layout_for("2021", previous=True).positions
    last = cycle["last"]["A01"]
    for column in ("NATURAL", "LEGAL"):
        sheet, row, col = positions[f"T3_CARRY_{column}"]
        assert book[sheet].cell(row + 1, col + 1).value == last[f"T3_FORWARD_{column}"]
    given = {r[0]: r[3] for r in book["上年数据"].iter_rows(min_row=4, values_only=True)}
    assert given["T3_FORWARD_NATURAL"] == last["T3_FORWARD_NATURAL"]
    assert [r[0] for r in book["校验"].iter_rows(min_row=5, values_only=True) if r[0]].count("S1") == 7
    filled = dict(cycle["this"]["A01"])
    type_into(path, "2021", filled)
    code, data = _check(str(path), "--previous", str(cycle["root"] / "summary-2023.xlsx"))
    assert code == 0 and _codes(data, path.name) == []


@pytest.mark.libreoffice
def test_libreoffice_shows_the_cross_year_line_failing_and_then_passing(cycle, tmp_path):
    path = tmp_path / "A01.xlsx"
    CliRunner().invoke(main, ["generate", "--format", "2021", "--year", "2024", "--agency", "一局", "--code", "A01",
                              "--previous", str(cycle["root"] / "summary-2023.xlsx"), "-o", str(path)])
    values = dict(cycle["this"]["A01"])
    values["T3_CARRY_NATURAL"] += 1
    values["T3_FORWARD_NATURAL"] += 1
    type_into(path, "2021", values)
    status = _s1_status(libreoffice_resave(path, tmp_path / "lo1"))
    assert status["自然人"] == "需说明" and set(status.values()) == {"需说明", "通过"}
    values["T3_CARRY_NATURAL"] -= 1
    values["T3_FORWARD_NATURAL"] -= 1
    type_into(path, "2021", values)
    assert set(_s1_status(libreoffice_resave(path, tmp_path / "lo2")).values()) == {"通过"}


def _s1_status(path: Path) -> dict[str, str]:
    ws = load_workbook(path, data_only=True)["校验"]
    return {r[1].split("：")[0]: r[5] for r in ws.iter_rows(min_row=5, values_only=True) if r[0] == "S1"}


def test_s9_a_total_that_jumps_is_a_question(cycle, tmp_path):
    template = layout_for("2021").template
    agency = next(a for a in AGENCIES if totals(template, cycle["last"][a.code])["T4_REVIEW_TOTAL"] > 0)
    before = totals(template, cycle["last"][agency.code])["T4_REVIEW_TOTAL"]
    this = dict(cycle["this"][agency.code])
    this["T4_REVIEW_UPHELD"] += 11 * before  # more than tenfold last year's 行政复议 总计
    path = tmp_path / f"{agency.code}.xlsx"
    _workbook(path, "2021", 2024, agency, this)
    code, data = _check(str(path), "--previous", str(cycle["before"]), "--no-explanations")
    sheet, row, col = layout_for("2021").positions["T4_REVIEW_TOTAL"]
    assert [f for f in _codes(data, path.name) if f[1] == "S9"] == [("implausible-value", "S9", address(row, col))]


def test_explanations_are_exported_and_agencies_without_last_years_figures_are_named(cycle, tmp_path):
    path = tmp_path / "A01.xlsx"
    _workbook(path, "2021", 2024, Agency("N01", "新设单位", "部门"), cycle["this"]["A01"])
    book = load_workbook(path)
    book["说明"]["A5"], book["说明"]["B5"] = "S9", "本年机构合并，申请量大增。"
    book.save(path)
    exported = CliRunner().invoke(main, ["export", str(path), "--json"])
    rows = [r for r in json.loads(exported.stdout) if r["code"] == "EXPLANATION"]
    assert [(r["row"], r["value"]) for r in rows] == [("S9", "本年机构合并，申请量大增。")]
    merged = CliRunner().invoke(main, ["merge", str(path), str(cycle["now"]), "--previous",
                                       str(cycle["root"] / "summary-2023.xlsx"), "-o", str(tmp_path / "s.xlsx")])
    assert "无上年数据、未做跨年度核对的单位：N01。" in merged.output


def test_generate_with_previous_prefills_2019s_previous_year_count(tmp_path):
    template = layout_for("2019").template
    last = _no_rules(random_values(template, random.Random(12)))
    a = Agency("A01", "一局", "部门")
    _workbook(tmp_path / "2019.xlsx", "2019", 2019, a, last)
    out = tmp_path / "2020.xlsx"
    result = CliRunner().invoke(main, ["generate", "--format", "2019", "--year", "2020", "--agency", "一局", "--code",
                                       "A01", "--previous", str(tmp_path / "2019.xlsx"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    sheet, row, col = layout_for("2019", previous=True).positions["T2_FEES_PREV"]
    assert load_workbook(out)[sheet].cell(row + 1, col + 1).value == last["T2_FEES_PREV"] + last["T2_FEES_CHANGE"]
