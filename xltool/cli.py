"""The ``xltool`` command: parses options, calls one library function, renders the result."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # the formulas library prints progress bars otherwise

import click

from xltool import __version__
from xltool.errors import XltoolError
from xltool.generate import generate_roster, generate_workbook
from xltool.roster import Agency, load_roster
from xltool.spec import available_formats


class _Group(click.Group):
    """Turns library errors into one-line ``Error: …`` messages with the error's exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except XltoolError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


FORMAT_CHOICE = click.Choice(sorted(p.rsplit("-", 1)[-1] for p in available_formats()))


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
def generate(fmt: str, year: int, agency: str | None, code: str, roster: Path | None, output: Path,
             password: str | None) -> None:
    """Generate locked workbooks for agencies to fill in."""
    from xltool.spec import load_format

    template = load_format(fmt)
    if not template.accepts_year(year):
        last = template.last_year or "now"
        raise click.UsageError(f"the {fmt} format is for report years {template.first_year}–{last}, not {year}")
    if (agency is None) == (roster is None):
        raise click.UsageError("give either --agency NAME or --roster FILE")
    if roster is not None:
        if output.exists() and not output.is_dir():
            raise click.UsageError(f"{output} is a file; with --roster, -o names a folder")
        paths = generate_roster(output, fmt, year, load_roster(roster), password=password)
        click.echo(f"已生成 {len(paths)} 个工作簿：{output}")
    else:
        if output.is_dir():
            raise click.UsageError(f"{output} is a folder; with --agency, -o names an .xlsx file")
        generate_workbook(output, fmt, year, Agency(code or "", agency or ""), password=password)
        click.echo(f"已生成：{output}")
