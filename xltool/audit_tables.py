"""Find the official tables in a read report by their labels — every label from the spec, none retyped here.

The cells of a report arrive in reading order (:mod:`xltool.audit_read`). A row's values are the value cells that
follow its row label; a table's columns are the spec's, in order. Labels are compared after normalising what real
reports do to them: traditional characters, full- and half-width brackets and punctuation, spaces, units added in
brackets, truncation (本年新 for 本年新制作数量). The format is the one whose labels the report uses.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache

from xltool.audit_read import Document, Token
from xltool.spec import Block, Template, shipped

_UNIT_SUFFIX = re.compile(r"[(（][^()（）]*[)）]$")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_VALUE = re.compile(r"[+-]?\d+(?:\.\d+)?\s*(?:万元|元|件|个|项|条)?")
_PLACEHOLDER = {"/", "-", "_", "—", "－", "／", "无", "——", "--", "\\", "、"}


@lru_cache(maxsize=1 << 16)
def normal(text: str) -> str:
    """A label as compared: simplified characters, half-width forms, no spaces, one kind of quote."""
    text = unicodedata.normalize("NFKC", _simplified(text))
    text = text.replace("“", '"').replace("”", '"').replace("’", "'").replace("‘", "'")
    return "".join(text.split())


def _simplified(text: str) -> str:
    try:
        import zhconv
    except ImportError:  # pragma: no cover - a dependency; without it traditional pages are not recognised
        return text
    return zhconv.convert(text, "zh-hans") if any("\u4e00" <= c <= "\u9fff" for c in text) else text


def bare(text: str) -> str:
    """A normalised header without a unit added in brackets: 采购总金额(万元) -> 采购总金额."""
    text = normal(text)
    stripped = _UNIT_SUFFIX.sub("", text)
    return stripped if stripped else text


@dataclass(frozen=True)
class Row:
    """A data row of a table: its label, where it is, and its cells' codes in column order."""

    table: str
    label: str
    codes: tuple[str, ...]
    place: str  # how a person finds it: 三、本年度办理结果 （一）予以公开
    block: int | None = None


@dataclass
class Reading:
    """What was read of a report's tables: each value as printed, its origin, and notes on labels."""

    format: str
    printed: dict[str, str] = field(default_factory=dict)  # code -> the cell's text as printed
    where: dict[str, str] = field(default_factory=dict)  # code -> where it was read
    labels: list[tuple[str, str, str, str]] = field(default_factory=list)  # (code of the column's first cell,
    # expected label, printed label, where) for headers read by their place


@cache
def rows_of(fmt: str) -> tuple[Row, ...]:
    """Every labelled data row of a format, in table order (T4's single row has no label)."""
    template = shipped()[fmt]
    out = []
    for table in template.tables:
        if table.layout == "blocks":
            for b, block in enumerate(table.blocks):
                for axis, codes in zip(block.rows, block.codes):
                    out.append(Row(table.id, axis.label, codes, f"{block.caption} {axis.label}", b))
        else:
            for axis, codes in zip(table.rows, table.codes):
                if axis.label:
                    out.append(Row(table.id, axis.label, codes, " ".join((*axis.groups, axis.label))))
    return tuple(out)


@cache
def _labels(fmt: str) -> frozenset[str]:
    template = shipped()[fmt]
    out = set()
    for table in template.tables:
        for block in table.blocks:
            out.add(bare(block.caption))
            out.update(bare(a.label) for a in (*block.columns, *block.rows))
        out.update(bare(a.label) for a in (*table.columns, *table.rows) if a.label)
        out.update(bare(g) for a in (*table.columns, *table.rows) for g in a.groups)
    return frozenset(out)


def detect_format(doc: Document) -> tuple[str | None, dict[str, int]]:
    """The format whose own labels (those no other format has) the report uses most; None when it uses none."""
    seen = {bare(t.text) for t in doc.tokens if 0 < len(t.text) <= 80}
    scores = {}
    for fmt in shipped():
        others = set().union(*(_labels(o) for o in shipped() if o != fmt))
        scores[fmt] = len((_labels(fmt) - others) & seen)
    best = max(scores, key=lambda f: scores[f])
    return (best if scores[best] > 0 else None), scores


def value_token(token: Token) -> bool:
    """A cell that holds a value as reports print them: a number (with a sign, a unit), a placeholder, a blank."""
    text = normal(token.text).replace(",", "")
    if text == "":
        return token.cell
    return bool(_VALUE.fullmatch(text)) or text in _PLACEHOLDER


