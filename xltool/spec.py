"""Load and validate a template spec (``templates/<format>.toml``) into an immutable model.

The spec is the single source of every label, cell type, total formula and identity. This module
expands it into data points (one :class:`Cell` per data point code) and identity instances, and
rejects anything ambiguous with a :class:`SpecError` that names the file and the place.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from xltool.errors import SpecError

_TOP_KEYS = {
    "format", "template_version", "title", "basis", "first_year", "last_year",
    "types", "cover", "checks", "tables", "identities",
}
_TYPE_KEYS = {"whole", "min", "decimals", "unit", "prompt", "alert"}
_COVER_KEYS = {"sheet", "heading", "fields", "instructions"}
_FIELD_KEYS = {"label", "from", "input"}
_FIELD_SOURCES = {"agency_name", "agency_code", "year", "basis"}
_CHECKS_KEYS = {"sheet", "heading", "columns", "passed", "failed", "summary"}
_TABLE_KEYS = {"id", "sheet", "heading", "layout", "corner", "blocks", "columns", "rows", "type"}
_BLOCK_KEYS = {"caption", "note", "columns", "rows", "type"}
_AXIS_KEYS = {"code", "label", "groups", "type", "row"}
_IDENTITY_KEYS = {
    "id", "severity", "table", "over", "only", "left", "right", "total", "anchor", "relation",
    "description",
}
RELATIONS = ("=", "<=")
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class CellType:
    """What a data cell may hold: whole or decimal, an optional lower bound, a unit."""

    name: str
    whole: bool
    min: float | None
    decimals: int | None
    unit: str
    prompt: str
    alert: str


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


@dataclass(frozen=True)
class Identity:
    """One instance of a spec identity: ``sum(left) <relation> sum(right)``."""

    rule: str
    severity: str
    relation: str
    table: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    anchor: str
    description: str


@dataclass(frozen=True)
class CoverField:
    label: str
    source: str | None  # one of _FIELD_SOURCES, or None for a clerk's input


@dataclass(frozen=True)
class Table:
    id: str
    sheet: str
    heading: str
    layout: str
    corner: str
    raw: dict  # the table's spec, for the layout module


@dataclass(frozen=True)
class Template:
    format: str
    version: str
    title: str
    basis: str
    first_year: int
    last_year: int | None
    source: Path
    types: dict[str, CellType]
    cover: dict
    cover_fields: tuple[CoverField, ...]
    checks: dict
    tables: tuple[Table, ...]
    cells: dict[str, Cell]
    identities: tuple[Identity, ...]

    @property
    def short(self) -> str:
        """``2019`` or ``2021``: the name used on the command line."""
        return self.format.rsplit("-", 1)[-1]

    def accepts_year(self, year: int) -> bool:
        return year >= self.first_year and (self.last_year is None or year <= self.last_year)

    def table(self, table_id: str) -> Table:
        return next(t for t in self.tables if t.id == table_id)


def templates_dir() -> Path:
    """The folder of shipped specs: inside the installed package, or the checkout's ``templates/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise SpecError(f"no templates folder next to {here}")


def available_formats() -> dict[str, Path]:
    """Map every shipped format id (``gov-disclosure-2021``) to its spec file."""
    return {p.stem: p for p in sorted(templates_dir().glob("*.toml"))}


@cache
def load_format(name: str) -> Template:
    """Load a shipped format by id (``gov-disclosure-2021``) or short name (``2021``)."""
    formats = available_formats()
    key = name if name in formats else f"gov-disclosure-{name}"
    if key not in formats:
        raise SpecError(f"unknown format {name!r}; known: {', '.join(formats)}")
    return load_spec(formats[key])


