"""Merge accepted workbooks into a summary workbook of the same template, checkable and mergeable again.

Every file is checked; the valid ones of the summary's format and year are summed exactly (decimal),
and the summary records the status of every roster agency and the provenance of every source file.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from xltool import summary
from xltool.batch import check_many, find_workbooks
from xltool.check import check_file
from xltool.errors import UsageError
from xltool.files import atomic_write, refuse_unsafe_output
from xltool.findings import Finding
from xltool.finish import hash_password
from xltool.generate import Metadata, default_timestamp, utc_text, workbook_bytes
from xltool.layout import Layout, layout_for
from xltool.results import DataPoints, FileReport
from xltool.roster import Agency
from xltool.soft import Context, judge
from xltool.spec import load_format, shipped

ACCEPTED, ACCEPTED_WARN, ACCEPTED_EXPLAINED = summary.ACCEPTED
REJECTED, MISSING, SKIPPED = "退回", "未报送", "未汇总"


@dataclass
class Entry:
    """One line of 报送情况: an agency (from the roster or a file) and what became of it."""

    code: str
    name: str
    status: str
    report: FileReport | None = None
    note: str = ""
    findings: tuple[Finding, ...] = ()  # the file's own findings, then merge's


class _Decisions:
    """What merging decides about each checked file (wrong format, duplicate, not on the roster…), kept
    beside check's report, never written into it."""

    def __init__(self, reports: Sequence[FileReport]):
        self.extra: dict[int, list[Finding]] = {id(r): [] for r in reports}

    def add(self, report: FileReport, finding: Finding) -> None:
        self.extra[id(report)].append(finding)

    def findings(self, report: FileReport) -> tuple[Finding, ...]:
        return (*report.findings, *self.extra[id(report)])

    def valid(self, report: FileReport) -> bool:
        return not any(f.severity == "error" for f in self.findings(report))

    def status(self, report: FileReport, accepted_ids: set[int]) -> str:
        found = self.findings(report)
        if id(report) in accepted_ids:
            if any(f.explained for f in found):
                return ACCEPTED_EXPLAINED
            return ACCEPTED_WARN if any(f.severity == "warning" for f in found) else ACCEPTED
        return REJECTED if any(f.severity == "error" for f in found) else SKIPPED


@dataclass
class MergeResult:
    output: Path | None
    format: str
    year: int
    entries: list[Entry]
    reports: list[FileReport]
    accepted: list[FileReport] = field(default_factory=list)
    summary_findings: tuple[Finding, ...] = ()  # the summary against last year's summary: reported, not judged

    @property
    def complete(self) -> bool:
        """Everything expected was accepted: nothing rejected, nothing missing."""
        return all(e.status in (*summary.ACCEPTED, SKIPPED) for e in self.entries)


def merge(paths: Iterable[Path], output: Path, *, roster: Sequence[Agency] | None = None, name: str = "汇总",
          code: str = "", prefer: str | None = None, fmt: str | None = None, year: int | None = None,
          password: str | None = None, workers: int | None = None, context: Context | None = None) -> MergeResult:
    """Check ``paths`` (files and folders), sum the accepted ones, write the summary to ``output``.

    ``context``: last year's figures, agency types and whether soft findings need explanations (the soft
    rules of :mod:`xltool.soft`); by default explanations are required and there are no cross-year checks."""
    context = context or Context(types={a.code: a.type for a in roster or () if a.type} or None)
    files = find_workbooks(paths)
    output = Path(output)
    refuse_unsafe_output(output, files, suffix=".xlsx")
    if not files:
        raise UsageError("nothing to merge: no workbooks given")
    checking = check_many(files, workers=workers)
    reports = [judge(next(checking), context)]
    hash_password(password)  # while the workers check
    reports += (judge(r, context) for r in checking)
    fmt_key, year = _summary_kind(reports, fmt, year)
    layout = layout_for(fmt_key, "summary")
    decisions = _Decisions(reports)
    _reject_odd_kinds(reports, fmt_key, year, decisions)
    _refuse_stale_summaries(reports, decisions)
    accepted = _choose(reports, prefer, decisions)
    accepted = _apply_roster(accepted, reports, roster, decisions)
    entries = _entries(reports, accepted, roster, decisions)
    if not accepted:
        from xltool.merge_report import status_text  # it imports this module

        raise UsageError("nothing to merge: no file was accepted\n" + status_text(entries))
    sums = sum_values(layout, accepted)
    members = sorted({m for r in accepted for m in (r.members if r.role == "summary" else [r.agency_code or ""])} - {""})
    meta = Metadata(layout.template.format, layout.template.version, year, code, name, role="summary",
                    generated_at=default_timestamp(max(_mtime(r.path) for r in accepted)), fingerprint=layout.fingerprint, members=",".join(members))
    extra = [summary.status_sheet(_status_rows(entries)), summary.detail_sheet(layout, [_member(r) for r in accepted]),
             summary.source_sheet(_source_rows(reports, accepted, decisions)),
             summary.explanations_sheet([(r, f) for r in accepted for f in r.findings if f.explained])]
    data = workbook_bytes(layout, meta, values=sums, extra=extra, password=password)
    write_summary(output, data)
    against_last_year: tuple[Finding, ...] = ()
    if context.previous is not None:  # the city's totals against last year's summary of the same code
        city = judge(check_file(output), Context(context.previous, explanations_required=False))
        against_last_year = tuple(f for f in city.findings if f.rule or f.code == "not-checked")
    return MergeResult(output, fmt_key, year, entries, reports, accepted, against_last_year)


