"""One worksheet part into :class:`SheetData`: cells with their formulas, values and locks, merges,
validations, conditional formats and protection.

A worksheet's cells (its ``<sheetData>``) differ from file to file; the rest of it (validations, conditional
formats, merges, protection) is usually the same bytes in every file of a batch. The reader therefore hands
the cells over as text, scanned here (:meth:`SheetParser.scan`: split at ``<row `` and ``<c ``, each cell's
text matched and remembered, since most come again in the next file) after expat has checked that text, and
parses the rest once per distinct bytes. The scan covers the XML that spreadsheet programs write; anything
else in ``<sheetData>`` (comments, CDATA, other elements or attribute orders, prefixes) makes it give up, and
the part is parsed as a tree instead. Both ways give the same :class:`SheetData` (tests/test_speed.py).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from xltool.addresses import address, parse_cell, parse_range
from xltool.package import Memo, ReadError, attrs, local, namespace
from xltool.workbook_data import CellData, ErrorValue, SheetData, Validation

MAX_EXPAND = 100_000  # cells a validation range is expanded to before it is clipped to the used area
MAX_SHEET_VALIDATION_CELLS = 200_000  # cells all validations of one sheet are expanded to, at most

_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape(text: str) -> str:
    """Undo OOXML's ``_xHHHH_`` escapes of characters XML cannot hold (``_x000D_`` is a carriage return)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


@lru_cache(maxsize=4096)
def _ranges(sqref: str | None) -> tuple[tuple[int, int, int, int], ...]:
    """The ranges of a space-separated ``sqref``; unreadable parts are skipped."""
    return tuple(r for r in map(parse_range, (sqref or "").split()) if r is not None)


def string_item(element, t_tag: str, r_tag: str) -> str:
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
    return unescape(text)


# -- the cells of a worksheet, scanned from its text ----------------------------------------------------

# Attributes of a start tag: quoted values may hold ">" but never "<" (expat checked the part before any scan).
_ATTRS = r"""(?:\s+[^\s=/>"']+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*\s*"""


def _element(names: str) -> re.Pattern:
    """One element of these names: (name, attribute text, content or None when it is empty)."""
    return re.compile(rf"<({names})({_ATTRS})(?:/>|>(.*?)</\1\s*>)", re.S)


# The rows and cells as spreadsheet programs write them, <row r="…" …> and <c r="…" s="…" t="…">, each
# after the text is split at "<row " and "<c " (neither can stand in text or in an attribute value).
_ROW_START = re.compile(rf'r="([0-9]+)"{_ATTRS}(/?)>')
_ROW_END = re.compile(r"</row\s*>[^<]*\Z")  # matched where the last "</row" of a row's text stands
_CELL_PIECE = re.compile(r'r="([A-Za-z]{1,3}[0-9]{1,7})"(?: s="([0-9]+)")?(?: t="([A-Za-z]+)")?\s*'
                         r"(?:/>|>(.*)</c\s*>)[^<]*", re.S)
