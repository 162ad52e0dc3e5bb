"""Parse and validate a template spec file into the typed objects of :mod:`xltool.spec`.

Every key and every scalar is checked (each table through :class:`~xltool.spec_section.SpecSection`): anything
unknown, missing, of the wrong type, ambiguous or circular raises a :class:`SpecError` naming the file, the
place and what was expected. ``templates/README.md`` documents every key.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from xltool.errors import SpecError
from xltool.spec import (
    Axis,
    Block,
    Cell,
    CellType,
    Checks,
    Cover,
    CoverField,
    ExplanationsSheet,
    Identity,
    Plausibility,
    PreviousSheet,
    Table,
    Template,
    code_of,
    split_previous,
)
from xltool.spec_section import SpecSection

FIELD_SOURCES = ("agency_name", "agency_code", "year", "basis")
RELATIONS = ("=", "<=", ">=")
PLAUSIBILITY_KINDS = ("zero", "unit", "band")
_PLAUSIBILITY_FIELDS = ("row", "column", "type", "value", "previous")
SEVERITIES = ("error", "warning")
LAYOUTS = ("blocks", "matrix")
CHECK_COLUMNS = 6


def load_spec(path: Path) -> Template:
    """Parse, validate and expand one spec file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: cannot read spec: {exc}") from None
    return _Builder(path).build(data)


