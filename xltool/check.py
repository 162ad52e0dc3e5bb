"""Check one returned workbook, start to end.

read the package safely -> parse the workbook -> identify its template -> compare the structure ->
evaluate and type-check the values -> confirm the identities. Each step is its own module; this one
runs them in order and turns what they find into one :class:`FileReport`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from xltool import summary
from xltool.findings import Finding
from xltool.identify import identify
from xltool.identities import confirm
from xltool.package import ReadError, os_error, read_file
from xltool.reader import read_workbook
from xltool.results import FileReport, Origin
from xltool.structure import compare
from xltool.values import evaluate_values, explanations


def check_file(path: Path) -> FileReport:
    """Check one file. Never raises for a bad file: every problem becomes a finding, and a failure of
    xltool itself becomes an ``internal-error`` finding, never a verdict on the file."""
    path = Path(path)
    checked_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    size = sha256 = None
    stage = "读取文件"
    try:
        try:
            data = read_file(path)
        except OSError as exc:
            raise os_error(exc) from None
        size, sha256 = len(data), hashlib.sha256(data).hexdigest()
        book = read_workbook(path, data)
        stage = "审核文件"
        found = identify(book)
        if found.layout is None:
            return FileReport(path, (found.problem,), found.origin, size=size, sha256=sha256, checked_at=checked_at)
        structure = compare(book, found.layout, found.origin.role)
        values = evaluate_values(book, found.layout, structure)
        findings = [*structure.findings, *values.findings, *confirm(found.layout, values, structure)]
        summed: tuple[tuple[str, str], ...] = ()
        if found.origin.role == "summary" and not findings:
            findings = summary.verify(book, found.layout, found.origin.members, values.numbers)
            summed = summary.summed_files(book)
        return FileReport(path, tuple(findings), found.origin, values.numbers, size, sha256, checked_at, summed,
                          explanations(book, found.layout))
    except ReadError as exc:
        finding = Finding(exc.code, reason=exc.reason, detail=exc.params)
    except Exception as exc:  # a bug in xltool: say so, never blame the file
        finding = Finding("internal-error", detail={"stage": stage, "error": f"{type(exc).__name__}: {exc}"})
    return FileReport(path, (finding,), Origin(), size=size, sha256=sha256, checked_at=checked_at)
