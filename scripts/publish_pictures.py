"""The README's Publish section, from one sample workbook: two pictures and the --with-text skeleton.

    python scripts/publish_pictures.py             # writes docs/img/publish-t3-html.png, docs/img/publish-docx.png
    python scripts/publish_pictures.py --text      # prints the --with-text skeleton (the README's text block)
    python scripts/publish_pictures.py --readme    # writes that skeleton into README.md's publish-text block

publish-t3-html.png is the T3 table of the published HTML as headless Chromium shows it (cropped below the
table); publish-docx.png is the T3 page of the published DOCX as LibreOffice prints it (soffice → PDF →
pdftoppm). Needs chromium, soffice with the writer component, pdftoppm and a CJK font (.ci/run installs them).
The PNG helpers here are also what tests/test_publish.py uses to look at Chromium's screenshot.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "returned" / "Q01_青山区人民政府办公室.xlsx"
OUT = ROOT / "docs" / "img"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("Chromium is not installed (Debian package chromium; .ci/run installs it)")
    return exe


def screenshot(html: Path, png: Path, size: tuple[int, int]) -> Path:
    """Headless Chromium's picture of a local page, with a private, empty profile."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={size[0]},{size[1]}", Path(html).resolve().as_uri()],
                       capture_output=True, timeout=120, check=True)
    if not png.exists():
        raise RuntimeError(f"Chromium wrote no {png}")
    return png


def png_decode(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, channels and unfiltered rows of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, chunks = 8, {}
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.setdefault(kind, []).append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
    if depth != 8 or color not in (2, 6):
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {color}")
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    stride, rows, previous = width * channels, [], bytearray(width * channels)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for x in range(channels, stride):
                line[x] = (line[x] + line[x - channels]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, previous))
        elif kind in (3, 4):
            for x in range(stride):
                a = line[x - channels] if x >= channels else 0
                b, c = previous[x], previous[x - channels] if x >= channels else 0
                if kind == 3:
                    line[x] = (line[x] + (a + b) // 2) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def png_encode(width: int, channels: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    color = 2 if channels == 3 else 6
    header = struct.pack(">IIBBBBB", width, len(rows), 8, color, 0, 0, 0)
    body = zlib.compress(b"".join(b"\x00" + row for row in rows), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def crop_bottom(png: Path, margin: int = 24) -> None:
    """Cut the blank page below the last drawn row."""
    width, _, channels, rows = png_decode(png.read_bytes())
    last = max((y for y, row in enumerate(rows) if re.search(rb"[\x00-\xc0]", row)), default=len(rows) - 1)
    png.write_bytes(png_encode(width, channels, rows[:last + margin]))


def _publication(book: Path, with_text: bool):
    from xltool.check import check_file
    from xltool.publish import build_publication
    from xltool.reader import read_workbook

    report = check_file(book)
    if not report.valid:
        raise SystemExit(f"{book.name} does not pass the check; pick a valid sample")
    return build_publication(report, read_workbook(book).meta, with_text=with_text)


def html_picture(book: Path, out: Path) -> Path:
    from xltool.publish_html import html_bytes

    publication = _publication(book, with_text=False)
    only_t3 = dataclasses.replace(publication, sections=tuple(s for s in publication.sections if s.id == "T3"))
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "t3.html"
        page.write_bytes(html_bytes(only_t3))
        screenshot(page, out, (1120, 1500))
    crop_bottom(out)
    return out


def docx_picture(book: Path, out: Path) -> Path:
    from xltool.publish_docx import docx_bytes

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "report.docx"
        source.write_bytes(docx_bytes(_publication(book, with_text=False)))
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to", "pdf",
                        "--outdir", str(tmp), str(source)], check=True, capture_output=True, timeout=300)
        pdf = tmp / "report.pdf"
        if not pdf.exists():
            raise SystemExit("LibreOffice wrote no PDF: is its writer component installed (libreoffice-writer-nogui)?")
        info = subprocess.run(["pdfinfo", "-f", "1", "-l", "99", str(pdf)], check=True, capture_output=True,
                              text=True).stdout
        sizes = re.findall(r"Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+)", info)
        page = next(n for n, w, h in sizes if float(w) > float(h))  # T3 is on the first landscape page
        subprocess.run(["pdftoppm", "-png", "-r", "84", "-f", page, "-l", page, "-singlefile", str(pdf),
                        str(out.with_suffix(""))], check=True)
    return out


def main(argv: list[str]) -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.path.insert(0, str(ROOT))
    if argv[:1] in (["--text"], ["--readme"]):
        text = _publication(SAMPLE, with_text=True).plain_text()
        if argv[0] == "--text":
            print(text)
            return
        readme = ROOT / "README.md"
        old = readme.read_text(encoding="utf-8")
        new = re.sub(r"(<!-- publish-text:start -->\n```text\n).*?(\n```\n<!-- publish-text:end -->)",
                     lambda m: m.group(1) + text + m.group(2), old, count=1, flags=re.S)
        if new == old and text not in old:
            raise SystemExit("README.md has no publish-text block")
        readme.write_text(new, encoding="utf-8")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    print(html_picture(SAMPLE, OUT / "publish-t3-html.png"))
    print(docx_picture(SAMPLE, OUT / "publish-docx.png"))


if __name__ == "__main__":
    main(sys.argv[1:])
