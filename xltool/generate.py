"""Write workbooks from a layout: the only module that uses xlsxwriter.

A workbook is written in memory, finished by :mod:`xltool.finish` (SHA-512 protection, long sheets' rows
streamed in) and written atomically. The same inputs give the same bytes: document and zip timestamps are
fixed, the salt is derived, not random.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from xltool import __version__
from xltool.errors import UsageError
from xltool.files import atomic_write, safe_filename
from xltool.finish import finish
from xltool.pool import PARALLEL_FROM, process_pool
from xltool.addresses import address, col_letter
from xltool.layout import META_SHEET, ExtraSheet, Layout, layout_for, text_lines, text_value
from xltool.previous import LastYear, Previous
from xltool.spec import Template, split_previous
from xltool.xml_parts import Memo
from xltool.roster import Agency

Number = int | float | Decimal


@dataclass
class Metadata:
    """The key/value rows of the very hidden ``_xltool`` sheet."""

    format: str
    template_version: str
    year: int
    agency_code: str
    agency_name: str
    role: str = "agency"
    generated_at: str = ""
    generator: str = f"xltool {__version__}"
    fingerprint: str = ""
    members: str = ""  # summaries: the agency codes they sum, comma separated
    previous: str = ""  # the year of last year's figures written into the workbook (generate --previous)

    def items(self) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in self.__dict__.items()]


def default_timestamp(inputs_time: float | None = None) -> str:
    """``SOURCE_DATE_EPOCH`` when set; else ``inputs_time`` (the newest input's own time) when given; else today
    (UTC). The same inputs give the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        moment = datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    elif inputs_time is not None:
        moment = datetime.fromtimestamp(int(inputs_time), tz=timezone.utc)
    else:
        moment = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return utc_text(moment)


def utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_workbook(path: Path, fmt: str, year: int, agency: Agency, *, password: str | None = None,
                      generated_at: str | None = None, overwrite: bool = False,
                      previous: LastYear | None = None) -> Path:
    """Write one blank workbook for an agency; an existing file is replaced only when ``overwrite``.

    With ``previous`` (last year's figures of this agency) the workbook holds them in a locked sheet, its
    check sheet shows the cross-year rules live, and the inputs those rules equate to last year's figures
    (上年结转, 2019's 上一年项目数量) are prefilled with them, as values the clerk may change."""
    if not overwrite and Path(path).exists():
        raise UsageError(f"{path} exists; refusing to overwrite it (it may be a returned report): use --force")
    layout = layout_for(fmt, previous=previous is not None)
    meta = Metadata(layout.template.format, layout.template.version, year, agency.code, agency.name,
                    generated_at=generated_at or default_timestamp(), fingerprint=layout.fingerprint,
                    previous=str(previous.year) if previous else "")
    given = dict(previous.values) if previous else {}
    values = prefilled(layout.template, given) if previous else {}
    atomic_write(Path(path), workbook_bytes(layout, meta, values=values, given=given, password=password))
    return Path(path)


def prefilled(template: Template, last_year: Mapping[str, float]) -> dict[str, Decimal]:
    """The inputs a cross-year rule equates to last year's figures alone (``CARRY = prev.FORWARD``), filled
    with them; read from the spec's rules, never named here."""
    out: dict[str, Decimal] = {}
    for ident in template.identities:
        sides = [split_previous(c) for c in ident.right]
        if ident.relation != "=" or len(ident.left) != 1 or not sides or not all(p for p, _ in sides):
            continue
        if all(code in last_year for _, code in sides):
            out[ident.left[0]] = sum((Decimal(repr(float(last_year[code]))) for _, code in sides), Decimal(0))
    return out


def generate_roster(out_dir: Path, fmt: str, year: int, agencies: Iterable[Agency], *,
                    password: str | None = None, generated_at: str | None = None,
                    overwrite: bool = False, previous: Previous | None = None) -> list[Path]:
    """One workbook per roster agency, named ``<code>_<name>.xlsx``; nothing is written if any would be replaced.
    With ``previous``, each agency's workbook holds its own last year's figures (when there are any)."""
    out_dir = Path(out_dir)
    stamp = generated_at or default_timestamp()
    jobs = [(out_dir / safe_filename(f"{a.code}_{a.name}", ".xlsx"), fmt, year, a, password, stamp, overwrite,
             previous.by_code.get(a.code) if previous else None) for a in agencies]
    existing = [job[0].name for job in jobs if job[0].exists()]
    if existing and not overwrite:
        raise UsageError(f"{len(existing)} workbooks exist in {out_dir} (e.g. {existing[0]}); refusing to overwrite "
                         "them (they may be returned reports): use --force or another folder")
    names = [job[0].name for job in jobs]
    if len(set(names)) != len(names):
        raise UsageError("two roster rows give the same file name: " + next(n for n in names if names.count(n) > 1))
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = os.cpu_count() or 1
    if len(jobs) < PARALLEL_FROM or workers < 2:
        return [_generate_job(job) for job in jobs]
    with process_pool(workers) as pool:
        return list(pool.map(_generate_job, jobs, chunksize=16))


def _generate_job(job: tuple) -> Path:
    path, fmt, year, agency, password, stamp, overwrite, last_year = job
    return generate_workbook(path, fmt, year, agency, password=password, generated_at=stamp, overwrite=overwrite,
                             previous=last_year)


def workbook_bytes(layout: Layout, meta: Metadata, *, values: Mapping[str, Number] | None = None,
                   given: Mapping[str, Number] | None = None, extra: Sequence[ExtraSheet] = (),
                   password: str | None = None) -> bytes:
    """The finished file: xlsxwriter's output with SHA-512 sheet and structure protection."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_numbers": False, "strings_to_urls": False})
    created = datetime.strptime(meta.generated_at, "%Y-%m-%dT%H:%M:%SZ") if meta.generated_at else None
    book.set_properties({"title": layout.template.title, "author": meta.generator, "comments": meta.format,
                         **({"created": created} if created else {})})
    writer = _Writer(book, layout, meta, values or {}, given or {})
    writer.write(extra)
    book.close()
    return finish(buffer.getvalue(), password, writer.splices, writer.stream_rows)


class _Worksheet(Worksheet):
    """xlsxwriter's worksheet, its formula preparation remembered: it runs 30 to 100 regular-expression passes over
    every formula, validation and conditional format (for functions newer than Excel 2010), and every workbook
    has the same few hundred of them; about 40% of the time of writing one."""

    def _prepare_formula(self, formula, expand_future_functions=False):
        key = (formula, bool(expand_future_functions), self.use_future_functions)
        prepared = _PREPARED.get(key)
        if prepared is None:
            prepared = super()._prepare_formula(formula, expand_future_functions)
            _PREPARED.put(key, prepared, len(formula))
        return prepared


_PREPARED = Memo(max_size=8192, max_bytes=4 << 20, max_items=10_000)  # (formula, …) -> as xlsxwriter writes it


class _Writer:
    def __init__(self, book: xlsxwriter.Workbook, layout: Layout, meta: Metadata, values: Mapping[str, Number],
                 given: Mapping[str, Number]):
        self.book, self.layout, self.meta, self.values, self.given = book, layout, meta, values, given
        self.splices: dict[str, ExtraSheet] = {}
        base = {"font_name": "宋体", "font_size": 11, "valign": "vcenter", "text_wrap": True}
        boxed = {**base, "border": 1}

        def fmt(**kw):
            return book.add_format({**boxed, **kw})

        self.formats = {
            "title": book.add_format({**base, "bold": True, "font_size": 14, "text_wrap": False}),
            "caption": fmt(bold=True, bg_color="#EDEDED"),
            "note": fmt(align="right", italic=True, bg_color="#EDEDED"),
            "header": fmt(bold=True, align="center", bg_color="#D9E1F2"),
            "corner": fmt(font_size=9, align="center", bg_color="#D9E1F2"),
            "label": fmt(),
            "field": fmt(bold=True, bg_color="#EDEDED"),
            "value": fmt(bg_color="#F2F2F2"),
            "instruction": book.add_format(base),
            "input": fmt(locked=False, align="right"),
            "text-input": fmt(locked=False, num_format="@"),
            "total": fmt(bold=True, align="right", bg_color="#F2F2F2"),
            "check": fmt(align="right"),
            "bad": book.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"}),
            "warn": book.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700"}),
        }

    def write(self, extra: Sequence[ExtraSheet]) -> None:
        for sheet in self.layout.sheets:
            self.sheet(sheet)
        for sheet in extra:
            self.extra(sheet)
        for code, (sheet, row, col) in self.layout.positions.items():
            self.book.define_name(code, f"='{sheet}'!{address(row, col, absolute=True)}")
        for name, (sheet, r1, c1, r2, c2) in self.layout.names.items():
            self.book.define_name(name, f"='{sheet}'!{address(r1, c1, True)}:{address(r2, c2, True)}")
        meta = self.book.add_worksheet(META_SHEET, worksheet_class=_Worksheet)
        for i, (key, value) in enumerate(self.meta.items()):
            meta.write_string(i, 0, key)
            meta.write_string(i, 1, value)
        meta.very_hidden()
        meta.protect()

    def sheet(self, sheet) -> None:
        ws = self.book.add_worksheet(sheet.name, worksheet_class=_Worksheet)
        for col, width in sheet.widths.items():
            ws.set_column(col, col, width)
        for row, height in sheet.heights.items():
            ws.set_row(row, height)
        for text in sheet.texts:
            value = text_value(text, dict(self.meta.items()), self.layout.template)
            fmt = self.formats[text.role]
            if text.merged:
                ws.merge_range(text.row, text.col, text.last_row, text.last_col, "", fmt)
            ws.write_string(text.row, text.col, value, fmt)
        for f in sheet.formulas:
            ws.write_formula(f.row, f.col, f.formula, self.formats["total" if f.role == "total" else "check"], "")
        for cell in sheet.inputs:
            self.input(ws, cell)
        for g in sheet.given:
            value = self.given.get(g.code)
            if value is None:
                ws.write_blank(g.row, g.col, None, self.formats["check"])
            else:
                ws.write_number(g.row, g.col, float(value), self.formats["check"])
        for h in sheet.highlights:
            ws.conditional_format(h.row, h.col, h.row, h.col,
                                  {"type": "formula", "criteria": h.formula, "format": self.formats[h.style]})
        self.page_setup(ws, sheet.header_rows)
        ws.protect()

    @staticmethod
    def page_setup(ws, header_rows: tuple[int, int] | None) -> None:
        """A4 landscape, one page wide, the header rows repeated on every page."""
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.center_horizontally()
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
        if header_rows:
            ws.repeat_rows(*header_rows)

    def input(self, ws, cell) -> None:
        if cell.type is None:
            ws.write_blank(cell.row, cell.col, None, self.formats["text-input"])
            if cell.choices:
                ws.data_validation(cell.row, cell.col, cell.row, cell.col, {
                    "validate": "list", "source": list(cell.choices), "input_title": "规则",
                    "input_message": self.layout.template.explanations.prompt, "error_type": "warning"})
            return
        value = self.values.get(cell.code) if cell.code else None
        if value is None:
            ws.write_blank(cell.row, cell.col, None, self.formats["input"])
        else:
            ws.write_number(cell.row, cell.col, float(value), self.formats["input"])
        t = cell.type
        if t.whole:
            rule = {"validate": "integer", "criteria": ">=", "value": t.min} if t.min is not None else \
                {"validate": "integer", "criteria": "between", "minimum": -2**31 + 1, "maximum": 2**31 - 1}
        else:
            rule = {"validate": "decimal", "criteria": ">=", "value": t.min if t.min is not None else -1e308}
        ws.data_validation(cell.row, cell.col, cell.row, cell.col, {
            **rule, "input_title": f"填写说明（单位：{t.unit}）", "input_message": t.prompt,
            "error_title": "输入有误", "error_message": t.alert, "error_type": "stop",
        })

    def extra(self, sheet: ExtraSheet) -> None:
        """The sheet's frame (widths, header, filter, protection); its rows are spliced in by
        :func:`~xltool.finish.finish`."""
        ws = self.book.add_worksheet(sheet.name, worksheet_class=_Worksheet)
        for col, width in enumerate(sheet.widths):
            ws.set_column(col, col, width)
        for col, label in enumerate(sheet.header):
            ws.write_string(0, col, label, self.formats["header"])
        ws.set_row(0, 15 * max((text_lines(h, sheet.width(c)) for c, h in enumerate(sheet.header)), default=1))
        ws.freeze_panes(1, 0)
        self.page_setup(ws, (0, 0))
        if sheet.repeat_columns:
            ws.fit_to_pages(0, 0)
            ws.repeat_columns(0, sheet.repeat_columns - 1)
        ws.autofilter(0, 0, max(sheet.count, 1), len(sheet.header) - 1)
        ws.protect("", {"autofilter": True, "sort": True})
        self.splices[f"xl/worksheets/sheet{len(self.book.worksheets())}.xml"] = sheet

    def stream_rows(self, sheet: ExtraSheet, out) -> None:
        """Write ``<row>`` elements for the sheet's rows (after the header), one row in memory at a time."""
        number = f'" s="{self.formats["check"].xf_index}"><v>'
        text = f'" s="{self.formats["label"].xf_index}" t="inlineStr"><is><t xml:space="preserve">'
        starts = [f'<c r="{col_letter(c)}' for c in range(len(sheet.header))]
        for r, row in enumerate(sheet.rows, start=2):
            at, cells, lines = str(r), [], 1
            if len(row) > len(starts):
                starts += [f'<c r="{col_letter(c)}' for c in range(len(starts), len(row))]
            numbers, texts = at + number, at + text
            for c, value in enumerate(row):
                kind = type(value)
                if kind is float:
                    cells.append(f"{starts[c]}{numbers}{value!r}</v></c>")
                elif kind is not bool and isinstance(value, (int, float, Decimal)):
                    cells.append(f"{starts[c]}{numbers}{_number_text(value)}</v></c>")
                else:
                    value = "" if value is None else str(value)
                    lines = max(lines, text_lines(value, sheet.width(c)))
                    cells.append(f"{starts[c]}{texts}{_xml_text(value)}</t></is></c>")
            height = f' ht="{15 * lines}" customHeight="1"' if lines > 1 else ""
            out.write(f'<row r="{r}"{height}>{"".join(cells)}</row>'.encode())


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _number_text(value: int | float | Decimal) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)
