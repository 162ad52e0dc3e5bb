"""The findings of every corpus entry and sample stay what they were before the code was reshaped (issue 9).

``tests/golden/findings.json`` was recorded with the code as it stood before the reshaping; the same
inputs must give the same findings (code, rule, sheet, cell, data point, severity), in the same order.
Record it again (``XLTOOL_RECORD_GOLDEN=1``) only for a change that means to alter findings, and say so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


from tests.corpus import ENTRIES, make_base
from xltool.check import check_file

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).with_name("golden") / "findings.json"
SAMPLES = sorted([*(ROOT / "samples" / "returned").glob("*.xlsx"), *(ROOT / "samples" / "seed").glob("*.xlsx")])
# entries that need LibreOffice, another user, or are not files a test can keep are covered in test_hostile
SKIP = {name for name, e in ENTRIES.items() if e.needs}


def _findings(path: Path) -> list[list]:
    return [[f.code, f.rule, f.sheet, f.cell, f.name, f.severity] for f in check_file(path).findings]


def _observed(tmp_path: Path) -> dict[str, list]:
    base = make_base(tmp_path / "base")
    out = {}
    for name, entry in ENTRIES.items():
        if name in SKIP:
            continue
        folder = tmp_path / name
        folder.mkdir()
        out[f"corpus:{name}"] = _findings(entry.build(folder, base))
    for path in SAMPLES:
        out[f"sample:{path.parent.name}/{path.name}"] = _findings(path)
    return out


def test_findings_unchanged(tmp_path):
    observed = _observed(tmp_path)
    if os.environ.get("XLTOOL_RECORD_GOLDEN"):
        GOLDEN.write_text(json.dumps(observed, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(observed) == sorted(golden)
    changed = {k: (golden[k], observed[k]) for k in golden if golden[k] != observed[k]}
    assert not changed, json.dumps(changed, ensure_ascii=False, indent=1)
    assert len(golden) > 70 and any(golden.values())
