"""Audit published reports: read a DOCX, HTML, PDF or text report, find its tables by their labels, check
what it states as it states it, and optionally turn it into a filled xltool workbook.

read (:mod:`xltool.audit_read`) → tables (:mod:`xltool.audit_tables`) → values → identities on the printed
numbers (totals are data here) → soft rules S3, S5, S6 → text against tables (S7, :mod:`xltool.audit_text`).
A file that cannot be read is a finding, never a traceback; a failure of xltool itself is ``internal-error``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from xltool.audit_read import AuditReadError, Document, read_report
from xltool.audit_tables import Reading, normal, parse_number, read_tables, detect_format, rows_of
from xltool.audit_text import check_text
from xltool.findings import Finding
from xltool.identities import holds
from xltool.render import SEVERITY
from xltool.results import Verdicts
from xltool.report_text import load_phrasing, number_text
from xltool.spec import Template, load_format, shipped
from xltool.values import advice

SUFFIXES = frozenset({".docx", ".html", ".htm", ".xhtml", ".pdf", ".txt", ".text", ".md"})
MAX_DEPTH = 8  # folder levels walked
MAX_FILES = 10_000
TOWNSHIP = re.compile(r"(镇人民政府|乡人民政府|街道办事处|镇政府|乡政府)$")  # names that say what the agency is
TOWNSHIP_TYPE = "乡镇街道"


@dataclass(frozen=True)
class AuditReport(Verdicts):
    """What auditing one published report found: its format, year and agency as read, every value as read
    (None: printed but not a number, or blank), where each came from, and the findings."""

    path: Path
    findings: tuple[Finding, ...] = ()
    format: str | None = None
    year: int | None = None
    agency_name: str | None = None
    values: Mapping[str, Decimal | None] = field(default_factory=dict)
    where: Mapping[str, str] = field(default_factory=dict)
    kind: str | None = None

    def numbers(self) -> dict[str, float]:
        return {c: float(v) for c, v in self.values.items() if v is not None}

    def to_dict(self) -> dict:
        return {"path": str(self.path), "valid": self.valid, "kind": self.kind, "format": self.format,
                "year": self.year, "agency": {"name": self.agency_name},
                "values": {c: (number_text(v) if v is not None else None) for c, v in self.values.items()},
                "findings": [finding_dict(f) for f in self.findings]}


def finding_dict(f: Finding) -> dict:
    """A finding in check's JSON fields, its ``sheet``/``cell`` replaced by where in the document it stands."""
    out = f.to_dict()
    out.pop("cell", None)
    out = {("location" if k == "sheet" else k): v for k, v in out.items()}
    return out


