"""Evaluate a workbook's own formulas with the ``formulas`` library: the only module that uses it.

A cell is computed from the formula text the file carries and the values it carries: cached results are
never read. Each formula is parsed and compiled by the library — once per shape, not per text or per file,
and run without the library's dispatcher (:mod:`xltool.formula_cache`) — and every value is computed by the
library's own function implementations. The library, numpy and schedula are imported on first use.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from functools import lru_cache

from xltool import formula_cache
from xltool.addresses import parse_cell
from xltool.workbook_data import ErrorValue

os.environ.setdefault("TQDM_DISABLE", "1")

CellRef = tuple[str, int, int]  # (sheet, row, col), 0-based
MAX_RANGE = 10_000  # cells one argument of a formula may span

# Functions that reach outside the file or depend on where it is opened: never evaluated.
OUTSIDE_FUNCTIONS = frozenset({
    "WEBSERVICE", "FILTERXML", "HYPERLINK", "RTD", "CALL", "REGISTER", "REGISTER.ID", "INDIRECT", "INFO",
    "CELL", "IMAGE", "STOCKHISTORY", "DDE", "EXEC", "SQL.REQUEST", "GETPIVOTDATA", "CUBEVALUE", "CUBEMEMBER",
})


class EvaluationError(Exception):
    """A formula cannot be evaluated: ``reason`` is an ``error-value`` reason of the findings catalogue
    (unparsable, missing-sheet, bad-reference, circular, range-too-large) and ``params`` fill its wording."""

    def __init__(self, reason: str, **params: str):
        super().__init__(reason)
        self.reason, self.params = reason, params


def outside_reference(formula: str) -> tuple[str, dict[str, str]] | None:
    """What in ``formula`` reaches outside the file (another workbook, a web service, DDE), as an
    ``external-link`` reason and its parameters; None when nothing does."""
    return _outside_reference(formula) if len(formula) <= 1024 else _outside_reference.__wrapped__(formula)


@lru_cache(maxsize=8192)
def _outside_reference(formula: str) -> tuple[str, dict[str, str]] | None:
    text = formula.upper()
    if "[" in text or "|" in text:
        return "workbook-reference", {}
    for name in re.findall(r"([A-Z][A-Z0-9._]*)\s*\(", _strip_strings(text)):
        name = name.removeprefix("_XLFN.").removeprefix("_XLWS.")
        if name in OUTSIDE_FUNCTIONS:
            return "function", {"function": name}
    return None


def _strip_strings(text: str) -> str:
    return re.sub(r'"(?:[^"]|"")*"', '""', text)


_EXPONENT = re.compile(r"(?<![A-Za-z_$\d.])(\d+(?:\.\d*)?|\.\d+)[eE](\d)")
_QUOTED = re.compile(r"(\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*')")


def _exponent_signs(formula: str) -> str:
    """``1E308`` -> ``1E+308``: the library parses an exponent only with its sign (Excel writes the sign,
    other writers may not). Text in quotes and cell references such as ``E5`` are left alone."""
    if "e" not in formula.lower():
        return formula
    parts = _QUOTED.split(formula)
    return "".join(p if i % 2 else _EXPONENT.sub(r"\1E+\2", p) for i, p in enumerate(parts))


def _prepare(formula: str) -> formula_cache.Prepared:
    try:
        return formula_cache.prepare(_exponent_signs(formula))
    except formula_cache.Unparsable:
        raise EvaluationError("unparsable", formula=formula) from None


def compile_formula(formula: str) -> tuple[Callable, tuple[str, ...]]:
    """The library's compiled function of one formula text and the names of its inputs (ranges or defined
    names). ``compile_formula.cache_clear()`` forgets every formula compiled in this process."""
    try:
        return formula_cache.compile_pipe(_exponent_signs(formula))
    except formula_cache.Unparsable:
        raise EvaluationError("unparsable", formula=formula) from None


compile_formula.cache_clear = formula_cache.clear  # type: ignore[attr-defined]


def _split_reference(ref: str) -> tuple[str | None, tuple[int, int, int, int] | None]:
    return _split(ref) if len(ref) <= 256 else _split.__wrapped__(ref)


@lru_cache(maxsize=16384)
def _split(ref: str) -> tuple[str | None, tuple[int, int, int, int] | None]:
    """(sheet as written or None, corners or None when they are not one cell or a range of cells)."""
    sheet = None
    if "!" in ref:
        sheet, ref = ref.rsplit("!", 1)
        sheet = sheet.strip("'").replace("''", "'")
    corners = [parse_cell(part) for part in ref.split(":")]
    if len(corners) > 2 or None in corners:
        return sheet, None
    (r1, c1), (r2, c2) = corners[0], corners[-1]
    return sheet, (min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2))


def parse_reference(ref: str, sheet: str, sheets: Mapping[str, str]) -> tuple[str, int, int, int, int]:
    """``'依申请公开'!$D$5:$D$9`` → (sheet, first_row, first_col, last_row, last_col)."""
    sheet_part, corners = _split_reference(ref)
    if sheet_part is not None:
        found = sheets.get(sheet_part.upper())
        if found is None:
            raise EvaluationError("missing-sheet", target=sheet_part)
        sheet = found
    if corners is None:
        raise EvaluationError("bad-reference", target=ref.rsplit("!", 1)[-1])
    return (sheet, *corners)


_library: dict[str, object] = {}
_NOT_YET = object()


def _lib() -> dict[str, object]:
    """numpy, schedula's EMPTY and the library's error values, imported on first use."""
    if not _library:
        import numpy as np
        from formulas.functions import Error
        from formulas.tokens.operand import XlError
        from schedula.utils.cst import EMPTY

        _library.update(np=np, EMPTY=EMPTY, errors=Error.errors, XlError=XlError)
    return _library


def to_library(value: object) -> object:
    """A cell value as the formulas library expects it (blank is EMPTY, not 0)."""
    if value is None:
        return _lib()["EMPTY"]
    if isinstance(value, ErrorValue):
        errors = _lib()["errors"]
        return errors.get(value.text, errors["#VALUE!"])
    return value


def from_library(result: object) -> object:
    """A library result as a plain value: float, str, bool, None or ErrorValue."""
    lib = _lib()
    np = lib["np"]
    while isinstance(result, np.ndarray):
        if result.size == 0:
            return None
        result = result.ravel()[0]
    if result is lib["EMPTY"]:
        return None
    if isinstance(result, lib["XlError"]):  # a str subclass: test it before str
        return ErrorValue(str(result))
    if isinstance(result, (bool, np.bool_)):
        return bool(result)
    if isinstance(result, (int, float, np.integer, np.floating)):
        try:
            value = float(result)
        except OverflowError:  # an integer beyond any float
            return ErrorValue("#NUM!")
        return value if math.isfinite(value) else ErrorValue("#NUM!")
    if isinstance(result, str):
        return result
    return ErrorValue("#VALUE!")


class Evaluator:
    """Computes formula cells on demand, from the workbook's own formulas and values.

    ``cells`` maps each sheet name to its cells by (row, col): objects with ``formula`` and ``value`` (what the
    file holds); ``names`` maps a workbook-scoped defined name to its reference; ``sheets`` maps upper-cased
    sheet names to names.
    """

    def __init__(self, cells: Mapping[str, Mapping[tuple[int, int], object]], names: Mapping[str, str],
                 sheets: Mapping[str, str]):
        self.cells = cells
        self.names = {k.upper(): v for k, v in names.items()}
        self.sheets = sheets
        self.results: dict[CellRef, object] = {}
        self.active: set[CellRef] = set()

    def value(self, ref: CellRef, cell: object = _NOT_YET) -> object:
        """The value of a cell as a spreadsheet would compute it; errors become ErrorValue. ``cell`` is what
        the file holds there, when the caller has looked it up already."""
        found = self.results.get(ref, _NOT_YET)
        if found is not _NOT_YET:
            return found
        if cell is _NOT_YET:
            sheet = self.cells.get(ref[0])
            cell = sheet.get((ref[1], ref[2])) if sheet is not None else None
        if cell is None:
            return None
        formula = cell.formula
        if formula is None:
            return cell.value
        if ref in self.active:
            raise EvaluationError("circular")
        self.active.add(ref)
        try:
            result = self._compute(formula, ref[0])
        finally:
            self.active.discard(ref)
        self.results[ref] = result
        return result

    def _compute(self, formula: str, sheet: str) -> object:
        if outside_reference(formula):
            return ErrorValue("#REF!")
        prepared = _prepare(formula)
        names = prepared.names
        args: list = [None] * len(names)
        for i in prepared.order:  # the order the library lists its inputs in: the first failure is the one said
            args[i] = self._argument(names[i], sheet)
        try:
            return from_library(prepared.run(args))
        except Exception:  # a function the library lacks, or an error it raises instead of returning
            return ErrorValue("#VALUE!")

    def _argument(self, name: str, sheet: str) -> object:
        ref = self.names.get(name.upper(), name)
        target, r1, c1, r2, c2 = parse_reference(ref, sheet, self.sheets)
        if (r2 - r1 + 1) * (c2 - c1 + 1) > MAX_RANGE:
            raise EvaluationError("range-too-large", target=name)
        lib = _lib()
        empty, value, cells = lib["EMPTY"], self.value, self.cells.get(target, {})
        rows = []
        for r in range(r1, r2 + 1):
            row = []
            for c in range(c1, c2 + 1):
                cell = cells.get((r, c))  # a cell without a formula: its value, without a call of value()
                v = None if cell is None else cell.value if cell.formula is None else value((target, r, c), cell)
                row.append(empty if v is None else to_library(v) if isinstance(v, ErrorValue) else v)
            rows.append(row)
        grid = lib["np"].empty((r2 - r1 + 1, c2 - c1 + 1), dtype=object)
        grid[:, :] = rows
        return grid
