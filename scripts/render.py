"""Render one sheet of a workbook to PNG with LibreOffice and pdftoppm, for the README.

    python scripts/render.py WORKBOOK SHEET OUT.png

Needs soffice (libreoffice-calc-nogui), pdftoppm (poppler-utils) and a CJK font (fonts-wqy-zenhei).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl import load_workbook


def render(workbook: Path, sheet: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        book = load_workbook(workbook)
        for ws in book.worksheets:
            ws.sheet_state = "visible" if ws.title == sheet else "hidden"
        book.active = book.sheetnames.index(sheet)
        only = tmp / "sheet.xlsx"
        book.save(only)
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp}/profile", "--headless",
                        "--convert-to", "pdf", "--outdir", str(tmp), str(only)], check=True, capture_output=True)
        subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(tmp / "sheet.pdf"),
                        str(out.with_suffix(""))], check=True)


if __name__ == "__main__":
    render(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
