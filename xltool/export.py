"""Export data points as a long table (one row per file and data point) for analysts."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal

from xltool.results import FileReport
from xltool.spec import load_format

EXPLANATION = "EXPLANATION"  # the code of an agency's written explanation in an export
COLUMNS = ["file", "agency_code", "agency_name", "role", "format", "year", "valid", "code", "table", "row",
           "column", "value"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def rows(reports: Iterable[FileReport]) -> Iterator[dict]:
    """One dict per data point of every file whose template is known, in the template's order; then one per
    written explanation of the agency (code ``EXPLANATION``, the rule as its row, the text as its value)."""
    for report in reports:
        if not report.format:
            continue
        who = {"file": report.name, "agency_code": report.agency_code, "agency_name": report.agency_name,
               "role": report.role, "format": report.format, "year": report.year, "valid": report.valid}
        for code, cell in load_format(report.format).cells.items():
            yield {**who, "code": code, "table": cell.table, "row": cell.row_label, "column": cell.column_label,
                   "value": plain_number(report.values.get(code))}
        sheet = load_format(report.format).explanations
        for rule, text in report.explanations:
            yield {**who, "code": EXPLANATION, "table": sheet.sheet, "row": rule, "column": sheet.columns[1],
                   "value": text}


def plain_number(value: object) -> int | Decimal | None:
    """A float as the number a person typed: 7 not 7.0, 0.3 not 0.30000000000000004."""
    if not isinstance(value, float):
        return None
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return Decimal(repr(value))


def to_csv(table: Iterable[dict]) -> str:
    """CSV with a BOM (Excel opens it as UTF-8); text that a spreadsheet would run as a formula is quoted."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in table:
        writer.writerow([_safe(row[c]) for c in COLUMNS])
    return out.getvalue()


def to_json(table: Iterable[dict]) -> str:
    def default(value):
        if isinstance(value, Decimal):
            return float(value)
        raise TypeError(type(value))

    return json.dumps(list(table), ensure_ascii=False, indent=1, default=default)


def _safe(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
