"""A corpus of hostile and broken inputs, each built from a real generated workbook (issue 6).

Nothing here is committed as a binary: every entry is a function that writes one bad file into a
folder, starting from a filled workbook that xltool generated (:class:`Base`). An entry also says what
``xltool check`` must answer for it (:class:`Expect`): the finding codes, where they point, and
whether the file is still valid (warnings only), so ``merge`` must accept or reject it.

    base = make_base(tmp)                 # one filled, valid workbook (agency X01) and its values
    path = ENTRIES["zip-bomb"].build(folder, base)

Structural edits are made with openpyxl the way a clerk's office suite makes them: a renamed or
deleted sheet, an inserted or deleted row or column also rewrite the defined names and the formulas
that refer to it (:func:`excel_shift`, :func:`excel_rename`), as Excel does.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import struct
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.formula.tokenizer import Token, Tokenizer
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.cell_range import CellRange

from tests.fill import random_values, type_into
from xltool.generate import (
    Metadata,
    default_timestamp,
    generate_workbook,
    workbook_bytes,
)
from xltool.layout import layout_for
from xltool.roster import Agency

FMT, YEAR = "2021", 2023
TEMPLATE = layout_for(FMT).template
AGENCY = Agency("X01", "受测单位")


@dataclass
class Base:
    """A filled, valid workbook of ``AGENCY`` (the source of every entry) and what was typed into it."""

    path: Path
    values: dict
    scratch: Path  # a folder for expensive intermediate files (LibreOffice conversions)
    cache: dict = field(default_factory=dict)

    def bytes(self) -> bytes:
        return self.path.read_bytes()


def make_base(folder: Path, seed: int = 7) -> Base:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "base.xlsx"
    generate_workbook(path, FMT, YEAR, AGENCY)
    values = random_values(TEMPLATE, random.Random(seed))
    type_into(path, FMT, values)
    return Base(path, values, folder)


@dataclass(frozen=True)
class Expect:
    """What ``check`` must find in an entry.

    ``codes``: the finding codes, in order, one per finding (``count`` repeats a single code, for edits
    that move many data points at once). ``name``/``cell``: the data point and cell of the first
    finding. ``text``: words its message must hold. ``valid``: only warnings, so merge accepts it.
    """

    codes: tuple[str, ...]
    count: int | None = None
    name: str | None = None
    cell: str | None = None
    text: str | None = None
    valid: bool = False
    rule: str | None = None  # the rule of an identity-violated finding, when one is expected


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[[Path, Base], Path]
    expect: Expect
    needs: str | None = None  # "soffice": LibreOffice makes it; "unprivileged": read as a non-root user


# -- helpers ------------------------------------------------------------------------------------------

def position(code: str) -> tuple[str, str]:
    """(sheet, A1 address) of a data point."""
    sheet, row, col = layout_for(FMT).positions[code]
    return sheet, f"{get_column_letter(col + 1)}{row + 1}"


def _write(name: str, data: bytes) -> Callable[[Path, Base], Path]:
    def build(folder: Path, base: Base) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path
    return build


def sheet_part(data: bytes, sheet: str) -> str:
    """The zip entry of a sheet, from workbook.xml and its relationships."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        book = zf.read("xl/workbook.xml").decode()
        rels = zf.read("xl/_rels/workbook.xml.rels").decode()
    rid = re.search(rf'<sheet [^>]*name="{re.escape(sheet)}"[^>]*r:id="([^"]+)"', book).group(1)
    target = re.search(rf'<Relationship [^>]*Id="{rid}"[^>]*Target="([^"]+)"', rels) or \
        re.search(rf'<Relationship [^>]*Target="([^"]+)"[^>]*Id="{rid}"', rels)
    target = target.group(1)
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


def rezip(data: bytes, path: Path, replace: dict[str, bytes | None] | None = None,
          add: dict[str, bytes] | None = None) -> Path:
    """Copy a package, replacing (or, with None, dropping) some parts and adding others."""
    replace = replace or {}
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in replace:
                if replace[info.filename] is not None:
                    dst.writestr(info.filename, replace[info.filename])
                continue
            dst.writestr(info, src.read(info.filename))
        for name, part in (add or {}).items():
            dst.writestr(name, part)
    return path


