"""Many files: which files a folder holds, and checking them in order on every core."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from xltool.check import check_file
from xltool.results import FileReport

# What a returned report may have been saved as. A folder's files of these kinds are all checked, so
# that a report in the wrong format (.xls, .ods, .csv, WPS .et) is refused with its reason, not left out.
SUBMISSION_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlt", ".xlsb", ".et", ".ett",
                                 ".ods", ".ots", ".fods", ".csv"})
PARALLEL_FROM = 16  # files; below this a process pool costs more than it saves


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
