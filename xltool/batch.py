"""Many files: which files a folder holds, and checking them in order on every core."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from xltool.check import check_file
from xltool.pool import PARALLEL_FROM, process_pool
from xltool.results import FileReport

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


def check_many(files: Sequence[Path], *, workers: int | None = None) -> Iterator[FileReport]:
    """Check files in order, on every core when there are many: reports stream out as they are done."""
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(files) < PARALLEL_FROM:
        yield from map(check_file, files)
        return
    with process_pool(workers) as pool:  # small chunks: no worker is left alone with a long one at the end
        yield from pool.map(check_file, files, chunksize=max(1, min(16, len(files) // (workers * 8))))
