"""Evaluate a workbook's own formulas with the ``formulas`` library: the only module that uses it.

Each distinct formula text is compiled once per process (``formulas.Parser``) and kept in a cache, so
a file whose formulas match the template reuses the template's compiled model, and a file with
altered formulas compiles only what differs. Either way a cell is computed from the formula text the
file carries and the values it carries: cached results are never read.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from functools import lru_cache

os.environ.setdefault("TQDM_DISABLE", "1")

import formulas  # noqa: E402
import numpy as np  # noqa: E402  (a dependency of formulas)
import schedula  # noqa: E402
from formulas.functions import Error as _XlErrors  # noqa: E402
from formulas.tokens.operand import XlError as _XlError  # noqa: E402

from xltool.addresses import parse_cell  # noqa: E402
from xltool.workbook_data import ErrorValue  # noqa: E402

CellRef = tuple[str, int, int]  # (sheet, row, col), 0-based

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


@lru_cache(maxsize=4096)
def compile_formula(formula: str) -> tuple[Callable, tuple[str, ...]]:
    """Compile one formula text: the function and the names of its inputs (ranges or defined names)."""
    try:
        func = formulas.Parser().ast(_exponent_signs(formula))[1].compile()
    except Exception:  # the library raises many kinds for a formula it cannot parse
        raise EvaluationError("unparsable", formula=formula) from None
    return func, tuple(func.inputs)


def parse_reference(ref: str, sheet: str, sheets: Mapping[str, str]) -> tuple[str, int, int, int, int]:
    """``'依申请公开'!$D$5:$D$9`` → (sheet, first_row, first_col, last_row, last_col)."""
    if "!" in ref:
        sheet_part, ref = ref.rsplit("!", 1)
        sheet_part = sheet_part.strip("'").replace("''", "'")
        found = sheets.get(sheet_part.upper())
        if found is None:
            raise EvaluationError("missing-sheet", target=sheet_part)
        sheet = found
    corners = [parse_cell(part) for part in ref.split(":")]
    if len(corners) > 2 or None in corners:
        raise EvaluationError("bad-reference", target=ref)
    (r1, c1), (r2, c2) = corners[0], corners[-1]
    return sheet, min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


_ERRORS = _XlErrors.errors


def to_library(value: object) -> object:
    """A cell value as the formulas library expects it (blank is EMPTY, not 0)."""
    if value is None:
        return schedula.EMPTY
    if isinstance(value, ErrorValue):
        return _ERRORS.get(value.text, _ERRORS["#VALUE!"])
    return value


def from_library(result: object) -> object:
    """A library result as a plain value: float, str, bool, None or ErrorValue."""
    while isinstance(result, np.ndarray):
        if result.size == 0:
            return None
        result = result.ravel()[0]
    if result is schedula.EMPTY:
        return None
    if isinstance(result, _XlError):  # a str subclass: test it before str
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

    ``formula_of(ref)`` and ``value_of(ref)`` give what the file holds at a cell; ``names`` maps a
    workbook-scoped defined name to its reference; ``sheets`` maps upper-cased sheet names to names.
    """

    def __init__(self, formula_of: Callable[[CellRef], str | None], value_of: Callable[[CellRef], object],
                 names: Mapping[str, str], sheets: Mapping[str, str]):
        self.formula_of, self.value_of = formula_of, value_of
        self.names = {k.upper(): v for k, v in names.items()}
        self.sheets = sheets
        self.results: dict[CellRef, object] = {}
        self.active: set[CellRef] = set()

    def value(self, ref: CellRef) -> object:
        """The value of a cell as a spreadsheet would compute it; errors become ErrorValue."""
        if ref in self.results:
            return self.results[ref]
        formula = self.formula_of(ref)
        if formula is None:
            return self.value_of(ref)
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
        func, inputs = compile_formula(formula)
        args = [self._argument(name, sheet) for name in inputs]
        try:
            return from_library(func(*args))
        except Exception:  # a function the library lacks, or an error it raises instead of returning
            return ErrorValue("#VALUE!")

    def _argument(self, name: str, sheet: str) -> object:
        ref = self.names.get(name.upper(), name)
        target, r1, c1, r2, c2 = parse_reference(ref, sheet, self.sheets)
        if (r2 - r1 + 1) * (c2 - c1 + 1) > 10_000:
            raise EvaluationError("range-too-large", target=name)
        grid = np.empty((r2 - r1 + 1, c2 - c1 + 1), dtype=object)
        for r in range(r1, r2 + 1):
            for c in range(c1, c2 + 1):
                grid[r - r1, c - c1] = to_library(self.value((target, r, c)))
        return grid
