"""A returned file read within limits: its bytes, and its zip package part by part — the first step of reading
a returned file.

A file that is not a regular file is refused before it is opened, one that is not a zip package is told apart
by :mod:`xltool.sniff`, and a zip package is read part by part, never inflating more than the limits below;
its XML parts are parsed with defusedxml (:mod:`xltool.xml_parts`). What stops the reading is a
:class:`ReadError` whose code and reason come from the findings catalogue.

Limits (beyond them: ``zip-bomb``): 64 MB for the file and for one part, 256 MB for all parts, checked on
the declared sizes before anything is inflated and again while inflating in chunks; one million XML
elements in one part and two million in all (about 500,000 and 1,000,000 cells), counted before a part
is parsed. DTDs and entity declarations are refused (``unreadable-file``).
"""

from __future__ import annotations

import contextlib
import errno
import io
import lzma
import os
import posixpath
import pyexpat
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from urllib.parse import unquote
from xml.etree.ElementTree import ParseError

from xltool.findings import CATALOGUE
from xltool.xml_parts import Memo, check_xml, count_elements, local, parse_xml


class ReadError(Exception):
    """The file cannot be read as a workbook: a finding ``code`` and its ``reason`` (a sub-code of the
    catalogue), with the ``params`` its wording needs. ``detail`` is that wording, in Chinese."""

    def __init__(self, code: str, reason: str, **params: object):
        self.code, self.reason, self.params = code, reason, params
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        return CATALOGUE[self.code].reasons.get(self.reason, "").format(**self.params)


MAX_FILE = 64 * 1024 * 1024  # a returned workbook is ~25 KB; a summary of thousands of agencies a few MB
MAX_ENTRY = 64 * 1024 * 1024  # bytes one zip entry may inflate to
MAX_TOTAL = 256 * 1024 * 1024  # bytes all entries together may inflate to
# An element costs about 250 bytes while its part is parsed, a cell (<c> and <v>) about 280 bytes once read:
MAX_ELEMENTS = 1_000_000  # XML elements in one part (about 500,000 cells): bounds the tree being parsed
MAX_TOTAL_ELEMENTS = 2_000_000  # XML elements in all parts read: bounds the cells kept
_CHUNK = 1024 * 1024
_MB = 1 << 20

_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_EXTERNAL_PREFIXES = ("xl/externallinks/", "xl/embeddings/", "xl/querytables/")


def read_file(path: Path) -> bytes:
    """The file's bytes, refusing one that is not a regular file or too large to be a report before reading it."""
    size = refuse_special_file(path).st_size
    if size > MAX_FILE:
        raise ReadError("zip-bomb", "file-too-large", limit_mb=MAX_FILE // _MB)
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE + 1)  # never more, even if the file grows meanwhile
    if len(data) > MAX_FILE:
        raise ReadError("zip-bomb", "file-too-large", limit_mb=MAX_FILE // _MB)
    return data


def os_error(exc: OSError) -> ReadError:
    """What a failure of the operating system to give the file's bytes means to the person who sent it."""
    if isinstance(exc, IsADirectoryError):
        return ReadError("unreadable-file", "folder")
    if isinstance(exc, FileNotFoundError):
        return ReadError("unreadable-file", "not-found")
    if isinstance(exc, PermissionError):
        return ReadError("unreadable-file", "no-permission")
    if exc.errno == errno.ELOOP:
        return ReadError("unreadable-file", "symlink-loop")
    return ReadError("unreadable-file", "io-error")


def refuse_special_file(path: Path) -> os.stat_result:
    """The file's status; :class:`ReadError` unless it is a regular file (after symbolic links).

    A named pipe would block the reader forever and a device (``/dev/zero``) would never end, so
    neither is opened. A folder raises ``IsADirectoryError``, as opening it would.
    """
    status = os.stat(path)
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(str(path))
    if not stat.S_ISREG(status.st_mode):
        raise ReadError("unreadable-file", "special-file")
    return status


# -- the zip package --------------------------------------------------------------------------------

# what zipfile and its decompressors raise on a damaged package (offsets, sizes or data that lie)
_DAMAGED = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, struct.error, NotImplementedError,
            UnicodeDecodeError, ValueError, OverflowError)


@contextlib.contextmanager
def zip_errors():
    """Inside: what zipfile raises for a damaged package becomes ``unreadable-file`` (damaged-zip)."""
    try:
        yield
    except _DAMAGED:
        raise ReadError("unreadable-file", "damaged-zip") from None


