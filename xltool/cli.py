"""The ``xltool`` command: parses options, calls one library function, renders the result."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path

import click

from xltool import __version__
from xltool.errors import XltoolError
from xltool.findings import NOTES
from xltool.files import shown
from xltool.pool import collect_rarely
from xltool.roster import Agency, load_roster
from xltool.spec import shipped

# xltool does no linear algebra; numpy (through ``formulas``) would start a BLAS thread per core that only spins for
# a while after import, on the cores the checks need. A setting of the user's own is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
collect_rarely()


class _Group(click.Group):
    """Turns library errors into one-line ``Error: …`` messages with the error's exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except XltoolError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug in xltool: say so in one line, never as a problem of the user's files
            if os.environ.get("XLTOOL_DEBUG"):
                traceback.print_exc()
            click.echo(f"Error: internal error in xltool ({type(exc).__name__}: {exc}). This is a bug in xltool, "
                       "not a problem with your files; please report it (XLTOOL_DEBUG=1 shows the traceback).",
                       err=True)
            ctx.exit(1)


class _Formats(click.Choice):
    """The shipped formats' short names, read when an option needs them: a command without ``--format`` does
    not read every spec when it starts."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(sorted(t.short for t in shipped().values()))

    @choices.setter
    def choices(self, _: object) -> None:
        pass


FORMAT_CHOICE = _Formats()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xltool")
def main() -> None:
    """Excel workbooks for the annual 政府信息公开工作年度报告: generate, check, merge, export."""


@main.command()
@click.option("--format", "fmt", type=FORMAT_CHOICE, required=True, help="Official format: 2019 (试行) or 2021.")
@click.option("--year", type=click.IntRange(2000, 2100), required=True, help="Report year.")
@click.option("--agency", help="Agency name, for a single workbook.")
@click.option("--code", default="", help="Agency code, for a single workbook.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or XLSX with code,name: one workbook per row.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The .xlsx file (with --agency) or the folder (with --roster).")
@click.option("--password", envvar="XLTOOL_PASSWORD", help="Sheet protection password (env XLTOOL_PASSWORD).")
@click.option("--force", is_flag=True, help="Replace existing workbooks of the same name.")
@click.option("--previous", multiple=True, type=click.Path(readable=False, path_type=Path),
              help="Last year's figures (summary, workbooks, or an export CSV/JSON; repeatable): written into a "
                   "locked 上年数据 sheet, carry-overs prefilled, cross-year checks live.")
def generate(fmt: str, year: int, agency: str | None, code: str, roster: Path | None, output: Path,
             password: str | None, force: bool, previous: tuple[Path, ...]) -> None:
    """Generate locked workbooks for agencies to fill in."""
    from xltool.generate import generate_roster, generate_workbook
    from xltool.previous import load_previous
    from xltool.spec import load_format

    template = load_format(fmt)
    if not template.accepts_year(year):
        last = template.last_year or "now"
        raise click.UsageError(f"the {fmt} format is for report years {template.first_year}–{last}, not {year}")
    if (agency is None) == (roster is None):
        raise click.UsageError("give either --agency NAME or --roster FILE")
    if roster is not None:
        if output.exists() and not output.is_dir():
            raise click.UsageError(f"{shown(output)} is a file; with --roster, -o names a folder")
    last_year = load_previous(previous) if previous else None
    if last_year is not None:
        for problem in last_year.problems:
            click.echo(problem, err=True)
    if roster is not None:
        agencies = load_roster(roster)
        paths = generate_roster(output, fmt, year, agencies, password=password, overwrite=force, previous=last_year)
        click.echo(f"已生成 {len(paths)} 个工作簿：{shown(output)}")
    else:
        if output.is_dir():
            raise click.UsageError(f"{shown(output)} is a folder; with --agency, -o names an .xlsx file")
        agencies = [Agency(code or "", agency or "")]
        generate_workbook(output, fmt, year, agencies[0], password=password, overwrite=force,
                          previous=last_year.by_code.get(agencies[0].code) if last_year else None)
        click.echo(f"已生成：{shown(output)}")
    if last_year is not None:
        missing = [a.code or a.name for a in agencies if a.code not in last_year.by_code]
        click.echo(NOTES["generated-without-previous"].format(agencies="、".join(missing)) if missing
                   else NOTES["generated-with-previous"])


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(readable=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (design.md's contract).")
@click.option("--annotate", "annotate_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write an annotated copy of each file into this folder, to send back to the agency.")
@click.option("--previous", multiple=True, type=click.Path(readable=False, path_type=Path),
              help="Last year's figures (summary, workbooks, or an export CSV/JSON; repeatable): cross-year checks.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or XLSX with code,name[,type]: agency types for the rules that depend on them (S6, S8).")
@click.option("--no-explanations", is_flag=True,
              help="Soft findings pass as warnings, without the agency's written explanation.")
def check(paths: tuple[Path, ...], as_json: bool, annotate_dir: Path | None, previous: tuple[Path, ...],
          roster: Path | None, no_explanations: bool) -> None:
    """Check returned workbooks: exit 0 when all are valid, 1 when any is not."""
    from xltool.annotate import annotate
    from xltool.batch import check_many, find_workbooks
    from xltool.files import output_folder
    from xltool.render import render_json, render_text
    from xltool.results import Report
    from xltool.soft import judge

    files = find_workbooks(paths)
    if not files:
        raise click.UsageError("no workbooks found in " + ", ".join(map(shown, paths)))
    context = _context(previous, roster, no_explanations)
    with _progress(check_many(files), len(files), "审核") as reports:
        report = Report(tuple(judge(r, context) for r in reports), _run_notes(context))
    if annotate_dir is not None:
        folder, taken = output_folder(annotate_dir), set()
        for file in report.files:
            annotate(file, folder, taken)
    click.echo(render_json(report) if as_json else render_text(report))
    raise SystemExit(0 if report.valid else 1)


def _context(previous: tuple[Path, ...], roster: Path | None, no_explanations: bool):
    """What a run knows beyond the files: last year's figures, the roster's agency types, explanations wanted."""
    from xltool.soft import Context

    last_year = None
    if previous:
        from xltool.previous import load_previous

        last_year = load_previous(previous)
    types = {a.code: a.type for a in load_roster(roster) if a.type} if roster else None
    return Context(last_year, types or None, not no_explanations)


def _run_notes(context) -> tuple[str, ...]:
    notes = [NOTES["no-previous"]] if context.previous is None else list(context.previous.problems)
    if context.types is None:
        notes.append(NOTES["no-types"])
    return tuple(notes)


def _progress(items, length: int, label: str):
    """A progress bar on stderr for long runs; a plain iterator otherwise."""
    if length < 5:
        return contextlib.nullcontext(items)
    return click.progressbar(items, length=length, label=label, file=sys.stderr)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(readable=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The summary workbook to write (.xlsx).")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or XLSX with code,name: the agencies expected.")
@click.option("--name", default="汇总", show_default=True, help="Name of the summary (its 填报单位).")
@click.option("--code", default="", help="Code of the summary (e.g. the district's code).")
@click.option("--prefer", type=click.Choice(["newest"]), help="Which file wins when an agency sent several.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, help="Only merge this format (default: the files' majority).")
@click.option("--year", type=int, help="Only merge this report year (default: the files' majority).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--password", envvar="XLTOOL_PASSWORD", help="Sheet protection password (env XLTOOL_PASSWORD).")
@click.option("--previous", multiple=True, type=click.Path(readable=False, path_type=Path),
              help="Last year's figures (summary, workbooks, or an export CSV/JSON; repeatable): cross-year checks.")
@click.option("--no-explanations", is_flag=True,
              help="Soft findings pass as warnings, without the agency's written explanation.")
def merge(paths: tuple[Path, ...], output: Path, roster: Path | None, name: str, code: str, prefer: str | None,
          fmt: str | None, year: int | None, as_json: bool, password: str | None, previous: tuple[Path, ...],
          no_explanations: bool) -> None:
    """Merge the accepted workbooks into a summary: exit 0 when all expected were accepted, else 1."""
    from xltool import merge as merging
    from xltool import merge_report

    agencies = load_roster(roster) if roster else None
    context = _context(previous, roster, no_explanations)
    result = merging.merge(paths, output, roster=agencies, name=name, code=code, prefer=prefer, fmt=fmt,
                           year=year, password=password, context=context)
    notes = _run_notes(context)
    if as_json:
        click.echo(merge_report.result_json(result, notes))
    else:
        click.echo(f"汇总表已写入：{shown(result.output)}（{result.format}，{result.year} 年度，汇总 {len(result.accepted)} 个文件）")
        click.echo(merge_report.status_text(result.entries))
        click.echo(merge_report.cross_year_text(result, notes))
    raise SystemExit(0 if result.complete else 1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(readable=False, path_type=Path))
@click.option("--csv", "form", flag_value="csv", default=True, help="CSV, UTF-8 with BOM (the default).")
@click.option("--json", "form", flag_value="json", help="JSON: a list of objects.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout.")
def export(paths: tuple[Path, ...], form: str, output: Path | None) -> None:
    """Export every data point of the workbooks as a long table."""
    from xltool import export as exporting
    from xltool.batch import check_many, find_workbooks
    from xltool.files import atomic_write, refuse_unsafe_output

    files = find_workbooks(paths)
    if not files:
        raise click.UsageError("no workbooks found in " + ", ".join(map(shown, paths)))
    if output is not None:
        refuse_unsafe_output(output, files)
    reports = list(check_many(files))
    for r in reports:
        if not r.format:
            click.echo(f"跳过 {r.name}：{r.findings[0].message}", err=True)
    table = exporting.rows(reports)
    text = exporting.to_csv(table) if form == "csv" else exporting.to_json(table)
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write(output, text.encode("utf-8"))


@main.command()
@click.argument("workbook", type=click.Path(readable=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="OUT.html (website), OUT.docx (report document), or a folder: both, named after the workbook.")
@click.option("--with-text", is_flag=True,
              help="Add the whole report's skeleton: the sentences that restate the tables, and marked places "
                   "for the agency's own text.")
@click.option("--force", is_flag=True, help="Replace existing files.")
def publish(workbook: Path, output: Path, with_text: bool, force: bool) -> None:
    """Publish a checked workbook's tables as HTML and DOCX: exit 1, writing nothing, when it is not valid."""
    from xltool import publish as publishing
    from xltool.files import shown
    from xltool.render import render_text
    from xltool.results import Report

    try:
        paths = publishing.publish(workbook, output, with_text=with_text, overwrite=force)
    except publishing.NotPublishable as exc:
        click.echo(render_text(Report((exc.report,))))
        click.echo(str(exc), err=True)
        raise SystemExit(1) from None
    for path in paths:
        click.echo(f"已发布：{shown(path)}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(readable=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON (check's fields; location for sheet/cell).")
