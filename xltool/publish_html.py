"""The published report as one self-contained HTML page for a government website.

Jinja2 with autoescaping writes the markup (``publish_templates/report.html.j2``): no string is ever
concatenated into HTML here, so an agency name such as ``<script>`` stays text. The page has inline CSS
only (no script, no external resource), ``<th scope>`` headers, rowspan/colspan exactly as the official
table, a ``data-code`` on every data cell, horizontal scrolling of the wide tables on a phone, and an
A4 landscape ``@page`` for printing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from xltool.publish import Publication

TEMPLATES = Path(__file__).resolve().parent / "publish_templates"
SCOPES = {"column": "col", "row": "row", "caption": "rowgroup"}  # header roles; the others are <td>
WIDE_FROM = 7  # grid columns from which a table gets a minimum width and scrolls on a narrow screen


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def html_text(publication: Publication) -> str:
    return environment().get_template("report.html.j2").render(pub=publication, scopes=SCOPES, wide_from=WIDE_FROM)


def html_bytes(publication: Publication) -> bytes:
    return html_text(publication).encode("utf-8")