def write_summary(output: Path, data: bytes) -> None:
    """Write the summary atomically (a temporary file beside it, renamed over it).

    A merge that was killed (power cut, ``kill -9``) cannot remove its temporary file: the hidden
    ``.NAME.xlsx.*.tmp`` stays beside the output. The next merge into the same output removes such
    files first. It holds a lock on the folder while it does and while it writes, so two merges into
    the same folder never take each other's temporary file for a stale one.
    """
    with _folder_lock(output.parent) as locked:
        if locked:
            for stale in output.parent.glob(f".{glob.escape(output.name)}.*.tmp"):
                with contextlib.suppress(OSError):
                    stale.unlink()
        atomic_write(output, data)


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """An exclusive ``flock`` on the folder, released when the process ends however it ends; yields
    whether it is held (not on systems without ``flock``, or a folder that cannot be opened)."""
    try:
        import fcntl
    except ImportError:
        yield False
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)


def _summary_kind(reports: list[FileReport], fmt: str | None, year: int | None) -> tuple[str, int]:
    """The summary's format and year: as asked, else the most common among identified files."""
    if fmt is not None:
        fmt = load_format(fmt).format
    kinds = Counter((r.format, r.year) for r in reports
                    if r.format and r.year and (fmt is None or r.format == fmt) and (year is None or r.year == year))
    if not kinds:
        raise UsageError("nothing to merge: no file is a workbook of a known template"
                         + (f" of {fmt}" if fmt else "") + (f" for {year}" if year else ""))
    ranked = kinds.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        odd = ", ".join(f"{r.name} ({r.format} {r.year})" for r in reports if (r.format, r.year) in dict(ranked))
        raise UsageError(f"files of different formats or years, none in the majority: {odd}; "
                         "choose one with --format and --year")
    return ranked[0][0]


def _kind_name(fmt: str, year: int) -> str:
    template = shipped().get(fmt)
    return f"{template.name if template else fmt} {year} 年度"


def _reject_odd_kinds(reports: list[FileReport], fmt: str, year: int, decisions: _Decisions) -> None:
    for r in reports:
        if r.format and r.year and (r.format, r.year) != (fmt, year):
            decisions.add(r, Finding("wrong-format", expected=_kind_name(fmt, year), actual=_kind_name(r.format, r.year)))


def _refuse_stale_summaries(reports: list[FileReport], decisions: _Decisions) -> None:
    """A summary that summed another file of an agency than the one that agency sent now is refused: the
    agency's own file (and every other agency's) is merged instead."""
    own = {r.agency_code: r for r in reports if r.role == "agency" and r.agency_code and r.sha256}
    for s in reports:
        if s.role != "summary" or not decisions.valid(s):
            continue
        for code, sha in s.summed:
            if code in own and own[code].sha256 != sha:
                decisions.add(s, Finding("summary-unverified", reason="stale", name=code,
                                         detail={"file": own[code].name}))
                break


def _choose(reports: list[FileReport], prefer: str | None, decisions: _Decisions) -> list[FileReport]:
    """The valid reports to sum: one per agency, no agency counted twice."""
    valid = [r for r in reports if decisions.valid(r)]
    by_sha: dict[str, FileReport] = {}
    unique = []
    for r in valid:  # the very same file twice: keep the first copy silently, note the second
        if r.sha256 in by_sha:
            decisions.add(r, Finding("superseded", name=r.agency_code, detail={"file": by_sha[r.sha256].name}))
            continue
        by_sha[r.sha256 or str(r.path)] = r
        unique.append(r)
    summaries = [r for r in unique if r.role == "summary"]
    covered = {m: s for s in summaries for m in s.members}
    chosen = []
    for r in unique:
        if r.role == "agency" and r.agency_code in covered:
            decisions.add(r, Finding("included-in-summary", name=r.agency_code,
                                     detail={"file": covered[r.agency_code].name}))
        else:
            chosen.append(r)
    groups: dict[str, list[FileReport]] = defaultdict(list)
    for r in chosen:
        for key in (r.members if r.role == "summary" else [r.agency_code or r.name]):
            groups[key].append(r)
    losers: set[int] = set()
    for key, group in groups.items():
        if len(group) < 2:
            continue
        if prefer == "newest":
            winner = max(group, key=lambda r: (_mtime(r.path), r.path.name))
            for r in group:
                if r is not winner and id(r) not in losers:
                    losers.add(id(r))
                    decisions.add(r, Finding("superseded", name=key, detail={"file": winner.name}))
        else:
            names = "、".join(r.name for r in group)
            for r in group:
                if id(r) not in losers:
                    losers.add(id(r))
                    decisions.add(r, Finding("duplicate-agency", name=key, detail={"files": names}))
    return [r for r in chosen if id(r) not in losers]