def load_spec(path: Path) -> Template:
    """Parse, validate and expand one spec file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: cannot read spec: {exc}") from None
    return _Builder(path, data).build()


class _Builder:
    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data
        self.cells: dict[str, Cell] = {}
        self.order: dict[str, dict[str, list[str]]] = {}  # table -> {"rows"/"columns": codes in order}

    def fail(self, where: str, message: str) -> SpecError:
        return SpecError(f"{self.path.name}: {where}: {message}")

    def keys(self, obj: object, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> dict:
        if not isinstance(obj, dict):
            raise self.fail(where, "expected a table")
        unknown = sorted(set(obj) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key {unknown[0]!r}")
        for key in required:
            if key not in obj:
                raise self.fail(where, f"missing key {key!r}")
        return obj

    def build(self) -> Template:
        d = self.keys(self.data, _TOP_KEYS, "top level",
                      ("format", "template_version", "title", "basis", "first_year", "types", "cover",
                       "checks", "tables", "identities"))
        types = {name: self.cell_type(name, t) for name, t in d["types"].items()}
        if "count" not in types:
            raise self.fail("types", "a 'count' type is required (the default cell type)")
        cover = self.keys(d["cover"], _COVER_KEYS, "cover", ("sheet", "heading", "fields", "instructions"))
        fields = []
        for i, f in enumerate(cover["fields"]):
            f = self.keys(f, _FIELD_KEYS, f"cover.fields[{i}]", ("label",))
            source = f.get("from")
            if source is not None and source not in _FIELD_SOURCES:
                raise self.fail(f"cover.fields[{i}]", f"unknown source {source!r}")
            if (source is None) == (not f.get("input", False)):
                raise self.fail(f"cover.fields[{i}]", "give exactly one of 'from' and 'input = true'")
            fields.append(CoverField(f["label"], source))
        checks = self.keys(d["checks"], _CHECKS_KEYS, "checks", tuple(sorted(_CHECKS_KEYS)))
        tables = tuple(self.table(i, t, types) for i, t in enumerate(d["tables"]))
        sheets = [cover["sheet"], checks["sheet"], *(t.sheet for t in tables)]
        if len(set(sheets)) != len(sheets):
            raise self.fail("tables", "two sheets share a name")
        identities: list[Identity] = []
        for i, ident in enumerate(d["identities"]):
            identities.extend(self.identity(i, ident))
        self.check_cycles()
        return Template(
            format=d["format"], version=str(d["template_version"]), title=d["title"], basis=d["basis"],
            first_year=int(d["first_year"]), last_year=d.get("last_year"), source=self.path,
            types=types, cover=cover, cover_fields=tuple(fields), checks=checks, tables=tables,
            cells=self.cells, identities=tuple(identities),
        )

    def cell_type(self, name: str, t: dict) -> CellType:
        t = self.keys(t, _TYPE_KEYS, f"types.{name}", ("whole", "unit", "prompt", "alert"))
        return CellType(name, bool(t["whole"]), t.get("min"), t.get("decimals"), t["unit"], t["prompt"],
                        t["alert"])

    def type_of(self, name: str | None, types: dict[str, CellType], where: str) -> CellType | None:
        if name is None:
            return None
        if name not in types:
            raise self.fail(where, f"unknown type {name!r}")
        return types[name]

    def table(self, index: int, t: dict, types: dict[str, CellType]) -> Table:
        where = f"table {t['id']}" if isinstance(t, dict) and "id" in t else f"tables[{index}]"
        t = self.keys(t, _TABLE_KEYS, where, ("id", "sheet", "heading", "layout"))
        tid = t["id"]
        if tid in self.order:
            raise self.fail(where, "duplicate table id")
        default = self.type_of(t.get("type", "count"), types, where)
        self.order[tid] = {"rows": [], "columns": []}
        if t["layout"] == "blocks":
            for b_index, block in enumerate(t.get("blocks", [])):
                bwhere = f"{where} block {b_index + 1}"
                block = self.keys(block, _BLOCK_KEYS, bwhere, ("caption", "columns", "rows"))
                btype = self.type_of(block.get("type"), types, bwhere) or default
                columns = [self.axis(c, f"{bwhere} columns[{i}]") for i, c in enumerate(block["columns"])]
                rows = [self.axis(r, f"{bwhere} rows[{i}]") for i, r in enumerate(block["rows"])]
                for row in rows:
                    for col in columns:
                        ctype = (self.type_of(col.get("type"), types, bwhere)
                                 or self.type_of(row.get("type"), types, bwhere) or btype)
                        self.add_cell(tid, row["code"], col["code"], row["label"], col["label"], ctype, bwhere)
        elif t["layout"] == "matrix":
            columns = [self.axis(c, f"{where} columns[{i}]") for i, c in enumerate(t.get("columns", []))]
            rows = [self.axis(r, f"{where} rows[{i}]", need_code=False) for i, r in enumerate(t.get("rows", []))]
            for row in rows:
                for col in columns:
                    row_code = row.get("code") or col.get("row")
                    if not row_code or (row.get("code") and col.get("row")):
                        raise self.fail(where, "each cell needs its row code from exactly one of its row and column")
                    row_label = row.get("label") or (col.get("groups") or [""])[-1]
                    ctype = (self.type_of(col.get("type"), types, where)
                             or self.type_of(row.get("type"), types, where) or default)
                    self.add_cell(tid, row_code, col["code"], row_label, col["label"], ctype, where)
        else:
            raise self.fail(where, f"unknown layout {t['layout']!r} (blocks or matrix)")
        return Table(tid, t["sheet"], t["heading"], t["layout"], t.get("corner", ""), t)

    def axis(self, entry: dict, where: str, need_code: bool = True) -> dict:
        entry = self.keys(entry, _AXIS_KEYS, where, ("code", "label") if need_code else ())
        if "groups" in entry and not all(isinstance(g, str) and g for g in entry["groups"]):
            raise self.fail(where, "groups must be non-empty labels")
        return entry

    def add_cell(self, table: str, row: str, col: str, row_label: str, col_label: str, ctype: CellType,
                 where: str) -> None:
        code = f"{table}_{row}_{col}"
        if code in self.cells:
            raise self.fail(where, f"duplicate data point code {code}")
        self.cells[code] = Cell(code, table, row, col, row_label, col_label, ctype)
        order = self.order[table]
        if row not in order["rows"]:
            order["rows"].append(row)
        if col not in order["columns"]:
            order["columns"].append(col)

    def expand(self, codes: list, axis: list[str], where: str) -> list[str]:
        """Expand ``"A..B"`` ranges against the table's row or column order."""
        out: list[str] = []
        for code in codes:
            if not isinstance(code, str):
                raise self.fail(where, f"expected a code, got {code!r}")
            if ".." in code:
                first, last = code.split("..", 1)
                if first not in axis or last not in axis or axis.index(first) > axis.index(last):
                    raise self.fail(where, f"bad range {code!r}")
                out.extend(axis[axis.index(first): axis.index(last) + 1])
            else:
                out.append(code)
        return out

    def identity(self, index: int, d: dict) -> list[Identity]:
        where = f"identity {d['id']}" if isinstance(d, dict) and "id" in d else f"identities[{index}]"
        d = self.keys(d, _IDENTITY_KEYS, where, ("id", "severity", "table", "over", "left", "right", "description"))
        if d["severity"] not in SEVERITIES:
            raise self.fail(where, f"severity must be one of {SEVERITIES}")
        relation = d.get("relation", "=")
        if relation not in RELATIONS:
            raise self.fail(where, f"relation must be one of {RELATIONS}")
        table = d["table"]
        if table not in self.order:
            raise self.fail(where, f"no table {table!r}")
        if d["over"] not in ("rows", "columns"):
            raise self.fail(where, "over must be 'rows' or 'columns'")
        over, other = ("rows", "columns") if d["over"] == "rows" else ("columns", "rows")
        left = self.expand(d["left"], self.order[table][other], where)
        right = self.expand(d["right"], self.order[table][other], where)
        anchor = d.get("anchor", left[0] if left else "")
        total = bool(d.get("total", False))
        if total and (len(left) != 1 or relation != "="):
            raise self.fail(where, "a total needs exactly one left cell and relation '='")
        keys = d.get("only") or self.order[table][over]
        out = []
        for key in keys:
            def code(part: str, key: str = key) -> str:
                return f"{table}_{key}_{part}" if over == "rows" else f"{table}_{part}_{key}"

            lcodes, rcodes = tuple(map(code, left)), tuple(map(code, right))
            for c in (*lcodes, *rcodes, code(anchor)):
                if c not in self.cells:
                    raise self.fail(where, f"refers to missing cell {c}")
            sample = self.cells[lcodes[0]]
            label = {"row": sample.row_label, "column": sample.column_label}
            if total and self.cells[lcodes[0]].total_of is None:
                self.cells[lcodes[0]] = replace(self.cells[lcodes[0]], total_of=rcodes)
            out.append(Identity(d["id"], d["severity"], relation, table, lcodes, rcodes, code(anchor),
                                d["description"].format(**label)))
        return out

    def check_cycles(self) -> None:
        state: dict[str, int] = {}

        def visit(code: str, path: list[str]) -> None:
            if state.get(code) == 2:
                return
            if state.get(code) == 1:
                raise self.fail("identities", "circular total: " + " -> ".join([*path, code]))
            state[code] = 1
            for part in self.cells[code].total_of or ():
                visit(part, [*path, code])
            state[code] = 2

        for code in self.cells:
            visit(code, [])
