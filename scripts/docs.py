"""Generated documentation: the finding codes, what xltool refuses, and the data point list.

    python scripts/docs.py          # rewrite the generated parts of README.md and docs/data-points.md
    python scripts/docs.py --check  # exit 1 when they are stale (the tests run this)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from xltool.findings import CATALOGUE
from xltool.spec import shipped

ROOT = Path(__file__).resolve().parents[1]
SEVERITY = {"error": "error（退回）", "warning": "warning（不阻止汇总；软规则需书面说明）", "info": "info（提示）"}


def codes_table() -> str:
    lines = ["| code | severity | 标题 | message template | reasons (`reason` in JSON) |", "|---|---|---|---|---|"]
    for kind in CATALOGUE.values():
        severity = "per rule" if kind.code == "identity-violated" else SEVERITY[kind.severity]
        reasons = "<br>".join(f"`{key}`: {text or '—'}" for key, text in kind.reasons.items())
        lines.append(f"| `{kind.code}` | {severity} | {kind.title} | {kind.template} | {reasons} |")
    return "\n".join(lines)


def refused_list() -> str:
    lines = []
    for kind in CATALOGUE.values():
        if kind.refuses:
            lines.append(f"- `{kind.code}` — {kind.title}: {kind.template}")
    return "\n".join(lines)


def data_points() -> str:
    out = ["# Data points", "", "Generated from `templates/` by `python scripts/docs.py`; do not edit.", ""]
    for t in shipped().values():
        out += [f"## {t.format} ({len(t.cells)} data points)", "", t.basis, "",
                "| code | table | row | column | type | total of |", "|---|---|---|---|---|---|"]
        for c in t.cells.values():
            total = f"{len(c.total_of)} cells" if c.total_of else ""
            out.append(f"| `{c.code}` | {c.table} | {c.row_label} | {c.column_label} | {c.type.name} | {total} |")
        out += ["", "| rule | severity | relation | description |", "|---|---|---|---|"]
        for i in t.identities:
            out.append(f"| {i.rule} | {i.severity} | {i.relation} | {i.description} |")
        out.append("")
    return "\n".join(out)


def _replace(text: str, marker: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(<!-- {marker}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {marker} markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def expected_files() -> dict[Path, str]:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    text = _replace(text, "codes", codes_table())
    text = _replace(text, "refused", refused_list())
    return {readme: text, ROOT / "docs" / "data-points.md": data_points()}


def main(argv: list[str]) -> int:
    stale = []
    for path, text in expected_files().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path)
            if "--check" not in argv:
                path.parent.mkdir(exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if stale and "--check" in argv:
        print("stale: " + ", ".join(str(p.relative_to(ROOT)) for p in stale) + " (run python scripts/docs.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