def part_of(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read(name)


def _edit_sheet(sheet: str, edit: Callable[[bytes], bytes], out: str) -> Callable[[Path, Base], Path]:
    """An entry that rewrites the XML part of one sheet of the base workbook."""
    def build(folder: Path, base: Base) -> Path:
        data = base.bytes()
        part = sheet_part(data, sheet)
        return rezip(data, folder / out, {part: edit(part_of(data, part))})
    return build


def _openpyxl(out: str, edit: Callable) -> Callable[[Path, Base], Path]:
    """An entry made by opening the base workbook in openpyxl, editing it and saving it."""
    def build(folder: Path, base: Base) -> Path:
        book = load_workbook(base.path)
        edit(book)
        path = folder / out
        book.save(path)
        return path
    return build


def _typed(out: str, values: dict) -> Callable[[Path, Base], Path]:
    """An entry made by typing values (data point code -> value) into the base workbook."""
    def build(folder: Path, base: Base) -> Path:
        return type_into(base.path, FMT, values, folder / out)
    return build


def _cell_xml(data: bytes, ref: str, inner: str, t: str | None = None) -> bytes:
    """Replace the content of cell ``ref`` in a sheet part (keeping its style)."""
    text = data.decode()
    m = re.search(rf'<c r="{ref}"([^>]*?)(/>|>.*?</c>)', text)
    attrs = re.sub(r'\s+t="[^"]*"', "", m.group(1))
    new = f'<c r="{ref}"{attrs}{f" t={chr(34)}{t}{chr(34)}" if t else ""}>{inner}</c>'
    return (text[:m.start()] + new + text[m.end():]).encode()


# -- Excel's own bookkeeping, for edits made with openpyxl ----------------------------------------------

_A1 = re.compile(r"(\$?)([A-Za-z]{1,3})?(\$?)(\d+)?")


def _shift_ref(ref: str, axis: str, at: int, n: int) -> str | None:
    """Shift one A1 reference (cell, range, whole rows or columns) for ``n`` rows/columns inserted
    (n > 0) or deleted (n < 0) at ``at`` (1-based); None when all of it was deleted."""
    parts = ref.split(":")
    coords = []
    for p in parts:
        m = _A1.fullmatch(p)
        if not m:
            return ref
        coords.append(m)

    def index(m):
        if axis == "row":
            return int(m.group(4)) if m.group(4) else None
        return column_index_from_string(m.group(2).upper()) if m.group(2) else None

    values = [index(m) for m in coords]
    if any(v is None for v in values):
        return ref  # whole rows/columns along the other axis: unaffected
    first, last = values[0], values[-1]
    if n > 0:
        first = first + n if first >= at else first
        last = last + n if last >= at else last
    else:
        gone_from, gone_to = at, at - n - 1
        if gone_from <= first and last <= gone_to:
            return None
        first = first if first < gone_from else (gone_from if first <= gone_to else first + n)
        last = last if last < gone_from else (gone_from - 1 if last <= gone_to else last + n)
    out = []
    for m, v in zip(coords, (first, last) if len(coords) == 2 else (first,)):
        if axis == "row":
            out.append(f"{m.group(1)}{m.group(2) or ''}{m.group(3)}{v}")
        else:
            out.append(f"{m.group(1)}{get_column_letter(v)}{m.group(3)}{m.group(4) or ''}")
    return ":".join(out)


def _split_sheet(operand: str) -> tuple[str | None, str]:
    if "!" in operand:
        sheet, ref = operand.rsplit("!", 1)
        return sheet.strip("'").replace("''", "'"), ref
    return None, operand


def _rewrite_formula(formula: str, home: str | None, fix: Callable[[str | None, str], str | None]) -> str:
    """Apply ``fix(sheet, ref)`` to every reference of a formula; a None result becomes ``#REF!``."""
    tokens = Tokenizer(formula).items
    out = []
    for token in tokens:
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            sheet, ref = _split_sheet(token.value)
            fixed = fix(sheet or home, ref)
            if fixed is None:
                out.append("#REF!")
            elif sheet is not None:
                out.append(token.value.rsplit("!", 1)[0] + "!" + fixed)
            else:
                out.append(fixed)
        else:
            out.append(token.value)
    return "=" + "".join(out)


def _quote(sheet: str) -> str:
    return "'" + sheet.replace("'", "''") + "'"


def excel_shift(book, sheet: str, axis: str, at: int, n: int) -> None:
    """Insert (n > 0) or delete (n < 0) rows or columns as Excel does: cells move, and so do formulas,
    defined names, merged ranges, validations and conditional formats that refer to them."""
    ws = book[sheet]

    def fix(target: str | None, ref: str) -> str | None:
        return _shift_ref(ref, axis, at, n) if target == sheet else ref

    merged = [str(r) for r in ws.merged_cells.ranges]
    for r in merged:
        ws.unmerge_cells(r)
    if axis == "row":
        ws.insert_rows(at, n) if n > 0 else ws.delete_rows(at, -n)
    else:
        ws.insert_cols(at, n) if n > 0 else ws.delete_cols(at, -n)
    for r in merged:
        moved = _shift_ref(r, axis, at, n)
        if moved and ":" in moved and CellRange(moved).size != {"rows": 1, "columns": 1}:
            ws.merge_cells(moved)
    for other in book.worksheets:
        for row in other.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value.startswith("="):
                    c.value = _rewrite_formula(c.value, other.title, fix)
    for name in book.defined_names.values():
        name.attr_text = _rewrite_formula("=" + name.attr_text, None, fix)[1:]
    for dv in ws.data_validations.dataValidation:
        kept = [m for m in (_shift_ref(str(r), axis, at, n) for r in dv.sqref.ranges) if m]
        dv.sqref = " ".join(kept) if kept else dv.sqref
    rules = [(str(cf.sqref), cf.rules) for cf in ws.conditional_formatting]
    ws.conditional_formatting = ConditionalFormattingList()
    for sqref, items in rules:
        kept = [m for m in (_shift_ref(r, axis, at, n) for r in sqref.split()) if m]
        for rule in items:
            rule.formula = [_rewrite_formula("=" + f, sheet, fix)[1:] for f in rule.formula]
            if kept:
                ws.conditional_formatting.add(" ".join(kept), rule)


def excel_rename(book, old: str, new: str) -> None:
    """Rename a sheet as Excel does: names and formulas that refer to it follow."""
    book[old].title = new
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value.startswith("="):
                    text = c.value.replace(_quote(old) + "!", _quote(new) + "!")
                    c.value = text.replace(old + "!", _quote(new) + "!")
    for name in book.defined_names.values():
        name.attr_text = name.attr_text.replace(_quote(old) + "!", _quote(new) + "!")


def excel_delete_sheet(book, name: str) -> None:
    """Delete a sheet as Excel does: names that pointed into it become ``#REF!``."""
    del book[name]
    for defined in book.defined_names.values():
        if defined.attr_text.startswith((_quote(name) + "!", name + "!")):
            defined.attr_text = "#REF!" + defined.attr_text.rsplit("!", 1)[1]


# -- not a workbook -------------------------------------------------------------------------------------

def _directory(folder: Path, base: Base) -> Path:
    path = folder / "folder.xlsx"
    path.mkdir()
    (path / "inside.txt").write_text("a folder, not a file")
    return path


def _fifo(folder: Path, base: Base) -> Path:
    path = folder / "pipe.xlsx"
    os.mkfifo(path)
    return path


def _device(folder: Path, base: Base) -> Path:
    path = folder / "zero.xlsx"
    path.symlink_to("/dev/zero")
    return path


def _symlink_loop(folder: Path, base: Base) -> Path:
    path = folder / "loop.xlsx"
    path.symlink_to("loop.xlsx")
    return path


def _dangling(folder: Path, base: Base) -> Path:
    path = folder / "moved-away.xlsx"
    path.symlink_to(folder / "no-such-file.xlsx")
    return path


def _unreadable(folder: Path, base: Base) -> Path:
    path = folder / "locked.xlsx"
    path.write_bytes(base.bytes())
    path.chmod(0)
    return path


def _html(folder: Path, base: Base) -> Path:
    path = folder / "page.xlsx"
    path.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>导出</title></head><body><table>"
                    "<tr><td>本年新收政府信息公开申请数量</td><td>12</td></tr></table></body></html>", encoding="utf-8")
    return path


