"""Confirm every identity of the spec on the values the workbook computes."""

from __future__ import annotations

import math
from collections.abc import Iterator

from xltool.addresses import address
from xltool.findings import Finding
from xltool.layout import Layout
from xltool.structure import Structure
from xltool.values import Values


def confirm(layout: Layout, values: Values, structure: Structure) -> Iterator[Finding]:
    """One ``identity-violated`` finding per identity instance that does not hold.

    An identity over a value already reported, or not where the template has it, is not checked; a
    changed total is judged by the identities anchored at it, not by every identity that uses it.
    """
    template = layout.template
    unjudged, altered, value_of = values.unjudged, structure.altered, values.values.get
    for ident in template.identities:
        if ident.cross_year:
            continue  # needs last year's figures: xltool.soft
        if not unjudged.isdisjoint(ident.codes):
            continue
        if altered and ident.anchor not in altered and not altered.isdisjoint(ident.codes):
            continue
        left = sum(_numeric(value_of(c)) for c in ident.left)
        right = sum(_numeric(value_of(c)) for c in ident.right)
        if holds(ident.relation, left, right):
            continue
        sheet, row, col = layout.positions[ident.anchor]
        yield Finding("identity-violated", severity=ident.severity, rule=ident.rule, sheet=sheet,
                      cell=address(row, col), expected=right, actual=left, **template.cells[ident.anchor].labels,
                      detail={"description": ident.description, "difference": left - right})


def holds(relation: str, left: float, right: float) -> bool:
    """``left <relation> right`` up to the rounding of binary floating point."""
    diff = left - right
    tolerance = 1e-9 * max(1.0, abs(left), abs(right))
    if relation == "=":
        return abs(diff) <= tolerance
    if relation == "<=":
        return diff <= tolerance
    if relation == ">=":
        return diff >= -tolerance
    raise ValueError(f"unknown relation {relation!r}")


def _numeric(value: object) -> float:
    """How a spreadsheet's + sees a value in an identity: numbers as they are, anything else as 0."""
    return value if isinstance(value, float) and math.isfinite(value) else 0.0
