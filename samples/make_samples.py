"""Regenerate the shipped samples: a fictional district's returned workbooks, and the seed report.

    python samples/make_samples.py

- ``returned/``: the 2021-format workbooks of the roster's agencies for report year 2024, as they came
  back: most valid, one with a broken H3 (Q04), one with a total typed over (Q07), one on the wrong
  format (Q09, a 2019-format workbook), and one agency missing (Q12).
- ``seed/``: the real published report of 保税区（金港镇） for 2020 (2019 format), typed into a generated
  workbook exactly as published, its totals typed over the formulas (``seed-2020-baoshuiqu.csv``).
"""

from __future__ import annotations

import csv
import os
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("SOURCE_DATE_EPOCH", "1735689600")  # 2025-01-01: reproducible files

from tests.fill import random_values, type_into  # noqa: E402
from xltool.files import safe_filename  # noqa: E402
from xltool.generate import generate_workbook  # noqa: E402
from xltool.layout import layout_for  # noqa: E402
from xltool.roster import Agency, load_roster  # noqa: E402

YEAR = 2024
BROKEN_H3, TYPED_OVER, WRONG_FORMAT, MISSING = "Q04", "Q07", "Q09", "Q12"


def returned(out: Path) -> list[Path]:
    out.mkdir(exist_ok=True)
    for old in out.glob("*.xlsx"):
        old.unlink()
    template = layout_for("2021").template
    paths = []
    for number, agency in enumerate(load_roster(HERE / "roster.csv")):
        if agency.code == MISSING:
            continue
        path = out / safe_filename(f"{agency.code}_{agency.name}", ".xlsx")
        if agency.code == WRONG_FORMAT:
            generate_workbook(path, "2019", 2020, agency)
            values = random_values(layout_for("2019").template, random.Random(number))
            values.update({c: 0 for c in values if c.startswith("T2_RULES_")})  # a district's agencies make no 规章
            paths.append(type_into(path, "2019", values))
            continue
        generate_workbook(path, "2021", YEAR, agency)
        values = random_values(template, random.Random(number))
        values.update({c: 0 for c in values if c.startswith("T2_RULES_")})  # a district's agencies make no 规章
        if agency.code == BROKEN_H3:
            values["T3_FORWARD_NATURAL"] += 3
        if agency.code == TYPED_OVER:
            values["T3_GRANTED_TOTAL"] = 99  # typed over the formula, after removing the protection
        paths.append(type_into(path, "2021", values))
    return paths


def seed(out: Path) -> Path:
    out.mkdir(exist_ok=True)
    with (HERE / "seed-2020-baoshuiqu.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    values: dict[str, object] = {}
    for row in rows:
        text = row["value"]
        values[row["code"]] = int(text) if text.lstrip("-").isdigit() else text
    path = out / "保税区（金港镇）_2020.xlsx"
    generate_workbook(path, "2019", 2020, Agency("JG01", "保税区（金港镇）"), overwrite=True)
    return type_into(path, "2019", values)


if __name__ == "__main__":
    made = returned(HERE / "returned")
    made.append(seed(HERE / "seed"))
    for path in made:
        print(path.relative_to(HERE))