def _csv_text(base: Base) -> str:
    """The 依申请公开 sheet as a clerk's "save as CSV" writes it: labels and numbers."""
    book = load_workbook(base.path)
    lines = []
    for row in book["依申请公开"].iter_rows(values_only=True):
        lines.append(",".join("" if v is None else str(v) for v in row))
    return "\n".join(lines) + "\n"


def _csv_renamed(folder: Path, base: Base) -> Path:
    path = folder / "saved-as-csv.xlsx"
    path.write_bytes(_csv_text(base).encode("gb18030"))
    return path


# -- damaged workbooks ----------------------------------------------------------------------------------

def _truncated(folder: Path, base: Base) -> Path:
    data = base.bytes()
    path = folder / "truncated.xlsx"
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def _missing_sheet_part(folder: Path, base: Base) -> Path:
    data = base.bytes()
    return rezip(data, folder / "missing-part.xlsx", {sheet_part(data, "依申请公开"): None})


def written(base: Base) -> bytes:
    """The base workbook's values written by xltool itself (xlsxwriter: shared strings, not inline ones)."""
    if "written" not in base.cache:
        layout = layout_for(FMT)
        meta = Metadata(TEMPLATE.format, TEMPLATE.version, YEAR, AGENCY.code, AGENCY.name,
                        generated_at=default_timestamp(), fingerprint=layout.fingerprint)
        base.cache["written"] = workbook_bytes(layout, meta, values=base.values)
    return base.cache["written"]


