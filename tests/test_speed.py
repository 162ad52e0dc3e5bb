"""The fast paths compute exactly what the straightforward ones do (issue 14).

- Checking a file (formulas compiled once per shape, run without the dispatcher, kept in the cache between runs)
  gives every data point the value, and every identity the outcome, that a full evaluation of the workbook by
  the ``formulas`` library gives (``formulas.ExcelModel``), on valid files, altered totals, formulas typed into
  inputs and blank inputs, in both formats.
- A plan run without the dispatcher returns what the library's compiled function returns, formula by formula.
- Cells and shared strings scanned from the text are what parsing the whole part as a tree gives.

Speed itself is measured in bench/, not here.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
import zipfile
from pathlib import Path

import pytest

from tests.conftest import FORMATS, blank, fill, filled
from tests.corpus import sheet_part
from tests.fill import random_values
from xltool import formula_cache, formula_functions, formula_index, formula_plan, formula_shapes, reader
from xltool.addresses import address
from xltool.check import check_file
from xltool.evaluate import compile_formula, from_library, to_library
from xltool.identify import identify
from xltool.identities import holds
from xltool.layout import META_SHEET, layout_for
from xltool.reader import read_workbook
from xltool.structure import compare
from xltool.values import evaluate_values


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A cache of compiled formulas of this test's own, empty, and nothing compiled in this process."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("XLTOOL_CACHE_DIR", str(folder))
    monkeypatch.delenv("XLTOOL_CACHE", raising=False)
    compile_formula.cache_clear()
    yield folder
    compile_formula.cache_clear()


def _variants(tmp_path: Path, fmt: str) -> dict[str, Path]:
    """A valid workbook, one with totals' formulas changed, one with formulas typed into inputs, one with
    blank inputs."""
    layout = layout_for(fmt)
    template = layout.template
    inputs = [c for c, cell in template.cells.items() if cell.is_input]
    row_totals = [c for c, cell in template.cells.items() if not cell.is_input and cell.total_of
                  and len({layout.positions[p][1] for p in cell.total_of}) == 1 and len(cell.total_of) > 2]
    valid, values = filled(tmp_path, fmt, seed=3, name="valid.xlsx")
    total = row_totals[0]
    parts = sorted(layout.positions[p][1:] for p in template.cells[total].total_of)
    shorter = f"=SUM({address(*parts[0])}:{address(*parts[-2])})"  # one column left out, as in =SUM(D7:H7)
    altered = fill(blank(tmp_path, fmt, "altered.xlsx"), fmt, {**values, total: shorter, row_totals[-1]: "=1/0"})
    other_sheet, row, col = layout.positions[inputs[2]]
    typed = fill(blank(tmp_path, fmt, "typed.xlsx"), fmt,
                 {**values, inputs[0]: "=2*3", inputs[1]: f"='{other_sheet}'!{address(row, col)}*2", inputs[3]: '="7"'})
    holes = fill(blank(tmp_path, fmt, "blank.xlsx"), fmt,
                 {**{c: v for c, v in values.items() if c not in inputs[::3]}, **{c: None for c in inputs[::3]}})
    return {"valid": valid, "altered": altered, "typed": typed, "blank": holes}


def _ours(path: Path) -> dict[str, object]:
    book = read_workbook(path)
    found = identify(book)
    return dict(evaluate_values(book, found.layout, compare(book, found.layout, found.origin.role)).values)


def _library(path: Path, fmt: str) -> dict[str, object]:
    """Every data point's value by a full evaluation of the workbook (``formulas.ExcelModel``)."""
    import formulas

    solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
    out = {}
    for code, (sheet, row, col) in layout_for(fmt).positions.items():
        found = solution.get(f"'[{path.name}]{sheet.upper()}'!{address(row, col)}")
        out[code] = None if found is None else from_library(getattr(found, "value", found))
    return out


