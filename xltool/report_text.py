"""The phrasing of the published report, as data: ``templates/text/<format id>.toml`` as frozen objects.

One file per format holds the report's title, its six sections in order (三 tables, three of text), the
sentences that restate the tables (``say``: a template whose ``{PLACEHOLDER}`` names a data point code or
a sum declared in ``[sums]``) and the places marked for the narrative the agency writes itself (``ask``).
``xltool publish --with-text`` fills the sentences from a checked workbook; ``xltool audit`` turns each
sentence into a regular expression (:attr:`Sentence.pattern`) to recognise it, and its numbers, in a
published report. So every number has its own placeholder, and the text between two numbers always
holds something that cannot be part of a number (the loader refuses anything else).
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, cached_property
from pathlib import Path
from types import MappingProxyType

from xltool.errors import SpecError
from xltool.export import plain_number
from xltool.spec import Template, load_format, templates_dir

TEXT_FOLDER = "text"  # under the templates folder: not a format spec, so never at its top level
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")
NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"  # as a report prints a number: 12, 1,234, 0.5, -3
_NUMBERISH = "0123456789.,-+"
# punctuation a published report may print in either width; a derived pattern accepts both
_PUNCTUATION = {"，": ",", "；": ";", "：": ":", "（": "(", "）": ")", "、": None, "。": "."}
_KEYS = {
    "file": {"format", "title", "summary_note", "ask", "unit", "sums", "sections"},
    "section": {"title", "table", "body"},
    "paragraph": {"heading", "ask", "say", "id"},
}


@dataclass(frozen=True)
class Slot:
    """One number of a sentence: a data point code, or a named sum of data points."""

    name: str
    codes: tuple[str, ...]

    def value(self, values: Mapping[str, float]) -> Decimal | int:
        """The exact sum of the data points (decimal, never binary floating point)."""
        total = sum((Decimal(plain_number(float(values[c]))) for c in self.codes), Decimal(0))
        return int(total) if total == total.to_integral_value() else total


@dataclass(frozen=True)
class Sentence:
    """A sentence that restates table cells: literal text and :class:`Slot` s, in order."""

    id: str
    template: str
    parts: tuple[str | Slot, ...]

    @property
    def slots(self) -> tuple[Slot, ...]:
        return tuple(p for p in self.parts if isinstance(p, Slot))

    def pieces(self, values: Mapping[str, float]) -> tuple[tuple[str, str | None], ...]:
        """The filled sentence as (text, slot name) pieces; the slot name is None for literal text."""
        return tuple((p, None) if isinstance(p, str) else (number_text(p.value(values)), p.name) for p in self.parts)

    def render(self, values: Mapping[str, float]) -> str:
        return "".join(text for text, _ in self.pieces(values))

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """A regular expression that finds this sentence in a report's text, whatever whitespace or line
        breaks were put between its characters and whichever width its punctuation has. Group ``n<i>``
        is the number of the i-th slot (see :meth:`read`)."""
        out, index = [], 0
        for part in self.parts:
            if isinstance(part, Slot):
                out.append(rf"\s*(?P<n{index}>{NUMBER})\s*")
                index += 1
                continue
            chars = [c for c in part if not c.isspace()]
            out.append(r"\s*".join(_char_pattern(c) for c in chars))
        return re.compile("".join(out))

    def read(self, text: str) -> dict[str, Decimal] | None:
        """The numbers of the first occurrence of this sentence in ``text``, by slot name (None: absent)."""
        match = self.pattern.search(text)
        if match is None:
            return None
        return {slot.name: Decimal(match.group(f"n{i}").replace(",", "")) for i, slot in enumerate(self.slots)}


@dataclass(frozen=True)
class Paragraph:
    """A sub-heading, a marked place for the agency's own text (``ask``), or a restating sentence."""

    kind: str  # "heading", "ask" or "say"
    text: str  # the heading; the ask already in its marker (【请填写：…】); the sentence's template
    sentence: Sentence | None = None


@dataclass(frozen=True)
class Section:
    """One of the report's sections: its title (a table's heading for 二、三、四), its text, its table."""

    title: str
    table: str | None
    body: tuple[Paragraph, ...]


