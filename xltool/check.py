"""Check a returned workbook against the template it was generated from.

One read of the file gives everything; the workbook is compared with the layout of its format
(sheets, names, labels, formulas, locks, validations, protection), its input values are type-checked,
its totals are evaluated from its own formulas, and every identity of the spec is confirmed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import re
import threading
import time
from array import array as Array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from openpyxl.formula.tokenizer import Tokenizer

from xltool.evaluate import (
    EvaluationError,
    Evaluator,
    outside_reference,
    parse_reference,
)
from xltool.findings import Finding, shorten
from xltool.layout import META_SHEET, SUMMARY_SHEETS, Layout, address, layout_for
from xltool.reader import (
    ErrorValue,
    ReadError,
    WorkbookData,
    read_workbook,
    refuse_special_file,
)
from xltool.spec import Cell, available_formats

MAX_ABS = 1e12  # no count or amount of these reports comes near; beyond it, a typo or a unit error
_FULLWIDTH = str.maketrans("０１２３４５６７８９．－＋", "0123456789.-+")


class DataPoints(Mapping[str, float]):
    """A file's numbers by data point code, compactly: one float per data point of its format (NaN: none).

    Thousands of reports are held during a merge; this keeps each one to an array of doubles.
    """

    __slots__ = ("format", "array")

    def __init__(self, fmt: str, array: Array | None = None):
        self.format = fmt
        self.array = array if array is not None else Array("d", [math.nan]) * len(_index(fmt))

    def __reduce__(self):
        return DataPoints, (self.format, self.array)

    def __setitem__(self, code: str, value: float) -> None:
        self.array[_index(self.format)[code]] = value

    def __getitem__(self, code: str) -> float:
        value = self.array[_index(self.format)[code]]
        if math.isnan(value):
            raise KeyError(code)
        return value

    def __iter__(self) -> Iterator[str]:
        return (code for code, i in _index(self.format).items() if not math.isnan(self.array[i]))

    def __len__(self) -> int:
        return sum(1 for _ in self)


@lru_cache(maxsize=None)
def _index(fmt: str) -> dict[str, int]:
    return {code: i for i, code in enumerate(layout_for(fmt).template.cells)}


@dataclass
class FileReport:
    """What checking one file found, and what merging it needs."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    format: str | None = None
    year: int | None = None
    agency_code: str | None = None
    agency_name: str | None = None
    role: str | None = None
    members: list[str] = field(default_factory=list)
    values: Mapping[str, float] = field(default_factory=dict)  # data point -> its number, where it is one
    size: int | None = None
    sha256: str | None = None
    checked_at: str = ""

    @property
    def valid(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def to_dict(self) -> dict:
        return {"path": str(self.path), "valid": self.valid, "format": self.format, "year": self.year,
                "agency": {"code": self.agency_code, "name": self.agency_name}, "role": self.role,
                "findings": [f.to_dict() for f in self.findings]}


@dataclass
class Report:
    files: list[FileReport]

    @property
    def valid(self) -> bool:
        return all(f.valid for f in self.files)

    def to_json(self) -> str:
        return json.dumps({"valid": self.valid, "files": [f.to_dict() for f in self.files]},
                          ensure_ascii=False, indent=2)


# What a returned report may have been saved as. A folder's files of these kinds are all checked, so
# that a report in the wrong format (.xls, .ods, .csv, WPS .et) is refused with its reason, not left out.
SUBMISSION_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlt", ".xlsb", ".et", ".ett",
                                 ".ods", ".ots", ".fods", ".csv"})