def _outcomes(fmt: str, values: dict[str, object]) -> dict[tuple, bool]:
    def numeric(v):
        return v if isinstance(v, float) and math.isfinite(v) else 0.0

    return {(ident.rule, ident.anchor): holds(ident.relation, sum(numeric(values.get(c)) for c in ident.left),
                                              sum(numeric(values.get(c)) for c in ident.right))
            for ident in layout_for(fmt).template.identities if not ident.cross_year}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_checking_agrees_with_a_full_evaluation_by_the_library(tmp_path, fmt, cache_dir):
    for name, path in _variants(tmp_path, fmt).items():
        expected = _library(path, fmt)
        first = _ours(path)  # compiled now, and written to the cache
        compile_formula.cache_clear()
        again = _ours(path)  # read back from the cache
        for ours in (first, again):
            assert ours == expected, (name, {c: (ours.get(c), v) for c, v in expected.items() if ours.get(c) != v})
            assert _outcomes(fmt, ours) == _outcomes(fmt, expected), name
        if name == "valid":
            assert check_file(path).valid
    assert list(cache_dir.glob("formulas-*.json"))


def test_the_altered_variants_are_what_they_say(tmp_path, cache_dir):
    variants = _variants(tmp_path, "2021")
    codes = {name: {f.code for f in check_file(path).findings} for name, path in variants.items()}
    assert codes["valid"] == set()
    assert {"formula-altered", "identity-violated"} <= codes["altered"]
    assert "formula-in-input" in codes["typed"]
    assert "missing-value" in codes["blank"]


FORMULAS = ["=SUM(A1:C1)", "=A1+B1+C1", "=A1-B1*C1", "=-A1%", "=A1/B1", "=2*3", "=1/0", "=SUM(A1:B2)*2",
            '=A1&"x"', "=IF(A1>B1,A1,-B1)", "=ROUND(A1/3,2)", "=MAX(A1:C1)-MIN(A1:C1)", "=ABS(A1)+SUM(A1,,B1)",
            "=A1=B1", '="7"+1', "=SUM(A1:C1)/COUNT(A1:C1)", "=A1+A1", "=$A$1+A1", "=A1^2", "=ISBLANK(A1)", "=B1"]
ARGUMENTS = [[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [None, 2.5, "3", -1.0], ["x", True, None, 7.0],
             [5.0, "#DIV/0!", 1.0, None]]


def _grid(name: str, cells: list) -> object:
    import numpy as np

    from xltool.evaluate import parse_reference
    from xltool.workbook_data import ErrorValue

    _, r1, c1, r2, c2 = parse_reference(name, "S", {"S": "S"})
    grid = np.empty((r2 - r1 + 1, c2 - c1 + 1), dtype=object)
    for r in range(r1, r2 + 1):
        for c in range(c1, c2 + 1):
            v = cells[(r * 3 + c) % len(cells)]
            grid[r - r1, c - c1] = to_library(ErrorValue(v) if isinstance(v, str) and v.startswith("#") else v)
    return grid


def test_plans_return_what_the_library_dispatcher_returns(cache_dir):
    """Arguments as values (what the checker passes) and as the library's ``Ranges`` (what its own model
    passes): the plan calls a function's wrapped implementation directly only for values."""
    from formulas.ranges import Ranges

    for formula in FORMULAS:
        prepared = formula_cache.prepare(formula)
        pipe, inputs = formula_cache.compile_pipe(formula)
        assert sorted(prepared.names) == list(inputs)
        for cells, as_ranges in itertools.product(ARGUMENTS, (False, True)):
            args = [_grid(n, cells) for n in prepared.names]
            if as_ranges:
                args = [Ranges().push(n, grid) for n, grid in zip(prepared.names, args)]
            by_name = dict(zip(prepared.names, args))
            expected = from_library(pipe(*[by_name[n] for n in inputs]))
            assert from_library(prepared.run(args)) == expected, (formula, cells, as_ranges)
            if prepared.compiled.plan is not None and prepared.compiled.plan.ref is not None:
                again = formula_plan.plan_from_ref(json.loads(json.dumps(prepared.compiled.plan.ref)))
                assert from_library(again(args)) == expected, (formula, cells, as_ranges)
    plan = formula_cache.prepare("=SUM(A1:C1)").compiled.plan
    assert [step[5] is not None for step in plan._run if step[0] == 0] == [True]  # SUM without its range glue


def test_one_compile_per_shape_and_each_formula_its_own_cells(cache_dir):
    rows = [formula_cache.prepare(f"=SUM(D{r}:I{r})") for r in range(7, 12)]
    assert len({id(p.compiled) for p in rows}) == 1
    assert [p.names for p in rows] == [(f"D{r}:I{r}",) for r in range(7, 12)]
    assert formula_cache.prepare("=A1+A1").compiled is not formula_cache.prepare("=A1+B1").compiled
    same, other = formula_cache.prepare("=$A$1+A1"), formula_cache.prepare("=$A$1+A2")
    assert same.compiled is not other.compiled and other.names == ("A1", "A2")
    assert formula_cache.prepare("='依申请公开'!D7+1").names == ("依申请公开!D7",)
    assert formula_shapes.scan('=IF(A1>0,"H1",A1)') is None  # text that looks like a reference: compiled alone


def test_the_cache_between_runs_can_be_disabled_and_survives_damage(tmp_path, cache_dir, monkeypatch):
    path, _ = filled(tmp_path, "2019")
    monkeypatch.setenv("XLTOOL_CACHE", "0")
    assert check_file(path).valid and not cache_dir.exists()
    monkeypatch.delenv("XLTOOL_CACHE")
    compile_formula.cache_clear()
    assert check_file(path).valid
    (cached,) = cache_dir.glob("formulas-*.json")
    assert json.loads(cached.read_text(encoding="utf-8"))["shapes"]
    cached.write_text('{"shapes": {"x": 1', encoding="utf-8")
    compile_formula.cache_clear()
    assert check_file(path).valid
    cached.write_text(json.dumps({"shapes": {k: {"slots": [0], "plan": {"steps": [["call", ["fn", "NOPE"]]]}}
                                             for k in ("=SUM(\x00CR:CR#0\x00)", "x")}, "texts": {}}), encoding="utf-8")
    compile_formula.cache_clear()
    assert check_file(path).valid


def test_the_function_index_is_the_librarys():
    import formulas

    assert formula_index.FORMULAS_VERSION == formulas.__version__, "regenerate: python -m xltool.formula_cache --index"
    assert {m: sorted(n.split()) for m, n in formula_index.MODULES.items()} == formula_functions.build_function_index()


def _with_sheet(src: Path, dst: Path, part: str, change) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, change(data) if info.filename == part else data)
    return dst


