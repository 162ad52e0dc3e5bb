"""A1 addressing without openpyxl, held to openpyxl's own functions."""

from __future__ import annotations

import random

import pytest
from openpyxl.utils.cell import get_column_letter, range_boundaries as openpyxl_boundaries

from xltool.addresses import MAX_COL, address, col_letter, parse_cell, parse_range, range_boundaries


def test_every_column_letter_is_openpyxls():
    assert [col_letter(c) for c in range(18_278)] == [get_column_letter(c + 1) for c in range(18_278)]
    assert address(4, 3) == "D5" and address(0, MAX_COL - 1, absolute=True) == "$XFD$1"
    for bad in (-1, 18_278):
        with pytest.raises(ValueError):
            col_letter(bad)


def _openpyxl(ref: str):
    try:
        return openpyxl_boundaries(ref)
    except (ValueError, TypeError, KeyError):
        return "refused"


def _ours(ref: str):
    try:
        return range_boundaries(ref)
    except ValueError:
        return "refused"


def test_range_boundaries_agree_with_openpyxl_on_written_and_random_references():
    written = ["A1", "$B$2", "d5", "A1:C3", "C3:A1", "A:A", "$A:$C", "3:3", "$2:$5", "XFD1048576", "ZZZ1", "AAAA1",
               "A0", "A1:", ":A1", "A1:B", "A:1", "1:A", "", "$", "A$1", "A1 ", " A1", "A1\n", "A١", "Ａ1",
               "A1:B2:C3", "A-1", "1", "A"]
    alphabet = "AZaz$:019١\n -XFD"
    rng = random.Random(14)
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))) for _ in range(20_000)]
    differ = [(ref, _ours(ref), _openpyxl(ref)) for ref in written + fuzz if _ours(ref) != _openpyxl(ref)]
    assert differ == []
    assert sum(_ours(ref) != "refused" for ref in fuzz) > 500  # the fuzz reaches references, not only refusals


def test_positions_inside_the_grid():
    assert parse_range("A1:C3") == (0, 0, 2, 2) and parse_range("C3:A1") == (0, 0, 2, 2)
    assert parse_range("B:B") == (0, 1, 1_048_575, 1) and parse_range("2:2") == (1, 0, 1, MAX_COL - 1)
    assert parse_range("XFE1") is None and parse_range("A1048577") is None and parse_range("A0") is None
    assert parse_cell("$D$5") == (4, 3) and parse_cell("A1:A1") is None and parse_cell("A1:B2") is None
