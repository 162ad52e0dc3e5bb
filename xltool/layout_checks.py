"""The sheets of a layout that check and explain: the live check sheet (校验), the agency's explanations (说明)
and last year's figures (上年数据)."""

from __future__ import annotations

from xltool.addresses import address
from xltool.layout_model import (
    TABLE_TOP,
    Formula,
    Given,
    Highlight,
    Input,
    SheetLayout,
    Text,
    heading,
)
from xltool.spec import Template, split_previous

FAILS = {"=": "<>", "<=": ">", ">=": "<"}  # the difference left - right fails the relation when it is so to 0
HOLDS = {"=": "=", "<=": "<=", ">=": ">="}


def check_sheet(template: Template, positions: dict, previous: dict[str, tuple[str, int, int]]) -> SheetLayout:
    """The live check sheet: one line per identity, cross-year ones only when last year's figures are given."""
    spec = template.checks
    sheet = SheetLayout(spec.sheet, widths={0: 8, 1: 70, 2: 10, 3: 10, 4: 10, 5: 10})
    heading(sheet, spec.heading, len(spec.columns))
    shown = [i for i in template.identities if previous or not i.cross_year]
    first = TABLE_TOP + 2
    last = first + len(shown) - 1

    def side(refs: tuple[str, ...]) -> str:
        terms = []
        for ref in refs:
            is_previous, code = split_previous(ref)
            if is_previous:
                name, row, col = previous[code]
                terms.append(f"'{name}'!{address(row, col)}")
            else:
                terms.append(code)
        return "=" + ("+".join(terms) or "0")

    sheet.texts.append(Text(TABLE_TOP, 0, spec.summary, "field", TABLE_TOP, 1))
    sheet.formulas.append(Formula(TABLE_TOP, 2, f'=COUNTIF({address(first, 5, True)}:{address(last, 5, True)},'
                                                f'"{spec.failed}")', "check-count"))
    sheet.highlights.append(Highlight(TABLE_TOP, 2, f"={address(TABLE_TOP, 2)}>0"))
    for j, label in enumerate(spec.columns):
        sheet.texts.append(Text(TABLE_TOP + 1, j, label, "header", TABLE_TOP + 1, j))
    sheet.header_rows = (TABLE_TOP + 1, TABLE_TOP + 1)
    for i, ident in enumerate(shown):
        row = first + i
        failed = template.previous.explain if ident.cross_year else spec.failed
        sheet.texts.append(Text(row, 0, ident.rule, "label", row, 0))
        sheet.texts.append(Text(row, 1, ident.description, "label", row, 1))
        sheet.formulas.append(Formula(row, 2, side(ident.left), "check-side"))
        sheet.formulas.append(Formula(row, 3, side(ident.right), "check-side"))
        sheet.formulas.append(Formula(row, 4, f"={address(row, 2)}-{address(row, 3)}", "check-diff"))
        sheet.formulas.append(Formula(row, 5, f'=IF(ROUND({address(row, 4)},{template.decimals})'
                                              f'{HOLDS[ident.relation]}0,"{spec.passed}","{failed}")', "check-status"))
        sheet.highlights.append(Highlight(row, 5, f'={address(row, 5)}="{failed}"',
                                          "warn" if ident.cross_year else "bad"))
    return sheet



def explanations_sheet(template: Template) -> tuple[SheetLayout, dict[str, tuple[str, int, int, int, int]]]:
    """The open two-column sheet where the agency explains soft findings; its defined name EXPLANATIONS."""
    spec = template.explanations
    sheet = SheetLayout(spec.sheet, widths={0: 12, 1: 100}, optional=True)
    heading(sheet, spec.heading, 2)
    sheet.texts.append(Text(1, 0, spec.note, "instruction", 1, 1))
    top = TABLE_TOP + 1
    for j, label in enumerate(spec.columns):
        sheet.texts.append(Text(top, j, label, "header", top, j))
    sheet.header_rows = (top, top)
    first, last = top + 1, top + spec.rows
    for row in range(first, last + 1):
        sheet.inputs.append(Input(row, 0, None, None, choices=template.soft_rules))
        sheet.inputs.append(Input(row, 1, None, None))
    return sheet, {"EXPLANATIONS": (spec.sheet, first, 0, last, 1)}


def previous_sheet(template: Template) -> SheetLayout:
    """The locked sheet of last year's values that this year's cross-year rules refer to."""
    spec = template.previous
    sheet = SheetLayout(spec.sheet, widths={0: 28, 1: 40, 2: 24, 3: 14})
    heading(sheet, spec.heading, len(spec.columns))
    for j, label in enumerate(spec.columns):
        sheet.texts.append(Text(TABLE_TOP, j, label, "header", TABLE_TOP, j))
    sheet.header_rows = (TABLE_TOP, TABLE_TOP)
    referred = {split_previous(c)[1] for i in template.identities for c in (*i.left, *i.right) if split_previous(c)[0]}
    for row, cell in enumerate((c for c in template.cells.values() if c.code in referred), start=TABLE_TOP + 1):
        for j, text in enumerate((cell.code, cell.row_label, cell.column_label)):
            sheet.texts.append(Text(row, j, text, "label", row, j))
        sheet.given.append(Given(row, 3, cell.code))
    return sheet


