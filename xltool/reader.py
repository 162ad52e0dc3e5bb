"""Read a returned workbook in one pass: the only module that parses ``.xlsx`` files.

The package is read directly (zipfile + defusedxml's ElementTree), not through openpyxl: one parse gives
everything the checker compares (cells with their formulas and values, locks, merges, validations,
conditional formats, protection, sheet states, defined names, metadata) at a fraction of openpyxl's
cost, and the reader controls every byte it inflates (zip bombs, entity bombs, foreign parts).
Anything that is not a readable workbook raises :class:`ReadError` with a finding code.

Limits (beyond them: ``zip-bomb``): 64 MB for one part and 256 MB for all parts, checked on the declared
sizes before anything is inflated and again while inflating in chunks; one million XML elements in one
part and two million in all (about 500,000 and 1,000,000 cells), counted before a part is parsed. DTDs
and entity declarations are refused (``unreadable-file``). Nothing a part refers to outside the package
(external links, OLE objects, connections) is ever opened: such parts are listed in ``external_parts``.
"""

from __future__ import annotations

import codecs
import errno
import io
import math
import os
import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote
from xml.etree.ElementTree import ParseError
from xml.etree.ElementTree import TreeBuilder as _TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser


class ReadError(Exception):
    """The file cannot be read as a workbook. ``code`` is a finding code, ``detail`` says why (Chinese)."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ErrorValue:
    """A cell error such as ``#DIV/0!`` or ``#REF!``, typed or cached."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class CellData:
    """One ``<c>`` element.

    ``value`` is what the file stores: None (no value), str, float, bool or ErrorValue (an ISO date
    string for ``t="d"``). For a formula cell it is the cached result, which xltool never trusts.
    ``formula`` is the formula text with a leading ``=`` (shared formulas already expanded for each
    cell), or None. ``locked`` follows the cell style (cells are locked unless their style says not).
    ``date_style`` is true when the number format shows the number as a date or time.
    """

    value: object = None
    formula: str | None = None
    locked: bool = True
    date_style: bool = False


@dataclass
class Validation:
    """One ``<dataValidation>``: its type (whole, decimal, list, …), operator, formulas, and cells.

    ``cells`` is the expanded ``sqref``. A range of more than 100,000 cells (a whole column, a whole
    sheet) is clipped to the sheet's used area, the bounding box of its ``<c>`` elements; ``clipped``
    then says so. Cells outside it have no ``<c>`` element, so nothing the checker reads is lost.
    """

    type: str
    operator: str
    formula1: str | None
    formula2: str | None
    cells: frozenset[tuple[int, int]]
    clipped: bool = False


@dataclass
class SheetData:
    name: str
    state: str  # "visible", "hidden" or "veryHidden"
    cells: dict[tuple[int, int], CellData] = field(default_factory=dict)  # (row, col), 0-based
    merged: set[tuple[int, int, int, int]] = field(default_factory=set)  # (first_row, first_col, last_row, last_col)
    protection: dict[str, str] | None = None  # attributes of <sheetProtection>, None when absent
    validations: list[Validation] = field(default_factory=list)
    conditional_formulas: dict[tuple[int, int], list[str]] = field(default_factory=dict)  # top-left cell of each range
    default_locked: bool = True  # locked state of cells with no <c> element (row/column styles ignored)


@dataclass
class WorkbookData:
    path: Path
    sheets: list[SheetData]  # in workbook order
    defined_names: dict[str, str]  # workbook-scoped name -> reference text without "=", e.g. "'依申请公开'!$D$5"
    local_names: dict[tuple[str, str], str]  # (sheet, name) -> reference, for sheet-scoped names
    workbook_protection: dict[str, str] | None
    macros: bool  # a VBA project or a macro-enabled content type is in the package
    external_parts: list[str]  # externalLink parts, OLE objects, connections, query tables
    meta: dict[str, str]  # the _xltool sheet's key/value rows; {} when there is no such sheet

    def sheet(self, name: str) -> SheetData | None:
        return next((s for s in self.sheets if s.name == name), None)


# -- limits ---------------------------------------------------------------------------------------

