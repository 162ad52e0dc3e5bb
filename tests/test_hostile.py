"""Hostile and broken inputs (issue 6): every bad file gets a coded answer, nothing is lost, nothing runs.

Each entry of the corpus (``tests/corpus.py``) is built from a real generated workbook and put beside
three good agencies' workbooks. ``xltool check`` must give its exact findings and exit code, with no
traceback, in bounded time and memory; ``xltool merge`` of the folder must list it in 报送情况 (退回,
or accepted when it only has warnings) and still merge the good ones to the exact sums. Then the
operations: the same file twice, one agency twice, ``-o`` over an input, an existing output, and a
merge killed at any moment.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from tests.conftest import as_nobody
from tests.corpus import (
    ENTRIES,
    FMT,
    TEMPLATE,
    YEAR,
    Base,
    Entry,
    make_base,
    part_of,
    sheet_part,
    soffice,
)
from xltool.cli import main
from tests.fill import random_values, type_into
from xltool.generate import generate_workbook
from xltool.layout import layout_for
from xltool.reader import read_workbook
from xltool.roster import Agency

GOOD = [Agency("A01", "良好单位一"), Agency("A02", "良好单位二"), Agency("A03", "良好单位三")]
INPUTS = [code for code, cell in TEMPLATE.cells.items() if cell.is_input]
MAX_CPU_SECONDS = 3.0  # CPU time of checking one bad file (a good one takes about 10 ms): the work done
MAX_BYTES = 100 * 1024 * 1024  # Python memory at the peak of checking one bad file


@dataclass
class World:
    base: Base
    good: dict[str, tuple[Path, dict]]  # agency code -> (workbook, typed values)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("hostile")
    base = make_base(root / "base")
    good = {}
    for i, agency in enumerate(GOOD):
        values = random_values(TEMPLATE, random.Random(300 + i))
        values["T2_FEES_AMOUNT"] = Decimal("0.1") * (i + 1)  # sums that floats would get wrong
        path = root / "good" / f"{agency.code}.xlsx"
        path.parent.mkdir(exist_ok=True)
        generate_workbook(path, FMT, YEAR, agency)
        type_into(path, FMT, values)
        good[agency.code] = (path, values)
    return World(base, good)


def _sums(*fills: dict) -> dict[str, Decimal]:
    return {code: sum((Decimal(str(v[code])) for v in fills), Decimal(0)) for code in INPUTS}


def _summary(path: Path) -> tuple[dict[str, Decimal], list[tuple]]:
    """The summary's input values and its 报送情况 rows (read by xltool's reader: fast, every cell)."""
    book = read_workbook(path)
    values = {}
    for code in INPUTS:
        sheet, row, col = layout_for(FMT).positions[code]
        values[code] = Decimal(repr(book.sheet(sheet).cells[(row, col)].value))
    status = book.sheet("报送情况")
    rows = sorted({r for r, _ in status.cells} - {0})
    table = [tuple(status.cells[(r, c)].value if (r, c) in status.cells else None for c in range(8)) for r in rows]
    return values, table


def _snapshot(folder: Path) -> dict[str, bytes]:
    """The bytes of every regular file in a folder (pipes, devices and folders are not read)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}


