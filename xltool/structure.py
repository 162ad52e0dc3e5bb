"""Compare a workbook with its template's layout: sheets, data point names, labels, merges, formulas,
locks, protection and validation. Values are not judged here (:mod:`xltool.values`)."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from xltool.addresses import address
from xltool.annotate import RESULT_SHEET, is_own_result_sheet
from xltool.evaluate import EvaluationError, parse_reference
from xltool.findings import Finding
from xltool.layout import META_SHEET, SUMMARY_SHEETS, Layout, SheetLayout, text_value
from xltool.workbook_data import SheetData, Validation, WorkbookData
from xltool.xml_parts import Memo


@dataclass
class Structure:
    """The structure findings, and what the value stage must know of them."""

    findings: list[Finding] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # template sheets not in the file (deleted or renamed)
    moved: set[str] = field(default_factory=set)  # template sheets whose data point names point elsewhere
    altered: set[str] = field(default_factory=set)  # data points whose total formula was changed


def compare(book: WorkbookData, layout: Layout, role: str | None) -> Structure:
    """Every structural finding, one per problem.

    A sheet that is missing, or whose rows or columns moved (its data point names point elsewhere), is
    not compared cell by cell, as every cell would differ.
    """
    return _Comparison(book, layout, role).run()


@lru_cache(maxsize=8192)
def normalise_formula(formula: str) -> str:
    """Formula text in a canonical form: what LibreOffice and Excel rewrite is folded away."""
    from openpyxl.formula.tokenizer import Tokenizer  # only for a formula that differs from the template's text

    try:
        items = Tokenizer(formula if formula.startswith("=") else "=" + formula).items
    except Exception:  # the tokenizer raises several kinds for text it cannot split; compare it as it is
        return formula
    out = []
    for token in items:
        if token.type == "WHITE-SPACE":
            continue
        value = token.value
        if token.type == "OPERAND" and token.subtype == "RANGE":
            if "!" in value:
                sheet, ref = value.rsplit("!", 1)
                value = sheet.strip("'").replace("''", "'").upper() + "!" + ref
            value = value.replace("$", "").upper()
        elif token.type == "OPERAND" and token.subtype == "NUMBER":
            with contextlib.suppress(ValueError):
                value = repr(float(value))
        elif token.type == "FUNC":
            value = re.sub(r"^_XLFN\.|^_XLWS\.", "", value.upper())
        out.append(value)
    return "=" + "".join(out)


_TARGETS = Memo(max_size=256, max_items=10_000)  # (reference, sheet names) -> target
_UNKNOWN = object()


class _Comparison:
    def __init__(self, book: WorkbookData, layout: Layout, role: str | None):
        self.book, self.layout, self.role = book, layout, role
        self.template = layout.template
        self.sheets = {s.name: s for s in book.sheets}
        self.sheets_upper = {s.upper(): s for s in self.sheets}
        self.sheets_key = "\0".join(self.sheets)  # a text: its hash is kept
        self.result = Structure()

    def run(self) -> Structure:
        found = self.result.findings
        if self.book.external_parts:  # links, OLE objects, connections: one finding for all
            found.append(Finding("external-link", reason="package-part", actual="、".join(self.book.external_parts)))
        found.extend(self.sheet_list())
        found.extend(self.names())
        for sheet in self.layout.sheets:
            if sheet.name in self.sheets and sheet.name not in self.result.moved:
                found.extend(self.sheet(sheet))
        return self.result

    def sheet_list(self) -> Iterator[Finding]:
        expected = [s.name for s in self.layout.sheets]
        extra_ok = SUMMARY_SHEETS if self.role == "summary" else ()
        actual = [s.name for s in self.book.sheets]
        optional = {s.name for s in self.layout.sheets if s.optional}
        missing = [n for n in expected if n not in actual and n not in optional]
        extra = [n for n in actual if n not in expected and n not in extra_ok and n != META_SHEET
                 and not self._own_result_sheet(n)]
        renamed = self._renamed(missing, extra, expected, actual)
        self.result.missing = set(missing)
        for name in missing:
            if name in renamed:
                yield Finding("structure-changed", reason="sheet-renamed", sheet=name, actual=renamed[name])
            else:
                yield Finding("structure-changed", reason="sheet-missing", sheet=name)
        was = {new: old for old, new in renamed.items()}
        for name in extra:
            if name in was:
                yield Finding("structure-changed", reason="sheet-renamed-from", sheet=name, expected=was[name])
            else:
                yield Finding("structure-changed", reason="sheet-added", sheet=name)
        present = [n for n in actual if n in expected]
        if present != [n for n in expected if n in actual]:
            yield Finding("structure-changed", reason="sheet-order")
        for sheet in self.book.sheets:
            if sheet.name in expected and sheet.state != "visible":
                yield Finding("structure-changed", reason="sheet-hidden", sheet=sheet.name)
            if sheet.name == META_SHEET and sheet.state == "visible":
                yield Finding("protection-removed", reason="metadata-visible", sheet=sheet.name)

    def _own_result_sheet(self, name: str) -> bool:
        """The 审核结果 sheet of an annotated copy, exactly as xltool wrote it: not a change of the workbook."""
        if name != RESULT_SHEET:
            return False
        return is_own_result_sheet({pos: c.value for pos, c in self.sheets[name].cells.items()})

    def _renamed(self, missing: list[str], extra: list[str], expected: list[str], actual: list[str]) -> dict[str, str]:
        """Missing sheet -> the extra sheet it was renamed to: where its data point names point now (Excel
        renames them along), else the extra sheet standing at its place."""
        out: dict[str, str] = {}
        for name in missing:
            targets: Counter[str] = Counter()
            for code, (sheet, _, _) in self.layout.positions.items():
                ref = self.book.defined_names.get(code) if sheet == name else None
                if ref:
                    with contextlib.suppress(EvaluationError):
                        targets[parse_reference(ref.lstrip("="), "", self.sheets_upper)[0]] += 1
            found = [t for t, _ in targets.most_common() if t in extra]
            place = expected.index(name)
            if not found and place < len(actual) and actual[place] in extra:
                found = [actual[place]]
            if found and found[0] not in out.values():
                out[name] = found[0]
        return out

    def names(self) -> Iterator[Finding]:
        shadowed = {name.upper() for _, name in self.book.local_names}
        defined, missing = self.book.defined_names, self.result.missing
        for code, (sheet, row, col) in self.layout.positions.items():
            if sheet in missing:
                continue  # the sheet's own finding says it; its names are not listed one by one
            ref = defined.get(code)
            shadow = bool(shadowed) and code.upper() in shadowed
            if ref is not None and not shadow and self._target(ref) == (sheet, row, col):
                continue
            located = {**self.template.cells[code].labels, "sheet": sheet, "cell": address(row, col)}
            for scope in sorted(s for (s, name) in self.book.local_names if name.upper() == code.upper()):
                yield Finding("structure-changed", reason="name-shadowed", **located, actual=scope)
            if ref is None:
                yield Finding("structure-changed", reason="name-deleted", **located)
                continue
            target = self._target(ref)
            if target != (sheet, row, col):
                self.result.moved.add(sheet)
                where = f"{target[0]}!{address(target[1], target[2])}" if target else ref
                yield Finding("structure-changed", reason="name-moved", **located, actual=where)

    def _target(self, ref: str) -> tuple[str, int, int] | None:
        """The one cell a defined name's reference points to, or None; worked out once for a reference among
        the same sheets (the names of a batch's files are the same)."""
        key = (ref, self.sheets_key)
        found = _TARGETS.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            try:
                name_sheet, r1, c1, r2, c2 = parse_reference(ref.lstrip("="), "", self.sheets_upper)
                found = (name_sheet, r1, c1) if (r1, c1) == (r2, c2) and name_sheet else None
            except EvaluationError:
                found = None
            _TARGETS.put(key, found, len(ref))
        return found

    def sheet(self, expected: SheetLayout) -> tuple[Finding, ...]:
        """The findings on one sheet's labels, merges, formulas, locks, protection and validations; worked out
        once for a sheet the reader gave before (the same bytes: the check sheet of every file of a batch) whose
        texts say the same of the file."""
        actual = self.sheets[expected.name]
        said = tuple(text_value(text, self.book.meta, self.template) for text in expected.filled)
        key = (id(actual), id(expected), said)
        known = _COMPARED.get(key)
        if known is not None and known[0] is actual and known[1] is expected:
            self.result.altered.update(known[3])
            return known[2]
        before = set(self.result.altered)
        found = tuple(self._sheet(expected, actual))
        _COMPARED.put(key, (actual, expected, found, frozenset(self.result.altered - before)))
        return found

    def _sheet(self, expected: SheetLayout, actual: SheetData) -> Iterator[Finding]:
        meta = self.book.meta
        for text in expected.texts:
            want = text_value(text, meta, self.template)
            got = actual.cells.get((text.row, text.col))
            value = "" if got is None or got.value is None else got.value
            if got is not None and got.formula:
                value = got.formula
            if _text(value) != want:
                yield Finding("label-altered", sheet=expected.name, cell=address(text.row, text.col),
                              expected=want, actual=_text(value))
            if text.merged and (text.row, text.col, text.last_row, text.last_col) not in actual.merged:
                yield Finding("structure-changed", reason="merge-split", sheet=expected.name,
                              cell=address(text.row, text.col))
        for f in expected.formulas:
            got = actual.cells.get((f.row, f.col))
            formula = got.formula if got else None
            labels = self.template.cells[f.code].labels if f.code else {}
            if formula is None or (formula != f.formula and normalise_formula(formula) != normalise_formula(f.formula)):
                if formula:
                    reason, shown = "changed", formula
                else:
                    reason, shown = ("blank", None) if got is None or got.value is None else ("value", _text(got.value))
                if f.code:
                    self.result.altered.add(f.code)
                yield Finding("formula-altered", reason=reason, sheet=expected.name, cell=address(f.row, f.col),
                              expected=f.formula, actual=shown, **labels)
            elif got is not None and not got.locked and actual.protection:
                yield Finding("protection-removed", reason="formula-unlocked", sheet=expected.name,
                              cell=address(f.row, f.col))
        if not actual.protection or actual.protection.get("sheet") not in ("1", "true"):
            yield Finding("protection-removed", reason="sheet-unprotected", sheet=expected.name)
        yield from self.validations(expected, tuple(actual.validations))

    def validations(self, expected: SheetLayout, validations: tuple[Validation, ...]) -> tuple[Finding, ...]:
        """A ``validation-removed`` finding for each input whose validation is missing or other than the
        template's; worked out once for the validations every file of a batch has (the same sheet bytes)."""
        known = _VALIDATED.get((id(expected), validations))
        if known is not None and known[0] is expected:
            return known[1]
        validated = {pos: v for v in validations for pos in v.cells}
        found = []
        for cell in expected.inputs:
            if cell.type is None:
                continue
            v = validated.get((cell.row, cell.col))
            want = "whole" if cell.type.whole else "decimal"
            ok = v is not None and v.type == want and (
                cell.type.min is None or (v.operator == "greaterThanOrEqual" and _number(v.formula1) == cell.type.min))
            if not ok:
                found.append(Finding("validation-removed", sheet=expected.name, cell=address(cell.row, cell.col),
                                     **(self.template.cells[cell.code].labels if cell.code else {})))
        _VALIDATED.put((id(expected), validations), (expected, tuple(found)))
        return tuple(found)


_COMPARED = Memo(max_items=32, recurring=True)  # (id of a sheet read, id of its layout, its texts) -> findings
_VALIDATED = Memo()  # (id of a sheet layout, a sheet's validations) -> (that layout, its validation findings)


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