_PLAIN_BODY = re.compile(rf"(?:<f({_ATTRS})(?:/>|>([^<]*)</f\s*>))?(?:<v\s*(?:/>|>([^<]*)</v\s*>))?")
_INLINE_BODY = re.compile(rf"<is\s*><t{_ATTRS}(?:/>|>([^<]*)</t\s*>)</is\s*>")
_CELL_CHILD = _element("v|f|is")
_STRING_CHILD, _RUN_CHILD = _element("t|r|rPh|phoneticPr"), _element("t|rPr")
_ATTRIBUTE = re.compile(r"""\s+([^\s=/>"']+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
_REFERENCE = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|amp|lt|gt|quot|apos);")
_PREDEFINED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


class _Unsupported(Exception):
    """Text the scan does not cover: the part is parsed as a tree."""


def _reference(m: re.Match) -> str:
    ref = m.group(1)
    if ref[0] == "#":
        return chr(int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:]))
    return _PREDEFINED[ref]


def xml_text(raw: str) -> str:
    """Character data as expat gives it: line ends normalised, then references replaced."""
    if "\r" in raw:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    return _REFERENCE.sub(_reference, raw) if "&" in raw else raw


def _attribute_value(raw: str) -> str:
    """An attribute value as expat gives it: white space normalised to spaces, then references replaced."""
    if "\r" in raw or "\n" in raw or "\t" in raw:
        raw = raw.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return _REFERENCE.sub(_reference, raw) if "&" in raw else raw


def _attributes(text: str) -> dict[str, str]:
    """The unprefixed attributes of a start tag's attribute text (a prefixed one is another attribute); the
    same dictionary for the same text (callers only read it)."""
    found = _ATTRIBUTE_TEXTS.get(text)
    if found is None:
        found = {m.group(1): _attribute_value(m.group(2) if m.group(2) is not None else m.group(3))
                 for m in _ATTRIBUTE.finditer(text) if ":" not in m.group(1)}
        _memo(_ATTRIBUTE_TEXTS, text, found)
    return found


def _children(pattern: re.Pattern, body: str | None):
    """The child elements in ``body`` (name, attribute text, content), which must all match ``pattern``. Text
    between them is skipped, as a tree's element iteration skips it."""
    if not body:
        return
    pos = body.find("<")
    while pos >= 0:
        m = pattern.match(body, pos)
        if m is None:
            raise _Unsupported
        yield m.group(1), m.group(2), m.group(3)
        pos = body.find("<", m.end())


def _text_only(content: str | None) -> str | None:
    """The text of an element that holds only text (None when it is empty, as a tree gives it)."""
    if not content:
        return None
    if "<" in content:
        raise _Unsupported
    return xml_text(content)


def _string_item_text(content: str | None) -> str:
    """:func:`string_item` of an ``<si>`` or ``<is>``, from its content."""
    found = _STRING_TEXTS.get(content)
    if found is None:
        parts = []
        for name, _, child in _children(_STRING_CHILD, content):
            if name == "t":
                parts.append(_text_only(child) or "")
            elif name == "r":
                for run_name, _, run_child in _children(_RUN_CHILD, child):
                    if run_name == "t":
                        parts.append(_text_only(run_child) or "")
        found = unescape("".join(parts))
        _memo(_STRING_TEXTS, content, found)
    return found


# What texts of the XML give, for the next file with the same text (labels are the same in every file).
# Short texts only, and a bounded number of them: no file can fill the memory through them.
_ATTRIBUTE_TEXTS: dict[str, dict[str, str]] = {}
_STRING_TEXTS: dict[str | None, str] = {}
_MAX_MEMO_TEXT, _MAX_MEMO_ITEMS = 1024, 20_000


def _memo(table: dict, key: str | None, value: object) -> None:
    if key is None or len(key) <= _MAX_MEMO_TEXT:
        if len(table) >= _MAX_MEMO_ITEMS:
            table.clear()
        table[key] = value


def _cell_body(body: str) -> tuple[str | None, tuple | None, str | None]:
    """(``<v>`` text, ``<f>`` (text, attributes), ``<is>`` text) of a cell's content."""
    m = _PLAIN_BODY.fullmatch(body)
    if m is not None:
        f = (_text_only(m.group(2)), _attributes(m.group(1))) if m.group(1) is not None else None
        return _text_only(m.group(3)), f, None
    m = _INLINE_BODY.fullmatch(body)
    if m is not None:
        return None, None, unescape(xml_text(m.group(1))) if m.group(1) else ""
    v = f = inline = None
    for name, child_attrs, child in _children(_CELL_CHILD, body):
        if name == "v":
            v = _text_only(child)
        elif name == "f":
            f = (_text_only(child), _attributes(child_attrs))
        else:
            inline = _string_item_text(child)
    return v, f, inline


_PIECES: dict[str, tuple] = {}  # the text of a cell -> what it holds (label cells are the same in every file)


def _cell_piece(piece: str) -> tuple:
    """(``r``, its position or None, ``s``, its value (:data:`_SHARED` for a shared string), ``<v>`` text,
    ``<f>`` (text, attributes) or None) of the text of one cell after ``<c ``."""
    c = _CELL_PIECE.fullmatch(piece)
    if c is None:
        raise _Unsupported
    ref, s, t, body = c.groups()
    v = f = inline = None
    if body:
        raw = body[3:-4]
        if body.startswith("<v>") and body.endswith("</v>") and "<" not in raw:
            v = (xml_text(raw) if "&" in raw or "\r" in raw else raw) if raw else None
        else:
            v, f, inline = _cell_body(body)
    return ref, parse_cell(ref), s, _value(t, v, inline), v, f


def _value_piece(piece: str) -> tuple | None:
    """What :func:`_cell_piece` gives of a cell whose text ends with its value (``r="D7" s="5"><v>12</v></c>``,
    or ``…><f>SUM(D7:I7)</f><v>60</v></c>``), what comes before the value looked up in the memo: the value
    changes from file to file, the rest of a cell does not."""
    k = piece.rfind("<v>")
    if k < 0:
        return None
    raw = piece[k + 3:-8]
    if not raw or "<" in raw:
        return None
    head = piece[:k]
    found = _HEADS.get(head)
    if found is None:
        if head.endswith(">") and "<" not in head:  # the start tag alone
            m = _CELL_HEAD.fullmatch(head)
            if m is None:
                return None
            found = (m.group(1), parse_cell(m.group(1)), m.group(2), m.group(3), None)
        else:  # the start tag and a formula
            m = _CELL_PIECE.fullmatch(head + "</c>")
            if m is None or not m.group(4):
                return None
            try:
                v, f, inline = _cell_body(m.group(4))
            except _Unsupported:
                return None
            if v is not None or inline is not None or f is None:
                return None
            found = (m.group(1), parse_cell(m.group(1)), m.group(2), m.group(3), f)
        _memo(_HEADS, head, found)
    ref, p, s, t, f = found
    v = xml_text(raw) if "&" in raw or "\r" in raw else raw
    return ref, p, s, _value(t, v, None), v, f


_CELL_HEAD = re.compile(r'r="([A-Za-z]{1,3}[0-9]{1,7})"(?: s="([0-9]+)")?(?: t="([A-Za-z]+)")?\s*>')
_HEADS: dict[str, tuple] = {}  # a cell's text before its value -> (r, position, s, t, <f>)
# The cells of a <sheetData> whose text comes again (a sheet without values: checks, explanations, a cover of
# shared strings): (position, value or _SHARED, shared string index, formula, s) of each, in order.
_CONTENTS = Memo(max_size=1 << 20, max_bytes=16 << 20, max_items=64, recurring=True)
_SHARED = object()  # a cell's value is a shared string: looked up in each file's own table


def _value(t: str | None, v: str | None, inline: str | None) -> object:
    """A cell's value from its ``t`` attribute, ``<v>`` text and ``<is>`` text; :data:`_SHARED` for a shared
    string (the index is ``v``)."""
    if inline is not None and (t == "inlineStr" or v is None):
        return inline
    if not v:
        return None
    if t is None or t == "n":
        try:
            number = float(v)
        except ValueError:
            return v
        return number if math.isfinite(number) else ErrorValue("#NUM!")  # "NaN", "INF", "1E999": Excel's #NUM!
    if t == "s":
        return _SHARED
    if t == "b":
        return {"1": True, "0": False, "true": True, "false": False}.get(v.strip().lower(), v)
    if t == "e":
        return ErrorValue(v)
    if t == "str" or t == "inlineStr":
        return unescape(v)
    return v  # "d" (ISO 8601 text) and anything unknown: the text as stored


def _plain(text: str) -> bool:
    """True when ``text`` holds no comment, CDATA section, processing instruction or namespace declaration."""
    return "<!" not in text and "<?" not in text and "xmlns" not in text


def scan_strings(content: str, check) -> list[str] | None:
    """The shared strings of an ``<sst>`` element's content, split at ``<si>``; None when the scan does not cover
    it. ``check(text)`` checks that a piece of the content is well-formed where it stands (it raises if not):
    each piece not seen before, so that the pieces checked make up the whole content."""
    if not _plain(content):
        return None
    pieces = content.split("<si>")
    if "<" in pieces[0]:
        return None  # an element other than <si>
    if pieces[0].strip(" \t\r\n"):
        check(pieces[0])
    out = []
    try:
        for piece in pieces[1:]:
            text = _SI_PIECES.get(piece)
            if text is None:
                m = _SI_PIECE.fullmatch(piece)
                if m is None:
                    return None
                check("<si>" + piece)
                text = _string_item_text(m.group(1))
                _memo(_SI_PIECES, piece, text)
            out.append(text)
    except _Unsupported:
        return None
    return out


_SI_PIECE = re.compile(r"(.*?)</si\s*>[^<]*", re.S)
_SI_PIECES: dict[str, str] = {}  # the text of a shared string (checked well-formed) -> the string


Unsupported = _Unsupported


_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?\s*(?:<\?xml(\s[^>]*?)?\?>)?\s*")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_ROOT_TAG = re.compile(rb"""<([^\s/>!?]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(/?)>""")
_START_TAG_REST = re.compile(rb"""((?:\s+[^\s=/>]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(/?)>""")


def _utf8_prolog(data: bytes) -> int | None:
    """Where the document after its XML declaration starts, when it is UTF-8 (declared or by default)."""
    m = _DECLARATION.match(data)
    declaration = m.group(1)
    if declaration:
        encoding = _ENCODING.search(declaration)
        if encoding and encoding.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            return None
    return m.end()


def split_element(data: bytes, name: bytes) -> tuple[int, int, str, bytes] | None:
    """Where a part's one unprefixed element ``name``, a child of the root, begins and where it ends (the part
    without it is ``data[:begin] + b"<name/>" + data[end:]``), its content as text, and a document of the
    prolog, the root's start tag and that element alone. The part is well-formed exactly when the part
    without it and that document are. None unless the part is UTF-8, its root comes first, and ``name``
    occurs once, never with a prefix, declaring no namespace."""
    start = _utf8_prolog(data)
    if start is None or data.count(name) != 2:  # its start and end tags (or <name/> and something else): once
        return None
    root = _ROOT_TAG.match(data, start)
    if root is None or root.group(3) or b":" in root.group(1):
        return None
    begin = data.find(b"<" + name)
    if begin < root.end():
        return None
    m = _START_TAG_REST.match(data, begin + 1 + len(name))
    if m is None or b"xmlns" in m.group(1) or m.group(2):  # <name/>, and the other occurrence elsewhere
        return None
    close = data.find(b"</" + name, m.end())
    if close < 0:
        return None
    end = data.find(b">", close)
    if data[close + 2 + len(name):end].strip(b" \t\r\n"):
        return None
    try:
        text = data[m.end():close].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return begin, end + 1, text, data[:root.end()] + data[begin:end + 1] + b"</" + root.group(1) + b">"


def root_content(data: bytes, name: bytes) -> tuple[bytes, str] | None:
    """The prolog and start tag of the root element ``name`` (unprefixed, first in the part, declaring no
    namespace but the default one), and its content as text; None when the part is not that simple."""
    start = _utf8_prolog(data)
    if start is None or not data.startswith(b"<" + name, start):
        return None
    m = _START_TAG_REST.match(data, start + 1 + len(name))
    if m is None or b"xmlns:" in m.group(1) or data.count(b"<" + name) != 1 or m.group(2):
        return None
    close = data.rfind(b"</" + name)
    if close < 0 or data[close + 2 + len(name):].strip(b" \t\r\n") != b">":
        return None
    try:
        return data[:m.end()], data[m.end():close].decode("utf-8")
    except UnicodeDecodeError:
        return None


class SheetParser:
    """One worksheet part -> :class:`SheetData`.

    ``root`` is the part's tree. When the reader split the cells off (:func:`split_element`), ``root`` is the
    part with an empty ``<sheetData/>`` in their place and ``cells`` is their text, for :meth:`scan`; ``rest``, a dictionary kept by the
    reader for the bytes of that rest, remembers what it gave (merges, protection, validations, conditional
    formats), so that the next file with the same bytes does not work it out again.
    """

    def __init__(self, name: str, state: str, root, strings: list[str], styles: list[tuple[bool, bool]],
                 cells: str | None = None, rest: dict | None = None):
        self.sheet = SheetData(name, state, default_locked=styles[0][0] if styles else True)
        self.root, self.strings, self.styles = root, strings, styles
        self.ns = namespace(root)
        self.scanned, self.rest = cells, rest
        self.used_cells = False  # whether what the rest gave depends on the cells (a clipped validation)
        default_style = styles[0] if styles else (True, False)
        self.default_style = default_style
        self.style_of: dict[str | None, tuple[bool, bool]] = {None: default_style}
        self.masters: dict[str, tuple[str, str]] = {}  # shared formula index -> (formula, origin cell)
        self.dependents: list[tuple[CellData, str, str]] = []  # cells of a shared formula, to expand

    def parse(self) -> SheetData:
        ns, sheet, rest = self.ns, self.sheet, self.rest
        if rest is not None and "merged" in rest:  # the same rest as before: only the cells are new
            if rest["sheet_data"] and self.scanned is not None:
                self.scan(self.scanned)
            sheet.merged = set(rest["merged"])
            sheet.protection = dict(rest["protection"]) if rest["protection"] is not None else None
            sheet.validations = list(rest["validations"])
            sheet.conditional_formulas = {k: list(v) for k, v in rest["conditional"].items()}
            self.root = None
            return sheet
        validations, ext = [], None
        seen_sheet_data = False
        for child in self.root:
            tag = child.tag
            if tag == ns + "sheetData":
                if self.scanned is not None:
                    seen_sheet_data = True
                    self.scan(self.scanned)
                else:
                    self._cells(child)
            elif tag == ns + "mergeCells":
                for merge in child:
                    r = parse_range(merge.get("ref", ""))
                    if r is not None:
                        sheet.merged.add(r)
            elif tag == ns + "sheetProtection":
                sheet.protection = attrs(child)
            elif tag == ns + "dataValidations":
                validations.extend(v for v in child if v.tag == ns + "dataValidation")
            elif tag == ns + "conditionalFormatting":
                self._conditional(child.get("sqref"), [r for r in child if r.tag == ns + "cfRule"], ns + "formula")
            elif tag == ns + "extLst":
                ext = child
        ext_validations = []
        if ext is not None:  # x14 extensions: validations and conditional formats that refer to other sheets
            for element in ext.iter():
                kind = local(element.tag)
                if kind == "dataValidation":
                    ext_validations.append(element)
                elif kind == "conditionalFormatting":
                    sqref = next((e.text for e in element if local(e.tag) == "sqref"), None)
                    self._conditional(sqref, [r for r in element if local(r.tag) == "cfRule"], None)
        if validations or ext_validations:
            self._validations(validations, ext_validations)
        if rest is not None and not self.used_cells:
            rest.update(sheet_data=seen_sheet_data, merged=frozenset(sheet.merged),
                        protection=dict(sheet.protection) if sheet.protection is not None else None,
                        validations=tuple(sheet.validations),
                        conditional={k: tuple(v) for k, v in sheet.conditional_formulas.items()})
        self.root = None
        return sheet

    def _style(self, s: str | None) -> tuple[bool, bool]:
        style = self.style_of.get(s)
        if style is None:
            try:
                style = self.styles[int(s)]
            except (ValueError, IndexError):
                style = self.default_style
            self.style_of[s] = style
        return style

    def scan(self, content: str) -> None:
        """The cells of a ``<sheetData>`` from its content (the part checked by expat), as :meth:`_cells` makes
        them of the same elements; :class:`Unsupported` for rows or cells written otherwise than spreadsheet
        programs write them (and for comments, CDATA, processing instructions, namespace declarations)."""
        cells, style_of = self.sheet.cells, self.style_of
        known = _CONTENTS.get(content)
        if known is not None:  # the same cells as in an earlier file: only shared strings are its own
            for p, value, v, formula, s in known:
                style = style_of.get(s) or self._style(s)
                cells[p] = CellData(self._shared(v) if value is _SHARED else value, formula, style[0], style[1])
            return
        if not _plain(content):
            raise _Unsupported
        self.masters, self.dependents = {}, []  # shared formulas of this <sheetData>
        shared: dict[tuple[int, int], str] = {}  # cells of shared strings: their index
        styles_of: dict[tuple[int, int], str | None] = {}  # every cell's s
        rows = content.split("<row ")
        if "<" in rows[0]:
            raise _Unsupported  # an element before the first row
        for row in rows[1:]:
            m = _ROW_START.match(row)
            if m is None:
                raise _Unsupported
            row_index, col_index = int(m.group(1)) - 1, -1
            start = m.end()
            if m.group(2):  # <row …/>
                if row.find("<", start) >= 0:
                    raise _Unsupported
                continue
            end = row.rfind("</row")
            if end < start or not _ROW_END.match(row, end):
                raise _Unsupported
            pieces = row[start:end].split("<c ")
            if "<" in pieces[0]:
                raise _Unsupported  # an element before the row's first cell
            del pieces[0]
            for piece in pieces:
                parsed = _PIECES.get(piece)
                if parsed is None:
                    parsed = _value_piece(piece) if piece.endswith("</v></c>") else None
                    if parsed is None:
                        parsed = _cell_piece(piece)
                        _memo(_PIECES, piece, parsed)
                    elif parsed[3] is _SHARED:  # a label: the same text in every file of the template
                        _memo(_PIECES, piece, parsed)
                ref, p, s, value, v, f = parsed
                if p is None:
                    col_index += 1
                    p = (row_index, col_index)
                    ref = address(row_index, col_index)
                else:
                    row_index, col_index = p
                style = style_of.get(s) or self._style(s)
                styles_of[p] = s
                if value is _SHARED:
                    shared[p] = v
                    value = self._shared(v)
                cell = cells[p] = CellData(value, None, style[0], style[1])
                if f is not None:
                    a = f[1]
                    self._formula(cell, ref, f[0], a.get("t"), a.get("si"), a.get("r1"), a.get("r2"))
        if self.dependents:
            self._expand_shared(self.masters, self.dependents)
        if _CONTENTS.again(content) and len(styles_of) == len(cells) == content.count("<c "):
            _CONTENTS.put(content, tuple((p, _SHARED if p in shared else c.value, shared.get(p), c.formula,
                                          styles_of[p]) for p, c in cells.items()), len(content))

    def _cells(self, sheet_data) -> None:
        self.masters, self.dependents = {}, []  # shared formulas of this <sheetData>
        ns = self.ns
        row_tag, c_tag, v_tag, f_tag, is_tag = ns + "row", ns + "c", ns + "v", ns + "f", ns + "is"
        t_tag, r_tag = ns + "t", ns + "r"
        cells, style_of, fill = self.sheet.cells, self.style_of, self._fill
        row_index = -1
        for row in sheet_data:
            if row.tag != row_tag:
                continue
            r = row.get("r")
            row_index = int(r) - 1 if r and r.isdigit() else row_index + 1
            col_index = -1
            for c in row:
                if c.tag != c_tag:
                    continue
                ref = c.get("r")
                pos = parse_cell(ref) if ref else None
                if pos is None:
                    col_index += 1
                    pos = (row_index, col_index)
                    ref = address(row_index, col_index)
                else:
                    row_index, col_index = pos
                style = style_of.get(c.get("s")) or self._style(c.get("s"))
                cell = cells[pos] = CellData(None, None, style[0], style[1])
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
                    inline = string_item(inline, t_tag, r_tag)
                if f is not None:
                    fill(cell, ref, t, v, inline, True, f.text, f.get("t"), f.get("si"), f.get("r1"), f.get("r2"))
                else:
                    fill(cell, ref, t, v, inline, False, None, None, None, None, None)
        if self.dependents:
            self._expand_shared(self.masters, self.dependents)

    def _fill(self, cell: CellData, ref: str, t: str | None, v: str | None, inline, has_formula: bool,
              text: str | None, kind: str | None, si: str | None, r1: str | None, r2: str | None) -> None:
        """A cell's value and formula from its ``t`` attribute, ``<v>`` text, ``<is>`` text and ``<f>``."""
        value = _value(t, v, inline)
        cell.value = self._shared(v) if value is _SHARED else value
        if has_formula:
            self._formula(cell, ref, text, kind, si, r1, r2)

    def _shared(self, v: str) -> str:
        try:
            return self.strings[int(v)]
        except (ValueError, IndexError):
            raise ReadError("unreadable-file", "missing-string", sheet=self.sheet.name) from None

    def _formula(self, cell: CellData, ref: str, text: str | None, kind: str | None, si: str | None,
                 r1: str | None, r2: str | None) -> None:
        if kind == "shared":
            if text:
                cell.formula = "=" + text
                if si is not None and ref is not None:
                    self.masters[si] = (cell.formula, ref)
            elif si is not None and ref is not None:
                self.dependents.append((cell, si, ref))
        elif text:
            cell.formula = "=" + text
        elif kind == "dataTable":
            args = ",".join(a for a in (r1, r2) if a)
            cell.formula = f"=TABLE({args})"

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
                if (child.tag == formula_tag) if formula_tag else (local(child.tag) in ("formula", "f")):
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
                kind = local(child.tag)
                if kind == "sqref":
                    sqref = child.text
                elif kind in ("formula1", "formula2"):
                    # x14: <x14:formula1><xm:f>…</xm:f></x14:formula1>
                    text = next((e.text for e in child if local(e.tag) == "f"), None) if is_extension \
                        else child.text
                    if kind == "formula1":
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
                            self.used_cells = True
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

