"""A1 addresses, 0-based (row, col) positions: the one place they are converted.

What openpyxl's ``get_column_letter`` and ``range_boundaries`` do, without importing openpyxl (a fifth of a
second, on every run of a command that never opens a workbook with it); a test holds them to openpyxl's.
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_ROW, MAX_COL = 1_048_576, 16_384
_LAST_LETTERS = 18_278  # ZZZ: the last column openpyxl names
_RANGE = re.compile(r"""^
[$]?(?P<min_col>[A-Za-z]{1,3})?
[$]?(?P<min_row>\d+)?
(:[$]?(?P<max_col>[A-Za-z]{1,3})?
[$]?(?P<max_row>\d+)?)?
$""", re.VERBOSE)


@lru_cache(maxsize=None)
def col_letter(col: int) -> str:
    """``3`` -> ``"D"`` (0-based)."""
    n = col + 1
    if not 1 <= n <= _LAST_LETTERS:
        raise ValueError(f"Invalid column index {n}")
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def address(row: int, col: int, absolute: bool = False) -> str:
    """``(4, 3)`` -> ``"D5"`` (or ``"$D$5"``)."""
    d = "$" if absolute else ""
    return f"{d}{col_letter(col)}{d}{row + 1}"


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def range_boundaries(ref: str) -> tuple[int | None, int | None, int | None, int | None]:
    """openpyxl's ``range_boundaries``: (min_col, min_row, max_col, max_row), 1-based, None for whole rows or
    columns; ValueError when ``ref`` is not a cell or range."""
    m = _RANGE.match(ref)
    if not m:
        raise ValueError(f"{ref} is not a valid coordinate or range")
    min_col, min_row, sep, max_col, max_row = m.groups()
    if sep:
        cols, rows = (min_col, max_col), (min_row, max_row)
        if not (all(cols + rows) or all(cols) and not any(rows) or all(rows) and not any(cols)):
            raise ValueError(f"{ref} is not a valid coordinate or range")
    c1 = _col_number(min_col) if min_col is not None else None
    r1 = int(min_row) if min_row is not None else None
    c2 = _col_number(max_col) if max_col is not None else c1
    r2 = int(max_row) if max_row is not None else r1
    return c1, r1, c2, r2


@lru_cache(maxsize=65536)
def parse_range(ref: str) -> tuple[int, int, int, int] | None:
    """``"A1:C3"``, ``"$B$2"``, ``"A:A"`` or ``"3:3"`` -> (first_row, first_col, last_row, last_col), 0-based;
    None when ``ref`` is not a range inside the grid."""
    if not ref:
        return None
    try:
        c1, r1, c2, r2 = range_boundaries(ref)
    except (ValueError, TypeError, KeyError):
        return None
    if r1 is None:  # whole columns
        r1, r2 = 1, MAX_ROW
    if c1 is None:  # whole rows
        c1, c2 = 1, MAX_COL
    if not (1 <= min(r1, r2) and max(r1, r2) <= MAX_ROW and 1 <= min(c1, c2) and max(c1, c2) <= MAX_COL):
        return None
    return min(r1, r2) - 1, min(c1, c2) - 1, max(r1, r2) - 1, max(c1, c2) - 1


@lru_cache(maxsize=65536)
def parse_cell(ref: str) -> tuple[int, int] | None:
    """``"D5"`` -> ``(4, 3)``; None when ``ref`` is not one cell inside the grid."""
    if ":" in ref:
        return None
    found = parse_range(ref)
    if found is None or found[0] != found[2] or found[1] != found[3]:
        return None
    return found[0], found[1]