def _no_traceback(result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def _check(path: Path) -> tuple[object, object, float, int]:
    """``xltool check --json`` and ``xltool check`` on one file: both results, the seconds and peak bytes."""
    tracemalloc.start()
    start = time.process_time()
    try:
        as_json = CliRunner().invoke(main, ["check", "--json", str(path)])
        elapsed = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    as_text = CliRunner().invoke(main, ["check", str(path)])
    return as_json, as_text, elapsed, peak


def _run_checks_and_merge(folder: Path, bad: Path, out: Path) -> dict:
    """Check ``bad`` (a file, or a folder holding only it), then merge ``folder``."""
    json_result, text_result, elapsed, peak = _check(bad)
    merged = CliRunner().invoke(main, ["merge", str(folder), "-o", str(out)])
    return {"json": (json_result.exit_code, json_result.stdout, json_result.output, _raised(json_result)),
            "text": (text_result.exit_code, text_result.output, _raised(text_result)),
            "merge": (merged.exit_code, merged.output, _raised(merged)), "elapsed": elapsed, "peak": peak}


def _raised(result) -> str | None:
    """What a command raised other than its exit (as text: it may come from a child process)."""
    if result.exception is None or isinstance(result.exception, SystemExit):
        return None
    return "".join(traceback.format_exception(result.exception))


@pytest.mark.parametrize("entry", [pytest.param(e, marks=pytest.mark.libreoffice) if e.needs == "soffice" else e
                                   for e in ENTRIES.values()], ids=list(ENTRIES))
def test_corpus_entry(world, tmp_path, entry: Entry):
    if entry.needs == "soffice" and soffice() is None:
        pytest.fail("LibreOffice (soffice) is not installed; .ci/run installs it")
    unprivileged = entry.needs == "unprivileged"
    as_root = os.geteuid() == 0
    # an unprivileged child must reach the files: pytest's own temporary folders are root's alone
    root = Path(tempfile.mkdtemp(prefix="xltool-hostile-")) if unprivileged and as_root else tmp_path
    try:
        folder = root / "in"
        folder.mkdir()
        for path, _ in world.good.values():
            shutil.copy(path, folder / path.name)
        bad = entry.build(folder, world.base)
        before = _snapshot(folder)
        out = root / "summary.xlsx"
        if unprivileged:
            # click refuses an unreadable path given on the command line before xltool sees it (a usage
            # error, exit 2); the file is checked where a clerk's file is: in the folder of returned files
            solo = root / "solo"
            solo.mkdir()
            os.link(bad, solo / bad.name)
            for path in (root, folder, solo):
                path.chmod(0o777)
            for p in folder.iterdir():
                if p != bad:
                    p.chmod(0o644)
            # root reads anything: the file is read as the clerk's unprivileged account would read it
            run = as_nobody(_run_checks_and_merge, folder, solo, out) if as_root else \
                _run_checks_and_merge(folder, solo, out)
        else:
            run = _run_checks_and_merge(folder, bad, out)
        _assert_check(entry, bad, run)
        _assert_merge(world, entry, bad, run, out)
        # nothing is lost: every input is as it was
        assert _snapshot(folder) == before
    finally:
        if root != tmp_path:
            shutil.rmtree(root, ignore_errors=True)


def _assert_check(entry: Entry, bad: Path, run: dict) -> None:
    expect = entry.expect
    exit_code, stdout, output, exception = run["json"]
    assert exception is None, exception
    assert "Traceback" not in output
    assert exit_code == (0 if expect.valid else 1), output
    report = json.loads(stdout)
    (file,) = report["files"]
    assert file["valid"] is expect.valid and report["valid"] is expect.valid
    findings = file["findings"]
    codes = [f["code"] for f in findings]
    if expect.count is None:
        assert codes == list(expect.codes), [f["message"][:120] for f in findings]
    else:
        assert set(codes) == set(expect.codes) and len(codes) == expect.count, codes
    first = findings[0]
    if expect.name:
        assert first["name"] == expect.name and first["cell"] == expect.cell, first
    if expect.text:
        assert expect.text in first["message"], first["message"]
    if expect.rule:
        assert [f["rule"] for f in findings if f["code"] == "identity-violated"] == [expect.rule]
    for f in findings:  # every message is Chinese, says what to do, and stays short
        assert any("\u4e00" <= ch <= "\u9fff" for ch in f["message"]) and len(f["message"]) < 1500, f["message"]
        assert f["severity"] == "warning" or not expect.valid
    assert run["elapsed"] < MAX_CPU_SECONDS, f"check took {run['elapsed']:.2f} CPU seconds"
    assert run["peak"] < MAX_BYTES, f"check used {run['peak'] >> 20} MB"
    text_exit, text, text_exception = run["text"]
    assert text_exception is None and "Traceback" not in text and text_exit == exit_code
    assert Path(file["path"]).name == bad.name and bad.name in text and first["message"] in text


def _assert_merge(world: World, entry: Entry, bad: Path, run: dict, out: Path) -> None:
    exit_code, output, exception = run["merge"]
    assert exception is None, exception
    assert "Traceback" not in output
    assert exit_code == (0 if entry.expect.valid else 1), output
    values, status = _summary(out)
    fills = [v for _, v in world.good.values()] + ([world.base.values] if entry.expect.valid else [])
    assert values == _sums(*fills)
    by_file = {row[7]: row for row in status}
    assert set(by_file) == {p.name for p, _ in world.good.values()} | {bad.name}
    for path, _ in world.good.values():
        assert by_file[path.name][3] == "已采纳"
    row = by_file[bad.name]
    if entry.expect.valid:
        assert row[3] == "已采纳（有警告）" and row[4] == 0 and row[5] >= 1
    else:
        assert row[3] == "退回" and row[4] >= 1 and row[6], row


# -- operations -------------------------------------------------------------------------------------


def _folder_of_good(world: World, tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for path, _ in world.good.values():
        shutil.copy(path, folder / path.name)
    return folder


def test_the_same_file_twice_counts_once(world, tmp_path):
    folder = _folder_of_good(world, tmp_path)
    shutil.copy(folder / "A01.xlsx", folder / "A01 - 副本.xlsx")
    out = tmp_path / "s.xlsx"
    result = CliRunner().invoke(main, ["merge", str(folder), "-o", str(out)])
    _no_traceback(result)
    assert result.exit_code == 0, result.output
    values, status = _summary(out)
    assert values == _sums(*(v for _, v in world.good.values()))
    by_file = {row[7]: row for row in status}
    assert {by_file["A01.xlsx"][3], by_file["A01 - 副本.xlsx"][3]} == {"已采纳", "未汇总"}  # either copy, once
    assert by_file["A02.xlsx"][3] == by_file["A03.xlsx"][3] == "已采纳"


def test_two_files_of_one_agency_are_both_sent_back_and_the_rest_merged(world, tmp_path):
    folder = _folder_of_good(world, tmp_path)
    other = random_values(TEMPLATE, random.Random(99))
    type_into(folder / "A01.xlsx", FMT, other, folder / "A01-更正.xlsx")
    out = tmp_path / "s.xlsx"
    result = CliRunner().invoke(main, ["merge", str(folder), "-o", str(out)])
    _no_traceback(result)
    assert result.exit_code == 1
    values, status = _summary(out)
    assert values == _sums(world.good["A02"][1], world.good["A03"][1])
    by_file = {row[7]: row for row in status}
    assert by_file["A01.xlsx"][3] == by_file["A01-更正.xlsx"][3] == "退回"
    assert "报送了多个文件" in by_file["A01.xlsx"][6]


def test_output_over_an_input_is_refused_and_the_input_kept(world, tmp_path):
    folder = _folder_of_good(world, tmp_path)
    before = (folder / "A02.xlsx").read_bytes()
    for target in (folder / "A02.xlsx", folder / "." / "A02.xlsx"):
        result = CliRunner().invoke(main, ["merge", str(folder), "-o", str(target)])
        _no_traceback(result)
        assert result.exit_code == 2 and "one of the inputs" in result.output
    link, hard = tmp_path / "link.xlsx", tmp_path / "hard.xlsx"
    link.symlink_to(folder / "A02.xlsx")
    os.link(folder / "A02.xlsx", hard)
    for other_name in (link, hard):
        result = CliRunner().invoke(main, ["merge", str(folder), "-o", str(other_name)])
        assert result.exit_code == 2 and "one of the inputs" in result.output
    assert (folder / "A02.xlsx").read_bytes() == before


def test_an_existing_output_is_replaced_atomically(world, tmp_path):
    folder = _folder_of_good(world, tmp_path)
    out = tmp_path / "s.xlsx"
    out.write_bytes(b"an old summary")
    inode = out.stat().st_ino
    result = CliRunner().invoke(main, ["merge", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_ino != inode  # a new file renamed into place, never the old one rewritten
    assert _summary(out)[0] == _sums(*(v for _, v in world.good.values()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "s.xlsx"]


def _many(world: World, folder: Path, n: int) -> None:
    """``n`` valid workbooks of distinct agencies: copies of a good one with its agency code changed."""
    folder.mkdir()
    source, _ = world.good["A01"]
    with zipfile.ZipFile(source) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    for i in range(n):
        code = f"M{i:02d}"
        out = folder / f"{code}.xlsx"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, part in parts.items():
                if name.startswith("xl/worksheets/"):
                    part = part.replace(b">A01<", f">{code}<".encode())
                zf.writestr(name, part)


def _merge_process(folder: Path, out: Path) -> subprocess.Popen:
    code = "from xltool.cli import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, "merge", str(folder), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "TQDM_DISABLE": "1"})


def _living(group: int) -> list[int]:
    """Processes of a process group that still run (zombies waiting for init to reap them do not)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _kill(process: subprocess.Popen) -> None:
    """SIGKILL the merge, then make sure nothing of it lives on (workers of its process pool)."""
    process.kill()
    process.wait()
    deadline = time.monotonic() + 5
    while _living(process.pid):
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("worker processes of the killed merge lived on")
        time.sleep(0.02)


def _wait_for_temp(process: subprocess.Popen, folder: Path) -> None:
    """Until the merge's temporary file appears (or the merge ends)."""
    deadline = time.monotonic() + 60
    while not list(folder.glob(".s.xlsx.*.tmp")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)


def _complete(path: Path) -> bool:
    """A whole summary of the 60 agencies, as openpyxl (not xltool's reader) loads it."""
    return len(load_workbook(path)["报送情况"]["A"]) == 61


def test_a_merge_killed_at_any_moment_leaves_the_old_output_or_none(world, tmp_path):
    folder = tmp_path / "in"
    _many(world, folder, 60)
    inputs = {p.name: p.read_bytes() for p in folder.iterdir()}
    out = tmp_path / "s.xlsx"
    # a full run, for how long a merge takes here, and the "old" output
    start = time.monotonic()
    process = _merge_process(folder, out)
    assert process.wait(timeout=120) == 0
    full = time.monotonic() - start
    old = out.read_bytes()
    assert _complete(out)
    moments = [0.1, 0.5, 1.0, full * 0.6, full * 0.85, "writing"]  # starting, checking, writing
    seen_temp = False
    for moment in moments:
        process = _merge_process(folder, out)
        if moment == "writing":  # as soon as the temporary file appears: killed in the middle of the write
            _wait_for_temp(process, tmp_path)
        else:
            time.sleep(moment)
        _kill(process)
        now = out.read_bytes()
        if now != old:  # the kill came after the rename: the merge had written its complete summary
            assert _complete(out), f"a merge killed after {moment} left a partial output"
            old = now
        seen_temp |= bool(list(tmp_path.glob(".s.xlsx.*.tmp")))  # hidden: no check or merge picks it up
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["in", "s.xlsx"]
    # without an old output: killed mid-write leaves none at all
    out.unlink()
    process = _merge_process(folder, out)
    _wait_for_temp(process, tmp_path)
    _kill(process)
    assert not out.exists() or _complete(out)  # the rename is the last step: all or nothing
    # the next merge removes the temporary files killed ones left, and writes the summary
    process = _merge_process(folder, out)
    assert process.wait(timeout=120) == 0
    assert list(tmp_path.glob(".s.xlsx.*")) == []
    assert read_workbook(out).sheet("报送情况") is not None
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == inputs


def test_stale_temp_files_of_other_outputs_are_left_alone(world, tmp_path):
    folder = _folder_of_good(world, tmp_path)
    mine = tmp_path / ".s.xlsx.abc123.tmp"
    theirs = tmp_path / ".other.xlsx.abc123.tmp"
    mine.write_bytes(b"partial")
    theirs.write_bytes(b"someone else's")
    result = CliRunner().invoke(main, ["merge", str(folder), "-o", str(tmp_path / "s.xlsx")])
    assert result.exit_code == 0
    assert not mine.exists() and theirs.read_bytes() == b"someone else's"


# -- names that a spreadsheet would run ------------------------------------------------------------

FORMULA_LIKE = [Agency("=1+1", '=HYPERLINK("http://example.invalid/","点我")'), Agency("+B1", "+SUM(1,2)"),
                Agency("-B2", "-2+3"), Agency("@B3", "@SUM(A1:A2)")]


def test_names_that_look_like_formulas_are_written_as_text(world, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    fills = []
    for i, agency in enumerate(FORMULA_LIKE[:3]):
        values = random_values(TEMPLATE, random.Random(500 + i))
        path = folder / f"=cmd{i}.xlsx"  # a file name that looks like a formula too
        generate_workbook(path, FMT, YEAR, agency)
        type_into(path, FMT, values)
        fills.append(values)
    roster = tmp_path / "roster.csv"  # the fourth is on the roster only: listed as 未报送
    roster.write_text("code,name\n" + "".join(f'"{a.code}","{a.name.replace(chr(34), chr(34) * 2)}"\n'
                                              for a in FORMULA_LIKE), encoding="utf-8")
    out = tmp_path / "s.xlsx"
    result = CliRunner().invoke(main, ["merge", str(folder), "--roster", str(roster), "-o", str(out),
                                       "--name", "=SUM(9)"])
    _no_traceback(result)
    assert result.exit_code == 1, result.output  # one agency missing
    assert _summary(out)[0] == _sums(*fills)
    data = out.read_bytes()
    book = read_workbook(out)
    texts = set()
    for name in ("报送情况", "汇总明细", "来源", "封面", "_xltool"):
        part = part_of(data, sheet_part(data, name))
        assert b"<f>" not in part and b"<f " not in part, name  # never a formula
        cells = book.sheet(name).cells.values()
        assert all(c.formula is None for c in cells)
        texts |= {c.value for c in cells if isinstance(c.value, str)}
    for agency in FORMULA_LIKE:
        assert agency.code in texts and agency.name in texts, agency
    assert "=cmd0.xlsx" in texts and "=SUM(9)" in texts
    status = load_workbook(out)["报送情况"]
    shown = {row[1]: (row[2], row[3]) for row in status.iter_rows(min_row=2, values_only=True)}
    assert shown["@B3"] == ("@SUM(A1:A2)", "未报送") and shown["=1+1"][1] == "已采纳"
    # the summary is itself a valid workbook, and the CSV export quotes every formula-like text
    checked = CliRunner().invoke(main, ["check", str(out)])
    assert checked.exit_code == 0, checked.output
    csv_out = tmp_path / "points.csv"
    exported = CliRunner().invoke(main, ["export", str(folder), str(out), "--csv", "-o", str(csv_out)])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.reader(io.StringIO(csv_out.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 1 + 4 * len(TEMPLATE.cells)
    for row in rows[1:]:
        assert not any(field.startswith(("=", "+", "-", "@")) for field in row), row
    fields = {field for row in rows for field in row}
    assert {"'=1+1", "'=HYPERLINK(\"http://example.invalid/\",\"点我\")", "'+SUM(1,2)", "'-2+3", "'=cmd0.xlsx",
            "'=SUM(9)"} <= fields


# -- folders ---------------------------------------------------------------------------------------


def test_a_folder_check_lists_every_file_a_report_may_have_been_saved_as(world, tmp_path):
    folder = _folder_of_good(world, tmp_path)
    for name in ("csv", "xlsb", "xlsm-with-macros"):
        ENTRIES[name].build(folder, world.base)
    (folder / "notes.txt").write_text("not a report")
    (folder / "~$A01.xlsx").write_bytes(b"lock file")
    (folder / ".hidden.xlsx").write_bytes(b"")
    result = CliRunner().invoke(main, ["check", "--json", str(folder)])
    _no_traceback(result)
    files = {Path(f["path"]).name: [x["code"] for x in f["findings"]] for f in json.loads(result.stdout)["files"]}
    assert files == {"A01.xlsx": [], "A02.xlsx": [], "A03.xlsx": [], "table.csv": ["not-a-workbook"],
                     "binary.xlsb": ["not-a-workbook"], "macros.xlsm": ["macros-present"]}
    assert result.exit_code == 1


def test_refused_files_get_no_annotated_copy_and_are_never_reopened(world, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("zip-bomb", "named-pipe", "device-file", "xlsm-with-macros", "value-date"):
        ENTRIES[name].build(folder, world.base)
    back = tmp_path / "back"
    start = time.process_time()
    result = CliRunner().invoke(main, ["check", str(folder), "--annotate", str(back)])
    _no_traceback(result)
    assert result.exit_code == 1 and time.process_time() - start < 10
    assert sorted(p.name for p in back.iterdir()) == ["value-date_审核结果.xlsx"]
