"""Last year's figures, per agency code, from what the office already holds: last year's summary (its 汇总明细),
last year's agency workbooks, or a CSV/JSON written by ``xltool export``.

Last year's workbooks are checked with the same safety as this year's; one that cannot be read or does not
pass is reported and not used. The same agency twice with different figures is an error naming both sources.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from xltool.errors import UsageError
from xltool.files import shown

TABLE_SUFFIXES = (".csv", ".json")


@dataclass(frozen=True)
class LastYear:
    """One agency's (or summary's) figures of last year: data point code -> value, and where they came from."""

    code: str
    format: str
    year: int
    role: str
    values: dict[str, float]
    source: str


@dataclass
class Previous:
    by_code: dict[str, LastYear] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # last year's files that were not used, and why
    sources: list[str] = field(default_factory=list)

    def add(self, record: LastYear) -> None:
        other = self.by_code.get(record.code)
        if other is None:
            self.by_code[record.code] = record
        elif other.values != record.values:
            raise UsageError(f"last year's figures of {record.code} differ between {other.source} and {record.source}")


def load_previous(paths: Iterable[Path]) -> Previous:
    """Read every source of last year's figures; a one-line :class:`UsageError` when two disagree."""
    from xltool.batch import check_many, find_workbooks

    previous = Previous()
    files = find_workbooks(paths)
    if not files:
        raise UsageError("--previous: no files of last year's figures found")
    tables = [f for f in files if f.suffix.lower() in TABLE_SUFFIXES]
    workbooks = [f for f in files if f not in tables]
    for path in tables:
        previous.sources.append(shown(path))
        for record in _from_table(path):
            previous.add(record)
    for report in check_many(workbooks):
        previous.sources.append(report.name)
        if not report.valid or report.format is None:
            first = report.errors[0].message if report.errors else ""
            previous.problems.append(f"上年文件 {report.name} 未通过审核，未用作上年数据：{first}")
            continue
        if report.role == "summary":
            for record in _from_summary(report.path, report.format, report.year):
                previous.add(record)
        previous.add(LastYear(report.agency_code or "", report.format, report.year, report.role or "agency",
                              dict(report.values), report.name))
    return previous


def _from_summary(path: Path, fmt: str, year: int) -> Iterator[LastYear]:
    """The agencies of a summary's 汇总明细 (rows that stand for one agency)."""
    from xltool.reader import read_workbook
    from xltool.summary import DETAIL_SHEET, ROLE_NAMES, sheet_rows

    rows = sheet_rows(read_workbook(path).sheet(DETAIL_SHEET))
    codes = {str(h).split("\n", 1)[0]: i for i, h in enumerate(rows[0])} if rows else {}
    for row in rows[1:]:
        if row[2] != ROLE_NAMES["agency"] or not row[0]:
            continue
        values = {code: row[i] for code, i in codes.items() if isinstance(row[i], float)}
        yield LastYear(str(row[0]), fmt, year, "agency", values, f"{shown(path.name)}（汇总明细）")


def _from_table(path: Path) -> Iterator[LastYear]:
    """The records of an ``xltool export`` CSV or JSON."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
        rows = json.loads(text) if path.suffix.lower() == ".json" else list(csv.DictReader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise UsageError(f"--previous: cannot read {shown(path)}: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"agency_code", "code", "value"} <= set(r)
                                             for r in rows):
        raise UsageError(f"--previous: {shown(path)} is not a table written by xltool export")
    grouped: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if r.get("valid") in (False, "False") or r["value"] in (None, "") or r["code"] == "EXPLANATION":
            continue
        key = (str(r["agency_code"]), r.get("format") or "", int(r.get("year") or 0), r.get("role") or "agency")
        grouped.setdefault(key, {})[r["code"]] = float(r["value"])
    for (code, fmt, year, role), values in grouped.items():
        yield LastYear(code, fmt, year, role, values, shown(path.name))
