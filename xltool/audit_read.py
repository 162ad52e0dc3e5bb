"""Read a published report — DOCX, HTML, PDF or plain text — into what audit needs: its paragraphs of text and
its table cells in reading order, each with where it came from (page, table, row, line).

Nothing here knows a label: finding the tables is :mod:`xltool.audit_tables`' job. Reading is defensive: sizes,
cells and XML depth are bounded, encodings are detected, scripts and style sheets are skipped, and nothing a
document points to (images, links, templates, frames) is ever fetched. A file that cannot be read raises
:class:`AuditReadError` with a ``reason`` of the ``unreadable-report`` finding.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

MAX_BYTES = 32 * 1024 * 1024  # a published report is a few hundred KB; a PDF with images a few MB
MAX_PART = 64 * 1024 * 1024  # bytes the DOCX's document part may inflate to
MAX_TOKENS = 200_000  # cells and lines kept: a report has about 600
MAX_PAGES = 300  # PDF pages read
MAX_TEXT = 4 * 1024 * 1024  # characters of text kept
_CJK = re.compile(r"[\u4e00-\u9fff]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_SCRIPT_TAGS = {"script", "style", "template", "noscript", "iframe", "object", "embed", "svg", "math"}
_BLOCK_TAGS = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "section", "article", "header",
               "footer", "main", "blockquote", "pre", "title", "caption", "dt", "dd", "hr"}
_EXTERNAL_ATTRS = {"src", "href", "data", "action", "poster", "background", "srcset"}
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class AuditReadError(Exception):
    """A file that cannot be read as a report; ``reason`` is a reason of ``unreadable-report``."""

    def __init__(self, reason: str, **params: object):
        super().__init__(reason)
        self.reason, self.params = reason, params


@dataclass(frozen=True)
class Token:
    """One table cell or one line of text, in reading order. ``cell``: it was a cell of a table (then an empty
    one is a blank value); ``row``: the source row it belongs to, for knowing where a row ends."""

    text: str
    where: str  # e.g. 表2 第5行, 第3页 第12行, 第40行
    cell: bool
    row: int


@dataclass
class Document:
    kind: str  # docx, html, pdf, text
    tokens: list[Token] = field(default_factory=list)
    paragraphs: list[tuple[str, str]] = field(default_factory=list)  # (text, where) outside tables
    external: list[str] = field(default_factory=list)  # what it points to or would run (never fetched)
    _rows: int = 0

    def new_row(self) -> int:
        self._rows += 1
        return self._rows

    def add(self, text: str, where: str, cell: bool, row: int) -> None:
        if len(self.tokens) >= MAX_TOKENS:
            raise AuditReadError("too-large", limit=f"{MAX_TOKENS} 个单元格或行")
        self.tokens.append(Token(text, where, cell, row))

    def line(self, text: str, where: str) -> None:
        """A line of text outside any table: a paragraph, and a token (labels and numbers may stand alone)."""
        text = text.strip()
        if not text:
            return
        self.paragraphs.append((text, where))
        self.add_line_cells(text, where)

    def add_line_cells(self, text: str, where: str) -> None:
        """A line as cells: split at ``|`` or tabs (a table pasted as text), else the whole line is one token."""
        row = self.new_row()
        if "|" in text or "\t" in text:
            parts = [p.strip() for p in re.split(r"[|\t]", text)]
            if parts and parts[0] == "":
                parts = parts[1:]
            while parts and parts[-1] == "":
                parts.pop()
            for part in parts:
                self.add(part, where, True, row)
        else:
            self.add(text, where, False, row)


def read_report(path: Path) -> Document:
    """The document at ``path``, read by its content (and its name where content cannot tell)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise AuditReadError("folder")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise AuditReadError("too-large", limit=f"{MAX_BYTES >> 20} MB")
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise AuditReadError("not-found") from None
    except PermissionError:
        raise AuditReadError("no-permission") from None
    except OSError:
        raise AuditReadError("io-error") from None
    if not data:
        raise AuditReadError("empty")
    return read_bytes(data, path.suffix.lower())


