"""What a merge tells the person who ran it: the status table and the cross-year notes for the terminal, and
the JSON of ``design.md``."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Sequence

from xltool.files import shown
from xltool.findings import NOTES
from xltool.merge import REJECTED, SKIPPED, Entry, MergeResult


def _pad(text: str, width: int) -> str:
    """Pad to a terminal width, counting a CJK character as two columns."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def status_text(entries: list[Entry]) -> str:
    """The status table for the terminal."""
    lines = []
    for e in entries:
        line = f"{_pad(e.status, 16)} {_pad(e.code, 10)} {e.name}"
        if e.report is not None:
            line += f"  [{e.report.name}]"
        if e.note:
            line += f"  {e.note}"
        lines.append(line)
        if e.report is not None and e.status in (REJECTED, SKIPPED):
            lines.extend(f"{' ' * 17}- {f.message}" for f in e.findings[:3])
    counts = Counter(e.status for e in entries)
    lines.append("合计：" + "，".join(f"{status} {n}" for status, n in counts.items()))
    return "\n".join(lines)


def cross_year_text(result: MergeResult, notes: Sequence[str]) -> str:
    """What the terminal says of the cross-year checks: run notes, the agencies without last year's figures, and
    the city's totals against last year's summary (with the members whose explained findings explain them)."""
    lines = list(notes)
    lacking = [e.code for e in result.entries if any(f.reason == "no-previous-data" for f in e.findings)]
    if lacking:
        lines.append(NOTES["without-previous"].format(agencies="、".join(lacking)))
    if result.summary_findings:
        lines.append(NOTES["summary-against-previous"])
        for f in result.summary_findings:
            causes = [r.agency_code or r.name for r in result.accepted
                      if any(g.explained and g.rule == f.rule and g.name == f.name for g in r.findings)]
            lines.append("  " + f.message + (NOTES["caused-by"].format(agencies="、".join(causes)) if causes else ""))
    return "\n".join(lines)


def result_json(result: MergeResult, notes: Sequence[str] = ()) -> str:
    return json.dumps({
        "output": shown(result.output), "format": result.format, "year": result.year, "complete": result.complete,
        "notes": list(notes), "against_last_year": [f.to_dict() for f in result.summary_findings],
        "agencies": [{"code": e.code, "name": e.name, "status": e.status,
                      "file": shown(e.report.path) if e.report else None,
                      "findings": [f.to_dict() for f in e.findings]}
                     for e in result.entries],
    }, ensure_ascii=False, indent=2)