def find_workbooks(paths: Iterable[Path]) -> list[Path]:
    """Files as given (whatever their names), and in given folders every file a spreadsheet may have been
    saved as (:data:`SUBMISSION_SUFFIXES`; sorted, not recursive, hidden and ``~$`` lock files skipped)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir() and path.suffix.lower() not in SUBMISSION_SUFFIXES:
            out.extend(sorted(p for p in path.iterdir()
                              if p.suffix.lower() in SUBMISSION_SUFFIXES and not p.name.startswith(("~$", "."))))
        else:
            out.append(path)
    return out


PARALLEL_FROM = 16  # files; below this a process pool costs more than it saves


def check_many(files: Sequence[Path], *, workers: int | None = None) -> Iterator[FileReport]:
    """Check files in order, on every core when there are many: reports stream out as they are done."""
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(files) < PARALLEL_FROM:
        yield from map(check_file, files)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_end_with, initargs=(os.getpid(),)) as pool:
        yield from pool.map(check_file, files, chunksize=max(1, min(64, len(files) // (workers * 8))))


def _end_with(parent: int) -> None:
    """Make a pool worker end when the process that started it is gone.

    A process killed outright (``kill -9``, the out-of-memory killer) cannot stop its workers; they
    would wait for work for ever. A thread in each worker watches its parent and ends the worker.
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.1)
        os._exit(1)

    threading.Thread(target=watch, name="xltool-parent-watch", daemon=True).start()


def check_paths(paths: Iterable[Path], *, workers: int | None = None) -> Report:
    return Report(list(check_many(find_workbooks(paths), workers=workers)))


