"""What checking found: one :class:`FileReport` per file (a plain, frozen value), and their :class:`Report`.

A report is made once, at the end of checking a file, and never changed afterwards: merging and
annotating read it and keep their own decisions beside it.
"""

from __future__ import annotations

import math
from array import array as Array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from xltool.files import shown
from xltool.findings import Finding
from xltool.spec import load_format


class DataPoints(Mapping[str, float]):
    """A file's numbers by data point code, compactly: one float per data point of its format (NaN: none).

    Thousands of reports are held during a merge; this keeps each one to an array of doubles.
    """

    __slots__ = ("format", "array", "index")

    def __init__(self, fmt: str, array: Array | None = None):
        self.format, self.index = fmt, _index(fmt)
        self.array = array if array is not None else Array("d", [math.nan]) * len(self.index)

    def __reduce__(self):
        return DataPoints, (self.format, self.array)

    def __setitem__(self, code: str, value: float) -> None:
        self.array[self.index[code]] = value

    def __getitem__(self, code: str) -> float:
        value = self.array[self.index[code]]
        if math.isnan(value):
            raise KeyError(code)
        return value

    def __iter__(self) -> Iterator[str]:
        return (code for code, i in self.index.items() if not math.isnan(self.array[i]))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def in_order(self) -> list[float | None]:
        """Every data point of the format, in the spec's order: its number, or None."""
        return [None if math.isnan(v) else v for v in self.array]


@lru_cache(maxsize=None)
def _index(fmt: str) -> dict[str, int]:
    return {code: i for i, code in enumerate(load_format(fmt).cells)}


class Origin(NamedTuple):
    """Who sent a file and what it claims to be, as its metadata says (identified or not)."""

    format: str | None = None
    year: int | None = None
    agency_code: str | None = None
    agency_name: str | None = None
    role: str | None = None
    members: tuple[str, ...] = ()


class Verdicts:
    """What a report's findings say of it: valid (no error), its errors, its warnings."""

    findings: tuple[Finding, ...]

    @property
    def valid(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


@dataclass(frozen=True, eq=False)
class FileReport(Verdicts):
    """What checking one file found, and what merging it needs."""

    path: Path
    findings: tuple[Finding, ...] = ()
    origin: Origin = field(default_factory=Origin)
    values: Mapping[str, float] = field(default_factory=dict)  # data point -> its number, where it is one
    size: int | None = None
    sha256: str | None = None
    checked_at: str = ""
    summed: tuple[tuple[str, str], ...] = ()  # a summary: (agency code, sha256) of each agency file it summed
    explanations: tuple[tuple[str, str], ...] = ()  # (rule, text) the agency wrote in its 说明 sheet

    # what the file says of itself
    format = property(lambda self: self.origin.format)
    year = property(lambda self: self.origin.year)
    agency_code = property(lambda self: self.origin.agency_code)
    agency_name = property(lambda self: self.origin.agency_name)
    role = property(lambda self: self.origin.role)
    members = property(lambda self: self.origin.members)

    @property
    def name(self) -> str:
        """The file's name as a person can read it (bytes that are not UTF-8 shown as replacement characters)."""
        return shown(self.path.name)

    @property
    def explained(self) -> bool:
        """Accepted on the agency's written explanation of at least one soft finding."""
        return any(f.explained for f in self.findings)

    def to_dict(self) -> dict:
        return {"path": shown(self.path), "valid": self.valid, "format": self.format, "year": self.year,
                "agency": {"code": self.agency_code, "name": self.agency_name}, "role": self.role,
                "explanations": [{"rule": rule, "text": text} for rule, text in self.explanations],
                "findings": [f.to_dict() for f in self.findings]}


class Report(NamedTuple):
    files: tuple[FileReport, ...]
    notes: tuple[str, ...] = ()  # what the run says once (e.g. that no cross-year checks were run)

    @property
    def explained(self) -> bool:
        """Accepted on the agency's written explanation of at least one soft finding."""
        return any(f.explained for f in self.findings)

    @property
    def valid(self) -> bool:
        return all(f.valid for f in self.files)

    def to_dict(self) -> dict:
        return {"valid": self.valid, "notes": list(self.notes), "files": [f.to_dict() for f in self.files]}
