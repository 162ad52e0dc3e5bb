"""Read a returned workbook in one pass: the only module that parses ``.xlsx`` files.

The package is read directly (:mod:`xltool.package`: zipfile within limits; :mod:`xltool.xml_parts`:
defusedxml), not through openpyxl: one parse gives everything the checker compares (cells with their formulas
and values, locks, merges, validations, conditional formats, protection, sheet states, defined names, metadata)
at a fraction of openpyxl's cost, and the reader controls every byte it inflates. Nothing a part refers to
outside the package (external links, OLE objects, connections) is ever opened: such parts are listed in
``external_parts``.

Every part is checked by expat (with defusedxml's guards) exactly as if it were parsed whole, but what differs
from file to file — a sheet's cells, the shared strings — is scanned from the text (:mod:`xltool.xml_scan`,
:mod:`xltool.sheet_parser`), and what is the same bytes in every file of a batch (a sheet's validations, merges
and conditional formats, the styles, the workbook's sheets and names) is parsed once and remembered, within
bounds (:class:`Memo`).

Anything that is not a readable workbook raises :class:`ReadError`, with a finding code and reason. What
the bytes of a file can provoke in the libraries below (a damaged zip or XML) is such a ReadError; any
other exception is a bug in xltool and is left to propagate, so that it is reported as one.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from pathlib import Path

from defusedxml import DefusedXmlException

from xltool.layout import META_SHEET
from xltool.package import Package, ReadError, open_package, os_error, read_file
from xltool.sheet_parser import SheetParser, string_item
from xltool.sniff import sniff
from xltool.workbook_data import SheetData, WorkbookData
from xltool.xml_parts import Memo, attr_id, attrs, count_elements, namespace, root_content, split_element
from xltool.xml_scan import Unsupported, scan_strings

SCAN = True  # scan cells and shared strings from the text; False parses every part as a tree (the tests compare)

# What the parts that describe a workbook gave, by their bytes: the same in every file of a batch.
_WORKBOOKS, _STYLES, _SHEETS, _HEADS = Memo(), Memo(), Memo(max_bytes=32 << 20), Memo()
_CHECKED = Memo(max_items=256, recurring=True)  # sheets' cells that expat found well-formed, when they come again
# Sheets read, when their name, state and bytes come again: (the bytes, SheetData, its elements, the styles and the
# shared strings it read). The SheetData is shared by every file that has it: nothing changes a SheetData once read.
_READ = Memo(max_size=256 << 10, max_bytes=4 << 20, max_items=32, recurring=True)

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
        data = package.counted(book_part)
        found = _WORKBOOKS.get(data)
        if found is None:
            book = package.tree(book_part, data)
            found = self._workbook(book, namespace(book))
            _WORKBOOKS.put(data, found, len(data))
        sheet_refs, defined, local_names, protection = found
        defined, local_names = dict(defined), dict(local_names)
        protection = dict(protection) if protection is not None else None
        strings = self._shared_strings(package.related(rels, "/sharedStrings", book_part, "sharedStrings.xml"))
        styles = self._styles(package.related(rels, "/styles", book_part, "styles.xml"))

        sheets: list[SheetData] = []
        for name, state, rid in sheet_refs:
            rel = rels.get(rid) if rid else None
            part = package.find(rel[1]) if rel and rel[2] != "External" else None
            if part is None:
                raise ReadError("unreadable-file", "missing-sheet-part", sheet=name, part=rel[1] if rel else name)
            sheets.append(self._sheet(name, state, part, strings, styles))
        return WorkbookData(path=self.path, sheets=sheets, defined_names=defined, local_names=local_names,
                            workbook_protection=protection, macros=macros, external_parts=external,
                            meta=_meta(sheets))

    def _sheet(self, name: str, state: str, part: str, strings: list[str], styles: list[tuple[bool, bool]]) -> SheetData:
        """One worksheet. Its cells are scanned from the text (:meth:`SheetParser.scan`) and the rest of it is
        parsed once per distinct bytes; expat checks the rest and the cells apart, which together is the whole
        part. What the scan does not cover is parsed as one tree, as is a part that cannot be split.

        A sheet whose bytes came before (a check sheet, a cover: the same in every file of a batch) is the
        same :class:`SheetData` as before, when the shared strings and styles it read are the same too."""
        package = self.package
        data = package.inflate(part)
        if not SCAN:
            package.counted(part, data)
            return SheetParser(name, state, package.tree(part, data), strings, styles).parse()
        key = (name, state, len(data), package.entries[part].CRC)  # the zip's checksum of the bytes: a cheap key
        known = _READ.get(key)
        if known is not None and known[0] == data and known[3] == styles and _same_strings(known[4], strings):
            package.counted(part, data, known[2])
            return known[1]
        split = split_element(data, b"sheetData")
        if split is None:
            elements = count_elements(data)
            package.counted(part, data, elements)
        else:
            begin, end, cells, fragment = split
            view = memoryview(data)
            head, tail = view[:begin], view[end:]
            rest_key = (begin, len(data) - end, zlib.crc32(head), zlib.crc32(tail))
            rest = _SHEETS.get(rest_key)
            inner = count_elements(data, begin, end)
            if rest is None or not (data.startswith(rest["head"]) and data.endswith(rest["tail"])):  # bytes: memcmp
                elements = count_elements(data)
                package.counted(part, data, elements)  # the limits, before anything is parsed
                head, tail = bytes(head), bytes(tail)
                rest = {"root": package.tree(part, head + b"<sheetData/>" + tail), "head": head, "tail": tail,
                        "elements": elements - inner}
                _SHEETS.put(rest_key, rest, len(data))
            else:
                elements = rest["elements"] + inner
                package.counted(part, data, elements)
            if fragment not in _CHECKED:  # a sheet's cells that come again in every file are checked twice
                package.check(part, fragment)
                _CHECKED.put(fragment, True, len(fragment))
            parser = SheetParser(name, state, rest["root"], strings, styles, cells, rest)
            try:
                sheet = parser.parse()
            except Unsupported:
                split = None
        if split is None:
            parser = SheetParser(name, state, package.tree(part, data), strings, styles)
            sheet = parser.parse()
        _READ.put(key, (data, sheet, elements, styles, tuple(parser.strings_used.items())), len(data))
        return sheet

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
        package = self.package
        data = package.counted(key)
        found = root_content(data, b"sst") if SCAN else None
        if found is not None:  # checked piece by piece: the pieces seen before in a batch are not checked again
            head, content = found
            if head not in _HEADS:
                package.check(key, head + b"</sst>")
                _HEADS.put(head, True, len(head))
            strings = scan_strings(content, lambda text: package.check(key, head + text.encode("utf-8") + b"</sst>"))
            if strings is not None:
                return strings
        package.check(key, data)
        root = package.tree(key, data)
        ns = namespace(root)
        si, t, r = ns + "si", ns + "t", ns + "r"
        return [string_item(item, t, r) for item in root if item.tag == si]

    def _styles(self, key: str | None) -> list[tuple[bool, bool]]:
        """(locked, date_style) of every cellXfs entry."""
        if key is None:
            return []
        data = self.package.counted(key)
        found = _STYLES.get(data)
        if found is None:
            found = self._parse_styles(self.package.tree(key, data))
            _STYLES.put(data, found, len(data))
        return list(found)

    @staticmethod
    def _parse_styles(root) -> tuple[tuple[bool, bool], ...]:
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
        return tuple(xfs)



def _same_strings(used: tuple[tuple[int, str], ...], strings: list[str]) -> bool:
    try:
        return all(strings[i] == text for i, text in used)
    except IndexError:
        return False


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