def find_reports(paths: Iterable[Path]) -> list[Path]:
    """Files as given; in folders, every report-like file, walked to :data:`MAX_DEPTH` levels (links not followed)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            out.append(path)
            continue
        stack = [(path, 0)]
        while stack and len(out) < MAX_FILES:
            folder, depth = stack.pop()
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith((".", "~$")) or entry.is_symlink():
                    continue
                if entry.is_dir():
                    if depth + 1 < MAX_DEPTH:
                        stack.append((entry, depth + 1))
                elif entry.suffix.lower() in SUFFIXES:
                    out.append(entry)
    return out


def audit_file(path: Path, *, fmt: str | None = None, year: int | None = None,
               types: Mapping[str, str] | None = None) -> AuditReport:
    """Audit one report. ``types``: agency types by agency name (a roster's), for S6."""
    path = Path(path)
    try:
        doc = read_report(path)
    except AuditReadError as exc:
        return AuditReport(path, (Finding("unreadable-report", reason=exc.reason, detail=exc.params),))
    try:
        return audit_document(path, doc, fmt=fmt, year=year, types=types)
    except Exception as exc:  # a bug in xltool: say so, never blame the file
        return AuditReport(path, (Finding("internal-error", detail={"stage": "审核报告",
                                                                    "error": f"{type(exc).__name__}: {exc}"}),))


def audit_document(path: Path, doc: Document, *, fmt: str | None = None, year: int | None = None,
                   types: Mapping[str, str] | None = None) -> AuditReport:
    found: list[Finding] = []
    if doc.external:
        found.append(Finding("external-content", actual="；".join(doc.external[:5])))
    detected, _ = detect_format(doc)
    template = load_format(fmt) if fmt else (shipped()[detected] if detected else None)
    if template is None:
        return AuditReport(path, (*found, Finding("not-a-report")), kind=doc.kind)
    name, read_year = title_of(doc)
    year = year or read_year
    if year is None:
        found.append(Finding("report-format", "info", reason="unknown-year"))
    elif not template.accepts_year(year):
        right = next((t for t in shipped().values() if t.accepts_year(year)), None)
        years = f"{template.first_year}–{template.last_year or ''}"
        found.append(Finding("report-format", reason="wrong-year", actual=year, detail={
            "format": template.name, "years": years, "expected": right.name if right else "其他格式"}))
    reading = read_tables(doc, template)
    labels = {c: cell.labels for c, cell in template.cells.items()}
    values, value_findings = _values(reading, template)
    found.extend(Finding("label-read", sheet=where, actual=printed, expected=expected)
                 for _, expected, printed, where in reading.labels)
    found.extend(value_findings)
    found.extend(_identities(template, values, reading))
    found.extend(_soft(template, values, reading, name, types))
    found.extend(check_text(doc.paragraphs, template, load_phrasing(template.format), values, labels))
    found.extend(_incomplete(template, reading))
    return AuditReport(path, tuple(found), template.format, year, name, values, dict(reading.where), doc.kind)


_TITLE = re.compile(r"^(.{0,40}?)\s*(20\d\d)\s*年度?\s*(?:政府信息公开|政务公开)")
_YEAR_HINTS = (re.compile(r"(20\d\d)年度?(?:政府信息公开|政务公开)"), re.compile(r"(20\d\d)年1月1日"),
               re.compile(r"(20\d\d)年12月31日"))


def title_of(doc: Document) -> tuple[str | None, int | None]:
    """The agency's name and the report year, from the title line (or the dates the report gives)."""
    name = year = None
    heads = [t.text for t in doc.tokens[:3]]
    for text in [*(t for t, _ in doc.paragraphs[:3]), *heads, *map("".join, zip(heads, heads[1:]))]:
        line = normal(text)
        if len(line) > 80 or not line.endswith(("报告", "汇报")) or line.startswith("."):
            continue
        match = _TITLE.match(line)
        if match:
            name, year = match.group(1).strip() or None, int(match.group(2))
        else:
            head = re.split(r"政府信息公开|政务公开", line)[0].strip()
            name = head or None
        break
    if year is None:
        text = normal(" ".join(t for t, _ in doc.paragraphs[:60]))
        for hint in _YEAR_HINTS:
            match = hint.search(text)
            if match:
                year = int(match.group(1))
                break
    return name, year


def _values(reading: Reading, template: Template) -> tuple[dict[str, Decimal | None], list[Finding]]:
    """Every printed value as a number, and the findings on those that are not plain numbers."""
    values: dict[str, Decimal | None] = {}
    found = []
    for code, printed in reading.printed.items():
        cell = template.cells[code]
        located = {"sheet": reading.where[code], **cell.labels}
        text = normal(printed).replace(",", "")
        number = parse_number(text)
        if text == "":
            values[code] = None  # a blank: 0 for an input, judged by the identities for a total
            if cell.is_input:
                values[code] = Decimal(0)
                found.append(Finding("printed-value", "warning", reason="blank", **located))
            continue
        if number is None:
            reason, advised = advice(text, cell)
            if reason == "placeholder":
                values[code] = Decimal(0)
                found.append(Finding("printed-value", "warning", reason="placeholder", actual=printed, **located))
            elif advised is not None:
                values[code] = Decimal(advised)
                found.append(Finding("printed-value", rule="H5", reason=reason, actual=printed, **located,
                                     detail={"number": advised, "unit": cell.type.unit}))
            else:
                values[code] = None
                found.append(Finding("printed-value", reason="text", actual=printed, **located))
            continue
        values[code] = number
        kind = cell.type
        if kind.min is not None and number < Decimal(repr(kind.min)):
            found.append(Finding("printed-value", reason="negative", actual=printed, **located,
                                 detail={"min": number_text(Decimal(repr(kind.min)))}))
        elif kind.whole and number != number.to_integral_value():
            found.append(Finding("printed-value", reason="not-whole", actual=printed, **located))
        elif kind.decimals is not None and number.as_tuple().exponent < -kind.decimals:
            found.append(Finding("printed-value", reason="too-many-decimals", actual=printed, **located,
                                 detail={"decimals": kind.decimals}))
    return values, found


def _identities(template: Template, values: Mapping[str, Decimal | None], reading: Reading) -> list[Finding]:
    """Every within-year identity on the printed numbers; a blank total beside non-zero parts is an error there."""
    out = []
    for ident in template.identities:
        if ident.cross_year:
            continue
        codes = (*ident.left, *ident.right)
        if any(c not in reading.printed for c in codes):
            continue  # not in the report (cut short): said once by report-incomplete
        if any(values.get(c) is None and template.cells[c].is_input for c in codes):
            continue  # a value that is no number was reported already
        located = {"sheet": reading.where.get(ident.anchor), **template.cells[ident.anchor].labels}
        right = sum((values[c] or Decimal(0) for c in ident.right), Decimal(0))
        if values.get(ident.anchor) is None:
            if ident.anchor in ident.left and right != 0 and len(ident.left) == 1:
                out.append(Finding("total-blank", **located, expected=number_text(right)))
            continue
        left = sum((values[c] or Decimal(0) for c in ident.left), Decimal(0))
        right = sum((values[c] or Decimal(0) for c in ident.right), Decimal(0))
        if holds(ident.relation, float(left), float(right)):
            continue
        out.append(Finding("identity-violated", severity=ident.severity, rule=ident.rule, **located,
                           expected=number_text(right), actual=number_text(left),
                           detail={"description": ident.description, "difference": number_text(left - right)}))
    return out


def _soft(template: Template, values: Mapping[str, Decimal | None], reading: Reading, name: str | None,
          types: Mapping[str, str] | None) -> list[Finding]:
    """The plausibility rules that need only this year's figures and the agency's type (S6; S8's ceilings)."""
    agency_type, reason = None, "roster"
    if types and name:
        agency_type = types.get(normal(name))
    if agency_type is None and name and TOWNSHIP.search(name):
        agency_type, reason = TOWNSHIP_TYPE, "name"
    if agency_type is None:
        return []
    out = []
    for rule in template.plausibility:
        value = values.get(rule.code)
        if value is None or rule.kind == "band":
            continue
        if rule.kind == "zero":
            bad = agency_type in rule.types and value != 0
        else:
            ceiling = dict(rule.ceilings).get(agency_type)
            bad = ceiling is not None and float(value) > ceiling
        if not bad:
            continue
        cell = template.cells[rule.code]
        text = rule.description.format(row=cell.row_label, column=cell.column_label, type=agency_type,
                                       value=number_text(value), previous="—")
        out.append(Finding("printed-implausible", rule=rule.rule, reason=reason, sheet=reading.where.get(rule.code),
                           **cell.labels, actual=number_text(value), detail={"description": text,
                                                                           "agency": name or ""}))
    return out


def _incomplete(template: Template, reading: Reading) -> list[Finding]:
    """Per table: not found at all, or found up to a row (a page cut short)."""
    out = []
    rows = rows_of(template.format)
    for table in template.tables:
        codes = [c for c, cell in template.cells.items() if cell.table == table.id]
        if not any(c in reading.printed for c in codes):
            out.append(Finding("report-incomplete", reason="table-missing", table=table.id,
                               detail={"table_heading": table.heading}))
            continue
        missing = next((r for r in rows if r.table == table.id and any(c not in reading.printed for c in r.codes)),
                       None)
        if missing is not None:
            out.append(Finding("report-incomplete", reason="rows-missing", table=table.id, row=missing.label,
                               detail={"table_heading": table.heading, "row": missing.place}))
    return out


def audit(paths: Iterable[Path], *, fmt: str | None = None, year: int | None = None,
          types: Mapping[str, str] | None = None) -> list[AuditReport]:
    """Audit every report in ``paths`` (files and folders)."""
    normal_types = {normal(k): v for k, v in (types or {}).items()}
    return [audit_file(p, fmt=fmt, year=year, types=normal_types) for p in find_reports(paths)]


def render_text(reports: list[AuditReport]) -> str:
    lines = []
    for report in reports:
        mark = "✓" if report.valid else "✗"
        what = f"{shipped()[report.format].name if report.format else '未知格式'} {report.year or ''}年度".strip()
        verdict = "无错误" if report.valid else f"{len(report.errors)} 个错误"
        if report.warnings:
            verdict += f"，{len(report.warnings)} 个警告"
        lines.append(f"{mark} {report.path.name}  {report.agency_name or '（未知单位）'}  {what}  {verdict}")
        for f in report.findings:
            parts = [SEVERITY[f.severity], f.rule or f.code, f.sheet or ""]
            lines.append("  " + " ".join(p for p in parts if p) + "  " + f.message)
    good = sum(r.valid for r in reports)
    lines.append(f"共审核 {len(reports)} 份报告：无错误 {good} 份，有错误 {len(reports) - good} 份。")
    return "\n".join(lines)


def render_json(reports: list[AuditReport]) -> str:
    return json.dumps({"valid": all(r.valid for r in reports), "files": [r.to_dict() for r in reports]},
                      ensure_ascii=False, indent=2)


def to_workbook(report: AuditReport, out_dir: Path, taken: set[str] | None = None) -> Path | None:
    """Write the audited report as a filled workbook of its format into ``out_dir``: every input as published,
    the totals as the template's formulas, and a 审核结果 sheet listing the audit's findings (the annotated
    copy of :mod:`xltool.annotate`). None when there is no format, or no year the format accepts."""
    import tempfile

    from xltool.annotate import annotate
    from xltool.files import safe_filename
    from xltool.generate import Metadata, default_timestamp, workbook_bytes
    from xltool.layout import layout_for
    from xltool.results import FileReport, Origin

    if report.format is None or report.year is None:
        return None
    template = load_format(report.format)
    if not template.accepts_year(report.year):
        return None
    layout = layout_for(template.format)
    name = report.agency_name or report.path.stem
    meta = Metadata(template.format, template.version, report.year, "", name, generated_at=default_timestamp(),
                    fingerprint=layout.fingerprint)
    inputs = {c: v for c, v in report.values.items() if v is not None and template.cells[c].is_input}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        filled = Path(scratch) / safe_filename(report.path.stem, ".xlsx")
        filled.write_bytes(workbook_bytes(layout, meta, values=inputs))
        origin = Origin(template.format, report.year, "", name, "agency")
        return annotate(FileReport(filled, report.findings, origin), out_dir, taken)