MAX_ENTRY = 64 * 1024 * 1024  # bytes one zip entry may inflate to
MAX_TOTAL = 256 * 1024 * 1024  # bytes all entries together may inflate to
# An element costs about 250 bytes while its part is parsed, a cell (<c> and <v>) about 280 bytes once read:
MAX_ELEMENTS = 1_000_000  # XML elements in one part (about 500,000 cells): bounds the tree being parsed
MAX_TOTAL_ELEMENTS = 2_000_000  # XML elements in all parts read: bounds the cells kept
MAX_EXPAND = 100_000  # cells a validation range is expanded to before it is clipped to the used area
MAX_SHEET_VALIDATION_CELLS = 200_000  # cells all validations of one sheet are expanded to, at most
_CHUNK = 1024 * 1024
_MAX_ROW, _MAX_COL = 1_048_576, 16_384

_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_EXTERNAL_PREFIXES = ("xl/externallinks/", "xl/embeddings/", "xl/querytables/")
_DATE_FORMAT_IDS = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])


def read_workbook(path: Path, data: bytes | None = None) -> WorkbookData:
    """Read ``path`` (or ``data``, its bytes, when the caller has read them already); raise
    :class:`ReadError` for anything that is not a readable ``.xlsx`` workbook.

    No other exception escapes, whatever the bytes of the file.
    """
    try:
        return _Reader(Path(path), data).read()
    except ReadError:
        raise
    except IsADirectoryError:
        raise ReadError("unreadable-file", "这是一个文件夹，不是文件。") from None
    except FileNotFoundError:
        raise ReadError("unreadable-file", "找不到该文件。") from None
    except PermissionError:
        raise ReadError("unreadable-file", "没有读取该文件的权限。") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReadError("unreadable-file", "该文件是循环指向自身的符号链接（快捷方式），没有内容。") from None
        raise ReadError("unreadable-file", "读取文件时出错（文件可能正被占用或磁盘有问题）。") from None
    except DefusedXmlException:
        raise ReadError("unreadable-file", "文件中含有被禁止的 XML 实体或文档类型声明（可能是恶意构造的文件），已拒绝读取。") from None
    except zipfile.BadZipFile:
        raise ReadError("unreadable-file", "文件已损坏或不完整，不是有效的 Excel 工作簿（.xlsx）。") from None
    except MemoryError:
        raise ReadError("zip-bomb", "文件内容过大，读取时内存不足") from None
    except Exception:  # anything else the bytes of a file can provoke
        raise ReadError("unreadable-file", "文件不是有效的 Excel 工作簿（.xlsx），或已损坏。") from None


# -- XML ------------------------------------------------------------------------------------------

def _parse_xml(data: bytes, fast: bool | None = None):
    """Parse one XML part with defusedxml's parser: no DTD, no entity declarations, no external entities.

    defusedxml drives expat through the pure-Python ``XMLParser``, whose per-element callbacks only
    rewrite names (``uri}tag`` -> ``{uri}tag``) and cost two thirds of the parse. When ``fast``, expat
    feeds the C ``TreeBuilder`` directly and tags stay ``uri}tag``: every tag lookup here is built from
    the root's own prefix (:func:`_namespace`) and :func:`_local`, so both spellings work. The defused
    handlers (DTD, entity declarations, external references, undefined entities) are untouched.
    """
    parser = DefusedXMLParser(target=_TreeBuilder(), forbid_dtd=True)
    if _FAST_XML if fast is None else fast:
        expat = parser.parser
        expat.ordered_attributes = 0
        expat.StartElementHandler = parser.target.start
        expat.EndElementHandler = parser.target.end
    parser.feed(data)
    return parser.close()


def _fast_xml_works() -> bool:
    try:
        probe = b'<a xmlns="u" xmlns:r="v"><b x="1" r:id="2">t</b></a>'
        root = _parse_xml(probe, fast=True)
        return (root.tag == "u}a" and root[0].tag == "u}b" and root[0].get("x") == "1"
                and root[0].get("v}id") == "2" and root[0].text == "t")
    except Exception:
        return False


_FAST_XML = _fast_xml_works()


# -- helpers ----------------------------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _namespace(root) -> str:
    """The namespace prefix of the root's tag (``{uri}`` or ``uri}``), to build the tags of its children.

    Taking it from the root accepts both SpreadsheetML namespaces, transitional
    (``http://schemas.openxmlformats.org/spreadsheetml/2006/main``) and strict
    (``http://purl.oclc.org/ooxml/spreadsheetml/main``), and matches children on their local names.
    """
    tag = root.tag
    return tag[:tag.rfind("}") + 1]


def _attrs(element) -> dict[str, str]:
    return {_local(k): v for k, v in element.attrib.items()}


