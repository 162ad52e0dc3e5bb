"""The soft rules that need more than the file itself: last year's figures (cross-year rules S1, S2, S4), the
agency's type from the roster (S6, S8's ceilings), and the agency's written explanations.

A failing soft rule is a question, not a verdict: the report is accepted when the agency explained that rule
in its 说明 sheet, and returned (``explanation-needed``) when it did not. Run in the main process after the
files were checked, on their values; nothing here reads a file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from xltool.addresses import address
from xltool.findings import Finding
from xltool.identities import holds
from xltool.layout import layout_for
from xltool.results import FileReport
from xltool.spec import Plausibility, Template, load_format, split_previous

if TYPE_CHECKING:  # a check without last year's figures never reads them
    from xltool.previous import LastYear, Previous


class Context(NamedTuple):
    """What a run knows beyond the files: last year's figures (None: not given), agency types by code (None: no
    roster with types given), and whether soft findings need an explanation."""

    previous: Previous | None = None
    types: Mapping[str, str] | None = None
    explanations_required: bool = True


def judge(report: FileReport, context: Context) -> FileReport:
    """The report with the soft rules of its context applied."""
    if report.format is None:
        return report
    template = load_format(report.format)
    found = list(report.findings)
    found.extend(_cross_year(report, template, context))
    found.extend(_plausibility(report, template, context))
    if context.explanations_required:
        found = _explained(found, dict(report.explanations), template)
    return replace(report, findings=tuple(found))


def _last_year(report: FileReport, context: Context) -> tuple[LastYear | None, list[Finding]]:
    if context.previous is None:
        return None, []
    last = context.previous.by_code.get(report.agency_code or "")
    if last is None:
        return None, [Finding("not-checked", reason="no-previous-data", name=report.agency_code)]
    if report.year is not None and last.year != report.year - 1:
        return None, [Finding("not-checked", reason="previous-year", name=report.agency_code, actual=last.year,
                              expected=report.year - 1)]
    return last, []


def _cross_year(report: FileReport, template: Template, context: Context) -> list[Finding]:
    last, notes = _last_year(report, context)
    if last is None:
        return notes
    positions = layout_for(template.format).positions
    skipped: dict[str, str] = {}
    out = []
    for ident in template.identities:
        if not ident.cross_year:
            continue
        sides = [_side(ident.left, report.values, last.values), _side(ident.right, report.values, last.values)]
        missing = [m for _, m in sides if m]
        if missing:
            if any(split_previous(m)[0] for m in missing):
                skipped.setdefault(ident.rule, split_previous(next(m for m in missing if m.startswith("prev.")))[1])
            continue
        left, right = sides[0][0], sides[1][0]
        if not holds(ident.relation, left, right):
            sheet, row, col = positions[ident.anchor]
            out.append(Finding("identity-violated", severity=ident.severity, rule=ident.rule, sheet=sheet,
                               cell=address(row, col), expected=right, actual=left,
                               **template.cells[ident.anchor].labels,
                               detail={"description": ident.description, "difference": left - right}))
    notes += [Finding("not-checked", reason="previous-lacks", rule=rule, detail={"format": last.format,
                                                                                "missing": code})
              for rule, code in skipped.items()]
    return [*out, *notes]


def _side(refs: tuple[str, ...], this: Mapping[str, float], last: Mapping[str, float]) -> tuple[float, str | None]:
    """The sum of one side, and the first reference that has no value (then the sum means nothing)."""
    total = 0.0
    for ref in refs:
        is_previous, code = split_previous(ref)
        value = (last if is_previous else this).get(code)
        if value is None or not math.isfinite(value):
            return 0.0, ref
        total += value
    return total, None


def _plausibility(report: FileReport, template: Template, context: Context) -> list[Finding]:
    last, _ = _last_year(report, context)
    agency_type = (context.types or {}).get(report.agency_code or "")
    positions = layout_for(template.format).positions
    out, unknown_type = [], set()
    for rule in template.plausibility:
        value = report.values.get(rule.code)
        if value is None:
            continue
        previous = last.values.get(rule.code) if last else None
        if rule.kind == "zero" and agency_type is None:
            if value != 0 and report.role == "agency" and context.types is not None:
                unknown_type.add(rule.rule)  # it would matter, but the roster does not say what the agency is
            continue
        if _implausible(rule, value, previous, agency_type):
            sheet, row, col = positions[rule.code]
            cell = template.cells[rule.code]
            text = rule.description.format(row=cell.row_label, column=cell.column_label, type=agency_type or "",
                                           value=_number(value), previous=_number(previous))
            out.append(Finding("implausible-value", rule=rule.rule, sheet=sheet, cell=address(row, col),
                               **cell.labels, actual=value, expected=previous, detail={"description": text}))
    out += [Finding("not-checked", reason="type-unknown", name=report.agency_code, rule=r) for r in sorted(unknown_type)]
    return out


def _implausible(rule: Plausibility, value: float, previous: float | None, agency_type: str | None) -> bool:
    if rule.kind == "zero":
        return agency_type in rule.types and value != 0
    if rule.kind == "unit":
        if previous is not None and previous > 0 and value >= rule.factor * previous:
            return True
        ceiling = dict(rule.ceilings).get(agency_type or "")
        return ceiling is not None and value > ceiling
    if previous is None:  # band
        return False
    return (previous > 0 and value > rule.growth * previous) or (previous >= rule.fall_from and value == 0)


def _explained(found: list[Finding], explanations: Mapping[str, str], template: Template) -> list[Finding]:
    """Soft findings with the agency's explanation attached, or followed by ``explanation-needed``."""
    soft = set(template.soft_rules)
    out = []
    for f in found:
        if f.severity != "warning" or f.rule not in soft:
            out.append(f)
        elif explanations.get(f.rule):
            out.append(replace(f, detail={**f.detail, "explanation": explanations[f.rule]}))
        else:
            out.append(f)
            out.append(Finding("explanation-needed", rule=f.rule, sheet=f.sheet, cell=f.cell, name=f.name,
                               table=f.table, row=f.row, column=f.column, expected=f.expected, actual=f.actual,
                               detail={"description": f.detail.get("description", "")}))
    return out


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else format(value, ".15g")
