"""The template spec as typed, frozen objects: tables, axes, blocks, cells, types and rules.

A spec (``templates/<format>.toml``) is the single source of every label, cell type, total formula and
identity of a format. :mod:`xltool.spec_loader` parses and validates it into the objects below; the
layout, the checker, the merger and the exporter read only these objects, never the TOML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import NamedTuple

from xltool.errors import SpecError


PREV = "prev."  # a rule's reference to last year's value of a data point: prev.T3_FORWARD_NATURAL


def code_of(table: str, row: str, column: str) -> str:
    """The data point code of a cell: ``T3_GRANTED_NATURAL``. The only place a code is composed."""
    return f"{table}_{row}_{column}"


def split_previous(ref: str) -> tuple[bool, str]:
    """``prev.T3_FORWARD_NATURAL`` -> (True, ``T3_FORWARD_NATURAL``); a plain code -> (False, code)."""
    return (True, ref[len(PREV):]) if ref.startswith(PREV) else (False, ref)


@dataclass(frozen=True)
class CellType:
    """What a data cell may hold: whole or decimal, bounds, decimals, a unit, and the clerk's prompts."""

    name: str
    whole: bool
    min: float | None
    decimals: int | None
    unit: str
    prompt: str
    alert: str
    max_abs: float | None = None  # beyond it, a typo or a unit error
    typed_units: tuple[tuple[str, float], ...] = ()  # units a clerk may type after a number, and their factor

    def factor(self, typed_unit: str) -> float | None:
        """What a number typed with ``typed_unit`` is multiplied by to be in this type's unit (None: unknown)."""
        return dict(self.typed_units).get(typed_unit)


class Axis(NamedTuple):
    """A row or column of a table: its code, official label, the group labels above it, its type.

    In a matrix table whose single row is implied, a column names its row code itself (``row``).
    """

    code: str | None
    label: str
    groups: tuple[str, ...] = ()
    type: CellType | None = None
    row: str | None = None


class Block(NamedTuple):
    """One captioned block of a ``blocks`` table (T2): its header columns, its rows, their cell codes."""

    caption: str
    note: str
    columns: tuple[Axis, ...]
    rows: tuple[Axis, ...]
    codes: tuple[tuple[str, ...], ...]  # codes[i][j]: the cell of rows[i] and columns[j]


class Table(NamedTuple):
    """One official table. ``blocks`` tables hold blocks; ``matrix`` tables hold rows × columns."""

    id: str
    sheet: str
    heading: str
    layout: str  # "blocks" or "matrix"
    corner: str
    blocks: tuple[Block, ...] = ()
    columns: tuple[Axis, ...] = ()
    rows: tuple[Axis, ...] = ()
    codes: tuple[tuple[str, ...], ...] = ()  # matrix: codes[i][j] is the cell of rows[i] and columns[j]


@dataclass(frozen=True)
class Cell:
    """One data point: its code, where it sits in the official table, and what it holds."""

    code: str
    table: str
    row: str
    column: str
    row_label: str
    column_label: str
    type: CellType
    total_of: tuple[str, ...] | None = None  # the codes it sums, when it is a formula total

    @property
    def is_input(self) -> bool:
        return self.total_of is None

    @property
    def labels(self) -> dict[str, str]:
        """The finding fields that name this data point: code, table, row and column labels."""
        return {"name": self.code, "table": self.table, "row": self.row_label, "column": self.column_label}


@dataclass(frozen=True)
class Identity:
    """One instance of a spec identity: ``sum(left) <relation> sum(right)`` (an empty side is 0). A code with
    the ``prev.`` prefix is last year's value of that data point: the identity is then a cross-year one."""

    rule: str
    severity: str
    relation: str  # "=", "<=" or ">="
    table: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    anchor: str
    description: str

    @cached_property
    def codes(self) -> frozenset[str]:
        return frozenset((*self.left, *self.right))

    @cached_property
    def cross_year(self) -> bool:
        return any(c.startswith(PREV) for c in self.codes)


class Plausibility(NamedTuple):
    """One instance of a soft plausibility rule on one data point (severity warning, needs an explanation).

    ``zero``: must be 0 for the agency ``types`` listed (S6). ``unit``: an amount at least ``factor`` × last
    year's, or over the ceiling of its agency type, looks typed in the wrong unit (S8). ``band``: more than
    ``growth`` × last year's, or 0 where last year had at least ``fall_from`` (S9). ``description`` may use
    {row}, {column}, {type}, {value} and {previous}."""

    rule: str
    kind: str
    code: str
    description: str
    types: tuple[str, ...] = ()
    factor: float | None = None
    ceilings: tuple[tuple[str, float], ...] = ()
    growth: float | None = None
    fall_from: float | None = None
    severity: str = "warning"


