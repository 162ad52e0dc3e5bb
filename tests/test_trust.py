"""What a new user and a careful reviewer found (issue 13): reproducible merges, spawn pools (Windows), file names
that are not UTF-8, symbolic link loops, long names, forged and stale summaries, the fingerprint, sheet-scoped
names, a summary's cover."""

from __future__ import annotations

import gc
import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from openpyxl.workbook.defined_name import DefinedName

from tests.conftest import blank, fill
from tests.fill import random_values
from xltool import merge as merging
from xltool.check import check_file
from xltool.cli import main
from xltool.generate import workbook_bytes
from xltool.layout import ExtraSheet, layout_for
from xltool.pool import START_METHOD_ENV, process_pool
from xltool.reader import read_workbook
from xltool.roster import Agency

FMT, YEAR = "2021", 2023
TEMPLATE = layout_for(FMT).template
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _agencies(folder: Path, n: int, seed: int = 0) -> dict[str, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i in range(n):
        agency = Agency(f"B{i:02d}", f"单位{i:02d}")
        values = random_values(TEMPLATE, random.Random(seed + i))
        fill(blank(folder, FMT, f"{agency.code}.xlsx", agency), FMT, values)
        out[agency.code] = values
    return out


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


# 1. the same inputs give the same summary

def test_two_merges_of_the_samples_are_byte_identical(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    args = ["merge", str(SAMPLES / "returned"), "--roster", str(SAMPLES / "roster.csv"), "-o"]
    first = CliRunner().invoke(main, [*args, str(tmp_path / "a.xlsx")])
    time.sleep(1.1)  # a second later: no clock time may reach the summary
    second = CliRunner().invoke(main, [*args, str(tmp_path / "b.xlsx")])
    assert first.exit_code == second.exit_code == 1
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


# 2. spawn, the only start method on Windows

def test_check_merge_and_generate_work_with_spawned_workers(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    valid = _agencies(folder, 17)
    fork_merge = merging.merge([folder], tmp_path / "fork.xlsx", workers=2)
    monkeypatch.setenv("XLTOOL_START_METHOD", "spawn")
    checked = CliRunner().invoke(main, ["check", "--json", str(folder)])
    assert checked.exit_code == 0 and len(json.loads(checked.stdout)["files"]) == 17
    spawn_merge = merging.merge([folder], tmp_path / "spawn.xlsx", workers=2)
    assert len(spawn_merge.accepted) == len(fork_merge.accepted) == len(valid)
    assert (tmp_path / "spawn.xlsx").read_bytes() == (tmp_path / "fork.xlsx").read_bytes()
    roster = tmp_path / "roster.csv"
    roster.write_text("code,name\n" + "".join(f"G{i:02d},生成单位{i:02d}\n" for i in range(20)), encoding="utf-8")
    made = CliRunner().invoke(main, ["generate", "--format", FMT, "--year", str(YEAR), "--roster", str(roster),
                                     "-o", str(tmp_path / "blank")])
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in (tmp_path / "blank").iterdir()) == [f"G{i:02d}_生成单位{i:02d}.xlsx" for i in range(20)]


def _worker_state(_: int) -> tuple[bool, bool]:
    import gc
    import threading

    return gc.get_freeze_count() > 0, any(t.name == "xltool-parent-watch" for t in threading.enumerate())


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_watch_their_parent_and_keep_what_they_start_with_out_of_the_collector(monkeypatch, method):
    monkeypatch.setenv(START_METHOD_ENV, method)
    with process_pool(2) as pool:
        assert set(pool.map(_worker_state, range(4))) == {(True, True)}
    with process_pool(1) as pool:  # a builtin: a spawned worker imports nothing of xltool but the pool
        assert pool.submit(gc.get_threshold).result()[0] == 100_000  # it collects as rarely as the command


def test_paths_with_spaces_and_chinese_read_naturally(tmp_path):
    folder = tmp_path / "报送 材料 2023"
    _agencies(folder, 1)
    result = CliRunner().invoke(main, ["check", str(folder)])
    assert result.exit_code == 0 and "✓ B00.xlsx  单位00（B00）" in result.output


# 3. file names that are not UTF-8 (a zip unpacked on Windows)

def test_a_file_name_that_is_not_utf8_is_shown_readably_everywhere(tmp_path):
    folder = tmp_path / "in"
    _agencies(folder, 2)
    gbk = os.fsdecode("青山区".encode("gbk") + b".xlsx")  # surrogate escapes, as Python sees such a name
    (folder / "B01.xlsx").rename(folder / gbk)
    text = CliRunner().invoke(main, ["check", str(folder)])
    _no_traceback(text)
    assert text.exit_code == 0 and "\ufffd" in text.output
    as_json = CliRunner().invoke(main, ["check", "--json", str(folder)])
    assert any("\ufffd" in f["path"] for f in json.loads(as_json.output)["files"])
    merged = CliRunner().invoke(main, ["merge", str(folder), "-o", str(tmp_path / "s.xlsx")])
    _no_traceback(merged)
    assert merged.exit_code == 0
    sources = [row[0] for row in load_workbook(tmp_path / "s.xlsx")["来源"].iter_rows(min_row=2, values_only=True)]
    assert any("\ufffd" in name and name.endswith(".xlsx") for name in sources)
    exported = CliRunner().invoke(main, ["export", str(folder)])
    assert exported.exit_code == 0 and "\ufffd" in exported.output
    annotated = CliRunner().invoke(main, ["check", str(folder), "--annotate", str(tmp_path / "back")])
    _no_traceback(annotated)
    names = sorted(p.name for p in (tmp_path / "back").iterdir())
    assert len(names) == 2 and any("\ufffd" in n for n in names) and all(n.endswith("_审核结果.xlsx") for n in names)


# 4. symbolic link loops as outputs

def test_symlink_loops_as_outputs_are_one_line_errors(tmp_path):
    folder = tmp_path / "in"
    _agencies(folder, 1)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for args in (["check", str(folder), "--annotate", str(loop)], ["export", str(folder), "-o", str(loop)],
                 ["merge", str(folder), "-o", str(tmp_path / "loop.xlsx")]):
        if args[0] == "merge":
            (tmp_path / "loop.xlsx").symlink_to(tmp_path / "loop.xlsx")
        result = CliRunner().invoke(main, args)
        _no_traceback(result)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.strip().count("\n") == 0 and "symbolic link loop" in result.output


# 5. long agency names

def test_long_agency_names_keep_the_suffix_and_stay_unique(tmp_path):
    long_name = "青山区" + "某某" * 120 + "办公室"
    roster = tmp_path / "roster.csv"
    roster.write_text(f"code,name\nL1,{long_name}甲\nL2,{long_name}乙\n", encoding="utf-8")
    made = CliRunner().invoke(main, ["generate", "--format", FMT, "--year", str(YEAR), "--roster", str(roster),
                                     "-o", str(tmp_path / "out")])
    assert made.exit_code == 0, made.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 2 and all(n.endswith(".xlsx") and len(n.encode()) <= 255 for n in names)
    assert [n[:3] for n in names] == ["L1_", "L2_"]
    checked = CliRunner().invoke(main, ["check", "--annotate", str(tmp_path / "back"), str(tmp_path / "out")])
    assert checked.output.count("✗") == 2  # blank workbooks: found, checked, each rejected for its blanks
    assert sorted(len(p.name.encode()) <= 255 for p in (tmp_path / "back").iterdir()) == [True, True]


# 7. forged and stale summaries

def test_a_forged_summary_is_refused_and_the_agencies_own_files_are_merged(tmp_path):
    folder = tmp_path / "in"
    valid = _agencies(folder, 3)
    part = tmp_path / "part.xlsx"
    merging.merge([folder / "B00.xlsx", folder / "B01.xlsx"], part, name="东区")
    forged = tmp_path / "forged" / "part.xlsx"
    forged.parent.mkdir()
    book = load_workbook(part)
    meta = book["_xltool"]
    for row in meta.iter_rows():
        if row[0].value == "members":
            row[1].value = "B00,B01,B02"  # claims B02 too, whose numbers it does not hold
    for row in book["封面"].iter_rows():  # and says so on its cover, as a careful forger would
        for cell in row:
            if isinstance(cell.value, str) and "汇总 2 个单位" in cell.value:
                cell.value = cell.value.replace("汇总 2 个单位", "汇总 3 个单位")
    book.save(forged)
    report = check_file(forged)
    assert [(f.code, f.reason) for f in report.findings] == [("summary-unverified", "members-differ")]
    result = merging.merge([forged, *folder.iterdir()], tmp_path / "all.xlsx")
    by_file = {e.report.name: e for e in result.entries if e.report}
    assert by_file["part.xlsx"].status == "退回"
    assert all(by_file[f"{code}.xlsx"].status == "已采纳" for code in valid)
    direct = merging.merge([folder], tmp_path / "direct.xlsx")
    assert len(direct.accepted) == 3
    assert _inputs(tmp_path / "all.xlsx") == _inputs(tmp_path / "direct.xlsx")


def test_a_summary_whose_numbers_were_edited_is_refused_at_the_edited_cell(tmp_path):
    folder = tmp_path / "in"
    _agencies(folder, 2)
    part = tmp_path / "part.xlsx"
    merging.merge([folder], part)
    sheet, row, col = layout_for(FMT).positions["T2_LICENSING_DECISIONS"]  # in no identity: only the detail tells
    book = load_workbook(part)
    book[sheet].cell(row + 1, col + 1).value += 1
    book.save(part)
    found = check_file(part).findings
    assert [(f.code, f.reason, f.name, f.cell) for f in found] == [
        ("summary-unverified", "sum-differs", "T2_LICENSING_DECISIONS", "B9")]


def test_a_stale_summary_gives_way_to_the_agencys_newer_file(tmp_path):
    folder = tmp_path / "in"
    _agencies(folder, 3)
    part = tmp_path / "part.xlsx"
    merging.merge([folder], part)
    newer = tmp_path / "newer"
    newer_values = _agencies(newer, 1, seed=50)  # B00 sends a corrected report after the summary was made
    result = merging.merge([part, newer / "B00.xlsx"], tmp_path / "all.xlsx")
    by_file = {e.report.name: e for e in result.entries if e.report}
    assert by_file["part.xlsx"].status == "退回"
    assert [(f.code, f.reason, f.name) for f in by_file["part.xlsx"].findings] == [("summary-unverified", "stale", "B00")]
    assert by_file["B00.xlsx"].status == "已采纳" and len(result.accepted) == 1
    assert _inputs(tmp_path / "all.xlsx")["T3_NEW_NATURAL"] == newer_values["B00"]["T3_NEW_NATURAL"]
    same = merging.merge([part, folder / "B00.xlsx"], tmp_path / "same.xlsx")  # the very file it summed
    assert [e.status for e in same.entries if e.report and e.report.name == "B00.xlsx"] == ["未汇总"]


def _inputs(path: Path) -> dict[str, float]:
    book = read_workbook(path)
    positions = layout_for(FMT).positions
    return {code: book.sheet(positions[code][0]).cells[positions[code][1:]].value
            for code, cell in TEMPLATE.cells.items() if cell.is_input}


# 8. the fingerprint: what decides correctness, and what differs when it does not match

def test_a_cosmetic_difference_keeps_a_workbook_valid_and_a_real_one_is_named(tmp_path):
    path = tmp_path / "a.xlsx"
    _agencies(tmp_path, 1)
    shutil.copy(tmp_path / "B00.xlsx", path)
    book = load_workbook(path)
    book["依申请公开"].column_dimensions["A"].width = 55  # as a template with wider columns would have it
    for row in book["_xltool"].iter_rows():
        if row[0].value == "fingerprint":
            row[1].value = "sha256:" + "0" * 64  # generated by another build of the same template version
    book.save(path)
    assert check_file(path).findings == ()
    book = load_workbook(path)
    book["依申请公开"]["A6"] = "一、本年新收申请数量"
    book.save(path)
    assert [(f.code, f.sheet, f.cell) for f in check_file(path).findings] == [("label-altered", "依申请公开", "A6")]


# 12. the smaller ones

def test_a_sheet_scoped_name_shadowing_a_data_point_is_reported(tmp_path):
    _agencies(tmp_path, 1)
    path = tmp_path / "B00.xlsx"
    book = load_workbook(path)
    sheet = book["依申请公开"]
    sheet.defined_names["T3_NEW_NATURAL"] = DefinedName("T3_NEW_NATURAL", attr_text="'依申请公开'!$E$6")
    book.save(path)
    found = check_file(path).findings
    assert [(f.code, f.reason, f.name, f.actual) for f in found] == [
        ("structure-changed", "name-shadowed", "T3_NEW_NATURAL", "依申请公开")]


def test_an_extra_sheet_without_widths_is_written(tmp_path):
    layout = layout_for(FMT)
    from xltool.generate import Metadata

    meta = Metadata(TEMPLATE.format, TEMPLATE.version, YEAR, "X", "某", generated_at="2025-01-01T00:00:00Z")
    data = workbook_bytes(layout, meta, extra=[ExtraSheet("附表", ["甲", "乙乙乙乙乙乙乙乙乙乙乙乙"], [[1, "长" * 40]], 1)])
    out = tmp_path / "x.xlsx"
    out.write_bytes(data)
    assert load_workbook(out)["附表"]["B2"].value == "长" * 40


def test_a_summary_cover_says_what_it_is(tmp_path):
    folder = tmp_path / "in"
    _agencies(folder, 3)
    merging.merge([folder], tmp_path / "s.xlsx", name="青山区")
    cover = [c for row in load_workbook(tmp_path / "s.xlsx")["封面"].iter_rows(values_only=True) for c in row if c]
    assert "填报人" not in cover and not any("只在白色单元格中填写数字" in str(c) for c in cover)
    assert any(str(c).startswith("本工作簿是“青山区”的汇总表，汇总 3 个单位") for c in cover)
    assert "（未指定）" in cover
    assert check_file(tmp_path / "s.xlsx").findings == ()
    lines = [c for c in cover if isinstance(c, str) and c.startswith("本工作簿是")]
    book = load_workbook(tmp_path / "s.xlsx")
    for row in book["封面"].iter_rows():
        for cell in row:
            if cell.value == lines[0]:
                cell.value = lines[0].replace("3 个单位", "30 个单位")
    book.save(tmp_path / "s.xlsx")
    assert [f.code for f in check_file(tmp_path / "s.xlsx").findings] == ["label-altered"]
