"""`xltool merge` and `xltool export`: exact sums, statuses, provenance, rules of merging."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from tests.conftest import blank, fill, libreoffice_resave
from xltool import merge as merging
from xltool.check import check_file
from xltool.cli import main
from xltool.errors import UsageError
from tests.fill import random_values, totals
from xltool.layout import layout_for
from xltool.roster import Agency

FMT, YEAR = "2021", 2023
TEMPLATE = layout_for(FMT).template
ROSTER = [Agency(f"A{i:02d}", f"测试单位{i:02d}") for i in range(1, 9)]


def _city(tmp_path: Path, skip=("A08",), broken=("A03",)) -> tuple[Path, dict[str, dict]]:
    """Eight agencies: A03 breaks H3, A08 sends nothing; returns the folder and the valid fills."""
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    valid = {}
    for i, agency in enumerate(ROSTER):
        if agency.code in skip:
            continue
        values = random_values(TEMPLATE, random.Random(100 + i))
        values["T2_FEES_AMOUNT"] = Decimal("0.1") if i % 2 else Decimal("0.2")
        if agency.code in broken:
            values["T3_FORWARD_NATURAL"] += 1
        else:
            valid[agency.code] = values
        fill(blank(folder, FMT, f"{agency.code}.xlsx", agency), FMT, values)
    return folder, valid


def _summary_values(path: Path) -> dict[str, float]:
    book = load_workbook(path, data_only=False)
    out = {}
    for code, (sheet, row, col) in layout_for(FMT).positions.items():
        out[code] = book[sheet].cell(row + 1, col + 1).value
    return out


def test_merge_sums_the_accepted_workbooks_exactly(tmp_path):
    folder, valid = _city(tmp_path)
    out = tmp_path / "summary.xlsx"
    result = merging.merge([folder], out, roster=ROSTER, name="测试市")
    assert not result.complete
    got = _summary_values(out)
    for code, cell in TEMPLATE.cells.items():
        if cell.is_input:
            expected = sum(Decimal(str(v[code])) for v in valid.values())
            assert Decimal(repr(got[code])) == expected, code
        else:
            assert str(got[code]).startswith("=SUM("), code
    assert got["T2_FEES_AMOUNT"] == float(sum(v["T2_FEES_AMOUNT"] for v in valid.values()))
    assert repr(got["T2_FEES_AMOUNT"]) in ("0.9", "1.0", "1.1", "1.2", "0.8")  # never 0.30000000000000004
    statuses = {e.code: e.status for e in result.entries}
    assert statuses == {"A01": "已采纳", "A02": "已采纳", "A03": "退回", "A04": "已采纳", "A05": "已采纳",
                        "A06": "已采纳", "A07": "已采纳", "A08": "未报送"}
    report = check_file(out)
    assert report.valid and report.findings == () and report.role == "summary"
    assert report.members == tuple(a.code for a in ROSTER if a.code in valid)


def test_summary_sheets_status_details_and_provenance(tmp_path):
    folder, valid = _city(tmp_path)
    out = tmp_path / "summary.xlsx"
    merging.merge([folder], out, roster=ROSTER, name="测试市")
    book = load_workbook(out)
    assert book.sheetnames[-5:] == ["报送情况", "汇总明细", "来源", "说明汇总", "_xltool"]
    status = list(book["报送情况"].iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[3]) for r in status] == [(a.code, s) for a, s in zip(
        ROSTER, ["已采纳", "已采纳", "退回", "已采纳", "已采纳", "已采纳", "已采纳", "未报送"])]
    a03 = status[2]
    assert a03[4] == 2 and "H3" in a03[6] and a03[7] == "A03.xlsx"
    details = list(book["汇总明细"].iter_rows(values_only=True))
    assert details[0][:4] == ("单位代码", "单位名称", "角色", "成员单位") and details[0][4].startswith("T2_")
    assert len(details) - 1 == len(valid) and len(details[0]) == 4 + len(TEMPLATE.cells)
    assert all(row[3] == row[0] for row in details[1:])  # an agency stands for itself
    col = details[0].index(next(h for h in details[0] if str(h).startswith("T3_NEW_TOTAL")))
    for row in details[1:]:
        assert row[col] == totals(TEMPLATE, valid[row[0]])["T3_NEW_TOTAL"]
    sources = list(book["来源"].iter_rows(values_only=True))
    a01 = next(r for r in sources if r[0] == "A01.xlsx")
    import hashlib

    assert a01[2] == hashlib.sha256((folder / "A01.xlsx").read_bytes()).hexdigest()
    assert a01[1] == (folder / "A01.xlsx").stat().st_size and a01[3] == "gov-disclosure-2021" and a01[4] == YEAR
    meta = {r[0].value: r[1].value for r in book["_xltool"].iter_rows()}
    assert meta["role"] == "summary" and meta["agency_name"] == "测试市"


def test_merging_two_partial_summaries_equals_merging_all_agencies(tmp_path):
    folder, _ = _city(tmp_path, skip=(), broken=())
    files = sorted(folder.glob("*.xlsx"))
    direct = tmp_path / "direct.xlsx"
    merging.merge(files, direct)
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    merging.merge(files[:3], tmp_path / "d1" / "east.xlsx", name="东区", code="D1")
    merging.merge(files[3:], tmp_path / "d2" / "west.xlsx", name="西区", code="D2")
    city = tmp_path / "city.xlsx"
    result = merging.merge([tmp_path / "d1" / "east.xlsx", tmp_path / "d2" / "west.xlsx"], city, name="市")
    assert result.complete
    assert _summary_values(city) == _summary_values(direct)
    assert check_file(city).members == tuple(sorted(a.code for a in ROSTER))


def test_a_summary_among_agency_files_is_not_counted_twice(tmp_path):
    folder, valid = _city(tmp_path, skip=(), broken=())
    files = sorted(folder.glob("*.xlsx"))
    (tmp_path / "d").mkdir()
    part = tmp_path / "d" / "east.xlsx"
    merging.merge(files[:3], part, name="东区")
    out = tmp_path / "all.xlsx"
    result = merging.merge([part, *files], out)
    direct = tmp_path / "direct.xlsx"
    merging.merge(files, direct)
    assert _summary_values(out) == _summary_values(direct)
    skipped = [e.report for e in result.entries if any(f.code == "included-in-summary" for f in e.findings)]
    assert sorted(r.path.name for r in skipped) == [f.name for f in files[:3]]


def test_same_agency_twice_is_reported_and_merged_only_when_told(tmp_path):
    folder, valid = _city(tmp_path, skip=(), broken=())
    second = folder / "A01-corrected.xlsx"
    values = random_values(TEMPLATE, random.Random(999))
    fill(blank(folder, FMT, "A01-corrected.xlsx", ROSTER[0]), FMT, values)
    import os

    os.utime(second, (2_000_000_000, 2_000_000_000))
    result = merging.merge([folder], tmp_path / "s.xlsx", roster=ROSTER)
    a01 = [e for e in result.entries if e.code == "A01"]
    assert {e.status for e in a01} == {"退回"} and len(a01) == 2
    assert all(any(f.code == "duplicate-agency" for f in e.findings) for e in a01)
    result = merging.merge([folder], tmp_path / "s2.xlsx", roster=ROSTER, prefer="newest")
    assert {e.report.path.name: e.status for e in result.entries if e.code == "A01"} == {
        "A01-corrected.xlsx": "已采纳", "A01.xlsx": "未汇总"}
    got = _summary_values(tmp_path / "s2.xlsx")
    expected = sum(v["T3_NEW_NATURAL"] for k, v in valid.items() if k != "A01") + values["T3_NEW_NATURAL"]
    assert got["T3_NEW_NATURAL"] == expected


def test_the_same_file_twice_counts_once(tmp_path):
    folder, valid = _city(tmp_path, skip=(), broken=())
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    (copy_dir / "A01.xlsx").write_bytes((folder / "A01.xlsx").read_bytes())
    merging.merge([folder, copy_dir], tmp_path / "s.xlsx")
    assert _summary_values(tmp_path / "s.xlsx")["T3_NEW_NATURAL"] == sum(v["T3_NEW_NATURAL"] for v in valid.values())


def test_formats_and_years_are_never_mixed(tmp_path):
    folder, _ = _city(tmp_path, skip=(), broken=())
    odd = blank(folder, "2019", "odd.xlsx", Agency("Z9", "旧格式单位"))
    fill(odd, "2019", random_values(layout_for("2019").template, random.Random(1)))
    result = merging.merge([folder], tmp_path / "s.xlsx")
    wrong = next(e for e in result.entries if e.report and e.report.path.name == "odd.xlsx")
    assert [f.code for f in wrong.findings] == ["wrong-format"] and "2019" in wrong.findings[0].message
    assert wrong.report.findings == ()  # merge's decision is kept beside check's report, not written into it
    # no majority: a clear error naming the odd files, and no summary
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.xlsx").write_bytes((folder / "A01.xlsx").read_bytes())
    (two / "b.xlsx").write_bytes(odd.read_bytes())
    with pytest.raises(UsageError, match="b.xlsx"):
        merging.merge([two], tmp_path / "t.xlsx")
    assert not (tmp_path / "t.xlsx").exists()


def test_an_agency_not_on_the_roster_is_reported_and_not_merged(tmp_path):
    folder, valid = _city(tmp_path, skip=(), broken=())
    result = merging.merge([folder], tmp_path / "s.xlsx", roster=ROSTER[:-1])
    a08 = next(e for e in result.entries if e.code == "A08")
    assert a08.status == "退回" and [f.code for f in a08.findings] == ["not-on-roster"]
    got = _summary_values(tmp_path / "s.xlsx")
    assert got["T3_NEW_NATURAL"] == sum(v["T3_NEW_NATURAL"] for k, v in valid.items() if k != "A08")


def test_output_over_an_input_is_refused(tmp_path):
    folder, _ = _city(tmp_path)
    before = (folder / "A01.xlsx").read_bytes()
    result = CliRunner().invoke(main, ["merge", str(folder), "-o", str(folder / "A01.xlsx")])
    assert result.exit_code == 2 and "refusing" in result.output
    assert (folder / "A01.xlsx").read_bytes() == before


def test_an_interrupted_merge_leaves_no_output_and_the_inputs_untouched(tmp_path, monkeypatch):
    folder, _ = _city(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    out = tmp_path / "s.xlsx"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(merging, "workbook_bytes", boom)
    with pytest.raises(KeyboardInterrupt):
        merging.merge([folder], out)
    assert not out.exists() and list(tmp_path.glob(".s.xlsx*")) == []
    import xltool.files

    monkeypatch.undo()
    merging.merge([folder], out)
    old = out.read_bytes()
    monkeypatch.setattr(xltool.files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        merging.merge([folder], out)
    assert out.read_bytes() == old and list(tmp_path.glob(".s.xlsx*")) == []
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_the_protection_hash_is_worked_out_while_the_files_are_checked(tmp_path, monkeypatch):
    """The summary's 100,000-round password hash is not left for the end of a merge, when only one core works."""
    import xltool.finish

    folder, _ = _city(tmp_path)
    events: list[str] = []
    checking, hashing = merging.check_many, xltool.finish._protection_attributes

    def check_many(*args, **kwargs):
        for report in checking(*args, **kwargs):
            events.append("report")
            yield report

    def protection_attributes(*args):
        events.append("hash")
        return hashing(*args)

    monkeypatch.setattr(merging, "check_many", check_many)
    monkeypatch.setattr(xltool.finish, "_protection_attributes", protection_attributes)
    merging.merge([folder], tmp_path / "s.xlsx", password="另一个密码")
    assert events[:2] == ["report", "hash"] and events.count("report") == 7
    sheet = zipfile.ZipFile(tmp_path / "s.xlsx").read("xl/worksheets/sheet1.xml").decode()
    assert f"<sheetProtection {hashing('另一个密码', 'sheet')} " in sheet