def _modified(path: Path) -> str:
    """The file's own time: what the summary records of it, so that the same files give the same summary."""
    return utc_text(datetime.fromtimestamp(int(_mtime(path)), tz=timezone.utc))


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _apply_roster(accepted: list[FileReport], reports: list[FileReport], roster: Sequence[Agency] | None,
                  decisions: _Decisions) -> list[FileReport]:
    if roster is None:
        return accepted
    codes = {a.code for a in roster}
    kept = []
    for r in accepted:
        covers = set(r.members) | {r.agency_code} if r.role == "summary" else {r.agency_code}
        if covers & codes:
            kept.append(r)
        else:
            decisions.add(r, Finding("not-on-roster", name=r.agency_code))
    accepted_ids = {id(r) for r in accepted}
    for r in reports:  # an invalid file of an unknown agency is still worth saying
        if id(r) not in accepted_ids and r.agency_code and r.role == "agency" and r.agency_code not in codes \
                and r.format:
            decisions.add(r, Finding("not-on-roster", name=r.agency_code))
    return kept


def _entries(reports: list[FileReport], accepted: list[FileReport], roster: Sequence[Agency] | None,
             decisions: _Decisions) -> list[Entry]:
    accepted_ids = {id(r) for r in accepted}
    entries: list[Entry] = []
    by_code: dict[str, list[FileReport]] = defaultdict(list)
    for r in reports:
        if r.agency_code:
            by_code[r.agency_code].append(r)
        for m in r.members if id(r) in accepted_ids else ():
            if m != r.agency_code:
                by_code[m].append(r)
    listed: set[int] = set()
    for agency in roster or ():
        files = by_code.get(agency.code, [])
        if not files:
            entries.append(Entry(agency.code, agency.name, MISSING))
            continue
        for r in sorted(files, key=lambda r: id(r) not in accepted_ids):
            listed.add(id(r))
            via = f"经汇总表 {r.name}" if r.role == "summary" and r.agency_code != agency.code else ""
            entries.append(Entry(agency.code, agency.name, decisions.status(r, accepted_ids), r, via,
                                 decisions.findings(r)))
    for r in reports:
        if id(r) not in listed:
            entries.append(Entry(r.agency_code or "", r.agency_name or "", decisions.status(r, accepted_ids), r,
                                 findings=decisions.findings(r)))
    return entries


def sum_values(layout: Layout, accepted: Sequence[FileReport]) -> dict[str, Decimal]:
    """Each input data point summed exactly over the accepted files (decimal: 0.1 + 0.2 is 0.3)."""
    cells, fmt = layout.template.cells, layout.template.format
    if accepted and all(isinstance(r.values, DataPoints) and r.values.format == fmt for r in accepted):
        columns = list(zip(*(r.values.array for r in accepted)))  # one tuple per data point, in the spec's order
    else:
        columns = [tuple(float(r.values.get(code, 0.0)) for r in accepted) for code in cells]
    return {code: exact_sum(column) for column, (code, cell) in zip(columns, cells.items()) if cell.is_input}


def exact_sum(values: Sequence[float]) -> Decimal:
    """The exact sum of numbers (NaN, no number, counts as none). Whole numbers, nearly all there are, are
    summed by ``math.fsum``, exact for them below 2**53; any other as the decimal its shortest repr stands for."""
    total = math.fsum(values)
    if total != total:
        values = [v for v in values if v == v]
        total = math.fsum(values)
    if abs(total) < 2 ** 53 and all(map(float.is_integer, values)):
        return Decimal(int(total))
    return sum((Decimal(repr(v)) for v in values), Decimal(0))


def _problems(findings: Sequence[Finding], limit: int = 3) -> str:
    shown = [f.message for f in findings[:limit]]
    more = len(findings) - limit
    return "\n".join(shown) + (f"\n……另有 {more} 项" if more > 0 else "")


def _status_rows(entries: list[Entry]) -> list[list[object]]:
    rows = []
    for i, e in enumerate(entries, start=1):
        errors = sum(f.severity == "error" for f in e.findings)
        rows.append([i, e.code, e.name, e.status, errors, len(e.findings) - errors,
                     (e.note + "\n" if e.note else "") + _problems(e.findings), e.report.name if e.report else ""])
    return rows


def _member(r: FileReport) -> summary.Member:
    members = r.members if r.role == "summary" else (r.agency_code or "",)
    return summary.Member(r.agency_code or "", r.agency_name or "", r.role or "", members, r.values)


def _source_rows(reports: list[FileReport], accepted: list[FileReport], decisions: _Decisions) -> list[list[object]]:
    accepted_ids = {id(r) for r in accepted}
    return [[r.name, r.size, r.sha256 or "", r.format or "", r.year, r.agency_code or "", r.agency_name or "",
             r.role or "", _modified(r.path), decisions.status(r, accepted_ids)] for r in reports]
