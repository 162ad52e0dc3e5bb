"""Rosters: the list of agencies a city expects a report from (CSV or XLSX with ``code,name`` and optionally
``type``, one of the agency types the specs declare: 国务院部门, 省级政府, 设区的市政府, 县级政府, 部门, 乡镇街道)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import NamedTuple

from xltool.errors import UsageError


class Agency(NamedTuple):
    code: str
    name: str
    type: str = ""  # what the agency is (may it make 规章?); "" when the roster does not say


def load_roster(path: Path) -> list[Agency]:
    """Read a roster; any problem is a one-line :class:`UsageError` naming the file and the row."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".xlsx":
            rows = _xlsx_rows(path)
        else:
            text = path.read_bytes().decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text)))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: roster is not UTF-8 text (save it as CSV UTF-8)") from None
    except (OSError, csv.Error, ValueError) as exc:
        raise UsageError(f"{path}: cannot read roster: {exc}") from None
    rows = [[("" if v is None else str(v)).strip() for v in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        raise UsageError(f"{path}: roster is empty")
    header = [h.lower() for h in rows[0]]
    if "code" not in header or "name" not in header:
        raise UsageError(f"{path}: roster needs a header row with the columns code,name")
    ci, ni = header.index("code"), header.index("name")
    ti = header.index("type") if "type" in header else None
    known = agency_types()
    agencies: list[Agency] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        row = row + [""] * (len(header) - len(row))
        code, name = row[ci], row[ni]
        if not code or not name:
            raise UsageError(f"{path}: row {number}: code and name are both required")
        if code in seen:
            raise UsageError(f"{path}: row {number}: agency code {code} appears twice")
        seen.add(code)
        kind = row[ti] if ti is not None else ""
        if kind and kind not in known:
            raise UsageError(f"{path}: row {number}: unknown agency type {kind!r}; known: {'、'.join(known)}")
        agencies.append(Agency(code, name, kind))
    return agencies


def agency_types() -> tuple[str, ...]:
    """Every agency type a shipped spec declares."""
    from xltool.spec import shipped

    return tuple(dict.fromkeys(t for template in shipped().values() for t in template.agency_types))


def _xlsx_rows(path: Path) -> list[list[object]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