def _row_match(text: str, rows: dict[str, list[Row]]) -> list[Row]:
    key = normal(text)
    if key in rows:
        return rows[key]
    stripped = _UNIT_SUFFIX.sub("", key)
    if stripped in rows:
        return rows[stripped]
    if len(key) >= 4:  # a truncated label: the only one it starts, and at least half of it
        found = [r for label, rs in rows.items() for r in rs
                 if label.startswith(key) and 2 * len(key) >= len(label)]
        if len({r.label for r in found}) == 1:
            return found
    return []


def read_tables(doc: Document, template: Template) -> Reading:
    """Every value the report prints in the format's tables, found by row label (T4's row by its headers)."""
    reading = Reading(template.format)
    rows: dict[str, list[Row]] = {}
    for row in rows_of(template.format):
        rows.setdefault(normal(row.label), []).append(row)
    tokens = doc.tokens
    i = 0
    while i < len(tokens):
        row, last = _label_at(tokens, i, rows, reading)
        if row is None:
            i += 1
            continue
        values, j = _values_after(tokens, last + 1, len(row.codes), _same_row(tokens, last))
        if not any(normal(t.text) for t in values):
            i += 1
            continue
        for code, token in zip(row.codes, values):
            reading.printed[code] = token.text
            reading.where[code] = token.where
        if row.block is not None:
            _headers(tokens, i, row, template, reading)
        i = j
    _review_row(tokens, template, reading)
    return reading


def _label_at(tokens: list[Token], i: int, rows: dict[str, list[Row]], reading: Reading) -> tuple[Row | None, int]:
    """The row whose label starts at token ``i`` (a label a PDF wrapped over several lines is joined again), and
    the label's last token; a row already read is not read twice."""
    for k in range(_WRAP, -1, -1):
        part = tokens[i:i + k + 1]
        if len(part) < k + 1 or any(value_token(t) for t in part) or any(t.cell for t in part[:-1]):
            continue
        found = [r for r in _row_match("".join(t.text for t in part), rows) if r.codes[0] not in reading.printed]
        if found and i + k + 1 < len(tokens) and value_token(tokens[i + k + 1]):
            return found[0], i + k
    return None, i


_WRAP = 3  # lines a long row label may be wrapped over


def _same_row(tokens: list[Token], at: int) -> int | None:
    """The row a label's values must stay in: its own when more cells follow it there (a table row), none when it
    stands alone (text with a cell a line)."""
    token = tokens[at]
    if token.cell and at + 1 < len(tokens) and tokens[at + 1].row == token.row:
        return token.row
    return None


def _values_after(tokens: list[Token], start: int, count: int, row: int | None = None) -> tuple[list[Token], int]:
    out, j = [], start
    while j < len(tokens) and len(out) < count and value_token(tokens[j]) and (row is None or tokens[j].row == row):
        out.append(tokens[j])
        j += 1
    return out, j


def _headers(tokens: list[Token], at: int, row: Row, template: Template, reading: Reading) -> None:
    """The column headers of a block, read by their place (the cells before its first row) and compared with
    the spec's; a changed one is a note, not a reason to misread the column."""
    table = next(t for t in template.tables if t.id == row.table)
    block: Block = table.blocks[row.block]
    if block.rows[0].label != row.label:
        return
    header, j = [], at - 1
    corner = bare(table.corner)
    while j >= 0 and at - j <= len(block.columns) + 2:
        text = tokens[j].text
        if bare(text) == corner or bare(text) == bare(block.caption):
            break
        if text.strip():
            header.insert(0, tokens[j])
        j -= 1
    if j < 0 or bare(tokens[j].text) != corner or len(header) != len(block.columns):
        return
    for axis, codes_col, token in zip(block.columns, zip(*block.codes), header):
        if bare(token.text) != bare(axis.label):
            reading.labels.append((codes_col[0], axis.label, token.text, token.where))


def _review_row(tokens: list[Token], template: Template, reading: Reading) -> None:
    """A matrix table without row labels (T4): the first run of values, with a number, after its first header."""
    for table in template.tables:
        if table.layout != "matrix" or any(a.label for a in table.rows):
            continue
        codes = table.codes[0]
        firsts = {bare(g) for a in table.columns for g in a.groups[:1]}
        start = next((k for k, t in enumerate(tokens) if not value_token(t) and len(bare(t.text)) <= 12
                      and any(bare(t.text).startswith(f) for f in firsts)), None)
        if start is None:
            continue
        k = start + 1
        while k < len(tokens):
            values, end = _values_after(tokens, k, len(codes))
            if any(_NUMBER.search(normal(t.text)) for t in values):
                for code, token in zip(codes, values):
                    reading.printed[code] = token.text
                    reading.where[code] = token.where
                break
            k = max(end, k + 1)


def parse_number(text: str) -> Decimal | None:
    """A printed number (``1,234``, ``+2``, ``-1``, full-width digits) as a Decimal; None when it is not one."""
    text = normal(text).replace(",", "")
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text.lstrip("+"))
    except InvalidOperation:
        return None