def open_package(data: bytes) -> Package:
    with zip_errors():
        package = Package(zipfile.ZipFile(io.BytesIO(data)))
    package.raw = data
    return package


_RELS, _CONTENT_TYPES = Memo(), Memo()


class Package:
    """The parts of a zip package, inflated within the limits; part names are case-insensitive."""

    def __init__(self, zf: zipfile.ZipFile):
        self.zip = zf
        self.entries: dict[str, zipfile.ZipInfo] = {}
        self.inflated = 0
        self.elements = 0
        self.raw: bytes | None = None  # the file's bytes, when the package was opened from them
        self.inflated_parts: dict[str, bytes] = {}
        infos = zf.infolist()
        total = 0
        for info in infos:
            if info.file_size > MAX_ENTRY:
                raise ReadError("zip-bomb", "part-too-large", part=info.filename, limit_mb=MAX_ENTRY // _MB)
            total += info.file_size
        if total > MAX_TOTAL:
            raise ReadError("zip-bomb", "total-too-large", limit_mb=MAX_TOTAL // _MB)
        for info in infos:
            self.entries[info.filename.replace("\\", "/").lstrip("/").lower()] = info

    def kind(self) -> str:
        """The part name of the workbook; :class:`ReadError` when the package is another kind of document."""
        if "mimetype" in self.entries:
            mimetype = self.inflate("mimetype", limit=256).strip()
            if mimetype.startswith(_ODS_MIMETYPE):
                raise ReadError("ods-file", "opendocument-spreadsheet")
            if mimetype.startswith(b"application/vnd.oasis.opendocument"):
                raise ReadError("not-a-workbook", "opendocument")
        book_part = self._office_document()
        if book_part is not None and book_part.endswith(".bin"):
            raise ReadError("not-a-workbook", "xlsb")
        if book_part is None:
            if "xl/workbook.bin" in self.entries:
                raise ReadError("not-a-workbook", "xlsb")
            if "word/document.xml" in self.entries:
                raise ReadError("not-a-workbook", "docx")
            if "ppt/presentation.xml" in self.entries:
                raise ReadError("not-a-workbook", "pptx")
            raise ReadError("unreadable-file", "no-workbook-part")
        return book_part

    def find(self, name: str) -> str | None:
        """The zip entry key of a part name (part names are case-insensitive)."""
        key = name.replace("\\", "/").lstrip("/").lower()
        if key in self.entries:
            return key
        key = unquote(key)
        return key if key in self.entries else None

    def inflate(self, key: str, limit: int = MAX_ENTRY) -> bytes:
        """Inflate one entry, in chunks, never past the limits whatever its header declares."""
        info = self.entries[key]
        if info.flag_bits & 0x1:
            raise ReadError("encrypted-file", "encrypted-zip")
        if limit == MAX_ENTRY and info.file_size <= _CHUNK:
            data = self.inflated_parts.get(key)
            if data is None:
                data = self._inflate_whole(info)
            if data is not None:  # what the loop below makes of an entry that fits in one chunk
                self.inflated_parts[key] = data
                self.inflated += len(data)
                if self.inflated > MAX_TOTAL:
                    raise ReadError("zip-bomb", "total-too-large", limit_mb=MAX_TOTAL // _MB)
                return data
        chunks = []
        size = 0
        with zip_errors(), self.zip.open(info) as stream:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                self.inflated += len(chunk)
                if size > MAX_ENTRY:
                    raise ReadError("zip-bomb", "part-too-large", part=info.filename, limit_mb=MAX_ENTRY // _MB)
                if self.inflated > MAX_TOTAL:
                    raise ReadError("zip-bomb", "total-too-large", limit_mb=MAX_TOTAL // _MB)
                chunks.append(chunk)
                if size > limit:
                    break
        return b"".join(chunks)

    def _inflate_whole(self, info: zipfile.ZipInfo) -> bytes | None:
        """A stored or deflated entry read straight from the file's bytes, when its local header, size and CRC
        are all as the central directory says; None otherwise, and zipfile reads it (and says what is wrong)."""
        raw = self.raw
        if raw is None or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) \
                or info.flag_bits & 0x61:  # encrypted, patched, strongly encrypted
            return None
        try:
            offset = info.header_offset
            header = raw[offset:offset + 30]
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                return None
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            name = raw[offset + 30:offset + 30 + name_length].decode("utf-8" if info.flag_bits & 0x800 else "cp437")
            if name != info.orig_filename:
                return None
            start = offset + 30 + name_length + extra_length
            data = raw[start:start + info.compress_size]
            if len(data) != info.compress_size:
                return None
            if info.compress_type == zipfile.ZIP_DEFLATED:
                data = zlib.decompressobj(-15).decompress(data, info.file_size + 1)
            if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
                return None
            return data
        except Exception:  # anything odd: zipfile reads it
            return None

    def xml(self, key: str, data: bytes | None = None):
        """A part's tree (parsed with defusedxml, within the element limits)."""
        return self.tree(key, self.counted(key, data))

    def tree(self, key: str, data: bytes):
        """The tree of a part's bytes already counted (:meth:`counted`)."""
        try:
            return parse_xml(data)
        except ParseError:
            raise ReadError("unreadable-file", "damaged-xml", part=self.entries[key].filename) from None

    def check(self, key: str, data: bytes) -> None:
        """Check bytes of a part (counted already) as :meth:`tree` would parse them, without building a tree."""
        try:
            check_xml(data)
        except pyexpat.ExpatError:
            raise ReadError("unreadable-file", "damaged-xml", part=self.entries[key].filename) from None

    def counted(self, key: str, data: bytes | None = None, elements: int | None = None) -> bytes:
        """A part's bytes, its elements counted against the limits (before anything parses it); ``elements``
        when the caller has counted them already (:func:`elements`)."""
        if data is None:
            data = self.inflate(key)
        if elements is None:
            elements = count_elements(data)
        self.elements += elements
        if elements > MAX_ELEMENTS:
            raise ReadError("zip-bomb", "part-too-many-elements", part=self.entries[key].filename,
                            limit_wan=MAX_ELEMENTS // 10000)
        if self.elements > MAX_TOTAL_ELEMENTS:
            raise ReadError("zip-bomb", "too-many-elements", limit_wan=MAX_TOTAL_ELEMENTS // 10000)
        return data

    # package level: relationships, content types

    def _office_document(self) -> str | None:
        if "_rels/.rels" in self.entries:
            for _, (rtype, target, mode) in self.rels("").items():
                if rtype.endswith("/officeDocument") and mode != "External":
                    found = self.find(target)
                    if found is not None:
                        return found
        return "xl/workbook.xml" if "xl/workbook.xml" in self.entries else None

    def rels(self, part: str) -> dict[str, tuple[str, str, str]]:
        """Relationships of ``part`` (``""`` for the package): Id -> (Type, resolved target, TargetMode)."""
        folder, base = posixpath.split(part)
        key = self.find(posixpath.join(folder, "_rels", base + ".rels"))
        if key is None:
            return {}
        data = self.counted(key)
        out = _RELS.get((folder, data))
        if out is None:
            out = {}
            for rel in self.tree(key, data):
                if local(rel.tag) != "Relationship":
                    continue
                target, mode = rel.get("Target", ""), rel.get("TargetMode", "Internal")
                if mode != "External":
                    target = target.lstrip("/") if target.startswith("/") else \
                        posixpath.normpath(posixpath.join(folder, target)).lstrip("/")
                out[rel.get("Id", "")] = (rel.get("Type", ""), target, mode)
            _RELS.put((folder, data), out, len(data))
        return dict(out)

    def related(self, rels: dict, type_suffix: str, book_part: str, default: str) -> str | None:
        for rtype, target, mode in rels.values():
            if rtype.endswith(type_suffix) and mode != "External":
                found = self.find(target)
                if found is not None:
                    return found
        return self.find(posixpath.join(posixpath.dirname(book_part), default))

    def parts_outside(self) -> tuple[bool, list[str]]:
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
            data = self.counted("[content_types].xml")
            declared = _CONTENT_TYPES.get(data)
            if declared is None:
                declared = False
                for item in self.tree("[content_types].xml", data):
                    content_type = (item.get("ContentType") or "").lower()
                    if "macroenabled" in content_type or "vbaproject" in content_type or "macrosheet" in content_type:
                        declared = True
                _CONTENT_TYPES.put(data, declared, len(data))
            macros = macros or declared
        for key in self.entries:
            if key.endswith(".rels"):
                data = self.inflate(key)
                if b"External" not in data:
                    continue
                for rel in self.xml(key, data):
                    if rel.get("TargetMode") == "External":
                        target = rel.get("Target", "")
                        if target not in external:
                            external.append(target)
        return macros, external