def check_file(path: Path, *, use_cache: bool = True) -> FileReport:
    """Check one file. Never raises for a bad file: every problem becomes a finding."""
    path = Path(path)
    report = FileReport(path, checked_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    try:
        data = _read_bytes(path)
        report.size, report.sha256 = len(data), hashlib.sha256(data).hexdigest()
        book = read_workbook(path, data)
    except OSError as error:  # the reader names what went wrong in the user's words
        try:
            read_workbook(path)
            reason = f"读取文件时出错（{error.strerror or error}）。"
        except ReadError as exc:
            reason = exc.detail
        report.findings.append(Finding("unreadable-file", detail={"reason": reason}))
        return report
    except ReadError as exc:
        code = exc.code if exc.code in _READ_CODES else "unreadable-file"
        report.findings.append(Finding(code, detail={"reason": exc.detail}))
        return report
    layout = _identify(book, report)
    if layout is None:
        return report
    report.findings.extend(_Checker(book, layout, report, use_cache).run())
    return report


MAX_FILE = 64 * 1024 * 1024  # a returned workbook is ~25 KB; a summary of thousands of agencies a few MB


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, refusing one too large to be a report (or not a regular file) before reading it."""
    size = refuse_special_file(path).st_size
    if size > MAX_FILE:
        raise ReadError("zip-bomb", f"文件大小 {size >> 20} MB，超过 {MAX_FILE >> 20} MB")
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE + 1)  # never more, even if the file grows meanwhile
    if len(data) > MAX_FILE:
        raise ReadError("zip-bomb", f"文件大小超过 {MAX_FILE >> 20} MB")
    return data


_READ_CODES = {"unreadable-file", "not-a-workbook", "legacy-xls", "encrypted-file", "ods-file", "zip-bomb"}


def _identify(book: WorkbookData, report: FileReport) -> Layout | None:
    """Read ``_xltool``; the layout of its format, or None with an ``unknown-template`` finding."""
    meta = book.meta

    def unknown(reason: str) -> None:
        report.findings.append(Finding("unknown-template", detail={"reason": reason}))

    # who sent it, as the file says (clipped: these land in terminal lines and summary cells)
    agency_code, agency_name = shorten(meta.get("agency_code")), shorten(meta.get("agency_name"))
    if book.macros:  # refused outright, nothing in it is checked; who sent it is still said
        report.agency_code, report.agency_name = agency_code, agency_name
        report.findings.append(Finding("macros-present"))
        return None
    if not meta:
        unknown("没有 xltool 元数据表 _xltool")
        return None
    report.format, report.role = meta.get("format"), meta.get("role")
    report.agency_code, report.agency_name = agency_code, agency_name
    report.members = [m for m in meta.get("members", "").split(",") if m]
    if report.format not in available_formats():
        unknown(f"未知的报告格式 {report.format}")
        return None
    layout = layout_for(report.format)
    template = layout.template
    try:
        report.year = int(meta.get("year", ""))
    except ValueError:
        unknown(f"报告年度 {meta.get('year')} 无效")
        return None
    if meta.get("template_version") != template.version or meta.get("fingerprint") != layout.fingerprint:
        unknown(f"模板版本 {meta.get('template_version')} 与本系统的 {template.format} 模板（版本 {template.version}）不一致")
        return None
    if not template.accepts_year(report.year):
        unknown(f"{report.year} 年度不适用 {template.format} 格式")
        return None
    if report.role not in ("agency", "summary"):
        unknown(f"未知的角色 {report.role}")
        return None
    return layout


@lru_cache(maxsize=8192)
def normalise_formula(formula: str) -> str:
    """Formula text in a canonical form: what LibreOffice and Excel rewrite is folded away."""
    try:
        items = Tokenizer(formula if formula.startswith("=") else "=" + formula).items
    except Exception:
        return formula
    out = []
    for token in items:
        if token.type == "WHITE-SPACE":
            continue
        value = token.value
        if token.type == "OPERAND" and token.subtype == "RANGE":
            if "!" in value:
                sheet, ref = value.rsplit("!", 1)
                value = sheet.strip("'").replace("''", "'").upper() + "!" + ref
            value = value.replace("$", "").upper()
        elif token.type == "OPERAND" and token.subtype == "NUMBER":
            try:
                value = repr(float(value))
            except ValueError:
                pass
        elif token.type == "FUNC":
            value = re.sub(r"^_XLFN\.|^_XLWS\.", "", value.upper())
        out.append(value)
    return "=" + "".join(out)


class _Checker:
    def __init__(self, book: WorkbookData, layout: Layout, report: FileReport, use_cache: bool):
        self.book, self.layout, self.report = book, layout, report
        self.template = layout.template
        self.use_cache = use_cache
        self.sheets = {s.name: s for s in book.sheets}
        self.sheets_upper = {s.upper(): s for s in self.sheets}
        self.missing: set[str] = set()  # template sheets not in the file (deleted or renamed)
        self.moved: set[str] = set()  # template sheets whose data point names point elsewhere
        self.altered: set[str] = set()  # data points whose total formula was changed

    def run(self) -> list[Finding]:
        """Every finding, one per problem.

        What follows from a problem already reported is not reported again: a sheet that is missing,
        or whose rows or columns moved (its data point names point elsewhere), is not compared cell by
        cell, as every cell would differ; a bad input value is not repeated by the totals it flows into
        or by the identities over it (see :meth:`values`).
        """
        findings = list(self.package())
        findings.extend(self.sheet_list())
        findings.extend(self.names())
        for sheet in self.layout.sheets:
            if sheet.name in self.sheets and sheet.name not in self.moved:
                findings.extend(self.sheet(sheet))
        values, value_findings, unjudged = self.values()
        findings.extend(value_findings)
        findings.extend(self.identities(values, unjudged))
        return findings

    # -- the package and the sheets -------------------------------------------------------------

    def package(self) -> Iterator[Finding]:
        """One finding for everything that points outside the package (links, OLE objects, connections)."""
        if self.book.external_parts:
            yield Finding("external-link", actual="、".join(self.book.external_parts))

    def sheet_list(self) -> Iterator[Finding]:
        expected = [s.name for s in self.layout.sheets]
        extra_ok = SUMMARY_SHEETS if self.report.role == "summary" else ()
        actual = [s.name for s in self.book.sheets]
        missing = [n for n in expected if n not in actual]
        extra = [n for n in actual if n not in expected and n not in extra_ok and n != META_SHEET]
        renamed = self._renamed(missing, extra, expected, actual)
        self.missing = set(missing)
        for name in missing:
            reason = f"工作表“{name}”被重命名为“{renamed[name]}”" if name in renamed else f"工作表“{name}”被删除或重命名"
            yield Finding("structure-changed", sheet=name, detail={"reason": reason})
        was = {new: old for old, new in renamed.items()}
        for name in extra:
            reason = f"工作表“{name}”不是模板中的工作表（由“{was[name]}”改名而来）" if name in was else \
                f"增加了工作表“{name}”"
            yield Finding("structure-changed", sheet=name, detail={"reason": reason})
        present = [n for n in actual if n in expected]
        if present != [n for n in expected if n in actual]:
            yield Finding("structure-changed", detail={"reason": "工作表的顺序被改变"})
        for sheet in self.book.sheets:
            if sheet.name in expected and sheet.state != "visible":
                yield Finding("structure-changed", sheet=sheet.name, detail={"reason": f"工作表“{sheet.name}”被隐藏"})
            if sheet.name == META_SHEET and sheet.state == "visible":
                yield Finding("protection-removed", sheet=sheet.name, detail={"reason": "元数据表被取消隐藏"})

    def _renamed(self, missing: list[str], extra: list[str], expected: list[str], actual: list[str]) -> dict[str, str]:
        """Missing sheet -> the extra sheet it was renamed to: where its data point names point now (Excel
        renames them along), else the extra sheet standing at its place."""
        out: dict[str, str] = {}
        for name in missing:
            targets: Counter[str] = Counter()
            for code, (sheet, _, _) in self.layout.positions.items():
                ref = self.book.defined_names.get(code) if sheet == name else None
                if ref:
                    with contextlib.suppress(EvaluationError):
                        targets[parse_reference(ref.lstrip("="), "", self.sheets_upper)[0]] += 1
            found = [t for t, _ in targets.most_common() if t in extra]
            place = expected.index(name)
            if not found and place < len(actual) and actual[place] in extra:
                found = [actual[place]]
            if found and found[0] not in out.values():
                out[name] = found[0]
        return out

    def names(self) -> Iterator[Finding]:
        sheets = self.sheets_upper
        for code, (sheet, row, col) in self.layout.positions.items():
            if sheet in self.missing:
                continue  # the sheet's own finding says it; its names are not listed one by one
            cell = self.template.cells[code]
            ref = self.book.defined_names.get(code)
            labels = {"name": code, "table": cell.table, "row": cell.row_label, "column": cell.column_label,
                      "sheet": sheet, "cell": address(row, col)}
            if ref is None:
                yield Finding("structure-changed", **labels, detail={"reason": f"数据点名称 {code} 被删除"})
                continue
            try:
                name_sheet, r1, c1, r2, c2 = parse_reference(ref.lstrip("="), "", sheets)
                target = (name_sheet, r1, c1) if (r1, c1) == (r2, c2) and name_sheet else None
            except EvaluationError:
                target = None
            if target != (sheet, row, col):
                self.moved.add(sheet)
                where = f"{target[0]}!{address(target[1], target[2])}" if target else ref
                yield Finding("structure-changed", **labels, actual=where,
                              detail={"reason": f"数据点名称 {code} 现指向 {where}，模板中为 {sheet}!{address(row, col)}"
                                                "（可能插入或删除了行、列，或名称被修改）"})

    def sheet(self, expected) -> Iterator[Finding]:
        actual = self.sheets[expected.name]
        meta = self.book.meta
        for text in expected.texts:
            want = meta.get(text.source, "") if text.source else text.value
            got = actual.cells.get((text.row, text.col))
            value = "" if got is None or got.value is None else got.value
            if got is not None and got.formula:
                value = got.formula
            if _text(value) != want:
                yield Finding("label-altered", sheet=expected.name, cell=address(text.row, text.col),
                              expected=want, actual=_text(value))
            if text.merged and (text.row, text.col, text.last_row, text.last_col) not in actual.merged:
                yield Finding("structure-changed", sheet=expected.name, cell=address(text.row, text.col),
                              detail={"reason": f"{expected.name}!{address(text.row, text.col)} 的合并单元格被拆分"})
        for f in expected.formulas:
            got = actual.cells.get((f.row, f.col))
            formula = got.formula if got else None
            if formula is None or (formula != f.formula and normalise_formula(formula) != normalise_formula(f.formula)):
                shown = formula or ("空白" if got is None or got.value is None else f"数值 {_text(got.value)}")
                if f.code:
                    self.altered.add(f.code)
                yield Finding("formula-altered", sheet=expected.name, cell=address(f.row, f.col),
                              expected=f.formula, actual=shown, **self.labels(f.code))
            elif got is not None and not got.locked and actual.protection:
                yield Finding("protection-removed", sheet=expected.name, cell=address(f.row, f.col),
                              detail={"reason": f"公式单元格 {address(f.row, f.col)} 被解除锁定"})
        if not actual.protection or actual.protection.get("sheet") not in ("1", "true"):
            yield Finding("protection-removed", sheet=expected.name, detail={"reason": "工作表保护被撤销"})
        validated = {}
        for v in actual.validations:
            for pos in v.cells:
                validated[pos] = v
        for cell in expected.inputs:
            if cell.type is None:
                continue
            v = validated.get((cell.row, cell.col))
            want = ("whole" if cell.type.whole else "decimal")
            ok = v is not None and v.type == want and (
                cell.type.min is None or (v.operator == "greaterThanOrEqual" and _number(v.formula1) == cell.type.min))
            if not ok:
                yield Finding("validation-removed", sheet=expected.name, cell=address(cell.row, cell.col),
                              **self.labels(cell.code))

    def labels(self, code: str | None) -> dict:
        if code is None:
            return {}
        cell = self.template.cells[code]
        return {"name": code, "table": cell.table, "row": cell.row_label, "column": cell.column_label}

    # -- values ---------------------------------------------------------------------------------

    def values(self) -> tuple[dict[str, object], list[Finding], set[str]]:
        """Every data point's value as the workbook computes it, the findings on them, and the data points
        whose value cannot be judged (the identities over them are not checked).

        One problem, one finding: an input whose value is reported (text, blank, negative, an error, an
        external formula…) is not reported again by the totals it flows into (spec ``total_of``), and
        an error in a total whose formula was changed is the ``formula-altered`` finding's. Only an error
        that starts in an intact total is reported on that total.
        """
        book = self.book

        def cell(ref):
            sheet = self.sheets.get(ref[0])
            return sheet.cells.get((ref[1], ref[2])) if sheet else None

        def formula_of(ref):
            c = cell(ref)
            return c.formula if c else None

        def value_of(ref):
            c = cell(ref)
            return c.value if c else None

        evaluator = Evaluator(formula_of, value_of, book.defined_names, self.sheets_upper, use_cache=self.use_cache)
        self.report.values = DataPoints(self.template.format)
        values: dict[str, object] = {}
        found: dict[str, list[Finding]] = {}
        unjudged: set[str] = set()
        totals: list[tuple[str, object, str | None, dict]] = []
        for code, (sheet, row, col) in self.layout.positions.items():
            if sheet in self.missing or sheet in self.moved:
                unjudged.add(code)  # not where the template has it: the structure findings say why
                continue
            spec_cell = self.template.cells[code]
            located = {"sheet": sheet, "cell": address(row, col), **self.labels(code)}
            problem = None
            try:
                value = evaluator.value((sheet, row, col))
            except EvaluationError as exc:
                value, problem = ErrorValue("#VALUE!"), str(exc)
            values[code] = value
            if _is_number(value):
                self.report.values[code] = value
            if spec_cell.is_input:
                found[code] = _input_findings(value, problem, cell((sheet, row, col)), spec_cell, located)
                if not _is_number(value) or any(f.severity == "error" for f in found[code]):
                    unjudged.add(code)
            else:
                totals.append((code, value, problem, located))
        inherited: dict[str, bool] = {}

        def flows_from_unjudged(code: str) -> bool:
            if code not in inherited:
                inherited[code] = False  # a cycle in a spec cannot be, but would end here
                inherited[code] = any(p in unjudged or (not self.template.cells[p].is_input and flows_from_unjudged(p))
                                      for p in self.template.cells[code].total_of or ())
            return inherited[code]

        for code, value, problem, located in totals:
            if _is_number(value) and not flows_from_unjudged(code):
                continue
            unjudged.add(code)
            if not _is_number(value) and not flows_from_unjudged(code) and code not in self.altered:
                shown = f"#VALUE!（{problem}）" if problem else str(value)
                found[code] = [Finding("error-value", **located, actual=shown)]
        findings = [f for code in self.layout.positions for f in found.get(code, ())]
        return values, findings, unjudged

    def identities(self, values: dict[str, object], unjudged: set[str]) -> Iterator[Finding]:
        for ident in self.template.identities:
            codes = (*ident.left, *ident.right)
            if any(c in unjudged for c in codes):
                continue  # a value in it is reported already, or is not where the template has it
            if ident.anchor not in self.altered and any(c in self.altered for c in codes):
                continue  # a changed total is judged by the identities anchored at it, not by every one using it
            left = sum(_numeric(values.get(c)) for c in ident.left)
            right = sum(_numeric(values.get(c)) for c in ident.right)
            diff = left - right
            tolerance = 1e-9 * max(1.0, abs(left), abs(right))
            ok = abs(diff) <= tolerance if ident.relation == "=" else diff <= tolerance
            if ok:
                continue
            sheet, row, col = self.layout.positions[ident.anchor]
            yield Finding("identity-violated", severity=ident.severity, rule=ident.rule, sheet=sheet,
                          cell=address(row, col), expected=right, actual=left, **self.labels(ident.anchor),
                          detail={"description": ident.description, "difference": diff})


def _input_findings(value: object, problem: str | None, raw, cell: Cell, located: dict) -> list[Finding]:
    """The findings on one input cell: its formula reaching outside, or what is wrong with its value;
    a formula whose result is fine is a warning."""
    formula = raw.formula if raw is not None else None
    if formula:
        outside = outside_reference(formula)
        if outside:
            return [Finding("external-link", **located, actual=f"{formula}（{outside}）")]
    if problem is not None:
        return [Finding("error-value", **located, actual=f"#VALUE!（{problem}）")]
    found = _value_findings(value, cell, located, raw is not None and raw.date_style)
    if not formula:
        return found
    if not found:
        return [Finding("formula-in-input", **located, actual=value, detail={"formula": formula})]
    if found[0].code == "error-value":
        return [Finding("error-value", **located, actual=f"{value}（公式 {formula} 的结果）")]
    return found


def _is_number(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def _value_findings(value: object, cell: Cell, located: dict, date_style: bool) -> list[Finding]:
    t = cell.type
    if value is None or value == "":
        return [Finding("missing-value", **located)]
    if isinstance(value, ErrorValue):
        return [Finding("error-value", **located, actual=str(value))]
    if date_style:
        return [Finding("not-a-number", **located, actual="日期", detail={"advice": "请把单元格格式改为“常规”，填写数字。"})]
    if isinstance(value, bool):
        return [Finding("not-a-number", **located, actual=f"逻辑值 {'TRUE' if value else 'FALSE'}",
                        detail={"advice": "请填写数字。"})]
    if isinstance(value, str):
        return [Finding("not-a-number", **located, actual=_quote(value), detail={"advice": _advice(value, cell)})]
    if not isinstance(value, float) or not math.isfinite(value):
        return [Finding("error-value", **located, actual=str(value))]
    if abs(value) > MAX_ABS:
        return [Finding("too-large", **located, actual=value)]
    if t.min is not None and value < t.min:
        return [Finding("negative", **located, actual=value)]
    if t.whole and not value.is_integer():
        return [Finding("not-whole", **located, actual=value)]
    if t.decimals is not None and Decimal(repr(value)).as_tuple().exponent < -t.decimals:
        return [Finding("too-many-decimals", **located, actual=value)]
    return []


def _quote(text: str) -> str:
    shown = text if len(text) <= 40 else text[:40] + f"…（共 {len(text)} 个字符）"
    return f"文字“{shown}”"


def _advice(text: str, cell: Cell) -> str:
    """What the clerk should type instead of ``text``."""
    stripped = text.strip().translate(_FULLWIDTH).replace(",", "").replace("，", "")
    unit = cell.type.unit
    if stripped in ("", "/", "-", "—", "_", "无", "－", "／"):
        return "没有发生的请填数字 0。"
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)\s*(万元|元|件|个|项)?", stripped)
    if m:
        number, typed_unit = m.group(1).lstrip("+"), m.group(2)
        if typed_unit == "元" and unit == "万元":
            wan = Decimal(number) / Decimal(10000)
            return f"金额以万元为单位，请填写数字 {wan.normalize():f}（不带单位）。"
        return f"请填写数字 {number}（不带单位，单元格格式为数字而不是文本）。"
    return "请填写数字。"


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _numeric(value: object) -> float:
    """How a spreadsheet's + sees a value in an identity: numbers as they are, anything else as 0."""
    return value if isinstance(value, float) and math.isfinite(value) else 0.0