def _missing_strings(folder: Path, base: Base) -> Path:
    data = written(base)
    assert b"xl/sharedStrings.xml" in data
    return rezip(data, folder / "missing-strings.xlsx", {"xl/sharedStrings.xml": None})


def _corrupt_xml(part: bytes) -> bytes:
    return part[: len(part) // 2] + b"<row r=\"x\"><c>&bad;</c" + part[len(part) // 2:]


ENTITY_BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
               + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
               + ']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
               '<row r="6"><c r="D6" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>')


def _zip_bomb(folder: Path, base: Base) -> Path:
    """The 依申请公开 sheet padded with 300 MB of whitespace: about 300 KB on disk."""
    if "zip-bomb" not in base.cache:
        data = base.bytes()
        part = sheet_part(data, "依申请公开")
        xml = part_of(data, part)
        cut = xml.index(b"<sheetData>") + len(b"<sheetData>")
        buffer = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if info.filename != part:
                    dst.writestr(info, src.read(info.filename))
                    continue
                with dst.open(part, "w", force_zip64=True) as out:
                    out.write(xml[:cut])
                    spaces = b" " * (1 << 20)
                    for _ in range(300):
                        out.write(spaces)
                    out.write(xml[cut:])
        base.cache["zip-bomb"] = buffer.getvalue()
    path = folder / "bomb.xlsx"
    path.write_bytes(base.cache["zip-bomb"])
    return path


def _cell_bomb(part: bytes) -> bytes:
    """1.2 million empty cells in one sheet (a few MB on disk)."""
    return part.replace(b"</sheetData>", b'<row r="1000">' + b"<c/>" * 1_200_000 + b"</row></sheetData>")


# -- other formats ----------------------------------------------------------------------------------------

def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def _converted(base: Base, target: str, suffix: str) -> bytes:
    """The base workbook converted by LibreOffice (once per base)."""
    key = f"soffice-{suffix}"
    if key not in base.cache:
        out = base.scratch / f"lo-{suffix}"
        subprocess.run([soffice(), f"-env:UserInstallation=file://{base.scratch / '.lo-profile'}", "--headless",
                        "--calc", "--convert-to", target, "--outdir", str(out), str(base.path)],
                       check=True, capture_output=True, timeout=180)
        base.cache[key] = (out / (base.path.stem + "." + suffix)).read_bytes()
    return base.cache[key]


def _xls(folder: Path, base: Base) -> Path:
    path = folder / "old.xls"
    path.write_bytes(_converted(base, "xls:MS Excel 97", "xls"))
    return path


def _ods(folder: Path, base: Base) -> Path:
    path = folder / "open.ods"
    path.write_bytes(_converted(base, "ods", "ods"))
    return path


def _csv(folder: Path, base: Base) -> Path:
    path = folder / "table.csv"
    path.write_bytes(("\ufeff" + _csv_text(base)).encode("utf-8"))
    return path


