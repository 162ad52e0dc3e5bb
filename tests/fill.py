"""Random fills that satisfy every identity of a spec: for the samples, the benchmark and the tests
(not part of the installed package).

Nothing here knows a rule by name: totals are summed from ``Cell.total_of`` and each other identity is
repaired on its anchor cell (or, failing that, on an input of the other side), all read from the spec.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from decimal import Decimal
from pathlib import Path

from xltool.files import atomic_write
from xltool.layout import layout_for
from xltool.spec import Identity, Template


def random_values(template: Template, rng: random.Random, *, high: int = 30) -> dict[str, int | Decimal]:
    """Input values for every input data point, with every identity of the spec satisfied."""
    values: dict[str, int | Decimal] = {}
    for code, cell in template.cells.items():
        if not cell.is_input:
            continue
        if not cell.type.whole:
            values[code] = Decimal(rng.randint(0, 10**7)) / Decimal(10**4)
        elif cell.type.min is None:
            values[code] = rng.randint(-high, high)
        else:
            values[code] = rng.randint(0, high)
    for ident in template.identities:
        if not ident.cross_year:  # a cross-year rule is about last year's figures: see last_year_for
            _repair(template, ident, values)
    return values


def totals(template: Template, values: dict[str, int | Decimal]) -> dict[str, int | Decimal]:
    """The value of every data point, totals included, computed from the spec's total definitions."""
    out = dict(values)

    def value(code: str):
        if code not in out:
            out[code] = sum((value(p) for p in template.cells[code].total_of or ()), 0)
        return out[code]

    for code in template.cells:
        value(code)
    return out


def _repair(template: Template, ident: Identity, values: dict) -> None:
    all_values = totals(template, values)
    left = sum(all_values[c] for c in ident.left)
    right = sum(all_values[c] for c in ident.right)
    if {"=": left == right, "<=": left <= right, ">=": left >= right}[ident.relation]:
        return
    anchor_on_right = ident.anchor in ident.right and template.cells[ident.anchor].is_input
    if anchor_on_right and left - (right - values[ident.anchor]) >= 0:
        values[ident.anchor] = left - (right - values[ident.anchor])
        return
    if anchor_on_right:
        values[ident.anchor] = 0
        right = sum(totals(template, values)[c] for c in ident.right)
    if left < right:  # raise the left side by the gap, on its first input cell
        target = next(c for c in ident.left if template.cells[c].is_input)
    else:
        target = next(c for c in ident.right if template.cells[c].is_input)
    values[target] += abs(left - right)


def type_into(path: Path, fmt: str, values: dict[str, object], out: Path | None = None) -> Path:
    """Type values (data point code -> value) into a workbook's cells with openpyxl, as a clerk would.

    Protection is not enforced here, so this also types over totals: what a clerk does after removing it.
    """
    from openpyxl import load_workbook

    positions = layout_for(fmt).positions
    book = load_workbook(path)
    for code, value in values.items():
        sheet, row, col = positions[code]
        cell = book[sheet].cell(row + 1, col + 1)
        cell.value = float(value) if isinstance(value, Decimal) else value
    buffer = io.BytesIO()
    book.save(buffer)
    target = Path(out or path)
    atomic_write(target, _without_timestamps(buffer.getvalue()))
    return target


def _without_timestamps(data: bytes) -> bytes:
    """openpyxl stamps the save time into core.xml and every zip entry; fix both, for reproducible samples."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            part = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                part = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2025-01-01T00:00:00Z", part)
            info.date_time = (2025, 1, 1, 0, 0, 0)
            dst.writestr(info, part)
    return out.getvalue()


def last_year_for(template: Template, values: dict[str, int | Decimal]) -> dict[str, int | Decimal]:
    """Last year's figures that this year's ``values`` agree with, by the spec's cross-year rules: every
    ``prev.`` reference gets a value such that each rule holds (e.g. last year's FORWARD = this year's CARRY)."""
    this = totals(template, values)
    last: dict[str, int | Decimal] = {}
    for ident in template.identities:
        if not ident.cross_year or ident.relation != "=":
            continue
        refs = [c for c in ident.right if c.startswith("prev.")]
        known = sum(this[c] for c in ident.right if not c.startswith("prev.")) + sum(
            last.get(c[5:], 0) for c in refs[1:])
        target = refs[0][5:]
        last[target] = sum(this[c] for c in ident.left) - known
        for c in refs[1:]:
            last.setdefault(c[5:], 0)
    return last


def next_year(template: Template, last: dict[str, int | Decimal], rng: random.Random,
              last_template: Template | None = None) -> dict[str, int | Decimal]:
    """A valid fill of the year after ``last`` that every cross-year rule of the spec agrees with: for each such
    rule, its first input of this year on the left is set from last year's figures (上年结转 = 上年的结转下年度…)."""
    values = random_values(template, rng)
    before = totals(last_template or template, last)
    for ident in template.identities:
        if not ident.cross_year or ident.relation != "=":
            continue
        prev = [c[5:] for c in (*ident.left, *ident.right) if c.startswith("prev.")]
        if any(c not in before for c in prev):
            continue  # last year's format has no such cell
        mine_left = [c for c in ident.left if not c.startswith("prev.")]
        mine_right = [c for c in ident.right if not c.startswith("prev.")]
        target = mine_left[0]
        if not template.cells[target].is_input:
            continue  # a total: it follows from the inputs set by the other instances
        want = (sum(before[c[5:]] for c in ident.right if c.startswith("prev."))
                - sum(before[c[5:]] for c in ident.left if c.startswith("prev."))
                + sum(values[c] for c in mine_right) - sum(values[c] for c in mine_left[1:]))
        if want < 0 and mine_right:
            values[mine_right[0]] += -want
            want = 0
        values[target] = want
    for ident in template.identities:  # this year's own rules, without touching what was just set
        if not ident.cross_year:
            _repair(template, ident, values)
    return values