def _first_sheet_with_data(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        return next(n for n in sorted(zf.namelist()) if n.startswith("xl/worksheets/sheet") and b"<v>" in zf.read(n))


EDITS = {
    "comment": lambda d: d.replace(b"<row ", b"<!-- x --><row ", 1),
    "cdata": lambda d: d.replace(b"<v>", b"<v><![CDATA[", 1).replace(b"</v>", b"]]></v>", 1),
    "references": lambda d: d.replace(b"<v>", b"<v>&#49;&#x30;", 1),
    "crlf": lambda d: d.replace(b"<row ", b"\r\n<row "),
    "attribute order": lambda d: re.sub(rb'<c r="([A-Z]+[0-9]+)" s="([0-9]+)"', rb'<c s="\2" r="\1"', d, count=3),
    "single quotes": lambda d: d.replace(b'<row r="3"', b"<row r='3'", 1),
    "greater than in value": lambda d: d.replace(b'<row r="3"', b'<row r="3" foo="a>b"', 1),
    "prefixed": lambda d: d.replace(b"<worksheet ", b'<worksheet xmlns:x="http://schemas.openxmlformats.org/'
                                                   b'spreadsheetml/2006/main" ', 1).replace(b"<v>", b"<x:v>", 1)
                                     .replace(b"</v>", b"</x:v>", 1),
    "default namespace": lambda d: d.replace(b"<row ", b'<row xmlns="urn:other" ', 1),
    "row without r": lambda d: d.replace(b'<row r="3"', b"<row", 1),
    "cell without r": lambda d: d.replace(b'<c r="B3"', b"<c", 1),
    "text between": lambda d: d.replace(b"</c>", b"</c>\n  ", 3),
    "value with attribute": lambda d: d.replace(b"<v>", b'<v xml:space="preserve">', 1),
    "two values": lambda d: d.replace(b"</v>", b"</v><v>5</v>", 1),
    "inline rich text": lambda d: d.replace(b"</row>", b'<c r="Z9" t="inlineStr"><is><r><rPr><b/></rPr><t>a</t></r>'
                                                      b'<r><t xml:space="preserve"> b_x000D_</t></r><rPh sb="0" eb="1">'
                                                      b"<t>p</t></rPh></is></c></row>", 1),
    "shared formula": lambda d: d.replace(b"</row>", b'<c r="Y9"><f t="shared" ref="Y9:Y10" si="7">A1+1</f></c>'
                                                     b'<c r="X9"><f t="shared" si="7"/></c></row>', 1),
    "error and boolean": lambda d: d.replace(b"</row>", b'<c r="W9" t="e"><v>#N/A</v></c><c r="V9" t="b"><v>1</v>'
                                                       b"</c></row>", 1),
    "empty row": lambda d: d.replace(b"<row ", b'<row r="99" spans="1:2"/><row ', 1),
    "malformed": lambda d: d.replace(b"</v>", b"</w>", 1),
    "undefined entity": lambda d: d.replace(b"<v>", b"<v>&nbsp;", 1),
    "doctype": lambda d: d.replace(b"<worksheet ", b"<!DOCTYPE worksheet><worksheet ", 1),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_scanning_cells_and_strings_gives_what_the_tree_gives(tmp_path, fmt, monkeypatch):
    path, _ = filled(tmp_path, fmt)
    part = _first_sheet_with_data(path)
    for name, edit in EDITS.items():
        variant = _with_sheet(path, tmp_path / f"{name}.xlsx", part, edit)
        scanned, parsed = _read_both_ways(variant, monkeypatch)
        assert scanned == parsed, name


def _canonical(book) -> tuple:
    return tuple((s.name, s.state, sorted((k, repr(c.value), c.formula, c.locked, c.date_style)
                                          for k, c in s.cells.items()),
                  sorted(s.merged), s.protection, sorted((v.type, v.formula1, tuple(sorted(v.cells))) for v in s.validations),
                  sorted(s.conditional_formulas.items()))
                 for s in book.sheets) + (tuple(sorted(book.defined_names.items())), tuple(sorted(book.meta.items())))


def test_random_fills_read_the_same_either_way(tmp_path, monkeypatch):
    for fmt in sorted(FORMATS):
        for seed in range(3):
            values = random_values(layout_for(fmt).template, random.Random(seed), high=10**6)
            path = fill(blank(tmp_path, fmt, f"{fmt}-{seed}.xlsx"), fmt, values)
            results = []
            for scan in (True, False):
                monkeypatch.setattr(reader, "SCAN", scan)
                results.append(_canonical(read_workbook(path)))
            assert results[0] == results[1]


@pytest.mark.libreoffice
def test_the_scan_covers_what_xltool_openpyxl_and_libreoffice_write(tmp_path, monkeypatch):
    """The fast path is the usual path: no part of these files is left to the tree."""
    from tests.conftest import libreoffice_resave
    from xltool import sheet_parser, xml_scan

    written, _ = filled(tmp_path, "2021")  # written by xltool, then typed into and saved by openpyxl
    resaved = libreoffice_resave(written, tmp_path / "lo")
    left: list[str] = []
    scan, strings = sheet_parser.SheetParser.scan, reader.scan_strings

    def counting_scan(self, content):
        try:
            return scan(self, content)
        except xml_scan.Unsupported:
            left.append(self.sheet.name)
            raise

    def counting_strings(content, check):
        found = strings(content, check)
        if found is None:
            left.append("sharedStrings")
        return found

    monkeypatch.setattr(sheet_parser.SheetParser, "scan", counting_scan)
    monkeypatch.setattr(reader, "scan_strings", counting_strings)
    split = reader.split_element
    unsplit: list[int] = []
    monkeypatch.setattr(reader, "split_element", lambda data, name: split(data, name) or unsplit.append(1))
    for path in (written, resaved):
        read_workbook(path)
    assert not left and not unsplit


STRING_EDITS = {
    "malformed": lambda d: d.replace(b"</t>", b"</x>", 1),
    "malformed later": lambda d: d[::-1].replace(b">t/<", b">x/<", 1)[::-1],
    "undefined entity": lambda d: d.replace(b"<t>", b"<t>&nbsp;", 1),
    "references": lambda d: d.replace(b"<t>", b"<t>&#x5F;&amp;&lt;", 1),
    "attribute": lambda d: d.replace(b"<si>", b'<si foo="1">', 1),
    "comment": lambda d: d.replace(b"<si>", b"<!-- x --><si>", 1),
    "cdata": lambda d: d.replace(b"<t>", b"<t><![CDATA[a<b]]>", 1),
    "rich text": lambda d: d.replace(b"<si><t>", b'<si><r><rPr><b/></rPr><t>x</t></r><rPh sb="0" eb="1"><t>p</t></rPh>'
                                                 b"<r><t>", 1).replace(b"</t></si>", b"</t></r></si>", 1),
    "text between": lambda d: d.replace(b"</si><si>", b"</si>\r\n  <si>", 2),
    "empty": lambda d: d.replace(b"<si>", b"<si/><si>", 1),
}


def test_scanning_shared_strings_gives_what_the_tree_gives(tmp_path, monkeypatch):
    path = blank(tmp_path, "2021")  # written by xltool: its labels are shared strings
    for name, edit in STRING_EDITS.items():
        variant = _with_sheet(path, tmp_path / f"{name}.xlsx", "xl/sharedStrings.xml", edit)
        scanned, parsed = _read_both_ways(variant, monkeypatch)
        assert scanned == parsed, name


def _read_both_ways(path, monkeypatch) -> list:
    """What reading the file gives with the scan and with the tree parse (or how each failed)."""
    results = []
    for scan in (True, False):
        monkeypatch.setattr(reader, "SCAN", scan)
        try:
            results.append(_canonical(read_workbook(path)))
        except Exception as exc:  # noqa: BLE001 - both ways must fail alike
            results.append((type(exc).__name__, getattr(exc, "code", None), getattr(exc, "reason", None)))
    return results


def test_cells_that_come_again_are_each_files_own(tmp_path, monkeypatch):
    """A sheet's cells seen before are replayed, with the shared strings of the file at hand."""
    from xltool.roster import Agency

    first = blank(tmp_path, "2021", "first.xlsx", Agency("A01", "甲局"))
    second = blank(tmp_path, "2021", "second.xlsx", Agency("B02", "乙局"))
    for path in (first, first, second, second, first, second):
        scanned = _canonical(read_workbook(path))
        monkeypatch.setattr(reader, "SCAN", False)
        assert scanned == _canonical(read_workbook(path))
        monkeypatch.setattr(reader, "SCAN", True)
    assert read_workbook(second).meta["agency_name"] == "乙局"


def test_a_sheet_that_comes_again_is_the_one_read_before_only_with_the_same_strings_and_styles(tmp_path, monkeypatch):
    """A sheet of the same bytes as in an earlier file (the check sheet of every file of a batch) is the sheet read
    then, but only when the shared strings and styles it read are the same in the file at hand."""
    from xltool.roster import Agency
    from xltool.xml_parts import Memo

    monkeypatch.setattr(reader, "_READ", Memo(recurring=True))  # this test's own

    def sheets(path):
        return {s.name: s for s in read_workbook(path).sheets}

    def as_parsed(path, name):
        monkeypatch.setattr(reader, "SCAN", False)
        book = read_workbook(path)
        monkeypatch.setattr(reader, "SCAN", True)
        return _canonical(book)[[s.name for s in book.sheets].index(name)]

    first = blank(tmp_path, "2021", "first.xlsx", Agency("A01", "甲局"))
    second = blank(tmp_path, "2021", "second.xlsx", Agency("B02", "乙局"))
    assert not any(a is b for a, b in zip(sheets(first).values(), sheets(first).values()))  # kept the second time
    before, again = sheets(first), sheets(second)
    same = [name for name in before if before[name] is again[name]]
    assert same  # the sheets whose bytes and strings are the same in both
    assert "乙局" in {c.value for s in again.values() for c in s.cells.values()}

    for key, entry in list(reader._READ.items()):  # other bytes with the same checksum and length
        reader._READ[key] = (bytes(len(entry[0])), *entry[1:])
    assert not any(a is b for a, b in zip(sheets(first).values(), before.values()))

    name = same[0]
    label = next(c.value for c in before[name].cells.values() if isinstance(c.value, str) and c.value)
    strings = _with_sheet(first, tmp_path / "strings.xlsx", "xl/sharedStrings.xml",
                          lambda d: d.replace(f"<t>{label}</t>".encode(), f"<t>改{label}</t>".encode(), 1))
    styles = _with_sheet(first, tmp_path / "styles.xlsx", "xl/styles.xml",  # the default style unlocked
                         lambda d: re.sub(rb'(<cellXfs[^>]*>)<xf ([^>]*)/>', rb'\1<xf \2><protection locked="0"/></xf>', d))
    for variant in (strings, styles):
        kept = sheets(first)[name]
        assert sheets(first)[name] is kept
        assert sheets(variant)[name] is not kept
        assert _canonical(read_workbook(variant))[list(before).index(name)] == as_parsed(variant, name)
    assert f"改{label}" in {c.value for c in sheets(strings)[name].cells.values()}
    assert sheets(styles)[name].default_locked is False and before[name].default_locked is True


def test_a_sheet_read_before_is_compared_again_only_when_its_texts_say_the_same(tmp_path, monkeypatch):
    """The structure findings of a sheet the reader gave before (the same SheetData) are worked out once, with
    what they tell the value stage (the totals whose formulas were changed), and again when the metadata that
    fills its texts differs."""
    from xltool import structure
    from xltool.xml_parts import Memo

    monkeypatch.setattr(reader, "_READ", Memo(recurring=True))
    monkeypatch.setattr(structure, "_COMPARED", Memo(recurring=True))

    def compared(path, fresh=False):
        book = read_workbook(path)
        kept = structure._COMPARED
        if fresh:  # as if no sheet had been compared before
            structure._COMPARED = Memo(recurring=True)
        found = identify(book)
        result = compare(book, found.layout, found.origin.role)
        structure._COMPARED = kept
        return [f.message for f in result.findings], result.altered

    altered = _variants(tmp_path, "2021")["altered"]
    runs = [compared(altered) for _ in range(3)]  # kept the second time, used the third
    assert structure._COMPARED
    assert runs[0] == runs[1] == runs[2] == compared(altered, fresh=True)
    assert runs[2][1] and any("公式" in m for m in runs[2][0])

    row = list(read_workbook(altered).meta).index("agency_name") + 1  # the _xltool sheet's rows, in order
    other = _with_sheet(altered, tmp_path / "other.xlsx", sheet_part(altered.read_bytes(), META_SHEET),
                        lambda d: re.sub(rf'<c r="B{row}"[^>]*>.*?</c>'.encode(),  # another agency's name
                                         f'<c r="B{row}" t="inlineStr"><is><t>另一局</t></is></c>'.encode(), d))
    assert read_workbook(other).meta["agency_name"] == "另一局"
    found = compared(other)
    assert found == compared(other, fresh=True)
    assert any("另一局" in m for m in found[0]) and not any("另一局" in m for m in runs[2][0])


VALUE_TEXTS = {  # the t of a cell -> texts of its <v>, each read after the same cells with other values
    None: ["12", "1&#50;", "", " 7 ", "1E999", "abc", "-0.5", "1\r\n2"],
    "n": ["3", "", "1e3", "NaN", "x&amp;y"],
    "s": ["0", "1", "2", "7", "99999", "-1", "a"],
    "str": ["a&amp;b", "", "_x0041_", "1\r2", "&#x5F;"],
    "b": ["1", "0", "true", "2", ""],
    "e": ["#DIV/0!", "#N/A", ""],
    "d": ["2024-01-01", ""],
}


def test_cells_that_come_again_but_for_their_values_are_read_with_this_files_values(tmp_path, monkeypatch):
    """Cells whose text is an earlier file's but for the text of their <v> are made from what was remembered of
    that file's cells, and are what parsing the whole part as a tree gives, whatever the new values and types."""
    from xltool import sheet_parser
    from xltool.generate import Metadata, workbook_bytes
    from xltool.xml_parts import Memo, split_element
    from xltool.xml_scan import without_values

    monkeypatch.setattr(sheet_parser, "_SKELETONS", Memo(recurring=True))
    layout = layout_for("2021")  # written by xltool with values: labels are shared strings
    meta = Metadata("2021", layout.template.version, 2024, "A01", "甲局", fingerprint=layout.fingerprint)
    path = tmp_path / "written.xlsx"
    path.write_bytes(workbook_bytes(layout, meta, values=random_values(layout.template, random.Random(5))))
    part = sheet_part(path.read_bytes(), next(iter(layout.positions.values()))[0])
    ref, style = re.search(r'<c r="([A-Z]+[0-9]+)" (s="[0-9]+")><v>[0-9]+</v></c>',
                           zipfile.ZipFile(path).read(part).decode()).groups()
    for t, texts in VALUE_TEXTS.items():
        kind = f' t="{t}"' if t else ""
        for i, text in enumerate(texts):
            variant = _with_sheet(path, tmp_path / f"{t}-{i}.xlsx", part, lambda d: re.sub(
                rf'<c r="{ref}" {style}><v>[0-9]+</v></c>'.encode(), f'<c r="{ref}" {style}{kind}><v>{text}</v></c>'.encode(), d))
            cells = split_element(zipfile.ZipFile(variant).read(part), b"sheetData")[2]
            assert (without_values(cells)[0] in sheet_parser._SKELETONS) == (i >= 2)  # kept the second time
            scanned, parsed = _read_both_ways(variant, monkeypatch)
            assert scanned == parsed, (t, text)


def test_the_memos_of_texts_keep_long_labels_and_stay_bounded():
    from xltool.xml_scan import _remember, _texts

    memo = _texts()
    label = "<r><t>行政复议：总计</t></r>" * 60  # rich text as LibreOffice saves a label: over 1,000 characters
    _remember(memo, label, "行政复议：总计" * 60)
    _remember(memo, "x" * 16_385, "too long")
    assert list(memo) == [label]
    texts = [f"{i:05d}" + "y" * 16_000 for i in range(300)]
    for i, text in enumerate(texts):
        _remember(memo, text, i)
        assert memo.size == sum(map(len, memo)) <= 2_000_000 and len(memo) <= 20_000
    assert len(memo) < 300 and memo.get(texts[-1]) == 299


def test_a_single_check_imports_only_what_checking_needs(tmp_path, cache_dir):
    """The heavy modules a check of a valid file does not need stay out of a fresh process once its formulas are
    in the cache: openpyxl, scipy, the library's parser and operators, multiprocessing, the other format's spec."""
    import subprocess
    import sys

    path, _ = filled(tmp_path, "2021")
    code = ("import json, sys\nfrom xltool.cli import main\nfrom xltool import spec\n"
            "try:\n    main(['check', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps({'modules': sorted(sys.modules), 'specs': spec._load.cache_info().currsize}))")
    env = {**os.environ, "XLTOOL_CACHE_DIR": str(cache_dir)}
    for _ in range(2):  # the first run compiles the formulas into the cache
        done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env)
        assert done.returncode == 0 and "✓" in done.stdout, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    modules = set(seen["modules"])
    assert "formulas.functions.math" in modules and seen["specs"] == 1
    for heavy in ("openpyxl", "scipy", "formulas.parser", "formulas.functions.operators", "multiprocessing"):
        assert heavy not in modules, heavy


def test_the_command_starts_no_blas_threads_unless_the_user_asks(tmp_path, cache_dir):
    """numpy, which ``formulas`` imports, would start a BLAS thread per core that spins on the cores the checks
    need; the command keeps it to the main thread, and keeps a setting of the user's own."""
    import subprocess
    import sys

    path, _ = filled(tmp_path, "2021")
    code = ("import os, sys\nfrom xltool.cli import main\n"
            "try:\n    main(['check', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
            "print(len(os.listdir('/proc/self/task')), os.environ.get('OPENBLAS_NUM_THREADS'))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["XLTOOL_CACHE_DIR"] = str(cache_dir)
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "✓" in done.stdout, done.stdout + done.stderr
    assert done.stdout.split()[-2:] == ["1", "1"]
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          env={**env, "OPENBLAS_NUM_THREADS": "2"})
    assert done.stdout.split()[-1] == "2"
