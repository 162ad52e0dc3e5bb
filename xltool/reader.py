"""Read a returned workbook in one pass: the only module that parses ``.xlsx`` files.

The package is read directly (:mod:`xltool.package`: zipfile within limits, defusedxml), not through
openpyxl: one parse gives everything the checker compares (cells with their formulas and values, locks,
merges, validations, conditional formats, protection, sheet states, defined names, metadata) at a
fraction of openpyxl's cost, and the reader controls every byte it inflates. Nothing a part refers to
outside the package (external links, OLE objects, connections) is ever opened: such parts are listed in
``external_parts``.

Anything that is not a readable workbook raises :class:`ReadError`, with a finding code and reason. What
the bytes of a file can provoke in the libraries below (a damaged zip or XML) is such a ReadError; any
other exception is a bug in xltool and is left to propagate, so that it is reported as one.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from defusedxml import DefusedXmlException

from xltool.layout import META_SHEET
from xltool.package import Package, ReadError, attr_id, attrs, namespace, open_package, os_error, read_file, sniff
from xltool.sheet_parser import SheetParser, string_item
from xltool.workbook_data import SheetData, WorkbookData

_DATE_FORMAT_IDS = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])


def read_workbook(path: Path, data: bytes | None = None) -> WorkbookData:
    """Read ``path`` (or ``data``, its bytes, when the caller has read them already); raise
    :class:`ReadError` for anything that is not a readable ``.xlsx`` workbook."""
    try:
        if data is None:
            data = read_file(Path(path))
        sniff(data)
        return _Reader(Path(path), open_package(data)).read()
    except OSError as exc:
        raise os_error(exc) from None
    except DefusedXmlException:
        raise ReadError("unreadable-file", "forbidden-xml") from None
    except MemoryError:
        raise ReadError("zip-bomb", "out-of-memory") from None


_QUOTED_OR_ESCAPED = re.compile(r'"[^"]*"|\\.|_.|\*.', re.S)
_BRACKETS = re.compile(r"\[([^\]]*)\]")


@lru_cache(maxsize=1024)
def _is_date_format(code: str) -> bool:
    """True when a number format code shows a number as a date or a time (``yyyy-mm-dd``, ``[h]:mm``)."""
    text = _QUOTED_OR_ESCAPED.sub("", code)
    # [Red], [$-804], [DBNum1], [>=100] are not date parts; [h], [mm], [ss] (elapsed time) are
    text = _BRACKETS.sub(lambda m: m.group(1) if re.fullmatch(r"[hHmMsS]+", m.group(1)) else "", text)
    return bool(re.search(r"[ymdhs]|aaa", text.lower()))  # "General", "0.00", "#,##0", "@" have none



def _meta_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)



class _Reader:
    def __init__(self, path: Path, package: Package):
        self.path = path
        self.package = package

    def read(self) -> WorkbookData:
        package = self.package
        book_part = package.kind()
        macros, external = package.parts_outside()
        rels = package.rels(book_part)
        book = package.xml(book_part)
        sheet_refs, defined, local_names, protection = self._workbook(book, namespace(book))
        del book
        strings = self._shared_strings(package.related(rels, "/sharedStrings", book_part, "sharedStrings.xml"))
        styles = self._styles(package.related(rels, "/styles", book_part, "styles.xml"))

        sheets: list[SheetData] = []
        for name, state, rid in sheet_refs:
            rel = rels.get(rid) if rid else None
            part = package.find(rel[1]) if rel and rel[2] != "External" else None
            if part is None:
                raise ReadError("unreadable-file", "missing-sheet-part", sheet=name, part=rel[1] if rel else name)
            sheets.append(SheetParser(name, state, package.xml(part), strings, styles).parse())
        return WorkbookData(path=self.path, sheets=sheets, defined_names=defined, local_names=local_names,
                            workbook_protection=protection, macros=macros, external_parts=external,
                            meta=_meta(sheets))

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
                        sheets.append((sheet.get("name", ""), sheet.get("state") or "visible", attr_id(sheet)))
            elif tag == ns + "definedNames":
                names = [n for n in child if n.tag == ns + "definedName"]
            elif tag == ns + "workbookProtection":
                protection = attrs(child)
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
        root = self.package.xml(key)
        ns = namespace(root)
        si, t, r = ns + "si", ns + "t", ns + "r"
        return [string_item(item, t, r) for item in root if item.tag == si]

    def _styles(self, key: str | None) -> list[tuple[bool, bool]]:
        """(locked, date_style) of every cellXfs entry."""
        if key is None:
            return []
        root = self.package.xml(key)
        ns = namespace(root)
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



def _meta(sheets: list[SheetData]) -> dict[str, str]:
    """The ``_xltool`` sheet's column A/B rows as key -> value text."""
    sheet = next((s for s in sheets if s.name == META_SHEET), None)
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