@dataclass(frozen=True)
class Phrasing:
    format: str
    source: Path
    title: str  # with {agency} and {year}
    summary_note: str  # with {members}
    unit: str  # how a unit is printed after a column label, with {}
    sums: Mapping[str, tuple[str, ...]]
    sections: tuple[Section, ...]

    @property
    def sentences(self) -> tuple[Sentence, ...]:
        return tuple(p.sentence for s in self.sections for p in s.body if p.sentence is not None)

    def title_for(self, agency: str, year: int) -> str:
        return self.title.replace("{agency}", agency).replace("{year}", str(year))

    def note_for(self, members: int) -> str:
        return self.summary_note.replace("{members}", str(members))

    def unit_for(self, unit: str) -> str:
        return self.unit.replace("{}", unit)


def number_text(value: float | int | Decimal, decimals: int | None = None) -> str:
    """A number as the report prints it: 7 not 7.0, 0.3 not 0.30000000000000004, never 1E+1 or 1e-05; a
    computed amount rounded once to the ``decimals`` its type allows."""
    number = plain_number(float(value)) if isinstance(value, float) else value
    if isinstance(number, Decimal) and decimals is not None:
        number = number.quantize(Decimal(1).scaleb(-decimals))
    if isinstance(number, Decimal):
        text = format(number, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(number)


def text_folder() -> Path:
    """The shipped phrasing files: ``text/`` beside the format specs (in the package or the checkout)."""
    return templates_dir() / TEXT_FOLDER


@cache
def load_phrasing(fmt: str) -> Phrasing:
    """The shipped phrasing of a format (id or short name), loaded and validated once per process."""
    template = load_format(fmt)
    path = text_folder() / f"{template.format}.toml"
    if not path.is_file():
        raise SpecError(f"no phrasing file for {template.format}: {path} is missing")
    return read_phrasing(path, template)


def read_phrasing(path: Path, template: Template) -> Phrasing:
    """Parse and validate a phrasing file against its format; any problem is a :class:`SpecError` naming
    the file and the place."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path.name}: cannot read: {exc}") from None
    return _Loader(path, template).load(data)


class _Loader:
    def __init__(self, path: Path, template: Template):
        self.path, self.template = path, template
        self.sums: dict[str, tuple[str, ...]] = {}

    def fail(self, where: str, problem: str) -> SpecError:
        return SpecError(f"{self.path.name}: {where}: {problem}")

    def load(self, data: dict) -> Phrasing:
        self.keys(data, "file", "the file")
        if data.get("format") != self.template.format:
            raise self.fail("format", f"must be {self.template.format!r}, not {data.get('format')!r}")
        title = self.fixed(data, "title", {"agency", "year"})
        note = self.fixed(data, "summary_note", {"members"})
        ask, unit = self.slot_text(data, "ask"), self.slot_text(data, "unit")
        raw_sums = data.get("sums", {})
        if not isinstance(raw_sums, dict):
            raise self.fail("sums", "must be a table of name = [codes]")
        for name, entries in raw_sums.items():
            self.sums[name] = self.sum(name, entries)
        sections = data.get("sections")
        if not isinstance(sections, list) or not sections:
            raise self.fail("sections", "must be a non-empty array of tables")
        parsed = tuple(self.section(i, s, ask) for i, s in enumerate(sections))
        tables = [s.table for s in parsed if s.table]
        expected = [t.id for t in self.template.tables]
        if sorted(tables) != sorted(expected):
            raise self.fail("sections", f"must show every table of the format once ({', '.join(expected)}), "
                                        f"not {', '.join(tables) or 'none'}")
        ids = [s.id for s in (p.sentence for s in parsed for p in s.body) if s is not None]
        if len(ids) != len(set(ids)):
            raise self.fail("sections", f"sentence ids must be unique: {', '.join(sorted(ids))}")
        return Phrasing(self.template.format, self.path, title, note, unit, MappingProxyType(dict(self.sums)), parsed)

    def keys(self, data: object, kind: str, where: str) -> None:
        if not isinstance(data, dict):
            raise self.fail(where, "must be a table")
        unknown = set(data) - _KEYS[kind]
        if unknown:
            raise self.fail(where, f"unknown key {sorted(unknown)[0]!r}")

    def string(self, data: dict, key: str, where: str | None = None) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where or key, f"{key} must be a non-empty string")
        return value

    def fixed(self, data: dict, key: str, allowed: set[str]) -> str:
        """A text with named fields ({agency}) only from ``allowed``."""
        text = self.string(data, key)
        for name in _PLACEHOLDER.findall(text):
            if name not in allowed:
                raise self.fail(key, f"unknown placeholder {{{name}}}; allowed: "
                                     + ", ".join(f"{{{a}}}" for a in sorted(allowed)))
        if _PLACEHOLDER.sub("", text).count("{") or _PLACEHOLDER.sub("", text).count("}"):
            raise self.fail(key, "unbalanced brace")
        return text

    def slot_text(self, data: dict, key: str) -> str:
        text = self.string(data, key)
        if text.count("{}") != 1 or text.replace("{}", "").count("{") or text.replace("{}", "").count("}"):
            raise self.fail(key, "must hold {} exactly once, and no other brace")
        return text

    def sum(self, name: str, entries: object) -> tuple[str, ...]:
        where = f"sums.{name}"
        if not _NAME.match(name) or name in self.template.cells:
            raise self.fail(where, "a sum's name is written in capitals, digits and _, and is no data point code")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, str) for e in entries):
            raise self.fail(where, "must be a non-empty list of data point codes (* matches any part)")
        codes: list[str] = []
        for entry in entries:
            found = [c for c in self.template.cells if fnmatch.fnmatchcase(c, entry)] if "*" in entry else (
                [entry] if entry in self.template.cells else [])
            if not found:
                raise self.fail(where, f"{entry} is no data point code of {self.template.format}")
            codes.extend(c for c in found if c not in codes)
        return tuple(codes)

    def section(self, i: int, data: object, ask: str) -> Section:
        where = f"sections[{i}]"
        self.keys(data, "section", where)
        if ("title" in data) == ("table" in data):
            raise self.fail(where, "needs exactly one of title and table")
        table = data.get("table")
        if table is not None:
            match = [t for t in self.template.tables if t.id == table]
            if not match:
                raise self.fail(where, f"unknown table {table!r}")
            title = match[0].heading
        else:
            title = self.string(data, "title", where)
        body = data.get("body", [])
        if not isinstance(body, list):
            raise self.fail(where, "body must be an array of inline tables")
        return Section(title, table, tuple(self.paragraph(f"{where}.body[{j}]", p, ask) for j, p in enumerate(body)))

    def paragraph(self, where: str, data: object, ask: str) -> Paragraph:
        self.keys(data, "paragraph", where)
        kinds = [k for k in ("heading", "ask", "say") if k in data]
        if len(kinds) != 1:
            raise self.fail(where, "needs exactly one of heading, ask and say")
        kind = kinds[0]
        text = self.string(data, kind, where)
        if kind != "say":
            if "id" in data:
                raise self.fail(where, "only a say sentence has an id")
            if "{" in text or "}" in text:
                raise self.fail(where, "braces are placeholders, and only a say sentence has them")
            return Paragraph(kind, ask.replace("{}", text) if kind == "ask" else text)
        sentence_id = self.string(data, "id", where)
        return Paragraph("say", text, Sentence(sentence_id, text, self.parts(f"{where} ({sentence_id})", text)))

    def parts(self, where: str, text: str) -> tuple[str | Slot, ...]:
        parts: list[str | Slot] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append(text[position:match.start()])
            parts.append(self.slot(where, match.group(1)))
            position = match.end()
        parts.append(text[position:])
        literal = "".join(p for p in parts if isinstance(p, str))
        if "{" in literal or "}" in literal:
            raise self.fail(where, "unbalanced brace")
        slots = [p.name for p in parts if isinstance(p, Slot)]
        if not slots:
            raise self.fail(where, "a say sentence restates at least one number: use {CODE} or a sum's {NAME}")
        if len(slots) != len(set(slots)):
            raise self.fail(where, "each number appears once in a sentence")
        for k in range(2, len(parts) - 1, 2):  # the text between two numbers
            between = parts[k].strip()
            if not between or between[0] in _NUMBERISH or between[-1] in _NUMBERISH:
                raise self.fail(where, f"the numbers {{{parts[k - 1].name}}} and {{{parts[k + 1].name}}} need text "
                                       "between them that cannot be read as part of a number")
        return tuple(p for p in parts if p != "")

    def slot(self, where: str, name: str) -> Slot:
        if name in self.template.cells:
            return Slot(name, (name,))
        if name in self.sums:
            return Slot(name, self.sums[name])
        raise self.fail(where, f"{{{name}}} is neither a data point code of {self.template.format} "
                               "nor a sum declared in [sums]")


def _char_pattern(char: str) -> str:
    other = _PUNCTUATION.get(char)
    if other is None:
        return re.escape(char)
    return f"[{re.escape(char)}{re.escape(other)}]"