def test_cli_merge_prints_the_status_table_and_exits_1_when_something_is_missing(tmp_path):
    folder, _ = _city(tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("code,name\n" + "".join(f"{a.code},{a.name}\n" for a in ROSTER), encoding="utf-8")
    out = tmp_path / "s.xlsx"
    result = CliRunner().invoke(main, ["merge", str(folder), "--roster", str(roster), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert f"汇总表已写入：{out}" in result.output
    lines = result.output.splitlines()
    assert any(line.split()[:2] == ["未报送", "A08"] for line in lines)
    assert any(line.split()[:2] == ["退回", "A03"] for line in lines)
    assert "合计：已采纳 6，退回 1，未报送 1" in lines and lines[-1].startswith("未提供")
    js = CliRunner().invoke(main, ["merge", str(folder), "--roster", str(roster), "-o", str(out), "--json"])
    data = json.loads(js.stdout)
    assert {a["code"]: a["status"] for a in data["agencies"]}["A08"] == "未报送" and data["complete"] is False
    none = CliRunner().invoke(main, ["merge", str(tmp_path / "empty.xlsx"), "-o", str(tmp_path / "x.xlsx")])
    assert none.exit_code == 2 and "Traceback" not in none.output


@pytest.mark.libreoffice
def test_summary_recalculates_in_libreoffice_with_the_same_totals(tmp_path):
    folder, valid = _city(tmp_path)
    out = tmp_path / "summary.xlsx"
    merging.merge([folder], out)
    book = load_workbook(libreoffice_resave(out, tmp_path / "lo"), data_only=True)
    sums = {code: sum(v[code] for v in valid.values()) for code in valid["A01"]}
    expected = totals(TEMPLATE, sums)
    for code, (sheet, row, col) in layout_for(FMT).positions.items():
        got = book[sheet].cell(row + 1, col + 1).value
        assert got == pytest.approx(float(expected[code])), code
    assert book["校验"]["C3"].value == 0


def test_export_round_trips_a_summary_to_the_sums_of_its_sources(tmp_path):
    folder, valid = _city(tmp_path)
    out = tmp_path / "summary.xlsx"
    merging.merge([folder], out)
    src = CliRunner().invoke(main, ["export", str(folder), "--csv"])
    assert src.exit_code == 0
    text = src.stdout
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert set(rows[0]) >= {"file", "agency_code", "agency_name", "format", "year", "code", "table", "row", "column",
                            "value"}
    sums: dict[str, Decimal] = {}
    for r in rows:
        if r["valid"] == "True":
            sums[r["code"]] = sums.get(r["code"], Decimal(0)) + Decimal(r["value"])
    summary = json.loads(CliRunner().invoke(main, ["export", str(out), "--json"]).stdout)
    assert len(summary) == len(TEMPLATE.cells)
    for r in summary:
        assert Decimal(str(r["value"])) == sums[r["code"]], r["code"]
    label = next(r for r in summary if r["code"] == "T3_GRANTED_LEGAL")
    assert (label["table"], label["row"], label["column"]) == ("T3", "（一）予以公开", "法律服务机构")


def test_export_writes_names_as_text_never_formulas(tmp_path):
    agency = Agency("=1+1", "=HYPERLINK(\"http://example.invalid\",\"点我\")")
    path = blank(tmp_path, FMT, "x.xlsx", agency)
    fill(path, FMT, random_values(TEMPLATE, random.Random(1)))
    out = tmp_path / "x.csv"
    assert CliRunner().invoke(main, ["export", str(path), "-o", str(out)]).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0]["agency_code"] == "'=1+1" and rows[0]["agency_name"].startswith("'=HYPERLINK")


def test_exact_sum_is_the_decimal_sum_of_the_numbers():
    """Whole numbers are summed with fsum, the rest as decimals: always the exact decimal sum, NaN (no number)
    left out."""
    rng = random.Random(14)
    for _ in range(3000):
        values = [rng.choice([float(rng.randint(-5000, 5000)), rng.randint(0, 10**6) / 100, math.nan, 2.0**60,
                              -2.0**60, 1e300, 0.1, 0.2]) for _ in range(rng.randint(0, 30))]
        assert merging.exact_sum(values) == sum((Decimal(repr(v)) for v in values if v == v), Decimal(0)), values
    assert merging.exact_sum([0.1, 0.2]) == Decimal("0.3") and merging.exact_sum([2.0**53, 1.0]) == Decimal(2**53 + 1)
