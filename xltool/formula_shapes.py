"""A formula's shape: its text with each cell reference replaced by its form (sheet prefix, ``$`` flags, cell
or range) and by which other reference it repeats, so that ``=SUM(D7:I7)`` in row 7 and ``=SUM(D8:I8)`` in row
8 share one compiled function (:mod:`xltool.formula_cache`), called with the cells each text names. A shape
is shared only when the library's compiled inputs are exactly the references found in the text
(:func:`shareable`); any doubt, and that formula text is compiled on its own.
"""

from __future__ import annotations

import re

_SHEET = r"(?:'(?:[^']|'')+'|[^\W\d][\w.]*)!"
_CELL = r"\$?[A-Za-z]{1,3}\$?[0-9]{1,7}"
_TOKEN = re.compile(rf"(?<![\w.$'!:\]])({_SHEET})?({_CELL})(?::({_CELL}))?(?![\w.(!:\[$])")
_CELL_PARTS = re.compile(r"(\$?)([A-Za-z]{1,3})(\$?)([0-9]{1,7})")
_CELLISH = re.compile(r"[A-Za-z]\$?[0-9]")  # anything that may be a reference the scan did not take
_STRING = re.compile(r'"(?:[^"]|"")*"')
_MAX_ROW, _MAX_COL = 1_048_576, 16_384


def _column(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _cell_form(text: str) -> tuple[str, str] | None:
    """(form, name) of one cell reference: ``$D7`` -> (``$CR``, ``D7``); None outside the grid."""
    m = _CELL_PARTS.fullmatch(text)
    col, row = _column(m.group(2)), int(m.group(4))
    if not (1 <= col <= _MAX_COL and 1 <= row <= _MAX_ROW):
        return None
    return f"{m.group(1)}C{m.group(3)}R", (m.group(2) + m.group(4)).upper()


def _sheet_name(prefix: str) -> str:
    """How the library names a sheet prefix (``'依申请公开'!`` -> ``依申请公开``; upper case, quotes removed)."""
    sheet = prefix[:-1]
    if sheet.startswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    return sheet.upper()


def scan(formula: str) -> tuple[str, tuple[str, ...]] | None:
    """The shape key of a formula and the names of its references in order (as the library names them);
    None when its references cannot be told apart from the rest of its text with certainty."""
    parts = _STRING.split(formula)
    strings = _STRING.findall(formula)
    key: list[str] = []
    names: list[str] = []
    for i, part in enumerate(parts):
        last = 0
        for m in _TOKEN.finditer(part):
            prefix, first, second = m.group(1), m.group(2), m.group(3)
            cell1 = _cell_form(first)
            cell2 = _cell_form(second) if second else ("", "")
            if cell1 is None or cell2 is None:
                return None
            name = cell1[1] + (":" + cell2[1] if second else "")
            if prefix:
                name = _sheet_name(prefix) + "!" + name
            seen = names.index(name) if name in names else len(names)
            names.append(name)
            key.append(part[last:m.start()])
            key.append(f"\x00{prefix or ''}{cell1[0]}{':' + cell2[0] if second else ''}#{seen}\x00")
            last = m.end()
        rest = part[last:]
        key.append(rest)
        if i < len(strings):
            key.append(strings[i])
    skeleton = "".join(k for k in key if not k.startswith("\x00"))
    if _CELLISH.search(skeleton):
        return None
    return "".join(key), tuple(names)


def slot_names(slots: tuple, names: tuple[str, ...]) -> tuple[str, ...]:
    """The names of a compiled formula's arguments: each slot's reference in ``names``, or its literal name."""
    return tuple(names[s] if type(s) is int else s for s in slots)


def shareable(inputs: tuple[str, ...], names: tuple[str, ...]) -> tuple | None:
    """Each compiled input as the index of the reference it is (or its literal name when it is none), when
    the inputs are exactly the references of the text; else None (the text is compiled on its own)."""
    slots: list = []
    matched = set()
    for name in inputs:
        if name in names:
            slots.append(names.index(name))
            matched.add(name)
        elif _CELLISH.search(name):
            return None  # an input the scan did not see as a reference
        else:
            slots.append(name)  # a whole row or column (A:A, 3:3): the same text in every formula of the shape
    if matched != set(names):
        return None  # a reference the library did not take as one
    return tuple(slots)
