"""A package's XML parts, read safely: parsed with defusedxml (no DTD, no entity declarations, no external
entities), checked without building a tree, their elements counted for the limits, their tags read whatever
their namespace; where a part splits around the one element that differs from file to file (a sheet's
``<sheetData>``, the shared strings' ``<sst>``), so that the rest is parsed once; and :class:`Memo`, what a
part's bytes gave, kept for the next file with the very same bytes.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import TreeBuilder as _TreeBuilder
from xml.parsers import expat as pyexpat

from defusedxml.ElementTree import DefusedXMLParser


def parse_xml(data: bytes, fast: bool | None = None):
    """Parse one XML part with defusedxml's parser: no DTD, no entity declarations, no external entities.

    defusedxml drives expat through the pure-Python ``XMLParser``, whose per-element callbacks only
    rewrite names (``uri}tag`` -> ``{uri}tag``) and cost two thirds of the parse. When ``fast``, expat
    feeds the C ``TreeBuilder`` directly and tags stay ``uri}tag``: every tag lookup here is built from
    the root's own prefix (:func:`namespace`) and :func:`local`, so both spellings work. The defused
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
        root = parse_xml(probe, fast=True)
        return (root.tag == "u}a" and root[0].tag == "u}b" and root[0].get("x") == "1"
                and root[0].get("v}id") == "2" and root[0].text == "t")
    except Exception:
        return False


_FAST_XML = _fast_xml_works()


def check_xml(data: bytes) -> None:
    """What :func:`parse_xml` checks of a part — well-formed, no DTD, no entity declaration or external
    reference (the same expat, namespaces on, with defusedxml's handlers) — without building its tree:
    ``expat.ExpatError`` where it would raise ``ParseError``, defusedxml's exceptions as they are."""
    expat = pyexpat.ParserCreate(None, "}")
    for handler, guard in _GUARDS:
        setattr(expat, handler, guard)
    expat.Parse(data, True)


def _guards() -> tuple[tuple[str, object], ...]:
    """The handlers defusedxml's parser puts on its expat (forbidding DTDs, entity declarations, external
    references), taken from one such parser: the same checks, without a parser and tree builder per call."""
    expat = DefusedXMLParser(target=_TreeBuilder(), forbid_dtd=True).parser
    names = ("StartDoctypeDeclHandler", "EntityDeclHandler", "UnparsedEntityDeclHandler", "ExternalEntityRefHandler")
    return tuple((name, getattr(expat, name)) for name in names)


_GUARDS = _guards()


def count_elements(data: bytes, start: int = 0, end: int | None = None) -> int:
    """The start tags (and a few declarations) of a part, or of ``data[start:end]``: what the element limits
    count."""
    end = len(data) if end is None else end
    return data.count(b"<", start, end) - data.count(b"</", start, end)


class Memo(dict):
    """Results worked out from a key — a part's bytes, a text, a reference — kept for the next file with the very
    same key (the parts that say what a workbook is — its sheets, names, styles, validations — and its labels are
    the same in a whole batch). A dictionary, bounded: keys of at most ``max_size`` (bytes or characters, as the
    caller counts them), ``max_bytes`` of them and ``max_items`` results in all; when full, it starts again."""

    __slots__ = ("max_size", "max_bytes", "max_items", "size", "recurring", "seen")

    def __init__(self, max_size: int = 1 << 20, max_bytes: int = 16 << 20, max_items: int = 64,
                 recurring: bool = False):
        super().__init__()
        self.max_size, self.max_bytes, self.max_items = max_size, max_bytes, max_items
        self.size = 0
        self.recurring = recurring  # keep a result only the second time its key comes (most never do)
        self.seen: set[int] = set()

    def again(self, key: object) -> bool:
        """Whether a recurring memo has met ``key`` before (it notes that it has now)."""
        digest = hash(key)
        if digest in self.seen:
            return True
        if len(self.seen) >= 100_000:
            self.seen.clear()
        self.seen.add(digest)
        return False

    def put(self, key: object, value: object, size: int = 0) -> None:
        if size > self.max_size or (self.recurring and not self.again(key)):
            return
        if self.size + size > self.max_bytes or len(self) >= self.max_items:
            self.clear()
            self.size = 0
        self[key] = value
        self.size += size


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def namespace(root) -> str:
    """The namespace prefix of the root's tag (``{uri}`` or ``uri}``), to build the tags of its children.

    Taking it from the root accepts both SpreadsheetML namespaces, transitional
    (``http://schemas.openxmlformats.org/spreadsheetml/2006/main``) and strict
    (``http://purl.oclc.org/ooxml/spreadsheetml/main``), and matches children on their local names.
    """
    tag = root.tag
    return tag[:tag.rfind("}") + 1]


def attrs(element) -> dict[str, str]:
    return {local(k): v for k, v in element.attrib.items()}


def attr_id(element) -> str | None:
    """The ``r:id`` attribute, whatever its namespace (transitional or strict)."""
    for key, value in element.attrib.items():
        if key.endswith("}id"):
            return value
    return None


# -- a part split around one element ----------------------------------------------------------------

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