class ExplanationsSheet(NamedTuple):
    """The open sheet where an agency explains soft findings in writing (defined name ``EXPLANATIONS``)."""

    sheet: str
    heading: str
    columns: tuple[str, str]
    rows: int
    note: str
    prompt: str


class PreviousSheet(NamedTuple):
    """The locked sheet of last year's figures that ``generate --previous`` writes for the live checks."""

    sheet: str
    heading: str
    columns: tuple[str, ...]
    explain: str  # the live check's word for a failing soft rule: it needs an explanation


class CoverField(NamedTuple):
    label: str
    source: str | None  # agency_name, agency_code, year or basis; None for a clerk's input


class Cover(NamedTuple):
    """The cover sheet: for an agency, its fields and filling instructions; for a summary, what it is."""

    sheet: str
    heading: str
    fields: tuple[CoverField, ...]
    caption: str
    instructions: tuple[str, ...]
    summary_caption: str
    summary_instructions: tuple[str, ...]  # templates over {name}, {code}, {count}, {format_name}, {year}, {generator}
    summary_no_code: str  # what a summary's cover shows as its code when it was given none


class Checks(NamedTuple):
    """The live check sheet: its labels and the words for a passing and a failing check."""

    sheet: str
    heading: str
    columns: tuple[str, ...]
    passed: str
    failed: str
    summary: str


class Template(NamedTuple):
    format: str  # the format id, e.g. gov-disclosure-2021
    short: str  # the name on the command line, e.g. 2021
    name: str  # the name shown to people, e.g. 2021 格式
    version: str
    title: str
    basis: str
    first_year: int
    last_year: int | None
    source: Path
    types: Mapping[str, CellType]
    cover: Cover
    checks: Checks
    tables: tuple[Table, ...]
    cells: Mapping[str, Cell]  # read-only, in table order
    identities: tuple[Identity, ...]
    plausibility: tuple[Plausibility, ...]
    agency_types: tuple[str, ...]
    explanations: ExplanationsSheet
    previous: PreviousSheet

    def accepts_year(self, year: int) -> bool:
        return year >= self.first_year and (self.last_year is None or year <= self.last_year)

    @property
    def soft_rules(self) -> tuple[str, ...]:
        """The ids of the rules an agency may explain, in spec order."""
        ids = [i.rule for i in self.identities if i.severity == "warning"] + [p.rule for p in self.plausibility]
        return tuple(dict.fromkeys(ids))

    @property
    def decimals(self) -> int:
        """The most decimals any cell may hold: identities are compared after rounding to it."""
        return max((t.decimals or 0 for t in self.types.values()), default=0)


def templates_dir() -> Path:
    """The folder of shipped specs: inside the installed package, or the checkout's ``templates/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise SpecError(f"no templates folder next to {here}")


@cache
def _load(path: Path) -> Template:
    from xltool.spec_loader import load_spec

    return load_spec(path)


@cache
def shipped() -> dict[str, Template]:
    """Every shipped format by its id (``gov-disclosure-2021``), loaded once per process."""
    formats: dict[str, Template] = {}
    for template in map(_load, sorted(templates_dir().glob("*.toml"))):
        for other in formats.values():
            if template.format == other.format or template.short == other.short:
                raise SpecError(f"{template.source.name} and {other.source.name} both define format "
                                f"{template.format} ({template.short})")
        formats[template.format] = template
    return formats


@lru_cache(maxsize=64)
def find_format(format_id: str | None) -> Template | None:
    """The shipped format of this id, or None. A shipped spec is named after its format
    (``templates/gov-disclosure-2021.toml``), so only that file is read, not every spec: what checking one file
    needs. ``format_id`` comes from a workbook: only a plain name is looked up as a file."""
    if format_id and format_id.isascii() and format_id.replace("-", "").isalnum():
        path = templates_dir() / f"{format_id}.toml"
        if path.is_file():
            template = _load(path)
            if template.format == format_id:
                return template
    return shipped().get(format_id)


def load_format(name: str) -> Template:
    """A shipped format by id (``gov-disclosure-2021``) or short name (``2021``)."""
    found = find_format(name)
    if found is not None:
        return found
    for template in shipped().values():
        if name in (template.format, template.short):
            return template
    raise SpecError(f"unknown format {name!r}; known: {', '.join(t.short for t in shipped().values())}")
