"""Rendering check reports: the terminal text for people, and the JSON of ``design.md``."""

from __future__ import annotations

import json

from xltool.results import FileReport, Report

SEVERITY = {"error": "错误", "warning": "警告", "info": "提示"}


def verdict(report: FileReport) -> str:
    """退回, 通过 or 通过（有警告）: what the office tells the agency."""
    if not report.valid:
        return "退回"
    if report.explained:
        return "通过（有说明）"
    return "通过（有警告）" if report.warnings else "通过"


def file_heading(report: FileReport) -> str:
    who = report.agency_name or "（未知单位）"
    if report.agency_code:
        who += f"（{report.agency_code}）"
    if report.role == "summary":
        who += " [汇总表]"
    what = f"{report.format or '未知格式'} {report.year or ''}年度".strip()
    if report.valid:
        verdict = "通过" + ("（有说明）" if report.explained else f"（{len(report.warnings)} 个警告）" if report.warnings else "")
    else:
        verdict = f"不通过：{len(report.errors)} 个错误" + (f"，{len(report.warnings)} 个警告" if report.warnings else "")
    mark = "✓" if report.valid else "✗"
    return f"{mark} {report.name}  {who}  {what}  {verdict}"


def finding_line(f) -> str:
    place = f"{f.sheet}!{f.cell}" if f.sheet and f.cell else (f.sheet or "")
    parts = [SEVERITY[f.severity], f.rule or f.code, place, f.name or ""]
    return "  " + " ".join(p for p in parts if p) + "  " + f.message


def render_text(report: Report) -> str:
    lines: list[str] = []
    for file in report.files:
        lines.append(file_heading(file))
        lines.extend(finding_line(f) for f in file.findings)
    good = sum(f.valid for f in report.files)
    lines.append(f"共检查 {len(report.files)} 个文件：通过 {good} 个，不通过 {len(report.files) - good} 个。")
    lines.extend(report.notes)
    return "\n".join(lines)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2)
