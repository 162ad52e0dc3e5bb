"""What a file that is not a zip package is: legacy .xls, an encrypted workbook, another Office document, PDF,
HTML, XML, RTF or plain text. Such a file is refused with a :class:`~xltool.package.ReadError` that says
which, before anything tries to open it as a package.
"""

from __future__ import annotations

import codecs

from xltool.package import ReadError

_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def sniff(data: bytes) -> None:
    """Raise :class:`ReadError` unless ``data`` starts as a zip package; say what it is instead."""
    head = data[:4096]
    if not head:
        raise ReadError("unreadable-file", "empty")
    if head.startswith(_OLE_SIGNATURE):
        kind = _ole_kind(data)
        if kind == "encrypted-file":
            raise ReadError("encrypted-file", "encrypted-workbook")
        if kind == "legacy-xls":
            raise ReadError("legacy-xls", "biff")
        raise ReadError("not-a-workbook", "other-office")
    if not head.startswith(_ZIP_SIGNATURES):
        if head.startswith(b"%PDF"):
            raise ReadError("not-a-workbook", "pdf")
        kind = _sniff_text(head)
        if kind:
            raise ReadError("not-a-workbook", kind)
        raise ReadError("unreadable-file", "not-xlsx")


def _sniff_text(head: bytes) -> str | None:
    """The reason key when ``head`` is readable text (HTML, CSV, XML, plain text), else None."""
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
        return "html"
    if "urn:schemas-microsoft-com:office:spreadsheet" in lowered:
        return "xml-2003"
    if lowered.startswith("<?xml") or lowered.startswith("<"):
        return "xml"
    if lowered.startswith("{\\rtf"):
        return "rtf"
    return "text"


def _ole_kind(data: bytes) -> str:
    """``encrypted-file`` when an OLE2 compound file holds an ``EncryptionInfo`` stream, else what it is."""
    encrypted = "EncryptionInfo".encode("utf-16-le")
    books = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))  # BIFF8 and BIFF5 workbook streams
    if encrypted in data:
        return "encrypted-file"
    return "legacy-xls" if any(b in data for b in books) else "not-a-workbook"
