"""A1 addresses, 0-based (row, col) positions: the one place they are converted, on top of openpyxl's."""

from __future__ import annotations

from functools import lru_cache

from openpyxl.utils.cell import get_column_letter, range_boundaries

MAX_ROW, MAX_COL = 1_048_576, 16_384


def col_letter(col: int) -> str:
    """``3`` -> ``"D"`` (0-based)."""
    return get_column_letter(col + 1)


def address(row: int, col: int, absolute: bool = False) -> str:
    """``(4, 3)`` -> ``"D5"`` (or ``"$D$5"``)."""
    d = "$" if absolute else ""
    return f"{d}{get_column_letter(col + 1)}{d}{row + 1}"


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
