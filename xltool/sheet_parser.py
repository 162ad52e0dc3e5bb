"""One worksheet part into :class:`SheetData`: cells with their formulas, values and locks, merges,
validations, conditional formats and protection.

A worksheet's cells (its ``<sheetData>``) differ from file to file; the rest of it (validations, conditional
formats, merges, protection) is usually the same bytes in every file of a batch. The reader therefore hands
the cells over as text, scanned (:meth:`SheetParser.scan`, the text read by :func:`xltool.xml_scan.scan_rows`)
after expat has checked that text, and parses the rest once per distinct bytes. What the scan does not cover
makes it give up, and the part is parsed as a tree instead. Both ways give the same :class:`SheetData`
(tests/test_speed.py).
"""

from __future__ import annotations

from functools import lru_cache

from xltool.addresses import address, parse_cell, parse_range
from xltool.package import ReadError
from xltool.workbook_data import CellData, SheetData, Validation
from xltool.xml_parts import Memo, attrs, local, namespace
from xltool.xml_scan import SHARED, Unsupported, cell_value, scan_rows, unescape, value_type, without_values, xml_text

MAX_EXPAND = 100_000  # cells a validation range is expanded to before it is clipped to the used area
MAX_SHEET_VALIDATION_CELLS = 200_000  # cells all validations of one sheet are expanded to, at most


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


# The cells of a <sheetData> whose text but for its values comes again (the sheets of a batch's files): by that
# text (:func:`~xltool.xml_scan.without_values`), what :meth:`SheetParser._made` remembers of them.
_SKELETONS = Memo(max_size=1 << 20, max_bytes=16 << 20, max_items=64, recurring=True)
_VALUE = object()  # a cell's value is the text of one of the <v> of the file at hand


