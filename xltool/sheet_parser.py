"""One worksheet part into :class:`SheetData`: cells with their formulas, values and locks, merges,
validations, conditional formats and protection."""

from __future__ import annotations

import math
import re
from functools import lru_cache

from xltool.addresses import address, parse_cell, parse_range
from xltool.package import ReadError, attrs, local, namespace
from xltool.workbook_data import CellData, ErrorValue, SheetData, Validation

MAX_EXPAND = 100_000  # cells a validation range is expanded to before it is clipped to the used area
MAX_SHEET_VALIDATION_CELLS = 200_000  # cells all validations of one sheet are expanded to, at most

_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape(text: str) -> str:
    """Undo OOXML's ``_xHHHH_`` escapes of characters XML cannot hold (``_x000D_`` is a carriage return)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


@lru_cache(maxsize=4096)
def _ranges(sqref: str | None) -> tuple[tuple[int, int, int, int], ...]:
    """The ranges of a space-separated ``sqref``; unreadable parts are skipped."""
    return tuple(r for r in map(parse_range, (sqref or "").split()) if r is not None)


def string_item(element, t_tag: str, r_tag: str) -> str:
    """The text of an ``<si>`` or ``<is>``: plain ``<t>`` or rich-text runs, phonetic ``<rPh>`` ignored."""
    if len(element) == 1 and element[0].tag == t_tag:
        text = element[0].text or ""
    else:
        parts = []
        for child in element:
            if child.tag == t_tag:
                parts.append(child.text or "")
            elif child.tag == r_tag:
                for t in child:
                    if t.tag == t_tag:
                        parts.append(t.text or "")
        text = "".join(parts)
    return unescape(text)



class SheetParser:
    """One worksheet part -> :class:`SheetData`."""

    def __init__(self, name: str, state: str, root, strings: list[str], styles: list[tuple[bool, bool]]):
        self.sheet = SheetData(name, state, default_locked=styles[0][0] if styles else True)
        self.root, self.strings, self.styles = root, strings, styles
        self.ns = namespace(root)

    def parse(self) -> SheetData:
        ns, sheet = self.ns, self.sheet
        validations, ext = [], None
        for child in self.root:
            tag = child.tag
            if tag == ns + "sheetData":
                self._cells(child)
            elif tag == ns + "mergeCells":
                for merge in child:
                    r = parse_range(merge.get("ref", ""))
                    if r is not None:
                        sheet.merged.add(r)
            elif tag == ns + "sheetProtection":
                sheet.protection = attrs(child)
            elif tag == ns + "dataValidations":
                validations.extend(v for v in child if v.tag == ns + "dataValidation")
            elif tag == ns + "conditionalFormatting":
                self._conditional(child.get("sqref"), [r for r in child if r.tag == ns + "cfRule"], ns + "formula")
            elif tag == ns + "extLst":
                ext = child
        ext_validations = []
        if ext is not None:  # x14 extensions: validations and conditional formats that refer to other sheets
            for element in ext.iter():
                kind = local(element.tag)
                if kind == "dataValidation":
                    ext_validations.append(element)
                elif kind == "conditionalFormatting":
                    sqref = next((e.text for e in element if local(e.tag) == "sqref"), None)
                    self._conditional(sqref, [r for r in element if local(r.tag) == "cfRule"], None)
        if validations or ext_validations:
            self._validations(validations, ext_validations)
        self.root = None
        return sheet

    def _cells(self, sheet_data) -> None:
        ns = self.ns
        row_tag, c_tag, v_tag, f_tag, is_tag = ns + "row", ns + "c", ns + "v", ns + "f", ns + "is"
        t_tag, r_tag = ns + "t", ns + "r"
        strings, styles = self.strings, self.styles
        default_style = styles[0] if styles else (True, False)
        style_of: dict[str | None, tuple[bool, bool]] = {None: default_style}
        cells = self.sheet.cells
        masters: dict[str, tuple[str, str]] = {}  # shared formula index -> (formula, origin cell)
        dependents: list[tuple[CellData, str, str]] = []
        row_index = -1
        for row in sheet_data:
            if row.tag != row_tag:
                continue
            r = row.get("r")
            row_index = int(r) - 1 if r and r.isdigit() else row_index + 1
            col_index = -1
            for c in row:
                if c.tag != c_tag:
                    continue
                ref = c.get("r")
                pos = parse_cell(ref) if ref else None
                if pos is None:
                    col_index += 1
                    pos = (row_index, col_index)
                    ref = address(row_index, col_index)
                else:
                    row_index, col_index = pos
                s = c.get("s")
                style = style_of.get(s)
                if style is None:
                    try:
                        style = styles[int(s)]
                    except (ValueError, IndexError):
                        style = default_style
                    style_of[s] = style
                cell = CellData(None, None, style[0], style[1])
                cells[pos] = cell
                if not len(c):
                    continue
                v = f = inline = None
                for child in c:
                    tag = child.tag
                    if tag == v_tag:
                        v = child.text
                    elif tag == f_tag:
                        f = child
                    elif tag == is_tag:
                        inline = child
                t = c.get("t")
                if inline is not None and (t == "inlineStr" or v is None):
                    cell.value = string_item(inline, t_tag, r_tag)
                elif v:
                    if t is None or t == "n":
                        try:
                            number = float(v)
                        except ValueError:
                            cell.value = v
                        else:  # "NaN", "INF", "1E999": no spreadsheet holds them; Excel shows #NUM!
                            cell.value = number if math.isfinite(number) else ErrorValue("#NUM!")
                    elif t == "s":
                        try:
                            cell.value = strings[int(v)]
                        except (ValueError, IndexError):
                            raise ReadError("unreadable-file", "missing-string", sheet=self.sheet.name) from None
                    elif t == "b":
                        cell.value = {"1": True, "0": False, "true": True, "false": False}.get(v.strip().lower(), v)
                    elif t == "e":
                        cell.value = ErrorValue(v)
                    elif t == "str" or t == "inlineStr":
                        cell.value = unescape(v)
                    else:  # "d" (ISO 8601 text) and anything unknown: the text as stored
                        cell.value = v
                if f is not None:
                    text = f.text
                    kind = f.get("t")
                    if kind == "shared":
                        si = f.get("si")
                        if text:
                            cell.formula = "=" + text
                            if si is not None and ref is not None:
                                masters[si] = (cell.formula, ref)
                        elif si is not None and ref is not None:
                            dependents.append((cell, si, ref))
                    elif text:
                        cell.formula = "=" + text
                    elif kind == "dataTable":
                        args = ",".join(a for a in (f.get("r1"), f.get("r2")) if a)
                        cell.formula = f"=TABLE({args})"
        if dependents:
            self._expand_shared(masters, dependents)

    @staticmethod
    def _expand_shared(masters: dict[str, tuple[str, str]], dependents: list[tuple[CellData, str, str]]) -> None:
        from openpyxl.formula.translate import Translator

        translators: dict[str, Translator] = {}
        for cell, si, ref in dependents:
            master = masters.get(si)
            if master is None:
                continue  # a dependent without its master: the file is inconsistent; leave no formula
            translator = translators.get(si)
            if translator is None:
                translator = translators[si] = Translator(master[0], origin=master[1].replace("$", ""))
            try:
                cell.formula = translator.translate_formula(ref.replace("$", ""))
            except Exception:
                cell.formula = master[0]

    def _conditional(self, sqref: str | None, rules: list, formula_tag: str | None) -> None:
        formulas = []
        for rule in rules:
            for child in rule:
                if (child.tag == formula_tag) if formula_tag else (local(child.tag) in ("formula", "f")):
                    if child.text:
                        formulas.append("=" + child.text)
        if not formulas:
            return
        for first_row, first_col, _, _ in _ranges(sqref):
            self.sheet.conditional_formulas.setdefault((first_row, first_col), []).extend(formulas)

    def _validations(self, standard: list, extended: list) -> None:
        budget = MAX_SHEET_VALIDATION_CELLS
        used = None
        items = [(v, False) for v in standard] + [(v, True) for v in extended]
        for element, is_extension in items:
            formula1 = formula2 = None
            sqref = None if is_extension else element.get("sqref")
            for child in element:
                kind = local(child.tag)
                if kind == "sqref":
                    sqref = child.text
                elif kind in ("formula1", "formula2"):
                    # x14: <x14:formula1><xm:f>…</xm:f></x14:formula1>
                    text = next((e.text for e in child if local(e.tag) == "f"), None) if is_extension \
                        else child.text
                    if kind == "formula1":
                        formula1 = text
                    else:
                        formula2 = text
            ranges = _ranges(sqref)
            clipped = False
            if len(ranges) == 1 and ranges[0][0] == ranges[0][2] and ranges[0][1] == ranges[0][3] and budget:
                positions = frozenset(((ranges[0][0], ranges[0][1]),))  # the common case: one cell
                budget -= 1
            else:
                found: set[tuple[int, int]] = set()
                for r1, c1, r2, c2 in ranges:
                    if (r2 - r1 + 1) * (c2 - c1 + 1) > MAX_EXPAND:
                        clipped = True
                        if used is None:
                            used = self._used_area()
                        r1, c1 = max(r1, used[0]), max(c1, used[1])
                        r2, c2 = min(r2, used[2]), min(c2, used[3])
                    width = c2 - c1 + 1
                    if width <= 0:
                        continue
                    for r in range(r1, r2 + 1):
                        if budget < width:
                            clipped = True
                            break
                        budget -= width
                        found.update((r, c) for c in range(c1, c2 + 1))
                positions = frozenset(found)
            self.sheet.validations.append(Validation(
                element.get("type") or "none", element.get("operator") or "between", formula1, formula2,
                positions, clipped))

    def _used_area(self) -> tuple[int, int, int, int]:
        cells = self.sheet.cells
        if not cells:
            return 0, 0, -1, -1
        rows = [r for r, _ in cells]
        cols = [c for _, c in cells]
        return min(rows), min(cols), max(rows), max(cols)

