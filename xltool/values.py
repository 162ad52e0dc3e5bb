"""Every data point's value as the workbook computes it, type-checked against its cell type in the spec,
with the advice the clerk needs (what to type instead)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple

from xltool.addresses import address
from xltool.evaluate import EvaluationError, Evaluator, outside_reference
from xltool.findings import Finding
from xltool.layout import Layout
from xltool.results import DataPoints
from xltool.spec import Cell, CellType
from xltool.structure import Structure
from xltool.workbook_data import CellData, ErrorValue, WorkbookData

_FULLWIDTH = str.maketrans("０１２３４５６７８９．－＋", "0123456789.-+")
_PLACEHOLDERS = frozenset({"", "/", "-", "—", "_", "无", "－", "／"})  # what clerks type for "none"
_NUMBER_WITH_UNIT = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(\D*)")


class Values(NamedTuple):
    values: dict[str, object]  # data point -> its computed value (a number, text, None, ErrorValue…)
    numbers: DataPoints  # the data points that are numbers
    findings: list[Finding]
    unjudged: set[str]  # data points whose value cannot be judged: identities over them are not checked


def evaluate_values(book: WorkbookData, layout: Layout, structure: Structure) -> Values:
    """Every data point's value and the findings on them.

    One problem, one finding: an input whose value is reported (text, blank, negative, an error, an
    external formula…) is not reported again by the totals it flows into (spec ``total_of``), and an
    error in a total whose formula was changed is the ``formula-altered`` finding's. Only an error that
    starts in an intact total is reported on that total.
    """
    template = layout.template
    spec_cells = template.cells
    sheets = {s.name: s.cells for s in book.sheets}
    evaluator = Evaluator(sheets, book.defined_names, {s.upper(): s for s in sheets})
    numbers = DataPoints(template.format)
    values: dict[str, object] = {}
    found: dict[str, list[Finding]] = {}
    unjudged: set[str] = set()
    totals: list[tuple[str, object, EvaluationError | None, _Where]] = []
    skipped = structure.missing | structure.moved
    for code, (sheet, row, col) in layout.positions.items():
        if sheet in skipped:
            unjudged.add(code)  # not where the template has it: the structure findings say why
            continue
        spec_cell = spec_cells[code]
        located = _Where(sheet, row, col, spec_cell)
        problem = None
        ref = (sheet, row, col)
        cells = sheets.get(sheet)
        raw = cells.get((row, col)) if cells is not None else None
        try:
            value = evaluator.value(ref, raw)
        except EvaluationError as exc:
            value, problem = ErrorValue("#VALUE!"), exc
        values[code] = value
        number = _is_number(value)
        if number:
            numbers[code] = value
        if spec_cell.is_input:
            found[code] = these = _input_findings(value, problem, raw, spec_cell, located)
            if not number or (these and any(f.severity == "error" for f in these)):
                unjudged.add(code)
        else:
            totals.append((code, value, problem, located))
    inherited: dict[str, bool] = {}

    def flows_from_unjudged(code: str) -> bool:
        if code not in inherited:
            inherited[code] = False  # a cycle in a spec cannot be, but would end here
            inherited[code] = any(p in unjudged or (not spec_cells[p].is_input and flows_from_unjudged(p))
                                  for p in spec_cells[code].total_of or ())
        return inherited[code]

    for code, value, problem, located in totals:
        if _is_number(value) and not flows_from_unjudged(code):
            continue
        unjudged.add(code)
        if not _is_number(value) and not flows_from_unjudged(code) and code not in structure.altered:
            found[code] = [_error(located, value, problem)]
    findings = [f for code in layout.positions for f in found.get(code, ())]
    return Values(values, numbers, findings, unjudged)


def explanations(book: WorkbookData, layout: Layout) -> tuple[tuple[str, str], ...]:
    """(rule, text) of every filled row of the workbook's 说明 sheet (its defined name EXPLANATIONS); the texts
    of one rule are joined. A workbook generated before the sheet existed has none."""
    sheet_name, r1, c1, r2, _ = layout.names["EXPLANATIONS"]
    sheet = book.sheet(sheet_name)
    if sheet is None:
        return ()
    found: dict[str, list[str]] = {}
    for row in range(r1, r2 + 1):
        rule, text = (sheet.cells.get((row, c1 + j)) for j in (0, 1))
        rule_text = str(rule.value).strip() if rule is not None and rule.value is not None else ""
        explanation = str(text.value).strip() if text is not None and text.value is not None else ""
        if rule_text and explanation:
            found.setdefault(rule_text, []).append(explanation)
    return tuple((rule, "；".join(texts)) for rule, texts in found.items())


class _Where(Mapping):
    """Where a data point is (sheet, cell and its labels), for the findings on it: made only when one is."""

    __slots__ = ("sheet", "row", "col", "spec_cell", "_items")

    def __init__(self, sheet: str, row: int, col: int, spec_cell: Cell):
        self.sheet, self.row, self.col, self.spec_cell = sheet, row, col, spec_cell
        self._items: dict | None = None

    def _dict(self) -> dict:
        if self._items is None:
            self._items = {"sheet": self.sheet, "cell": address(self.row, self.col), **self.spec_cell.labels}
        return self._items

    def __getitem__(self, key: str):
        return self._dict()[key]

    def __iter__(self):
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def keys(self):
        return self._dict().keys()


def _error(located: Mapping, value: object, problem: EvaluationError | None) -> Finding:
    if problem is not None:
        return Finding("error-value", reason=problem.reason, **located, actual=str(value), detail=problem.params)
    return Finding("error-value", reason="typed", **located, actual=str(value))


def _input_findings(value: object, problem: EvaluationError | None, raw: CellData | None, cell: Cell,
                    located: Mapping) -> list[Finding]:
    """The findings on one input cell: its formula reaching outside, or what is wrong with its value;
    a formula whose result is fine is a warning."""
    formula = raw.formula if raw is not None else None
    if formula:
        outside = outside_reference(formula)
        if outside:
            reason, params = outside
            return [Finding("external-link", reason=reason, **located, actual=formula, detail=params)]
    if problem is not None:
        return [_error(located, value, problem)]
    found = _value_findings(value, cell, located, raw is not None and raw.date_style)
    if not formula:
        return found
    if not found:
        return [Finding("formula-in-input", **located, actual=value, detail={"formula": formula})]
    if found[0].code == "error-value":
        return [Finding("error-value", reason="formula-result", **located, actual=str(value),
                        detail={"formula": formula})]
    return found


def _value_findings(value: object, cell: Cell, located: Mapping, date_style: bool) -> list[Finding]:
    t = cell.type
    if type(value) is float and not date_style:  # nearly every input: a plain number
        return _number_findings(value, t, located)
    if value is None or value == "":
        return [Finding("missing-value", **located)]
    if isinstance(value, ErrorValue):
        return [Finding("error-value", reason="typed", **located, actual=str(value))]
    if date_style:
        return [Finding("not-a-number", reason="date", **located, actual=value)]
    if isinstance(value, bool):
        return [Finding("not-a-number", reason="boolean", **located, actual=value)]
    if isinstance(value, str):
        reason, number = advice(value, cell)
        return [Finding("not-a-number", reason=reason, **located, actual=value,
                        detail={"number": number, "unit": t.unit})]
    if not isinstance(value, float):
        return [Finding("error-value", reason="typed", **located, actual=str(value))]
    return _number_findings(value, t, located)


def _number_findings(value: float, t: CellType, located: Mapping) -> list[Finding]:
    if not math.isfinite(value):
        return [Finding("error-value", reason="typed", **located, actual=str(value))]
    if t.max_abs is not None and abs(value) > t.max_abs:
        return [Finding("too-large", **located, actual=value, detail={"max_abs": t.max_abs})]
    if t.min is not None and value < t.min:
        return [Finding("negative", **located, actual=value, detail={"min": t.min})]
    if t.whole and not value.is_integer():
        return [Finding("not-whole", **located, actual=value, detail={"unit": t.unit})]
    if t.decimals is not None and Decimal(repr(value)).as_tuple().exponent < -t.decimals:
        return [Finding("too-many-decimals", **located, actual=value, detail={"decimals": t.decimals, "unit": t.unit})]
    return []


def advice(text: str, cell: Cell) -> tuple[str, str | None]:
    """What the clerk typed instead of a number, as a ``not-a-number`` reason, and the number to type."""
    stripped = text.strip().translate(_FULLWIDTH).replace(",", "").replace("，", "")
    if stripped in _PLACEHOLDERS:
        return "placeholder", None
    m = _NUMBER_WITH_UNIT.fullmatch(stripped)
    if m is None:
        return "text", None
    number, typed_unit = m.group(1).lstrip("+"), m.group(2)
    factor = cell.type.factor(typed_unit) if typed_unit else 1
    if factor is None:
        return "text", None
    if factor == 1:
        return "numeric-text", number
    converted = Decimal(number) * Decimal(repr(factor))
    return "other-unit", f"{converted.normalize():f}"


def _is_number(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value)