class _Builder:
    def __init__(self, path: Path):
        self.path = path
        self.types: dict[str, CellType] = {}
        self.cells: dict[str, Cell] = {}
        self.order: dict[str, dict[str, list[str]]] = {}  # table -> {"rows"/"columns": codes in order}

    def fail(self, where: str, message: str) -> SpecError:
        return SpecError(f"{self.path.name}: {where}: {message}")

    def section(self, obj: object, where: str, required: tuple[str, ...],
                optional: tuple[str, ...] | None = ()) -> SpecSection:
        return SpecSection(self.fail, obj, where, required, optional)

    def build(self, data: dict) -> Template:
        top = self.section(data, "top level",
                           ("format", "short", "name", "template_version", "title", "basis", "first_year", "types",
                            "cover", "checks", "tables", "identities", "agency_types", "explanations", "previous"),
                           ("last_year", "plausibility"))
        self.agency_types = top.texts("agency_types")
        types = self.section(data["types"], "types", (), None)
        for name in types.obj:
            self.types[name] = self.cell_type(name, types.obj[name])
        if "count" not in self.types:
            raise self.fail("types", "a 'count' type is required (the default cell type)")
        cover = self.cover(data["cover"])
        checks = self.checks(data["checks"])
        tables = tuple(self.table(i, t) for i, t in enumerate(top.tables("tables")))
        sheets = [cover.sheet, checks.sheet, *(t.sheet for t in tables)]
        if len(set(sheets)) != len(sheets):
            raise self.fail("tables", "two sheets share a name")
        identities: list[Identity] = []
        for i, ident in enumerate(top.tables("identities")):
            identities.extend(self.identity(i, ident))
        plausibility: list[Plausibility] = []
        for i, rule in enumerate(top.tables("plausibility")):
            plausibility.extend(self.plausibility(i, rule))
        self.check_cycles()
        first_year, last_year = top.integer("first_year"), top.integer("last_year")
        if last_year is not None and last_year < first_year:
            raise self.fail("top level", "last_year is before first_year")
        return Template(
            format=top.text("format"), short=top.text("short"), name=top.text("name"),
            version=top.text("template_version"), title=top.text("title"), basis=top.text("basis"),
            first_year=first_year, last_year=last_year, source=self.path,
            types=MappingProxyType(dict(self.types)), cover=cover, checks=checks, tables=tables,
            cells=MappingProxyType(dict(self.cells)), identities=tuple(identities), plausibility=tuple(plausibility),
            agency_types=self.agency_types, explanations=self.explanations_sheet(data["explanations"]),
            previous=self.previous_sheet(data["previous"]),
        )

    def explanations_sheet(self, obj: object) -> ExplanationsSheet:
        e = self.section(obj, "explanations", ("sheet", "heading", "columns", "rows", "note", "prompt"))
        columns, rows = e.texts("columns"), e.integer("rows")
        if len(columns) != 2 or rows < 1:
            raise self.fail("explanations", "columns must name the rule and the explanation; rows must be 1 or more")
        return ExplanationsSheet(e.text("sheet"), e.text("heading"), (columns[0], columns[1]), rows, e.text("note"),
                                 e.text("prompt"))

    def previous_sheet(self, obj: object) -> PreviousSheet:
        p = self.section(obj, "previous", ("sheet", "heading", "columns", "explain"))
        if len(p.texts("columns")) != 4:
            raise self.fail("previous", "columns must name the data point, row, column and last year's value")
        return PreviousSheet(p.text("sheet"), p.text("heading"), p.texts("columns"), p.text("explain"))

    def plausibility(self, index: int, obj: object) -> list[Plausibility]:
        where = f"plausibility {obj['id']}" if isinstance(obj, dict) and isinstance(obj.get("id"), str) \
            else f"plausibility[{index}]"
        p = self.section(obj, where, ("id", "kind", "cells", "description"),
                         ("types", "factor", "ceilings", "growth", "fall_from"))
        kind = p.text("kind")
        if kind not in PLAUSIBILITY_KINDS:
            raise self.fail(where, f"kind must be one of {PLAUSIBILITY_KINDS}")
        types = p.texts("types")
        ceilings = self.section(p.obj.get("ceilings", {}), f"{where}.ceilings", (), None)
        named = (*types, *ceilings.obj)
        unknown = [t for t in named if t not in self.agency_types]
        if unknown:
            raise self.fail(where, f"unknown agency type {unknown[0]!r}; known: {', '.join(self.agency_types)}")
        needs = {"zero": ("types",), "unit": ("factor",), "band": ("growth", "fall_from")}[kind]
        for key in needs:
            if key not in p:
                raise self.fail(where, f"a {kind} rule needs {key!r}")
        codes = [c for pattern in p.texts("cells") for c in self.cells_matching(pattern, where)]
        description = p.text("description")
        try:
            description.format(**{k: "" for k in _PLAUSIBILITY_FIELDS})
        except (KeyError, IndexError, ValueError):
            raise self.fail(where, f"description may use only {{{'}, {'.join(_PLAUSIBILITY_FIELDS)}}}") from None
        return [Plausibility(p.text("id"), kind, code, description, types, p.number("factor"),
                             tuple((t, ceilings.number(t)) for t in ceilings.obj), p.number("growth"),
                             p.number("fall_from")) for code in codes]

    def cells_matching(self, pattern: str, where: str) -> list[str]:
        """The data point codes a pattern names: a code, or a prefix ending in ``*`` (``T2_RULES_*``)."""
        found = [c for c in self.cells if c == pattern or (pattern.endswith("*") and c.startswith(pattern[:-1]))]
        if not found:
            raise self.fail(where, f"no data point matches {pattern!r}")
        return found

    def cell_type(self, name: str, obj: object) -> CellType:
        where = f"types.{name}"
        t = self.section(obj, where, ("whole", "unit", "prompt", "alert"), ("min", "decimals", "max_abs", "typed_units"))
        decimals = t.integer("decimals")
        if decimals is not None and decimals < 0:
            raise self.fail(where, "decimals must be 0 or more")
        units = self.section(t.obj.get("typed_units", {}), f"{where}.typed_units", (), None)
        factors = tuple((unit, units.number(unit)) for unit in units.obj)
        if any(factor <= 0 for _, factor in factors):
            raise self.fail(f"{where}.typed_units", "a factor must be greater than 0")
        return CellType(name, t.flag("whole"), t.number("min"), decimals, t.text("unit"), t.text("prompt"),
                        t.text("alert"), t.number("max_abs"), factors)

    def type_of(self, section: SpecSection) -> CellType | None:
        name = section.text("type")
        if name is None:
            return None
        if name not in self.types:
            raise self.fail(section.where, f"unknown type {name!r}")
        return self.types[name]

    def cover(self, obj: object) -> Cover:
        c = self.section(obj, "cover", ("sheet", "heading", "fields", "caption", "instructions", "summary_caption",
                                        "summary_instructions", "summary_no_code"))
        fields = []
        for i, f in enumerate(c.tables("fields")):
            f = self.section(f, f"cover.fields[{i}]", ("label",), ("from", "input"))
            source = f.text("from")
            if source is not None and source not in FIELD_SOURCES:
                raise self.fail(f.where, f"unknown source {source!r}; known: {', '.join(FIELD_SOURCES)}")
            if (source is None) == (not f.flag("input", False)):
                raise self.fail(f.where, "give exactly one of 'from' and 'input = true'")
            fields.append(CoverField(f.text("label"), source))
        summary_lines = c.texts("summary_instructions")
        for line in summary_lines:
            try:
                line.format(name="", code="", count=0, format_name="", year="", generator="")
            except (KeyError, IndexError, ValueError):
                raise self.fail("cover", "summary_instructions may use only {name}, {code}, {count}, {format_name}, "
                                         "{year} and {generator}") from None
        return Cover(c.text("sheet"), c.text("heading"), tuple(fields), c.text("caption"), c.texts("instructions"),
                     c.text("summary_caption"), summary_lines, c.text("summary_no_code"))

    def checks(self, obj: object) -> Checks:
        c = self.section(obj, "checks", ("sheet", "heading", "columns", "passed", "failed", "summary"))
        if len(c.texts("columns")) != CHECK_COLUMNS:
            raise self.fail("checks", f"columns must name the {CHECK_COLUMNS} columns of the check sheet "
                                      "(rule, description, left, right, difference, result)")
        return Checks(c.text("sheet"), c.text("heading"), c.texts("columns"), c.text("passed"), c.text("failed"),
                      c.text("summary"))

    def table(self, index: int, obj: object) -> Table:
        where = f"table {obj['id']}" if isinstance(obj, dict) and isinstance(obj.get("id"), str) else f"tables[{index}]"
        t = self.section(obj, where, ("id", "sheet", "heading", "layout"),
                         ("corner", "blocks", "columns", "rows", "type"))
        tid, layout = t.text("id"), t.text("layout")
        if tid in self.order:
            raise self.fail(where, "duplicate table id")
        if layout not in LAYOUTS:
            raise self.fail(where, f"unknown layout {layout!r} (blocks or matrix)")
        default = self.type_of(t) or self.types["count"]
        self.order[tid] = {"rows": [], "columns": []}
        common = {"id": tid, "sheet": t.text("sheet"), "heading": t.text("heading"), "layout": layout,
                  "corner": t.text("corner", "")}
        if layout == "blocks":
            blocks = tuple(self.block(tid, f"{where} block {i + 1}", b, default)
                           for i, b in enumerate(t.tables("blocks")))
            if not blocks:
                raise self.fail(where, "a blocks table needs at least one block")
            return Table(**common, blocks=blocks)
        columns = tuple(self.axis(c, f"{where} columns[{i}]") for i, c in enumerate(t.tables("columns")))
        rows = tuple(self.axis(r, f"{where} rows[{i}]", need_code=False) for i, r in enumerate(t.tables("rows")))
        if not columns or not rows:
            raise self.fail(where, "a matrix table needs rows and columns")
        codes = []
        for row in rows:
            line = []
            for col in columns:
                if (row.code is None) == (col.row is None):
                    raise self.fail(where, "each cell needs its row code from exactly one of its row and column")
                row_label = row.label or (col.groups or ("",))[-1]
                line.append(self.add_cell(tid, row.code or col.row, col.code, row_label, col.label,
                                          col.type or row.type or default, where))
            codes.append(tuple(line))
        return Table(**common, columns=columns, rows=rows, codes=tuple(codes))

    def block(self, tid: str, where: str, obj: object, default: CellType) -> Block:
        b = self.section(obj, where, ("caption", "columns", "rows"), ("note", "type"))
        btype = self.type_of(b) or default
        columns = tuple(self.axis(c, f"{where} columns[{i}]") for i, c in enumerate(b.tables("columns")))
        rows = tuple(self.axis(r, f"{where} rows[{i}]") for i, r in enumerate(b.tables("rows")))
        if not columns or not rows:
            raise self.fail(where, "a block needs rows and columns")
        codes = tuple(tuple(self.add_cell(tid, row.code, col.code, row.label, col.label,
                                          col.type or row.type or btype, where) for col in columns)
                      for row in rows)
        return Block(b.text("caption"), b.text("note", ""), columns, rows, codes)

    def axis(self, obj: object, where: str, need_code: bool = True) -> Axis:
        a = self.section(obj, where, ("code", "label") if need_code else (), ("code", "label", "groups", "type", "row"))
        groups = a.texts("groups")
        if not all(groups):
            raise self.fail(where, "groups must be non-empty labels")
        return Axis(a.text("code"), a.text("label", ""), groups, self.type_of(a), a.text("row"))

    def add_cell(self, table: str, row: str, col: str, row_label: str, col_label: str, ctype: CellType,
                 where: str) -> str:
        code = code_of(table, row, col)
        if code in self.cells:
            raise self.fail(where, f"duplicate data point code {code}")
        self.cells[code] = Cell(code, table, row, col, row_label, col_label, ctype)
        order = self.order[table]
        if row not in order["rows"]:
            order["rows"].append(row)
        if col not in order["columns"]:
            order["columns"].append(col)
        return code

    def expand(self, codes: tuple[str, ...], axis: list[str], where: str) -> list[str]:
        """Expand ``"A..B"`` ranges against the table's row or column order (``prev.`` kept on every code)."""
        out: list[str] = []
        for ref in codes:
            previous, code = split_previous(ref)
            prefix = ref[:len(ref) - len(code)]
            if ".." in code:
                first, last = code.split("..", 1)
                if first not in axis or last not in axis or axis.index(first) > axis.index(last):
                    raise self.fail(where, f"bad range {code!r}")
                out.extend(prefix + c for c in axis[axis.index(first): axis.index(last) + 1])
            else:
                out.append(ref)
        return out

    def identity(self, index: int, obj: object) -> list[Identity]:
        where = f"identity {obj['id']}" if isinstance(obj, dict) and isinstance(obj.get("id"), str) \
            else f"identities[{index}]"
        d = self.section(obj, where, ("id", "severity", "table", "over", "left", "right", "description"),
                         ("only", "total", "anchor", "relation"))
        severity, relation, table, over = d.text("severity"), d.text("relation", "="), d.text("table"), d.text("over")
        if severity not in SEVERITIES:
            raise self.fail(where, f"severity must be one of {SEVERITIES}")
        if relation not in RELATIONS:
            raise self.fail(where, f"relation must be one of {RELATIONS}")
        if table not in self.order:
            raise self.fail(where, f"no table {table!r}")
        if over not in ("rows", "columns"):
            raise self.fail(where, "over must be 'rows' or 'columns'")
        other = "columns" if over == "rows" else "rows"
        left = self.expand(d.texts("left"), self.order[table][other], where)
        right = self.expand(d.texts("right"), self.order[table][other], where)
        if not left or (not right and relation == "="):
            raise self.fail(where, "left must name a cell, and right too unless the relation compares with 0")
        if any(split_previous(c)[0] for c in left) and not any(not split_previous(c)[0] for c in left):
            raise self.fail(where, "left must name at least one of this year's cells")
        anchor = d.text("anchor", next(c for c in left if not split_previous(c)[0]))
        total = d.flag("total", False)
        if total and (len(left) != 1 or relation != "=" or any(split_previous(c)[0] for c in right)):
            raise self.fail(where, "a total needs exactly one left cell, relation '=' and this year's cells")
        description = d.text("description")
        out = []
        for key in self.expand(d.texts("only"), self.order[table][over], where) or self.order[table][over]:
            def code(ref: str, key: str = key) -> str:
                previous, part = split_previous(ref)
                made = code_of(table, key, part) if over == "rows" else code_of(table, part, key)
                return ref[:len(ref) - len(part)] + made

            lcodes, rcodes = tuple(map(code, left)), tuple(map(code, right))
            for c in (*lcodes, *rcodes, code(anchor)):
                if split_previous(c)[1] not in self.cells:
                    raise self.fail(where, f"refers to missing cell {split_previous(c)[1]}")
            sample = self.cells[next(c for c in lcodes if not split_previous(c)[0])]
            if total and sample.total_of is None:
                self.cells[sample.code] = replace(sample, total_of=rcodes)
            try:
                text = description.format(row=sample.row_label, column=sample.column_label)
            except (KeyError, IndexError, ValueError):
                raise self.fail(where, "description may use only {row} and {column}") from None
            out.append(Identity(d.text("id"), severity, relation, table, lcodes, rcodes, code(anchor), text))
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