def read_bytes(data: bytes, suffix: str = "") -> Document:
    if data.startswith(b"%PDF"):
        return _pdf(data)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise AuditReadError("encrypted-or-old")  # an encrypted DOCX or an old .doc: both are OLE files
    if data.startswith(b"PK"):
        return _docx(data)
    if data.startswith((b"{\\rtf",)):
        raise AuditReadError("unsupported", kind="RTF")
    text = _decode(data)
    head = text[:4096].lstrip("\ufeff \r\n\t").lower()
    if suffix in (".html", ".htm", ".xhtml") or head.startswith(("<!doctype html", "<html", "<?xml", "<head", "<meta")) \
            or re.search(r"<(table|p|div|body)\b", head):
        return _html(text)
    if "\x00" in text[:4096]:
        raise AuditReadError("not-text")
    doc = Document("text")
    for number, line in enumerate(text.splitlines()[:MAX_TOKENS], 1):
        doc.line(line, f"第{number}行")
    return doc


def _decode(data: bytes) -> str:
    """Bytes as text: a BOM, a declared charset, else UTF-8, else GB18030 (which covers GBK and GB2312)."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    declared = _META_CHARSET.search(data[:8192])
    if declared:
        name = declared.group(1).decode("ascii", "replace").lower()
        if name in ("gb2312", "gbk", "gb_2312-80", "x-gbk", "cp936"):
            name = "gb18030"
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


# --- HTML ---------------------------------------------------------------------------------------------------------

class _Html(HTMLParser):
    """Tables as rows of cells, other text as lines; scripts and styles skipped; nothing fetched."""

    def __init__(self, doc: Document):
        super().__init__(convert_charrefs=True)
        self.doc = doc
        self.skip = 0  # inside script/style/…
        self.tables = 0  # tables seen
        self.stack: list[list] = []  # open tables: [table number, row number, row id]
        self.cell: list[str] | None = None
        self.text: list[str] = []
        self.lines = 0
        self.depth = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        self.depth += 1
        if self.depth > 100_000:
            raise AuditReadError("too-deep", limit="100000 层")
        for name, value in attrs:
            if name in _EXTERNAL_ATTRS and value and re.match(r"\s*(https?:|//|file:|ftp:)", value, re.I):
                if len(self.doc.external) < 20:
                    self.doc.external.append(f"{tag} {name}={value[:80]}")
        if tag == "script" and len(self.doc.external) < 20:
            self.doc.external.append("script")
        if tag in _SCRIPT_TAGS:
            self.skip += 1
            return
        if tag == "table":
            self._end_cell()
            self._flush()
            self.tables += 1
            self.stack.append([self.tables, 0, 0])
        elif tag == "tr" and self.stack:
            self._end_cell()
            self.stack[-1][1] += 1
            self.stack[-1][2] = self.doc.new_row()
        elif tag in ("td", "th") and self.stack:
            self._end_cell()
            self.cell = []
        elif tag in _BLOCK_TAGS:
            if self.cell is not None:
                self.cell.append(" ")
            else:
                self._flush()

    def handle_endtag(self, tag: str) -> None:
        self.depth = max(0, self.depth - 1)
        if tag in _SCRIPT_TAGS:
            self.skip = max(0, self.skip - 1)
            return
        if tag in ("td", "th"):
            self._end_cell()
        elif tag == "table" and self.stack:
            self._end_cell()
            self.stack.pop()
        elif tag in _BLOCK_TAGS and self.cell is None:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        (self.cell if self.cell is not None else self.text).append(data)
        if sum(map(len, self.text)) > MAX_TEXT:
            raise AuditReadError("too-large", limit=f"{MAX_TEXT} 个字符")

    def _end_cell(self) -> None:
        if self.cell is None or not self.stack:
            self.cell = None
            return
        table, row, row_id = self.stack[-1]
        if not row_id:
            self.stack[-1][2] = row_id = self.doc.new_row()
        self.doc.add(" ".join("".join(self.cell).split()), f"表{table} 第{max(row, 1)}行", True, row_id)
        self.cell = None

    def _flush(self) -> None:
        text = " ".join("".join(self.text).split())
        self.text = []
        if text:
            self.lines += 1
            self.doc.line(text, f"第{self.lines}段")


def _html(text: str) -> Document:
    doc = Document("html")
    parser = _Html(doc)
    for start in range(0, len(text), 65536):
        parser.feed(text[start:start + 65536])
    parser.close()
    parser._end_cell()
    parser._flush()
    return doc


# --- DOCX ---------------------------------------------------------------------------------------------------------

def _docx(data: bytes) -> Document:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = {i.filename: i for i in archive.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError):
        raise AuditReadError("damaged") from None
    info = names.get("word/document.xml")
    if info is None:
        raise AuditReadError("unsupported", kind="不是 Word 文档的压缩包")
    if info.flag_bits & 0x1:
        raise AuditReadError("encrypted-or-old")
    if info.file_size > MAX_PART:
        raise AuditReadError("too-large", limit=f"{MAX_PART >> 20} MB")
    doc = Document("docx")
    try:
        with archive.open(info) as part:
            xml = part.read(MAX_PART + 1)
        for rels in (n for n in names if n.endswith(".rels")):
            text = archive.read(rels).decode("utf-8", "replace")
            for target in re.findall(r'Target="([^"]+)"[^>]*TargetMode="External"', text)[:20]:
                doc.external.append(target[:100])
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        raise AuditReadError("damaged") from None
    if len(xml) > MAX_PART:
        raise AuditReadError("too-large", limit=f"{MAX_PART >> 20} MB")
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise AuditReadError("too-deep" if "depth" in str(exc).lower() else "damaged", limit="256 层") from None
    body = root.find(f"{_W}body")
    if body is None:
        raise AuditReadError("damaged")
    counters = {"table": 0, "para": 0}
    _docx_children(body, doc, counters)
    return doc


def _docx_children(parent, doc: Document, counters: dict) -> None:
    for child in parent:
        tag = child.tag
        if tag == f"{_W}p":
            counters["para"] += 1
            doc.line(_text(child), f"第{counters['para']}段")
        elif tag == f"{_W}tbl":
            counters["table"] += 1
            table = counters["table"]
            for number, row in enumerate(child.iter(f"{_W}tr"), 1):
                if row.getparent() is not child:
                    continue  # a row of a nested table: its text is its cell's
                row_id = doc.new_row()
                for cell in row.iterchildren(f"{_W}tc"):
                    doc.add(_text(cell), f"表{table} 第{number}行", True, row_id)
        elif tag in (f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml"):
            _docx_children(child, doc, counters)


def _text(element) -> str:
    """The text of a paragraph or cell: its runs' text, paragraphs joined by a space."""
    out = []
    for node in element.iter(f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}p"):
        if node.tag == f"{_W}t":
            out.append(node.text or "")
        else:
            out.append(" ")
    return " ".join("".join(out).split())