def _attr_id(element) -> str | None:
    """The ``r:id`` attribute, whatever its namespace (transitional or strict)."""
    for key, value in element.attrib.items():
        if key.endswith("}id"):
            return value
    return None


_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(text: str) -> str:
    """Undo OOXML's ``_xHHHH_`` escapes of characters XML cannot hold (``_x000D_`` is a carriage return)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


@lru_cache(maxsize=65536)
def _cell(ref: str) -> tuple[int, int] | None:
    """``"D5"`` -> ``(4, 3)``, 0-based; None when ``ref`` is not a cell address inside the grid."""
    m = _REF.fullmatch(ref)
    if not m:
        return None
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + ord(ch) - 64
    row = int(m.group(2))
    if not (1 <= row <= _MAX_ROW and 1 <= col <= _MAX_COL):
        return None
    return row - 1, col - 1


def _address(row: int, col: int) -> str:
    """``(4, 3)`` -> ``"D5"``."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


_COL_ONLY = re.compile(r"\$?([A-Za-z]{1,3})")
_ROW_ONLY = re.compile(r"\$?([0-9]{1,7})")


def _range(ref: str) -> tuple[int, int, int, int] | None:
    """``"A1:C3"``, ``"B2"``, ``"A:A"`` or ``"3:3"`` -> (first_row, first_col, last_row, last_col), 0-based."""
    first, _, last = ref.partition(":")
    a = _cell(first)
    b = _cell(last) if last else a
    if a is None or b is None:
        if _COL_ONLY.fullmatch(first) and _COL_ONLY.fullmatch(last or first):
            a, b = _cell(first + "1"), _cell((last or first) + str(_MAX_ROW))
        elif _ROW_ONLY.fullmatch(first) and _ROW_ONLY.fullmatch(last or first):
            a, b = _cell("A" + first.lstrip("$")), _cell("XFD" + (last or first).lstrip("$"))
        if a is None or b is None:
            return None
    return min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])


@lru_cache(maxsize=4096)
def _ranges(sqref: str | None) -> tuple[tuple[int, int, int, int], ...]:
    """The ranges of a space-separated ``sqref``; unreadable parts are skipped."""
    return tuple(r for r in map(_range, (sqref or "").split()) if r is not None)


_QUOTED_OR_ESCAPED = re.compile(r'"[^"]*"|\\.|_.|\*.', re.S)
_BRACKETS = re.compile(r"\[([^\]]*)\]")


@lru_cache(maxsize=1024)
def _is_date_format(code: str) -> bool:
    """True when a number format code shows a number as a date or a time (``yyyy-mm-dd``, ``[h]:mm``)."""
    text = _QUOTED_OR_ESCAPED.sub("", code)
    # [Red], [$-804], [DBNum1], [>=100] are not date parts; [h], [mm], [ss] (elapsed time) are
    text = _BRACKETS.sub(lambda m: m.group(1) if re.fullmatch(r"[hHmMsS]+", m.group(1)) else "", text)
    return bool(re.search(r"[ymdhs]|aaa", text.lower()))  # "General", "0.00", "#,##0", "@" have none


def _string_item(element, t_tag: str, r_tag: str) -> str:
    """The text of an ``<si>`` or ``<is>``: plain ``<t>`` or rich-text runs, phonetic ``<rPh>`` ignored."""
    if len(element) == 1 and element[0].tag == t_tag:
        text = element[0].text or ""
    else:
        parts = []
        for child in element:
            if child.tag == t_tag:
                parts.append(child.text or "")
            elif child.tag == r_tag:
                for t in child:
                    if t.tag == t_tag:
                        parts.append(t.text or "")
        text = "".join(parts)
    return _unescape(text)


def _meta_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


# -- sniffing what a non-zip file is ----------------------------------------------------------------

