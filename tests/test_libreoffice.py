"""LibreOffice as the real spreadsheet client: it recalculates what xltool generated, and agrees."""

from __future__ import annotations

import os
import random

import pytest
from openpyxl import load_workbook

from tests.conftest import FORMATS, blank, fill, libreoffice_resave
from tests.fill import random_values, totals
from xltool.layout import layout_for

pytestmark = pytest.mark.libreoffice


def _recalculated(tmp_path, fmt, values, name):
    src = fill(blank(tmp_path, fmt, name), fmt, values)
    return load_workbook(libreoffice_resave(src, tmp_path / "lo"), data_only=True)


def _live(template) -> list:
    """The identities the check sheet shows when the workbook holds no figures of last year."""
    return [i for i in template.identities if not i.cross_year]


def _check_rows(book):
    ws = book["校验"]
    return [r for r in ws.iter_rows(min_row=5, values_only=True) if r[0]], ws["C3"].value


@pytest.mark.parametrize("seed", [3, 4])
def test_libreoffice_computes_every_total_and_check_as_the_spec_says(tmp_path, fmt, seed):
    layout = layout_for(fmt)
    template = layout.template
    values = random_values(template, random.Random(seed))
    book = _recalculated(tmp_path, fmt, values, f"valid{seed}.xlsx")
    expected = totals(template, values)
    for code, cell in template.cells.items():
        sheet, row, col = layout.positions[code]
        got = book[sheet].cell(row + 1, col + 1).value
        if not cell.is_input:
            # independently: the sum of the parts the official table adds up
            assert got == sum(expected[p] for p in cell.total_of), code
    rows, failing = _check_rows(book)
    assert len(rows) == len(_live(template))
    assert {r[5] for r in rows} == {"通过"} and failing == 0
    for r, ident in zip(rows, _live(template)):
        assert r[2] == sum(expected[c] for c in ident.left) and r[3] == sum(expected[c] for c in ident.right)


def test_a_broken_h3_shows_failing_in_libreoffice_and_in_formulas(tmp_path):
    fmt = "2021"
    template = layout_for(fmt).template
    values = random_values(template, random.Random(7))
    values["T3_FORWARD_LEGAL"] += 2
    book = _recalculated(tmp_path, fmt, values, "broken.xlsx")
    rows, failing = _check_rows(book)
    bad = [(r[0], r[1], r[4], r[5]) for r in rows if r[5] != "通过"]
    # the 法律服务机构 column, and the 总计 column that sums the forwarded row
    assert bad == [("H3", "法律服务机构：本年新收 + 上年结转 = 本年度办理结果总计 + 结转下年度继续办理", -2, "不通过"),
                   ("H3", "总计：本年新收 + 上年结转 = 本年度办理结果总计 + 结转下年度继续办理", -2, "不通过")]
    assert failing == 2

    # The formulas library, loading the whole workbook, computes the same check cells.
    os.environ.setdefault("TQDM_DISABLE", "1")
    import formulas

    src = tmp_path / "broken.xlsx"
    solution = formulas.ExcelModel().loads(str(src)).finish().calculate()
    got = {k.split("!")[-1]: v.value[0, 0] for k, v in solution.items() if "]校验'!" in k and ":" not in k}
    ws = book["校验"]
    for row in range(5, 5 + len(_live(template))):
        for col in "CDEF":
            assert got[f"{col}{row}"] == ws[f"{col}{row}"].value, f"{col}{row}"
    assert got["C3"] == 2


def test_formulas_library_agrees_with_libreoffice_on_every_total(tmp_path, fmt):
    import formulas

    layout = layout_for(fmt)
    values = random_values(layout.template, random.Random(11))
    book = _recalculated(tmp_path, fmt, values, "agree.xlsx")
    solution = formulas.ExcelModel().loads(str(tmp_path / "agree.xlsx")).finish().calculate()
    compared = 0
    for code, cell in layout.template.cells.items():
        if cell.is_input:
            continue
        sheet, row, col = layout.positions[code]
        lo = book[sheet].cell(row + 1, col + 1).value
        key = f"'[agree.xlsx]{sheet.upper()}'!{book[sheet].cell(row + 1, col + 1).coordinate}"
        assert solution[key].value[0, 0] == lo, code
        compared += 1
    assert compared == sum(not c.is_input for c in layout.template.cells.values())
    assert FORMATS[fmt]