def _xlsb(folder: Path, base: Base) -> Path:
    """A binary workbook's package shape: xl/workbook.bin, no workbook.xml."""
    path = folder / "binary.xlsb"
    rels = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.bin"/></Relationships>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                    'package/2006/content-types"/>')
        zf.writestr("_rels/.rels", rels)
        zf.writestr("xl/workbook.bin", bytes(range(256)) * 8)
    return path


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (CFB version 3) holding ``streams`` at its root.

    Streams under 4,096 bytes live in the mini stream, as the format requires; the directory is one
    sector, so at most three streams.
    """
    sector, mini = 512, 64
    end, free, fat_sect = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    names = sorted(streams, key=lambda n: (len(n), n.upper()))
    assert len(names) <= 3
    small = [n for n in names if len(streams[n]) < 4096]
    big = [n for n in names if len(streams[n]) >= 4096]
    mini_data, mini_start, minifat = b"", {}, []
    for n in small:
        data = streams[n]
        count = max(1, -(-len(data) // mini))
        mini_start[n] = len(minifat)
        minifat.extend(list(range(len(minifat) + 1, len(minifat) + count)) + [end])
        mini_data += data.ljust(count * mini, b"\0")
    # sectors: 0 FAT, 1 directory, 2 mini FAT, then the mini stream, then big streams
    sectors: list[bytes] = [b"", b"", b""]
    fat = [fat_sect, end, end]

    def chain(data: bytes) -> int:
        count = max(1, -(-len(data) // sector))
        start = len(sectors)
        for i in range(count):
            sectors.append(data[i * sector:(i + 1) * sector].ljust(sector, b"\0"))
            fat.append(start + i + 1 if i < count - 1 else end)
        return start

    root_start = chain(mini_data) if mini_data else end
    big_start = {n: chain(streams[n]) for n in big}
    assert len(fat) <= sector // 4
    sectors[0] = b"".join(struct.pack("<I", v) for v in fat).ljust(sector, b"\xff")
    sectors[2] = b"".join(struct.pack("<I", v) for v in minifat).ljust(sector, b"\xff")

    def entry(name: str, kind: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
                + struct.pack("<III", left, right, child) + bytes(16) + struct.pack("<I", 0) + bytes(16)
                + struct.pack("<IQ", start, size))

    entries = [entry("Root Entry", 5, free, free, 1 if names else free, root_start, len(mini_data))]
    for i, n in enumerate(names):  # a chain of right siblings, in the directory's sort order
        start = mini_start[n] if n in mini_start else big_start[n]
        entries.append(entry(n, 2, free, i + 2 if i + 1 < len(names) else free, free, start, len(streams[n])))
    while len(entries) < 4:
        entries.append(bytes(64) + struct.pack("<HBB", 0, 0, 0) + struct.pack("<III", free, free, free) + bytes(48))
    sectors[1] = b"".join(entries)
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + bytes(6) + struct.pack("<IIIIIIII", 0, 1, 1, 0, 4096, 2, 1, end) + struct.pack("<I", 0)
              + struct.pack("<I", 0) + struct.pack("<108I", *([free] * 108)))
    assert len(header) == 512
    return header + b"".join(sectors)


def _encrypted(folder: Path, base: Base) -> Path:
    """What Excel writes for a password to open: the package encrypted inside an OLE2 container."""
    descriptor = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n<encryption '
                  'xmlns="http://schemas.microsoft.com/office/2006/encryption"><keyData saltSize="16" blockSize="16" '
                  'keyBits="256" hashSize="64" cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" '
                  'hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/></encryption>').encode()
    info = struct.pack("<HHI", 4, 4, 0x40) + descriptor
    package = base.bytes()
    encrypted = struct.pack("<Q", len(package)) + bytes(random.Random(1).randbytes(len(package) + 16))
    path = folder / "password.xlsx"
    path.write_bytes(compound_file({"EncryptionInfo": info, "EncryptedPackage": encrypted}))
    return path


def _xlsm(folder: Path, base: Base) -> Path:
    """The base workbook saved as macro-enabled, with a VBA project (never run, never even parsed)."""
    data = base.bytes()
    types = part_of(data, "[Content_Types].xml").decode()
    types = types.replace("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                          "application/vnd.ms-excel.sheet.macroEnabled.main+xml")
    types = types.replace("</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                                      "</Types>")
    rels = part_of(data, "xl/_rels/workbook.xml.rels").decode().replace(
        "</Relationships>", '<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/'
                            'vbaProject" Target="vbaProject.bin"/></Relationships>')
    vba = compound_file({"PROJECT": b'ID="{00000000-0000-0000-0000-000000000000}"\r\nDocument=ThisWorkbook/&H00000000'
                                    b'\r\nName="VBAProject"\r\n'})
    return rezip(data, folder / "macros.xlsm", {"[Content_Types].xml": types.encode(),
                                                "xl/_rels/workbook.xml.rels": rels.encode()},
                 add={"xl/vbaProject.bin": vba})


# -- structural edits -------------------------------------------------------------------------------------

def _rename(book):
    excel_rename(book, "依申请公开", "依申请公开（修改）")


def _delete(book):
    excel_delete_sheet(book, "复议诉讼")


def _hide(book):
    book["复议诉讼"].sheet_state = "hidden"


def _add(book):
    book.create_sheet("备注").append(["说明", "本年度数据已核对"])


def _delete_meta(book):
    del book["_xltool"]


def _insert_row(book):
    excel_shift(book, "依申请公开", "row", 10, 1)


def _delete_row(book):
    excel_shift(book, "依申请公开", "row", 10, -1)


def _insert_col(book):
    excel_shift(book, "依申请公开", "col", 5, 1)  # before E: inside the table, between 自然人 and 法人


def _delete_col(book):
    excel_shift(book, "依申请公开", "col", 5, -1)


def _total_as_value(book):
    cell = book["依申请公开"]["J8"]
    cell.value = sum(book["依申请公开"].cell(8, c).value for c in range(4, 10))  # the right number, as a value


def _total_widened(book):
    book["依申请公开"]["J8"] = "=SUM(D8:J8)"  # takes in itself: a circular reference


def _total_elsewhere(book):
    book["依申请公开"]["J8"] = "=SUM(D9:I9)"


def _delete_name(book):
    del book.defined_names["T3_NEW_LEGAL"]


def _redirect_name(book):
    book.defined_names["T3_NEW_LEGAL"].attr_text = "'依申请公开'!$H$7"


def _unprotect(book):
    book["复议诉讼"].protection.sheet = False


def _no_validation(book):
    book["主动公开"].data_validations.dataValidation = []


def _unmerge(book):
    sheet = book["依申请公开"]
    first = next(r for r in sheet.merged_cells.ranges if r.min_row > 1)
    sheet.unmerge_cells(str(first))


# -- hostile content ----------------------------------------------------------------------------------------

EXTERNAL_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLink"


def _external_part(folder: Path, base: Base) -> Path:
    """An external-link part as Excel writes it, with its relationship to another workbook."""
    data = base.bytes()
    types = part_of(data, "[Content_Types].xml").decode().replace("</Types>", (
        '<Override PartName="/xl/externalLinks/externalLink1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"/></Types>'))
    rels = part_of(data, "xl/_rels/workbook.xml.rels").decode().replace(
        "</Relationships>", f'<Relationship Id="rIdExt1" Type="{EXTERNAL_REL}" '
                            'Target="externalLinks/externalLink1.xml"/></Relationships>')
    book = part_of(data, "xl/workbook.xml").decode()
    book = re.sub(r"(</sheets>)", r'\1<externalReferences><externalReference xmlns:r="http://schemas.openxmlformats.org/'
                                  r'officeDocument/2006/relationships" r:id="rIdExt1"/></externalReferences>', book, count=1)
    link = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><externalLink '
            'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<externalBook r:id="rId1"><sheetNames><sheetName val="Sheet1"/></sheetNames>'
            '<sheetDataSet><sheetData sheetId="0"><row r="1"><cell r="A1"><v>5</v></cell></row></sheetData>'
            "</sheetDataSet></externalBook></externalLink>")
    link_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships '
                 'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
                 'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLinkPath" '
                 'Target="file:///C:/secret/other.xlsx" TargetMode="External"/></Relationships>')
    return rezip(data, folder / "external-part.xlsx",
                 {"[Content_Types].xml": types.encode(), "xl/_rels/workbook.xml.rels": rels.encode(),
                  "xl/workbook.xml": book.encode()},
                 add={"xl/externalLinks/externalLink1.xml": link.encode(),
                      "xl/externalLinks/_rels/externalLink1.xml.rels": link_rels.encode()})


# -- the corpus -----------------------------------------------------------------------------------------------

def _n_inputs(sheet: str) -> int:
    return sum(1 for s in layout_for(FMT).sheets if s.name == sheet for i in s.inputs if i.type is not None)


def _moved_names(edit: Callable) -> int:
    """How many data point names an edit of 依申请公开 moves (what the checker must report, one each)."""
    book = Workbook()
    book.active.title = "依申请公开"
    for code, (sheet, row, col) in layout_for(FMT).positions.items():
        if sheet == "依申请公开":
            ref = f"'依申请公开'!${get_column_letter(col + 1)}${row + 1}"
            book.defined_names[code] = DefinedName(code, attr_text=ref)
    before = {k: v.attr_text for k, v in book.defined_names.items()}
    edit(book)
    return sum(1 for k, v in book.defined_names.items() if v.attr_text != before[k])


NEW, FEES = "T3_NEW_NATURAL", "T2_FEES_AMOUNT"
NEW_CELL, FEES_CELL = position(NEW)[1], position(FEES)[1]


def _value(name: str, value: object, code: str, text: str, target: str = NEW) -> Entry:
    return Entry(name, _typed(f"{name}.xlsx", {target: value}),
                 Expect((code,), name=target, cell=position(target)[1], text=text))


def _corpus() -> list[Entry]:
    structure = "structure-changed"
    entries = [
        # not a workbook
        Entry("empty", _write("empty.xlsx", b""), Expect(("unreadable-file",), text="0 字节")),
        Entry("random-bytes", _write("noise.xlsx", random.Random(0).randbytes(20_000)), Expect(("unreadable-file",))),
        Entry("html-renamed", _html, Expect(("not-a-workbook",), text="网页")),
        Entry("csv-renamed", _csv_renamed, Expect(("not-a-workbook",), text="CSV")),
        Entry("pdf-renamed", _write("scan.xlsx", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"),
              Expect(("not-a-workbook",), text="PDF")),
        Entry("folder-named-xlsx", _directory, Expect(("unreadable-file",), text="文件夹")),
        Entry("no-permission", _unreadable, Expect(("unreadable-file",), text="权限"), needs="unprivileged"),
        Entry("named-pipe", _fifo, Expect(("unreadable-file",), text="不是普通文件")),
        Entry("device-file", _device, Expect(("unreadable-file",), text="不是普通文件")),
        Entry("symlink-loop", _symlink_loop, Expect(("unreadable-file",), text="符号链接")),
        Entry("dangling-symlink", _dangling, Expect(("unreadable-file",), text="找不到")),
        # damaged workbooks
        Entry("truncated-zip", _truncated, Expect(("unreadable-file",), text="损坏")),
        Entry("missing-sheet-part", _missing_sheet_part, Expect(("unreadable-file",), text="缺失")),
        Entry("missing-shared-strings", _missing_strings, Expect(("unreadable-file",), text="共享字符串")),
        Entry("corrupt-sheet-xml", _edit_sheet("依申请公开", _corrupt_xml, "corrupt.xlsx"),
              Expect(("unreadable-file",), text="XML")),
        Entry("zip-bomb", _zip_bomb, Expect(("zip-bomb",), text="64 MB")),
        Entry("cell-bomb", _edit_sheet("依申请公开", _cell_bomb, "cells.xlsx"),
              Expect(("zip-bomb",), text="XML 元素")),
        Entry("entity-bomb", _edit_sheet("依申请公开", lambda _: ENTITY_BOMB.encode(), "lol.xlsx"),
              Expect(("unreadable-file",), text="实体")),
        # other formats
        Entry("xls", _xls, Expect(("legacy-xls",)), needs="soffice"),
        Entry("ods", _ods, Expect(("ods-file",)), needs="soffice"),
        Entry("csv", _csv, Expect(("not-a-workbook",), text="CSV")),
        Entry("xlsb", _xlsb, Expect(("not-a-workbook",), text=".xlsb")),
        Entry("password-to-open", _encrypted, Expect(("encrypted-file",))),
        Entry("xlsm-with-macros", _xlsm, Expect(("macros-present",), text="宏不会被执行")),
        # structural edits
        Entry("sheet-renamed", _openpyxl("renamed.xlsx", _rename),
              Expect((structure, structure), text="被重命名为“依申请公开（修改）”")),
        Entry("sheet-deleted", _openpyxl("deleted.xlsx", _delete), Expect((structure,), text="被删除")),
        Entry("sheet-hidden", _openpyxl("hidden.xlsx", _hide), Expect((structure,), text="被隐藏")),
        Entry("sheet-added", _openpyxl("added.xlsx", _add), Expect((structure,), text="增加了工作表“备注”")),
        Entry("meta-sheet-deleted", _openpyxl("nometa.xlsx", _delete_meta), Expect(("unknown-template",))),
        Entry("row-inserted", _openpyxl("row-in.xlsx", _insert_row),
              Expect((structure,), count=_moved_names(_insert_row), text="插入或删除了行")),
        Entry("row-deleted", _openpyxl("row-out.xlsx", _delete_row),
              Expect((structure,), count=_moved_names(_delete_row), text="#REF!")),
        Entry("column-inserted", _openpyxl("col-in.xlsx", _insert_col),
              Expect((structure,), count=_moved_names(_insert_col), text="插入或删除了行、列")),
        Entry("column-deleted", _openpyxl("col-out.xlsx", _delete_col),
              Expect((structure,), count=_moved_names(_delete_col), text="#REF!")),
        Entry("total-typed-over", _openpyxl("typed-over.xlsx", _total_as_value),
              Expect(("formula-altered",), name="T3_GRANTED_TOTAL", cell="J8", text="现为 数值")),
        Entry("total-widened", _openpyxl("widened.xlsx", _total_widened),
              Expect(("formula-altered",), name="T3_GRANTED_TOTAL", cell="J8", text="=SUM(D8:J8)")),
        Entry("total-points-elsewhere", _openpyxl("elsewhere.xlsx", _total_elsewhere),
              Expect(("formula-altered", "identity-violated"), name="T3_GRANTED_TOTAL", cell="J8",
                     text="=SUM(D9:I9)", rule="H1")),
        Entry("name-deleted", _openpyxl("noname.xlsx", _delete_name),
              Expect((structure,), name="T3_NEW_LEGAL", cell="H6", text="被删除")),
        Entry("name-redirected", _openpyxl("redirect.xlsx", _redirect_name),
              Expect((structure,), name="T3_NEW_LEGAL", cell="H6", text="现指向 依申请公开!H7")),
        Entry("protection-removed", _openpyxl("unprotected.xlsx", _unprotect),
              Expect(("protection-removed",), text="工作表保护被撤销", valid=True)),
        Entry("validation-removed", _openpyxl("novalidation.xlsx", _no_validation),
              Expect(("validation-removed",), count=_n_inputs("主动公开"), valid=True)),
        Entry("header-unmerged", _openpyxl("unmerged.xlsx", _unmerge), Expect((structure,), text="合并单元格被拆分")),
        # values typed into an input
        _value("value-blank", None, "missing-value", "请填 0"),
        _value("value-numeric-text", "12", "not-a-number", "请填写数字 12"),
        _value("value-full-width", "１２", "not-a-number", "请填写数字 12"),
        _value("value-slash", "/", "not-a-number", "填数字 0"),
        _value("value-dash", "-", "not-a-number", "填数字 0"),
        _value("value-yuan", "251000元", "not-a-number", "请填写数字 25.1", target=FEES),
        _value("value-negative", -1, "negative", "大于或等于 0"),
        _value("value-not-whole", 2.5, "not-whole", "整数"),
        _value("value-decimals", Decimal("1.23456"), "too-many-decimals", "4 位小数", target=FEES),
        _value("value-negative-amount", -0.5, "negative", "大于或等于 0", target=FEES),
        _value("value-1e20", 1e20, "too-large", "超出合理范围"),
        _value("value-10-pow-20", 10**20, "too-large", "超出合理范围"),
        _value("value-1e300", 1e300, "too-large", "超出合理范围"),
        _value("value-infinite-formula", "=1E308*10", "error-value", "#NUM!"),
        _value("value-div0-formula", "=1/0", "error-value", "#DIV/0!"),
        _value("value-div0-typed", "#DIV/0!", "error-value", "#DIV/0!"),
        _value("value-ref-typed", "#REF!", "error-value", "#REF!"),
        _value("value-date", datetime(2023, 5, 6), "not-a-number", "日期"),
        _value("value-boolean", True, "not-a-number", "逻辑值"),
        _value("value-32767-chars", "很长的说明" * 8000, "not-a-number", "共 32767 个字符"),  # openpyxl clips
        Entry("value-40000-chars", _edit_sheet("依申请公开", lambda p: _cell_xml(
            p, NEW_CELL, f"<is><t>{'很长的说明' * 8000}</t></is>", t="inlineStr"), "long.xlsx"),
              Expect(("not-a-number",), name=NEW, cell=NEW_CELL, text="共 40000 个字符")),
        Entry("value-nan-in-xml", _edit_sheet("依申请公开", lambda p: _cell_xml(p, NEW_CELL, "<v>NaN</v>"), "nan.xlsx"),
              Expect(("error-value",), name=NEW, cell=NEW_CELL, text="#NUM!")),
        Entry("value-infinity-in-xml", _edit_sheet("依申请公开", lambda p: _cell_xml(p, NEW_CELL, "<v>1E999</v>"), "inf.xlsx"),
              Expect(("error-value",), name=NEW, cell=NEW_CELL, text="#NUM!")),
        # hostile content
        _value("formula-external-workbook", "='[other.xlsx]Sheet1'!A1", "external-link", "外部工作簿"),
        _value("formula-webservice", '=WEBSERVICE("http://example.invalid/?q=1")', "external-link", "WEBSERVICE"),
        _value("formula-hyperlink", '=HYPERLINK("http://example.invalid/","点我")', "external-link", "HYPERLINK"),
        _value("formula-dde", "=cmd|' /c calc'!A0", "external-link", "DDE"),
        Entry("external-link-part", _external_part,
              Expect(("external-link",), text="file:///C:/secret/other.xlsx")),
    ]
    names = [e.name for e in entries]
    assert len(names) == len(set(names)), "entry names must be unique"
    return entries


ENTRIES: dict[str, Entry] = {e.name: e for e in _corpus()}
