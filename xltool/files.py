"""Writing files so that nothing is ever half-written or lost, under names that every system can hold."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from xltool.errors import UsageError


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader sees the old file or the new one, never a partial one; a failure leaves no temporary file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


MAX_STEM_BYTES = 180  # of a file name we make: with a suffix and atomic_write's temporary name, under 255 bytes
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def shown(name: object) -> str:
    """A path or file name as text a person can read and any output can hold: bytes that were not UTF-8
    (a zip unpacked on Windows gives GBK names) become replacement characters."""
    return str(name).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def safe_filename(stem: str, suffix: str) -> str:
    """A file name a person recognises: characters unsafe on Windows or Unix replaced, the stem cut (never
    the suffix) so that the name stays within what every file system allows."""
    cleaned = _UNSAFE.sub("_", shown(stem)).strip(" .") or "_"
    data = cleaned.encode("utf-8")
    if len(data) > MAX_STEM_BYTES:
        cleaned = data[:MAX_STEM_BYTES].decode("utf-8", "ignore").rstrip(" .") or "_"
    return cleaned + suffix


def unique_name(folder: Path, name: str, taken: set[str]) -> Path:
    """``folder/name``, or ``stem_2.suffix``… when this run already wrote a file of that name."""
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}_{n}{suffix}"
    taken.add(candidate)
    return Path(folder) / candidate


def refuse_unsafe_output(output: Path, inputs: Sequence[Path] = (), *, suffix: str | None = None) -> None:
    """A one-line :class:`UsageError` unless ``output`` can be written as a new or replaced file that is
    none of the inputs (a symbolic link loop, a folder or a missing folder is refused, not a traceback)."""
    output = Path(output)
    if suffix is not None and output.suffix.lower() != suffix:
        raise UsageError(f"the output must be a {suffix} file: {shown(output)}")
    problem = _path_problem(output)
    if problem == "folder":
        raise UsageError(f"{shown(output)} is a folder; -o names a file")
    if problem:
        raise UsageError(f"cannot write {shown(output)}: {problem}")
    try:
        target = os.stat(output)
    except OSError:  # nothing there yet: none of the inputs is it
        target = None
    if target is not None and any(_same_file(f, target) for f in inputs):
        raise UsageError(f"-o {shown(output)} is one of the inputs; refusing to overwrite it")
    if not output.parent.is_dir():
        raise UsageError(f"no such folder: {shown(output.parent)}")


def _same_file(path: Path, target: os.stat_result) -> bool:
    """Whether ``path`` is the file ``target`` stands for, by any name or link (one ``stat``, no path walk)."""
    try:
        return os.path.samestat(os.stat(path), target)
    except OSError:
        return False


def output_folder(folder: Path) -> Path:
    """``folder``, created if needed; a one-line :class:`UsageError` when it cannot be a folder to write into."""
    folder = Path(folder)
    problem = _path_problem(folder)
    if problem and problem != "folder":
        raise UsageError(f"cannot write into {shown(folder)}: {problem}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write into {shown(folder)}: {exc.strerror or exc}") from None
    return folder


def _path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be written as given: "folder", a symbolic link loop, … ; None when it can."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "it is a symbolic link loop"
        return exc.strerror or str(exc)
    if stat.S_ISDIR(status.st_mode):
        return "folder"
    if not stat.S_ISREG(status.st_mode):
        return "it is not a regular file"
    return None