@click.option("--to-workbook", "workbook_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write each audited report as a filled workbook of its format, with a 审核结果 sheet, into this folder.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, help="Read the tables as this format (default: from the labels).")
@click.option("--year", type=click.IntRange(2000, 2100), help="The report year (default: from the title or dates).")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or XLSX with code,name,type: agency types by name for S6.")
def audit(paths: tuple[Path, ...], as_json: bool, workbook_dir: Path | None, fmt: str | None, year: int | None,
          roster: Path | None) -> None:
    """Audit published reports (DOCX, HTML, PDF, text): exit 0 when no error is found, 1 otherwise."""
    from xltool import audit as auditing

    types = {a.name: a.type for a in load_roster(roster) if a.type} if roster else None
    reports = auditing.audit(paths, fmt=fmt, year=year, types=types)
    if not reports:
        raise click.UsageError("no reports found in " + ", ".join(map(shown, paths)))
    if workbook_dir is not None:
        taken: set[str] = set()
        for report in reports:
            written = auditing.to_workbook(report, workbook_dir, taken)
            if written is not None and not as_json:
                click.echo(f"已写入工作簿：{shown(written)}", err=True)
    click.echo(auditing.render_json(reports) if as_json else auditing.render_text(reports))
    raise SystemExit(0 if all(r.valid for r in reports) else 1)
