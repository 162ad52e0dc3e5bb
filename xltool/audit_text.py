"""S7: the numbers a report's text states about its tables, compared with the tables.

Two kinds of sentence are read. Those ``publish --with-text`` writes are recognised exactly by the patterns of
the phrasing file (:attr:`xltool.report_text.Sentence.pattern`): each number is compared with the data point
or sum it restates. Sentences an agency wrote itself are read by the words that name a table category
(予以公开 9 件, 共收到…申请 3 件, 行政复议 0 件); the category's cells are found in the spec by those words (a row or
group label that holds them, and the row's total), so no code is named here. A number for a category the table
splits (公开 = 予以公开 + 部分公开) is compared with the sum; a word whose meaning is uncertain (受理) gives a
warning, not an error. A total followed by 其中 and parts adding up to more than it is reported too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from xltool.audit_tables import normal
from xltool.findings import Finding
from xltool.report_text import Phrasing, Sentence, number_text
from xltool.spec import Template, shipped

_NUM = r"(\d+(?:\.\d+)?)"
_GAP = r"[^\d,;:。申]{0,8}?"
_SENTENCE_END = re.compile(r"[。；;\n]")


@dataclass(frozen=True)
class Category:
    """A category the text may name: its words, how they are read, and the cells whose sum it means."""

    pattern: re.Pattern[str]
    what: str
    codes: tuple[str, ...]
    ambiguous: str = ""  # why the words may mean something else: a difference is then a warning
    split: tuple[str, ...] = ()  # a narrower reading (公开 -> 予以公开 alone): matching it is a warning


def _row_total(template: Template, table_id: str, words: str, *, group: bool = True) -> tuple[str, ...]:
    """The total cells of the rows of a matrix table whose label (or group label) holds ``words``."""
    table = next(t for t in template.tables if t.id == table_id)
    out = []
    for axis, codes in zip(table.rows, table.codes):
        labels = [axis.label, *(axis.groups if group else ())]
        if any(words in normal(label) for label in labels if label):
            total = next((c for c in codes if template.cells[c].total_of and
                          set(template.cells[c].total_of) <= set(codes)), None)
            if total:
                out.append(total)
    return tuple(out)


def _column_total(template: Template, table_id: str, words: str) -> tuple[str, ...]:
    """The total cells of a table without row labels (T4) under a column group that holds ``words``."""
    table = next(t for t in template.tables if t.id == table_id)
    out = []
    for axis, code in zip(table.columns, table.codes[0]):
        if any(words in normal(g) for g in axis.groups) and template.cells[code].total_of:
            out.append(code)
    return tuple(out)


def _block_cell(template: Template, row_words: str, column_words: str) -> tuple[str, ...]:
    for table in template.tables:
        for block in table.blocks:
            for axis, codes in zip(block.rows, block.codes):
                if normal(axis.label) != row_words:
                    continue
                for column, code in zip(block.columns, codes):
                    if column_words in normal(column.label):
                        return (code,)
    return ()


def categories(template: Template) -> tuple[Category, ...]:
    """What the text may name, for this format, in the order they are looked for (longer words first)."""
    return _categories(template.format)


@cache
def _categories(fmt: str) -> tuple[Category, ...]:
    template = shipped()[fmt]
    t3, t4 = "T3", "T4"
    out = []

    def add(regex: str, what: str, codes: tuple[str, ...], **kw) -> None:
        if codes:
            out.append(Category(re.compile(regex), what, codes, **kw))

    new = _row_total(template, t3, "本年新收", group=False)
    add(rf"(?:本年新收|新收|共收到|收到)[^\d,;:。]{{0,16}}?申请[^\d,;:。]{{0,8}}?{_NUM}件", "收到申请", new)
    add(rf"(?:受理|接收)[^\d,;:。]{{0,16}}?申请[^\d,;:。]{{0,8}}?{_NUM}件", "受理申请", new,
        ambiguous="“受理”可能指收到的申请，也可能指办理的申请")
    add(rf"上年结转{_GAP}{_NUM}件", "上年结转", _row_total(template, t3, "上年结转", group=False))
    add(rf"结转(?:至)?下(?:一)?年度?{_GAP}{_NUM}件", "结转下年度", _row_total(template, t3, "结转下年度", group=False))
    granted = _row_total(template, t3, "予以公开")
    partial = _row_total(template, t3, "部分公开")
    add(rf"予以公开{_GAP}{_NUM}件", "予以公开", granted)
    add(rf"部分公开{_GAP}{_NUM}件", "部分公开", partial)
    for words in ("不予公开", "无法提供", "不予处理", "其他处理"):
        add(rf"{words}{_GAP}{_NUM}件", words, _row_total(template, t3, words))
    add(rf"(?<![以分予动请息])公开{_GAP}{_NUM}件", "公开", granted + partial, split=granted)
    add(rf"行政复议{_GAP}{_NUM}件", "行政复议", _column_total(template, t4, "行政复议"))
    add(rf"行政诉讼{_GAP}{_NUM}件", "行政诉讼", _column_total(template, t4, "行政诉讼"))
    for row in ("行政许可", "行政处罚", "行政强制"):
        add(rf"{row}(?:处理决定|决定|案件)?{_GAP}{_NUM}(?:件|个|项)", row, _block_cell(template, row, "决定"))
    for verb in ("制发", "新制作", "新公开", "废止", "现行有效"):
        for doc in ("规章", "行政规范性文件", "规范性文件"):
            add(rf"{verb}(?:了)?{doc}{_NUM}件", verb + doc, _block_cell(template, doc, verb))
    return tuple(out)


def check_text(paragraphs: list[tuple[str, str]], template: Template, phrasing: Phrasing,
               values: Mapping[str, Decimal | None], labels: Mapping[str, dict]) -> list[Finding]:
    """The S7 findings of a report's text: sentences of the phrasing file first, then the agency's own."""
    found: list[Finding] = []
    for text, where in paragraphs:
        rest = text
        for sentence in phrasing.sentences:
            match = sentence.pattern.search(rest)
            if match is None:
                continue
            found.extend(_restated(sentence, match, where, values, labels))
            rest = rest[:match.start()] + "。" + rest[match.end():]
        found.extend(_own_text(rest, where, template, values, labels))
    return found


def _restated(sentence: Sentence, match: re.Match, where: str, values: Mapping[str, Decimal | None],
              labels: Mapping[str, dict]) -> list[Finding]:
    out = []
    for i, slot in enumerate(sentence.slots):
        stated = Decimal(match.group(f"n{i}").replace(",", ""))
        literal = sentence.parts[sentence.parts.index(slot) - 1] if sentence.parts.index(slot) else ""
        what = re.split(r"[，；、：,;:]", literal if isinstance(literal, str) else "")[-1] or slot.name
        out.extend(_compare(stated, slot.codes, what, match.group(0), where, values, labels, name=slot.name))
    return out


def _own_text(text: str, where: str, template: Template, values: Mapping[str, Decimal | None],
              labels: Mapping[str, dict]) -> list[Finding]:
    out = []
    for piece in _SENTENCE_END.split(text):
        sentence = normal(piece)
        if not re.search(r"\d", sentence):
            continue
        masked = sentence
        for category in categories(template):
            for match in category.pattern.finditer(masked):
                stated = Decimal(match.group(1))
                out.extend(_compare(stated, category.codes, category.what, piece.strip(), where, values, labels,
                                    ambiguous=category.ambiguous, split=category.split))
            masked = category.pattern.sub(lambda m: "#" * len(m.group(0)), masked)
        out.extend(_parts(sentence, piece.strip(), where))
    return out


def _compare(stated: Decimal, codes: tuple[str, ...], what: str, sentence: str, where: str,
             values: Mapping[str, Decimal | None], labels: Mapping[str, dict], *, name: str | None = None,
             ambiguous: str = "", split: tuple[str, ...] = ()) -> list[Finding]:
    located = _located(codes, what, labels, name)
    if any(values.get(c) is None for c in codes):
        return [Finding("text-differs", "info", rule="S7", reason="not-compared", sheet=where, actual=stated,
                        **located, detail={"sentence": sentence, "what": what})]
    table = sum((values[c] for c in codes), Decimal(0))
    if stated == table:
        return []
    detail = {"sentence": sentence, "what": what}
    narrower = sum((values[c] for c in split), Decimal(0)) if split else None
    if narrower is not None and stated == narrower:
        ambiguous = "也可能只指予以公开，与之相符"
    if ambiguous:
        return [Finding("text-differs", "warning", rule="S7", reason="ambiguous", sheet=where, actual=stated,
                        expected=_show(table), **located, detail={**detail, "note": ambiguous})]
    return [Finding("text-differs", "error", rule="S7", reason="differs", sheet=where, actual=stated,
                    expected=_show(table), **located, detail=detail)]


def _parts(sentence: str, quoted: str, where: str) -> list[Finding]:
    """A total followed by 其中 and parts that add up to more than it."""
    head, sep, tail = sentence.partition("其中")
    if not sep:
        return []
    totals = re.findall(rf"{_NUM}件", head)
    parts = [Decimal(p) for p in re.findall(rf"{_NUM}件", tail)]
    if not totals or len(parts) < 2:
        return []
    total = Decimal(totals[-1])
    if sum(parts) <= total:
        return []
    return [Finding("text-differs", "error", rule="S7", reason="parts-exceed", sheet=where, actual=_show(sum(parts)),
                    expected=_show(total), detail={"sentence": quoted, "parts": " + ".join(map(_show, parts))})]


def _located(codes: tuple[str, ...], what: str, labels: Mapping[str, dict], name: str | None) -> dict:
    if len(codes) == 1:
        return dict(labels[codes[0]])
    rows = list(dict.fromkeys(labels[c]["row"] for c in codes))
    columns = list(dict.fromkeys(labels[c]["column"] for c in codes))
    row = rows[0] if len(rows) == 1 else (" + ".join(rows) if len(rows) <= 3 else what)
    column = columns[0] if len(columns) == 1 else None
    return {"name": name or "+".join(codes), "table": labels[codes[0]]["table"], "row": row, "column": column}


def _show(value: Decimal) -> str:
    return number_text(value)
