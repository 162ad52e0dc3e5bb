"""The XML that spreadsheet programs write, read from its text without a tree: a sheet's cells and the shared
strings.

What differs from file to file — a worksheet's ``<sheetData>``, the ``<sst>`` of the shared strings, split off
their part by :func:`xltool.xml_parts.split_element` and :func:`~xltool.xml_parts.root_content` — is scanned
here after expat has checked the text: split at ``<row ``, ``<c `` and ``<si>``, each piece matched and
remembered, since most come again in the next file. Character data and attribute values come out as expat
gives them. The scan covers the XML that spreadsheet programs write; anything else (comments, CDATA, other
elements or attribute orders, prefixes) makes it give up (:class:`Unsupported`, or None), and the part is
parsed as a tree instead (:mod:`xltool.sheet_parser`, :mod:`xltool.reader`); both ways give the same
(tests/test_speed.py).
"""

from __future__ import annotations

import math
import re

from xltool.addresses import parse_cell
from xltool.workbook_data import ErrorValue
from xltool.xml_parts import Memo

_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape(text: str) -> str:
    """Undo OOXML's ``_xHHHH_`` escapes of characters XML cannot hold (``_x000D_`` is a carriage return)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


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
_CELL_START = r'r="([A-Za-z]{1,3}[0-9]{1,7})"(?: s="([0-9]+)")?(?: t="([A-Za-z]+)")?'  # r, s, t
_CELL_PIECE = re.compile(_CELL_START + r"\s*(?:/>|>(.*)</c\s*>)[^<]*", re.S)
_PLAIN_BODY = re.compile(rf"(?:<f({_ATTRS})(?:/>|>([^<]*)</f\s*>))?(?:<v\s*(?:/>|>([^<]*)</v\s*>))?")
_INLINE_BODY = re.compile(rf"<is\s*><t{_ATTRS}(?:/>|>([^<]*)</t\s*>)</is\s*>")
_CELL_CHILD = _element("v|f|is")
_STRING_CHILD, _RUN_CHILD = _element("t|r|rPh|phoneticPr"), _element("t|rPr")
_ATTRIBUTE = re.compile(r"""\s+([^\s=/>"']+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
_REFERENCE = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|amp|lt|gt|quot|apos);")
_PREDEFINED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


class Unsupported(Exception):
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
        _remember(_ATTRIBUTE_TEXTS, text, found)
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
            raise Unsupported
        yield m.group(1), m.group(2), m.group(3)
        pos = body.find("<", m.end())


def _text_only(content: str | None) -> str | None:
    """The text of an element that holds only text (None when it is empty, as a tree gives it)."""
    if not content:
        return None
    if "<" in content:
        raise Unsupported
    return xml_text(content)


def _string_item_text(content: str | None) -> str:
    """:func:`xltool.sheet_parser.string_item` of an ``<si>`` or ``<is>``, from its content."""
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
        _remember(_STRING_TEXTS, content, found)
    return found


def _texts() -> Memo:
    """What texts of the XML give, for the next file with the same text (labels are the same in every file,
    and some, rich text saved by LibreOffice, are over a thousand characters long). Bounded: texts of at most
    16,384 characters, 2 million characters and 20,000 texts in all: no file can fill the memory through them."""
    return Memo(max_size=16_384, max_bytes=2_000_000, max_items=20_000)


def _remember(memo: Memo, text: str | None, value: object) -> None:
    memo.put(text, value, len(text) if text else 0)


_ATTRIBUTE_TEXTS, _STRING_TEXTS = _texts(), _texts()


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


_PIECES = _texts()  # the text of a cell -> what it holds (label cells are the same in every file)


def _cell_piece(piece: str) -> tuple:
    """(``r``, its position or None, ``s``, its value (:data:`SHARED` for a shared string), ``<v>`` text,
    ``<f>`` (text, attributes) or None) of the text of one cell after ``<c ``."""
    c = _CELL_PIECE.fullmatch(piece)
    if c is None:
        raise Unsupported
    ref, s, t, body = c.groups()
    v = f = inline = None
    if body:
        raw = body[3:-4]
        if body.startswith("<v>") and body.endswith("</v>") and "<" not in raw:
            v = (xml_text(raw) if "&" in raw or "\r" in raw else raw) if raw else None
        else:
            v, f, inline = _cell_body(body)
    return ref, parse_cell(ref), s, cell_value(t, v, inline), v, f


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
            except Unsupported:
                return None
            if v is not None or inline is not None or f is None:
                return None
            found = (m.group(1), parse_cell(m.group(1)), m.group(2), m.group(3), f)
        _remember(_HEADS, head, found)
    ref, p, s, t, f = found
    v = xml_text(raw) if "&" in raw or "\r" in raw else raw
    return ref, p, s, cell_value(t, v, None), v, f


_CELL_HEAD = re.compile(_CELL_START + r"\s*>")
_HEADS = _texts()  # a cell's text before its value -> (r, position, s, t, <f>)
SHARED = object()  # a cell's value is a shared string: looked up in each file's own table


def cell_value(t: str | None, v: str | None, inline: str | None) -> object:
    """A cell's value from its ``t`` attribute, ``<v>`` text and ``<is>`` text; :data:`SHARED` for a shared
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
        return SHARED
    if t == "b":
        return {"1": True, "0": False, "true": True, "false": False}.get(v.strip().lower(), v)
    if t == "e":
        return ErrorValue(v)
    if t == "str" or t == "inlineStr":
        return unescape(v)
    return v  # "d" (ISO 8601 text) and anything unknown: the text as stored


_VALUE_TEXT = re.compile(r"<v>([^<]*)</v>")
_CELL_ATTRIBUTES = re.compile(_CELL_START)


def without_values(content: str) -> tuple[str, list[str]]:
    """A ``<sheetData>``'s content with the text of every ``<v>`` taken out (``<v></v>``), and those texts, in
    order: the content is the one with these texts put back in."""
    pieces = _VALUE_TEXT.split(content)
    return "<v></v>".join(pieces[0::2]), pieces[1::2]


def value_type(piece: str) -> str | None:
    """The ``t`` of a cell whose value is one ``<v>`` of text (or empty) as :func:`without_values` takes it out,
    from the cell's text after ``<c ``; :class:`Unsupported` for a cell of any other kind (an inline string)."""
    m = _CELL_ATTRIBUTES.match(piece)
    if m is None or piece.count("<v>") != 1 or "<is" in piece or _VALUE_TEXT.search(piece) is None:
        raise Unsupported
    return m.group(3)


def _plain(text: str) -> bool:
    """True when ``text`` holds no comment, CDATA section, processing instruction or namespace declaration."""
    return "<!" not in text and "<?" not in text and "xmlns" not in text


def scan_rows(content: str):
    """The rows of a ``<sheetData>``'s content (checked by expat): each row's 0-based index and its cells,
    each as (``r``, its position or None, ``s``, its value (:data:`SHARED` for a shared string), ``<v>`` text,
    ``<f>`` (text, attributes) or None); :class:`Unsupported` for rows or cells written otherwise than
    spreadsheet programs write them (and for comments, CDATA, processing instructions, namespace
    declarations)."""
    if not _plain(content):
        raise Unsupported
    rows = content.split("<row ")
    if "<" in rows[0]:
        raise Unsupported  # an element before the first row
    for row in rows[1:]:
        m = _ROW_START.match(row)
        if m is None:
            raise Unsupported
        start = m.end()
        if m.group(2):  # <row …/>
            if row.find("<", start) >= 0:
                raise Unsupported
            continue
        end = row.rfind("</row")
        if end < start or not _ROW_END.match(row, end):
            raise Unsupported
        pieces = row[start:end].split("<c ")
        if "<" in pieces[0]:
            raise Unsupported  # an element before the row's first cell
        del pieces[0]
        yield int(m.group(1)) - 1, [_PIECES.get(piece) or _scan_cell(piece) for piece in pieces]


def _scan_cell(piece: str) -> tuple:
    """:func:`_cell_piece` of a cell's text not in the memo (through :func:`_value_piece` when it can)."""
    parsed = _value_piece(piece) if piece.endswith("</v></c>") else None
    if parsed is None:
        parsed = _cell_piece(piece)
        _remember(_PIECES, piece, parsed)
    elif parsed[3] is SHARED:  # a label: the same text in every file of the template
        _remember(_PIECES, piece, parsed)
    return parsed


# -- the shared strings, scanned from their text -------------------------------------------------------

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
                _remember(_SI_PIECES, piece, text)
            out.append(text)
    except Unsupported:
        return None
    return out


_SI_PIECE = re.compile(r"(.*?)</si\s*>[^<]*", re.S)
_SI_PIECES = _texts()  # the text of a shared string (checked well-formed) -> the string