# --- PDF ----------------------------------------------------------------------------------------------------------

def _pdf(data: bytes) -> Document:
    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - pypdf is a dependency
        raise AuditReadError("unsupported", kind="PDF（未安装 pypdf）") from None
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise AuditReadError("encrypted")
        pages = reader.pages
        count = len(pages)
    except AuditReadError:
        raise
    except Exception:  # pypdf raises many kinds on damaged files
        raise AuditReadError("damaged") from None
    if count > MAX_PAGES:
        raise AuditReadError("too-large", limit=f"{MAX_PAGES} 页")
    doc = Document("pdf")
    total = 0
    sentence: list[str] = []
    start = ""  # where the sentence being joined began
    for number in range(count):
        try:
            text = pages[number].extract_text() or ""
        except Exception:
            raise AuditReadError("damaged") from None
        total += len(text)
        if total > MAX_TEXT:
            raise AuditReadError("too-large", limit=f"{MAX_TEXT} 个字符")
        for line_number, line in enumerate(text.splitlines(), 1):
            where = f"第{number + 1}页 第{line_number}行"
            line = line.strip()
            if not line:
                continue
            _pdf_line(doc, line, where)
            start = start if sentence else where
            sentence.append(line)  # a PDF breaks sentences (and numbers) at the line's end: join them again
            if line.endswith("。"):
                doc.paragraphs.append(("".join(sentence), start))
                sentence = []
    if sentence:
        doc.paragraphs.append(("".join(sentence), start))
    if not any(_CJK.search(t) for t, _ in doc.paragraphs):
        raise AuditReadError("no-text")
    return doc


_VALUE_PIECE = re.compile(r"[+\-]?\d[\d,]*(?:\.\d+)?(?:万元|元|件|个|项)?|[/_\-—－／]")


def _pdf_line(doc: Document, line: str, where: str) -> None:
    """A PDF line of a table row holds its label and its numbers separated by spaces: numbers become cells of
    their own, the words between them one label cell."""
    row = doc.new_row()
    label: list[str] = []
    for piece in line.split():
        if _VALUE_PIECE.fullmatch(piece):
            if label:
                doc.add("".join(label), where, True, row)
                label = []
            doc.add(piece, where, True, row)
        else:
            label.append(piece)
    if label:
        doc.add("".join(label), where, False, row)