def _sniff_text(head: bytes) -> str | None:
    """A short description when ``head`` is readable text (HTML, CSV, XML, plain text), else None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head[2:].decode("utf-16-le" if head[:2] == b"\xff\xfe" else "utf-16-be", errors="replace")
    else:
        if b"\x00" in head:
            return None
        text = None
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
                break
            except UnicodeDecodeError:
                continue
        if text is None:
            return None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v\x1a")
    if not text.strip() or controls > len(text) // 100:
        return None
    lowered = text.lstrip().lower()
    if "<html" in lowered or lowered.startswith("<!doctype html") or "<table" in lowered:
        return "文件内容是网页（HTML），可能是其他系统导出的“伪 Excel”文件"
    if "urn:schemas-microsoft-com:office:spreadsheet" in lowered:
        return "文件是 Excel 2003 XML 表格，不是 .xlsx 工作簿"
    if lowered.startswith("<?xml") or lowered.startswith("<"):
        return "文件内容是 XML 文本"
    if lowered.startswith("{\\rtf"):
        return "文件是 RTF 文档"
    return "文件内容是纯文本或 CSV"


def _ole_kind(handle) -> str:
    """``encrypted-file`` when an OLE2 compound file holds an ``EncryptionInfo`` stream, else what it is."""
    encrypted = "EncryptionInfo".encode("utf-16-le")
    books = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))  # BIFF8 and BIFF5 workbook streams
    found_book = False
    handle.seek(0)
    tail = b""
    scanned = 0
    while scanned < MAX_TOTAL:
        chunk = handle.read(_CHUNK)
        if not chunk:
            break
        scanned += len(chunk)
        data = tail + chunk
        if encrypted in data:
            return "encrypted-file"
        found_book = found_book or any(b in data for b in books)
        tail = data[-64:]
    return "legacy-xls" if found_book else "not-a-workbook"


def refuse_special_file(path: Path) -> os.stat_result:
    """The file's status; :class:`ReadError` unless it is a regular file (after symbolic links).

    A named pipe would block the reader forever and a device (``/dev/zero``) would never end, so
    neither is opened. A folder raises ``IsADirectoryError``, as opening it would.
    """
    status = os.stat(path)
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(str(path))
    if not stat.S_ISREG(status.st_mode):
        raise ReadError("unreadable-file", "这不是普通文件（而是管道、设备等特殊文件），不能作为工作簿读取。")
    return status


# -- the reader -------------------------------------------------------------------------------------

class _Reader:
    def __init__(self, path: Path, data: bytes | None = None):
        self.path = path
        self.data = data
        self.zip: zipfile.ZipFile | None = None
        self.entries: dict[str, zipfile.ZipInfo] = {}
        self.inflated = 0
        self.elements = 0

    # the file as a whole

    def read(self) -> WorkbookData:
        if self.data is None:
            refuse_special_file(self.path)
        with (open(self.path, "rb") if self.data is None else io.BytesIO(self.data)) as handle:
            head = handle.read(4096)
            if not head:
                raise ReadError("unreadable-file", "文件是空的（0 字节）。")
            if head.startswith(_OLE_SIGNATURE):
                kind = _ole_kind(handle)
                if kind == "encrypted-file":
                    raise ReadError("encrypted-file", "文件设有打开密码（已加密），无法读取。")
                if kind == "legacy-xls":
                    raise ReadError("legacy-xls", "文件是旧版 Excel 97-2003 工作簿（.xls）。")
                raise ReadError("not-a-workbook", "文件是 Word 等其他旧版 Office 文档")
            if not head.startswith(_ZIP_SIGNATURES):
                if head.startswith(b"%PDF"):
                    raise ReadError("not-a-workbook", "文件是 PDF 文档")
                description = _sniff_text(head)
                if description:
                    raise ReadError("not-a-workbook", description)
                raise ReadError("unreadable-file", "文件不是有效的 Excel 工作簿（.xlsx）。")
            with zipfile.ZipFile(handle) as zf:
                self.zip = zf
                return self._read_package()

    def _read_package(self) -> WorkbookData:
        infos = self.zip.infolist()
        total = 0
        for info in infos:
            if info.file_size > MAX_ENTRY:
                raise ReadError("zip-bomb", f"其中“{info.filename}”解压后超过 {MAX_ENTRY >> 20} MB")
            total += info.file_size
        if total > MAX_TOTAL:
            raise ReadError("zip-bomb", f"全部内容解压后超过 {MAX_TOTAL >> 20} MB")
        for info in infos:
            self.entries[info.filename.replace("\\", "/").lstrip("/").lower()] = info
        if "mimetype" in self.entries:
            mimetype = self._bytes("mimetype", limit=256).strip()
            if mimetype.startswith(_ODS_MIMETYPE):
                raise ReadError("ods-file", "文件是 OpenDocument 表格（.ods）。")
            if mimetype.startswith(b"application/vnd.oasis.opendocument"):
                raise ReadError("not-a-workbook", "文件是 OpenDocument 文档（如 .odt）")

        book_part = self._office_document()
        if book_part is not None and book_part.endswith(".bin"):
            raise ReadError("not-a-workbook", "文件是 Excel 二进制工作簿（.xlsb），不是 .xlsx")
        if book_part is None:
            if "xl/workbook.bin" in self.entries:
                raise ReadError("not-a-workbook", "文件是 Excel 二进制工作簿（.xlsb），不是 .xlsx")
            if "word/document.xml" in self.entries:
                raise ReadError("not-a-workbook", "文件是 Word 文档（.docx）")
            if "ppt/presentation.xml" in self.entries:
                raise ReadError("not-a-workbook", "文件是 PowerPoint 演示文稿（.pptx）")
            raise ReadError("unreadable-file", "压缩包中没有工作簿内容（xl/workbook.xml），文件不是有效的 .xlsx 或已损坏。")

        macros, external = self._package_parts()
        rels = self._rels(book_part)
        book = self._xml(book_part)
        ns = _namespace(book)
        sheet_refs, defined, local, protection = self._workbook(book, ns)
        del book
        strings = self._shared_strings(self._related(rels, "/sharedStrings", book_part, "sharedStrings.xml"))
        styles = self._styles(self._related(rels, "/styles", book_part, "styles.xml"))

        sheets: list[SheetData] = []
        for name, state, rid in sheet_refs:
            rel = rels.get(rid) if rid else None
            part = self._find(rel[1]) if rel and rel[2] != "External" else None
            if part is None:
                where = rel[1] if rel else name
                raise ReadError("unreadable-file", f"工作表“{name}”的内容（{where}）缺失，文件已损坏。")
            sheets.append(_SheetParser(name, state, self._xml(part), strings, styles).parse())
        meta = _meta(sheets)
        return WorkbookData(path=self.path, sheets=sheets, defined_names=defined, local_names=local,
                            workbook_protection=protection, macros=macros, external_parts=external, meta=meta)

    # zip entries

    def _find(self, name: str) -> str | None:
        """The zip entry key of a part name (part names are case-insensitive)."""
        key = name.replace("\\", "/").lstrip("/").lower()
        if key in self.entries:
            return key
        key = unquote(key)
        return key if key in self.entries else None

    def _bytes(self, key: str, limit: int = MAX_ENTRY) -> bytes:
        """Inflate one entry, in chunks, never past the limits whatever its header declares."""
        info = self.entries[key]
        if info.flag_bits & 0x1:
            raise ReadError("encrypted-file", "文件（压缩包）设有密码，无法读取。")
        chunks = []
        size = 0
        with self.zip.open(info) as stream:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                self.inflated += len(chunk)
                if size > MAX_ENTRY:
                    raise ReadError("zip-bomb", f"其中“{info.filename}”解压后超过 {MAX_ENTRY >> 20} MB")
                if self.inflated > MAX_TOTAL:
                    raise ReadError("zip-bomb", f"全部内容解压后超过 {MAX_TOTAL >> 20} MB")
                chunks.append(chunk)
                if size > limit:
                    break
        return b"".join(chunks)

    def _xml(self, key: str, data: bytes | None = None):
        if data is None:
            data = self._bytes(key)
        elements = data.count(b"<") - data.count(b"</")  # start tags (and a few declarations)
        self.elements += elements
        if elements > MAX_ELEMENTS:
            raise ReadError("zip-bomb", f"其中“{self.entries[key].filename}”含有超过 {MAX_ELEMENTS // 10000} 万个 XML 元素")
        if self.elements > MAX_TOTAL_ELEMENTS:
            raise ReadError("zip-bomb", f"全部内容含有超过 {MAX_TOTAL_ELEMENTS // 10000} 万个 XML 元素")
        try:
            return _parse_xml(data)
        except ParseError:
            raise ReadError("unreadable-file",
                            f"文件中的 XML 内容已损坏（{self.entries[key].filename}），无法读取。") from None

    # package level: relationships, content types

    def _office_document(self) -> str | None:
        if "_rels/.rels" in self.entries:
            for _, (rtype, target, mode) in self._rels("").items():
                if rtype.endswith("/officeDocument") and mode != "External":
                    found = self._find(target)
                    if found is not None:
                        return found
        return "xl/workbook.xml" if "xl/workbook.xml" in self.entries else None

    def _rels(self, part: str) -> dict[str, tuple[str, str, str]]:
        """Relationships of ``part`` (``""`` for the package): Id -> (Type, resolved target, TargetMode)."""
        folder, base = posixpath.split(part)
        key = self._find(posixpath.join(folder, "_rels", base + ".rels"))
        if key is None:
            return {}
        out = {}
        for rel in self._xml(key):
            if _local(rel.tag) != "Relationship":
                continue
            target, mode = rel.get("Target", ""), rel.get("TargetMode", "Internal")
            if mode != "External":
                target = target.lstrip("/") if target.startswith("/") else \
                    posixpath.normpath(posixpath.join(folder, target)).lstrip("/")
            out[rel.get("Id", "")] = (rel.get("Type", ""), target, mode)
        return out

    def _related(self, rels: dict, type_suffix: str, book_part: str, default: str) -> str | None:
        for rtype, target, mode in rels.values():
            if rtype.endswith(type_suffix) and mode != "External":
                found = self._find(target)
                if found is not None:
                    return found
        return self._find(posixpath.join(posixpath.dirname(book_part), default))

    def _package_parts(self) -> tuple[bool, list[str]]:
        """(macros present, external parts): VBA projects, macro sheets, links, OLE objects, connections."""
        macros = False
        external: list[str] = []
        for key, info in self.entries.items():
            if key.endswith("vbaproject.bin") or key.startswith("xl/macrosheets/"):
                macros = True
            if key.startswith(_EXTERNAL_PREFIXES) or key == "xl/connections.xml":
                if not key.endswith(".rels"):
                    external.append(info.filename)
        if "[content_types].xml" in self.entries:
            for item in self._xml("[content_types].xml"):
                content_type = (item.get("ContentType") or "").lower()
                if "macroenabled" in content_type or "vbaproject" in content_type or "macrosheet" in content_type:
                    macros = True
        for key in self.entries:
            if key.endswith(".rels"):
                data = self._bytes(key)
                if b"External" not in data:
                    continue
                for rel in self._xml(key, data):
                    if rel.get("TargetMode") == "External":
                        target = rel.get("Target", "")
                        if target not in external:
                            external.append(target)
        return macros, external

    # workbook, shared strings, styles

    def _workbook(self, root, ns: str):
        sheets: list[tuple[str, str, str | None]] = []
        defined: dict[str, str] = {}
        local: dict[tuple[str, str], str] = {}
        protection = None
        names = []
        for child in root:
            tag = child.tag
            if tag == ns + "sheets":
                for sheet in child:
                    if sheet.tag == ns + "sheet":
                        sheets.append((sheet.get("name", ""), sheet.get("state") or "visible", _attr_id(sheet)))
            elif tag == ns + "definedNames":
                names = [n for n in child if n.tag == ns + "definedName"]
            elif tag == ns + "workbookProtection":
                protection = _attrs(child)
        for item in names:
            name, text = item.get("name", ""), (item.text or "").strip()
            if text.startswith("="):
                text = text[1:]
            scope = item.get("localSheetId")
            if scope is None:
                defined[name] = text
            else:
                try:
                    local[(sheets[int(scope)][0], name)] = text
                except (ValueError, IndexError):
                    continue  # a name scoped to a sheet that does not exist: Excel drops it too
        return sheets, defined, local, protection

    def _shared_strings(self, key: str | None) -> list[str]:
        if key is None:
            return []
        root = self._xml(key)
        ns = _namespace(root)
        si, t, r = ns + "si", ns + "t", ns + "r"
        return [_string_item(item, t, r) for item in root if item.tag == si]

    def _styles(self, key: str | None) -> list[tuple[bool, bool]]:
        """(locked, date_style) of every cellXfs entry."""
        if key is None:
            return []
        root = self._xml(key)
        ns = _namespace(root)
        formats: dict[int, str] = {}
        xfs: list[tuple[bool, bool]] = []
        for child in root:
            if child.tag == ns + "numFmts":
                for fmt in child:
                    try:
                        formats[int(fmt.get("numFmtId", ""))] = fmt.get("formatCode", "")
                    except ValueError:
                        continue
            elif child.tag == ns + "cellXfs":
                for xf in child:
                    if xf.tag != ns + "xf":
                        continue
                    try:
                        fmt_id = int(xf.get("numFmtId") or 0)
                    except ValueError:
                        fmt_id = 0
                    code = formats.get(fmt_id)
                    date = _is_date_format(code) if code is not None else fmt_id in _DATE_FORMAT_IDS
                    locked = True
                    for prot in xf:
                        if prot.tag == ns + "protection":
                            locked = (prot.get("locked") or "1").lower() not in ("0", "false")
                    xfs.append((locked, date))
        return xfs


class _SheetParser:
    """One worksheet part -> :class:`SheetData`."""

    def __init__(self, name: str, state: str, root, strings: list[str], styles: list[tuple[bool, bool]]):
        self.sheet = SheetData(name, state, default_locked=styles[0][0] if styles else True)
        self.root, self.strings, self.styles = root, strings, styles
        self.ns = _namespace(root)

    def parse(self) -> SheetData:
        ns, sheet = self.ns, self.sheet
        validations, ext = [], None
        for child in self.root:
            tag = child.tag
            if tag == ns + "sheetData":
                self._cells(child)
            elif tag == ns + "mergeCells":
                for merge in child:
                    r = _range(merge.get("ref", ""))
                    if r is not None:
                        sheet.merged.add(r)
            elif tag == ns + "sheetProtection":
                sheet.protection = _attrs(child)
            elif tag == ns + "dataValidations":
                validations.extend(v for v in child if v.tag == ns + "dataValidation")
            elif tag == ns + "conditionalFormatting":
                self._conditional(child.get("sqref"), [r for r in child if r.tag == ns + "cfRule"], ns + "formula")
            elif tag == ns + "extLst":
                ext = child
        ext_validations = []
        if ext is not None:  # x14 extensions: validations and conditional formats that refer to other sheets
            for element in ext.iter():
                local = _local(element.tag)
                if local == "dataValidation":
                    ext_validations.append(element)
                elif local == "conditionalFormatting":
                    sqref = next((e.text for e in element if _local(e.tag) == "sqref"), None)
                    self._conditional(sqref, [r for r in element if _local(r.tag) == "cfRule"], None)
        if validations or ext_validations:
            self._validations(validations, ext_validations)
        self.root = None
        return sheet

    def _cells(self, sheet_data) -> None:
        ns = self.ns
        row_tag, c_tag, v_tag, f_tag, is_tag = ns + "row", ns + "c", ns + "v", ns + "f", ns + "is"
        t_tag, r_tag = ns + "t", ns + "r"
        strings, styles = self.strings, self.styles
        default_style = styles[0] if styles else (True, False)
        style_of: dict[str | None, tuple[bool, bool]] = {None: default_style}
        cells = self.sheet.cells
        masters: dict[str, tuple[str, str]] = {}  # shared formula index -> (formula, origin cell)
        dependents: list[tuple[CellData, str, str]] = []
        row_index = -1
        for row in sheet_data:
            if row.tag != row_tag:
                continue
            r = row.get("r")
            row_index = int(r) - 1 if r else row_index + 1
            col_index = -1
            for c in row:
                if c.tag != c_tag:
                    continue
                ref = c.get("r")
                pos = _cell(ref) if ref else None
                if pos is None:
                    col_index += 1
                    pos = (row_index, col_index)
                    ref = _address(row_index, col_index)
                else:
                    row_index, col_index = pos
                s = c.get("s")
                style = style_of.get(s)
                if style is None:
                    try:
                        style = styles[int(s)]
                    except (ValueError, IndexError):
                        style = default_style
                    style_of[s] = style
                cell = CellData(None, None, style[0], style[1])
                cells[pos] = cell
                if not len(c):
                    continue
                v = f = inline = None
                for child in c:
                    tag = child.tag
                    if tag == v_tag:
                        v = child.text
                    elif tag == f_tag:
                        f = child
                    elif tag == is_tag:
                        inline = child
                t = c.get("t")
                if inline is not None and (t == "inlineStr" or v is None):
                    cell.value = _string_item(inline, t_tag, r_tag)
                elif v:
                    if t is None or t == "n":
                        try:
                            number = float(v)
                        except ValueError:
                            cell.value = v
                        else:  # "NaN", "INF", "1E999": no spreadsheet holds them; Excel shows #NUM!
                            cell.value = number if math.isfinite(number) else ErrorValue("#NUM!")
                    elif t == "s":
                        try:
                            cell.value = strings[int(v)]
                        except (ValueError, IndexError):
                            raise ReadError("unreadable-file",
                                            f"工作表“{self.sheet.name}”引用了不存在的共享字符串，文件已损坏。") from None
                    elif t == "b":
                        cell.value = {"1": True, "0": False, "true": True, "false": False}.get(v.strip().lower(), v)
                    elif t == "e":
                        cell.value = ErrorValue(v)
                    elif t == "str" or t == "inlineStr":
                        cell.value = _unescape(v)
                    else:  # "d" (ISO 8601 text) and anything unknown: the text as stored
                        cell.value = v
                if f is not None:
                    text = f.text
                    kind = f.get("t")
                    if kind == "shared":
                        si = f.get("si")
                        if text:
                            cell.formula = "=" + text
                            if si is not None and ref is not None:
                                masters[si] = (cell.formula, ref)
                        elif si is not None and ref is not None:
                            dependents.append((cell, si, ref))
                    elif text:
                        cell.formula = "=" + text
                    elif kind == "dataTable":
                        args = ",".join(a for a in (f.get("r1"), f.get("r2")) if a)
                        cell.formula = f"=TABLE({args})"
        if dependents:
            self._expand_shared(masters, dependents)

    @staticmethod
    def _expand_shared(masters: dict[str, tuple[str, str]], dependents: list[tuple[CellData, str, str]]) -> None:
        from openpyxl.formula.translate import Translator

        translators: dict[str, Translator] = {}
        for cell, si, ref in dependents:
            master = masters.get(si)
            if master is None:
                continue  # a dependent without its master: the file is inconsistent; leave no formula
            translator = translators.get(si)
            if translator is None:
                translator = translators[si] = Translator(master[0], origin=master[1].replace("$", ""))
            try:
                cell.formula = translator.translate_formula(ref.replace("$", ""))
            except Exception:
                cell.formula = master[0]

    def _conditional(self, sqref: str | None, rules: list, formula_tag: str | None) -> None:
        formulas = []
        for rule in rules:
            for child in rule:
                if (child.tag == formula_tag) if formula_tag else (_local(child.tag) in ("formula", "f")):
                    if child.text:
                        formulas.append("=" + child.text)
        if not formulas:
            return
        for first_row, first_col, _, _ in _ranges(sqref):
            self.sheet.conditional_formulas.setdefault((first_row, first_col), []).extend(formulas)

    def _validations(self, standard: list, extended: list) -> None:
        budget = MAX_SHEET_VALIDATION_CELLS
        used = None
        items = [(v, False) for v in standard] + [(v, True) for v in extended]
        for element, is_extension in items:
            formula1 = formula2 = None
            sqref = None if is_extension else element.get("sqref")
            for child in element:
                local = _local(child.tag)
                if local == "sqref":
                    sqref = child.text
                elif local == "formula1" or local == "formula2":
                    # x14: <x14:formula1><xm:f>…</xm:f></x14:formula1>
                    text = next((e.text for e in child if _local(e.tag) == "f"), None) if is_extension \
                        else child.text
                    if local == "formula1":
                        formula1 = text
                    else:
                        formula2 = text
            ranges = _ranges(sqref)
            clipped = False
            if len(ranges) == 1 and ranges[0][0] == ranges[0][2] and ranges[0][1] == ranges[0][3] and budget:
                positions = frozenset(((ranges[0][0], ranges[0][1]),))  # the common case: one cell
                budget -= 1
            else:
                found: set[tuple[int, int]] = set()
                for r1, c1, r2, c2 in ranges:
                    if (r2 - r1 + 1) * (c2 - c1 + 1) > MAX_EXPAND:
                        clipped = True
                        if used is None:
                            used = self._used_area()
                        r1, c1 = max(r1, used[0]), max(c1, used[1])
                        r2, c2 = min(r2, used[2]), min(c2, used[3])
                    width = c2 - c1 + 1
                    if width <= 0:
                        continue
                    for r in range(r1, r2 + 1):
                        if budget < width:
                            clipped = True
                            break
                        budget -= width
                        found.update((r, c) for c in range(c1, c2 + 1))
                positions = frozenset(found)
            self.sheet.validations.append(Validation(
                element.get("type") or "none", element.get("operator") or "between", formula1, formula2,
                positions, clipped))

    def _used_area(self) -> tuple[int, int, int, int]:
        cells = self.sheet.cells
        if not cells:
            return 0, 0, -1, -1
        rows = [r for r, _ in cells]
        cols = [c for _, c in cells]
        return min(rows), min(cols), max(rows), max(cols)


def _meta(sheets: list[SheetData]) -> dict[str, str]:
    """The ``_xltool`` sheet's column A/B rows as key -> value text."""
    sheet = next((s for s in sheets if s.name == "_xltool"), None)
    if sheet is None:
        return {}
    meta: dict[str, str] = {}
    for (row, col), cell in sorted(sheet.cells.items()):
        if col != 0 or cell.value is None:
            continue
        key = _meta_text(cell.value).strip()
        if not key:
            continue
        value = sheet.cells.get((row, 1))
        meta[key] = _meta_text(value.value if value is not None else None)
    return meta