class SheetParser:
    """One worksheet part -> :class:`SheetData`.

    ``root`` is the part's tree. When the reader split the cells off (:func:`~xltool.xml_parts.split_element`),
    ``root`` is the part with an empty ``<sheetData/>`` in their place and ``cells`` is their text, for
    :meth:`scan`; ``rest``, a dictionary kept by the reader for the bytes of that rest, remembers what it gave
    (merges, protection, validations, conditional formats), so that the next file with the same bytes does not
    work it out again.
    """

    def __init__(self, name: str, state: str, root, strings: list[str], styles: list[tuple[bool, bool]],
                 cells: str | None = None, rest: dict | None = None):
        self.sheet = SheetData(name, state, default_locked=styles[0][0] if styles else True)
        self.root, self.strings, self.styles = root, strings, styles
        self.ns = namespace(root)
        self.scanned, self.rest = cells, rest
        self.used_cells = False  # whether what the rest gave depends on the cells (a clipped validation)
        default_style = styles[0] if styles else (True, False)
        self.default_style = default_style
        self.style_of: dict[str | None, tuple[bool, bool]] = {None: default_style}
        self.masters: dict[str, tuple[str, str]] = {}  # shared formula index -> (formula, origin cell)
        self.strings_used: dict[int, str] = {}  # shared strings the cells hold, by index: what the sheet read
        self.dependents: list[tuple[CellData, str, str]] = []  # cells of a shared formula, to expand

    def parse(self) -> SheetData:
        ns, sheet, rest = self.ns, self.sheet, self.rest
        if rest is not None and "merged" in rest:  # the same rest as before: only the cells are new
            if rest["sheet_data"] and self.scanned is not None:
                self.scan(self.scanned)
            sheet.merged = set(rest["merged"])
            sheet.protection = dict(rest["protection"]) if rest["protection"] is not None else None
            sheet.validations = list(rest["validations"])
            sheet.conditional_formulas = {k: list(v) for k, v in rest["conditional"].items()}
            self.root = None
            return sheet
        validations, ext = [], None
        seen_sheet_data = False
        for child in self.root:
            tag = child.tag
            if tag == ns + "sheetData":
                if self.scanned is not None:
                    seen_sheet_data = True
                    self.scan(self.scanned)
                else:
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
        if rest is not None and not self.used_cells:
            rest.update(sheet_data=seen_sheet_data, merged=frozenset(sheet.merged),
                        protection=dict(sheet.protection) if sheet.protection is not None else None,
                        validations=tuple(sheet.validations),
                        conditional={k: tuple(v) for k, v in sheet.conditional_formulas.items()})
        self.root = None
        return sheet

    def _style(self, s: str | None) -> tuple[bool, bool]:
        style = self.style_of.get(s)
        if style is None:
            try:
                style = self.styles[int(s)]
            except (ValueError, IndexError):
                style = self.default_style
            self.style_of[s] = style
        return style

    def scan(self, content: str) -> None:
        """The cells of a ``<sheetData>`` from its content (the part checked by expat), as :meth:`_cells` makes
        them of the same elements; :class:`~xltool.xml_scan.Unsupported` for rows or cells written otherwise
        than spreadsheet programs write them (:func:`~xltool.xml_scan.scan_rows`).

        Cells whose text is an earlier file's but for the values in their ``<v>`` (the same labels, formulas
        and styles: the files of one template saved by one program) are made from what was remembered of that
        file's cells, with this file's values and shared strings."""
        cells, style_of = self.sheet.cells, self.style_of
        skeleton, values = without_values(content)
        known = _SKELETONS.get(skeleton)
        if known is not None:
            self._replay(known, values, cells)
            return
        self.masters, self.dependents = {}, []  # shared formulas of this <sheetData>
        shared: dict[tuple[int, int], str] = {}  # cells of shared strings: their index
        styles_of: dict[tuple[int, int], str | None] = {}  # every cell's s
        for row_index, row in scan_rows(content):
            col_index = -1
            for ref, p, s, value, v, f in row:
                if p is None:
                    col_index += 1
                    p = (row_index, col_index)
                    ref = address(row_index, col_index)
                else:
                    row_index, col_index = p
                style = style_of.get(s) or self._style(s)
                styles_of[p] = s
                if value is SHARED:
                    shared[p] = v
                    value = self._shared(v)
                cell = cells[p] = CellData(value, None, style[0], style[1])
                if f is not None:
                    a = f[1]
                    self._formula(cell, ref, f[0], a.get("t"), a.get("si"), a.get("r1"), a.get("r2"))
        if self.dependents:
            self._expand_shared(self.masters, self.dependents)
        if _SKELETONS.again(skeleton) and len(styles_of) == len(cells) == content.count("<c "):
            made = self._made(content, values, shared, styles_of)
            if made is not None:
                _SKELETONS.put(skeleton, made, len(skeleton))

    def _replay(self, made: tuple, values: list[str], cells: dict) -> None:
        """The cells of what :meth:`_made` remembered, with ``values``, the texts of this file's ``<v>``."""
        style_of = self.style_of
        for p, value, v, formula, s, t in made:
            style = style_of.get(s) or self._style(s)
            if value is _VALUE:  # as xml_scan reads a cell's <v>
                raw = values[v]
                v = xml_text(raw) if raw else None
                value = cell_value(t, v, None)
            if value is SHARED:
                value = self._shared(v)
            cells[p] = CellData(value, formula, style[0], style[1])

    def _made(self, content: str, values: list[str], shared: dict, styles_of: dict) -> tuple | None:
        """What is remembered of the cells :meth:`scan` made of ``content``: each cell's position, value (or
        :data:`SHARED`, or ``_VALUE`` for one of ``values``), the shared string's index (or the value's),
        formula, ``s`` and ``t``. None unless replaying it gives exactly the cells made."""
        made, k = [], 0
        for (p, cell), piece in zip(self.sheet.cells.items(), content.split("<c ")[1:]):  # a cell each, in order
            value, v, t = SHARED if p in shared else cell.value, shared.get(p), None
            if "<v>" in piece:
                try:
                    t = value_type(piece)
                except Unsupported:
                    return None
                value, v = _VALUE, k
                k += 1
            made.append((p, value, v, cell.formula, styles_of[p], t))
        again: dict = {}
        if k == len(values):
            self._replay(made, values, again)
        return tuple(made) if again == self.sheet.cells else None

    def _cells(self, sheet_data) -> None:
        self.masters, self.dependents = {}, []  # shared formulas of this <sheetData>
        ns = self.ns
        row_tag, c_tag, v_tag, f_tag, is_tag = ns + "row", ns + "c", ns + "v", ns + "f", ns + "is"
        t_tag, r_tag = ns + "t", ns + "r"
        cells, style_of, fill = self.sheet.cells, self.style_of, self._fill
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
                style = style_of.get(c.get("s")) or self._style(c.get("s"))
                cell = cells[pos] = CellData(None, None, style[0], style[1])
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
                    inline = string_item(inline, t_tag, r_tag)
                if f is not None:
                    fill(cell, ref, t, v, inline, True, f.text, f.get("t"), f.get("si"), f.get("r1"), f.get("r2"))
                else:
                    fill(cell, ref, t, v, inline, False, None, None, None, None, None)
        if self.dependents:
            self._expand_shared(self.masters, self.dependents)

    def _fill(self, cell: CellData, ref: str, t: str | None, v: str | None, inline, has_formula: bool,
              text: str | None, kind: str | None, si: str | None, r1: str | None, r2: str | None) -> None:
        """A cell's value and formula from its ``t`` attribute, ``<v>`` text, ``<is>`` text and ``<f>``."""
        value = cell_value(t, v, inline)
        cell.value = self._shared(v) if value is SHARED else value
        if has_formula:
            self._formula(cell, ref, text, kind, si, r1, r2)

    def _shared(self, v: str) -> str:
        try:
            i = int(v)
            text = self.strings_used[i] = self.strings[i]
        except (ValueError, IndexError):
            raise ReadError("unreadable-file", "missing-string", sheet=self.sheet.name) from None
        return text

    def _formula(self, cell: CellData, ref: str, text: str | None, kind: str | None, si: str | None,
                 r1: str | None, r2: str | None) -> None:
        if kind == "shared":
            if text:
                cell.formula = "=" + text
                if si is not None and ref is not None:
                    self.masters[si] = (cell.formula, ref)
            elif si is not None and ref is not None:
                self.dependents.append((cell, si, ref))
        elif text:
            cell.formula = "=" + text
        elif kind == "dataTable":
            args = ",".join(a for a in (r1, r2) if a)
            cell.formula = f"=TABLE({args})"

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
                            self.used_cells = True
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
