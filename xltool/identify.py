"""Which template a workbook was generated from, read from its ``_xltool`` metadata sheet."""

from __future__ import annotations

from typing import NamedTuple

from xltool.findings import Finding, shorten
from xltool.layout import Layout, layout_for
from xltool.results import Origin
from xltool.spec import find_format
from xltool.workbook_data import WorkbookData

ROLES = ("agency", "summary")


class Identified(NamedTuple):
    """Who sent the file, and the layout to check it against (None, with the finding that says why)."""

    origin: Origin
    layout: Layout | None
    problem: Finding | None


def identify(book: WorkbookData) -> Identified:
    meta = book.meta
    # who sent it, as the file says (clipped: these land in terminal lines and summary cells)
    who = {"agency_code": shorten(meta.get("agency_code")), "agency_name": shorten(meta.get("agency_name"))}
    if book.macros:  # refused outright, nothing in it is checked; who sent it is still said
        return Identified(Origin(**who), None, Finding("macros-present"))
    if not meta:
        return _unknown(Origin(**who), "no-metadata")
    fmt, role = meta.get("format"), meta.get("role")
    members = tuple(m for m in meta.get("members", "").split(",") if m)
    origin = Origin(format=fmt, role=role, members=members, **who)
    template = find_format(fmt)
    if template is None:
        return _unknown(origin, "unknown-format", actual=fmt)
    try:
        year = int(meta.get("year", ""))
    except ValueError:
        return _unknown(origin, "bad-year", actual=meta.get("year"))
    origin = Origin(format=fmt, year=year, role=role, members=members, **who)
    layout = layout_for(fmt, "summary" if role == "summary" else "agency", previous=bool(meta.get("previous")))
    if meta.get("template_version") != template.version:
        return _unknown(origin, "other-version", actual=meta.get("template_version"), expected=template.version,
                        format=template.format)
    # Same version, another fingerprint: generated before a change of the template, or edited. Checking it
    # against the layout says exactly what differs, if anything that matters does.
    if not template.accepts_year(year):
        return _unknown(origin, "year-not-in-format", actual=year, format=template.format)
    if role not in ROLES:
        return _unknown(origin, "unknown-role", actual=role)
    return Identified(origin, layout, None)


def _unknown(origin: Origin, reason: str, *, actual: object = None, expected: object = None,
             **detail: object) -> Identified:
    return Identified(origin, None, Finding("unknown-template", reason=reason, actual=actual, expected=expected,
                                            detail=detail))
