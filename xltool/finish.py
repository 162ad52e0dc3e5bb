"""A workbook xlsxwriter wrote, made final: a SHA-512 hash (ECMA-376 agile) on its sheet protection and its
structure locked (xlsxwriter writes only the legacy 16-bit hash), and the rows of its long sheets (a summary's
thousands of members) streamed into their XML instead of being held by xlsxwriter."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from functools import cache

from xltool.addresses import col_letter
from xltool.layout import ExtraSheet

DEFAULT_PASSWORD = "xltool"
PASSWORD_ENV = "XLTOOL_PASSWORD"
SPIN_COUNT = 100_000


def password_from_env(password: str | None) -> str:
    return password if password is not None else os.environ.get(PASSWORD_ENV, DEFAULT_PASSWORD)


def hash_password(password: str | None) -> None:
    """Work out the protection hash of ``password`` (100,000 rounds of SHA-512, about 0.1 s) ahead of the first
    workbook that needs it: a merge does it while its workers check, not at its end."""
    _protection_attributes(password_from_env(password), "sheet")


class _Behind:
    """Writes to ``stream`` a megabyte at a time, in a second thread: zlib lets go of the GIL while it
    compresses, so the next rows are made meanwhile. The thread ends with the ``with`` block; its errors are
    raised there."""

    BATCH = 1 << 20

    def __init__(self, stream) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.stream, self.parts, self.size = stream, [], 0
        self.thread, self.pending = ThreadPoolExecutor(1), None

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= self.BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        batch, self.parts, self.size = b"".join(self.parts), [], 0
        if self.pending is not None:
            self.pending.result()
        self.pending = self.thread.submit(self.stream.write, batch)

    def __enter__(self) -> _Behind:
        return self

    def __exit__(self, kind, *_) -> None:
        try:
            if kind is None:
                self._hand_over()
                self.pending.result()
        finally:
            self.thread.shutdown()


@cache
def _protection_attributes(password: str, salt_seed: str) -> str:
    """SHA-512 (ECMA-376 agile) hash attributes; computed once per password and salt."""
    salt = hashlib.sha256(f"xltool:{salt_seed}".encode()).digest()[:16]
    digest = hashlib.sha512(salt + password.encode("utf-16-le")).digest()
    for i in range(SPIN_COUNT):
        digest = hashlib.sha512(digest + i.to_bytes(4, "little")).digest()
    return (f'algorithmName="SHA-512" hashValue="{base64.b64encode(digest).decode()}" '
            f'saltValue="{base64.b64encode(salt).decode()}" spinCount="{SPIN_COUNT}"')


def finish(data: bytes, password: str | None, splices: Mapping[str, ExtraSheet],
           write_rows: Callable[[ExtraSheet, _Behind], None]) -> bytes:
    """xlsxwriter's ``data`` with a SHA-512 hash on every ``<sheetProtection>`` and the workbook structure locked;
    the sheets of ``splices`` (by part name) get their rows from ``write_rows``, after their header row."""
    attrs = _protection_attributes(password_from_env(password), "sheet")
    book_attrs = attrs.replace('algorithmName=', 'workbookAlgorithmName=').replace(
        'hashValue=', 'workbookHashValue=').replace('saltValue=', 'workbookSaltValue=').replace(
        'spinCount=', 'workbookSpinCount=')
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            part = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet"):
                part = part.replace(b"<sheetProtection ", f"<sheetProtection {attrs} ".encode(), 1)
                if info.filename in splices:
                    sheet = splices[info.filename]
                    extent = f'<dimension ref="A1:{col_letter(len(sheet.header) - 1)}{sheet.count + 1}"/>'
                    part = re.sub(rb'<dimension ref="[^"]*"/>', extent.encode(), part, count=1)
                    head, tail = part.split(b"</row></sheetData>", 1)
                    with dst.open(info, "w") as stream:
                        stream.write(head + b"</row>")
                        with _Behind(stream) as rows:
                            write_rows(sheet, rows)
                        stream.write(b"</sheetData>" + tail)
                    continue
            elif info.filename == "xl/workbook.xml":
                part = part.replace(b"<bookViews>",
                                    f'<workbookProtection {book_attrs} lockStructure="1"/><bookViews>'.encode(), 1)
            dst.writestr(info, part)
    return out.getvalue()
