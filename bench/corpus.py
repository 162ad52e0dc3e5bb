"""The benchmark's returned workbooks, made once and cached outside the repository.

    python bench/corpus.py --n 1000            # make (or complete) 1,000 files of each kind
    python bench/corpus.py --n 10000 --kinds xltool,openpyxl

Three kinds of the same N filled 2021-format workbooks (agency ``B00000`` …, valid random values, counts up to
5,000):

- ``xltool``: as xltool writes them (``workbook_bytes`` with values: small sheets, inline numbers);
- ``openpyxl``: the ``xltool`` file loaded and saved by openpyxl (every cell styled, shared strings, no cached
  values), what ``tests/fill.py`` and a Python-using clerk produce;
- ``libreoffice``: the ``xltool`` file re-saved by LibreOffice (``soffice --convert-to xlsx``, in batches), as an
  office suite saves it: recalculated, its own styles and shared strings.

The cache is ``$XLTOOL_BENCH_DIR`` or ``~/.cache/xltool-bench``, one folder per format, year and template
fingerprint (a changed template makes a new corpus). Files already there are kept: a larger N only adds the
missing ones. ``roster-N.csv`` lists the first N agencies. Safe to delete.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FMT, YEAR = "2021", 2024
KINDS = ("xltool", "openpyxl", "libreoffice")
HIGH = 5000  # counts up to 5,000: values as varied as real reports' (no two files alike)


def cache_root() -> Path:
    base = os.environ.get("XLTOOL_BENCH_DIR")
    return Path(base) if base else Path.home() / ".cache" / "xltool-bench"


def corpus_dir(fmt: str = FMT, year: int = YEAR) -> Path:
    from xltool.layout import layout_for

    return cache_root() / f"{fmt}-{year}-{layout_for(fmt).fingerprint.rpartition(':')[2][:12]}"


def agency(i: int) -> tuple[str, str]:
    return f"B{i:05d}", f"测试单位{i:05d}"


def file_name(i: int) -> str:
    from xltool.files import safe_filename

    code, name = agency(i)
    return safe_filename(f"{code}_{name}", ".xlsx")


def _xltool_bytes(i: int, fmt: str, year: int) -> bytes:
    from tests.fill import random_values
    from xltool.generate import Metadata, workbook_bytes
    from xltool.layout import layout_for

    layout = layout_for(fmt)
    code, name = agency(i)
    meta = Metadata(layout.template.format, layout.template.version, year, code, name,
                    generated_at="2025-01-01T00:00:00Z", fingerprint=layout.fingerprint)
    return workbook_bytes(layout, meta, values=random_values(layout.template, random.Random(i), high=HIGH))


def _make_xltool(job: tuple[int, str, int, str]) -> None:
    i, fmt, year, folder = job
    _write(Path(folder) / file_name(i), _xltool_bytes(i, fmt, year))


def _make_openpyxl(job: tuple[int, str, int, str]) -> None:
    from openpyxl import load_workbook

    from tests.fill import _without_timestamps

    i, fmt, year, folder = job
    source = Path(folder).parent / "xltool" / file_name(i)
    book = load_workbook(source)
    buffer = io.BytesIO()
    book.save(buffer)
    _write(Path(folder) / file_name(i), _without_timestamps(buffer.getvalue()))


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        sys.exit("LibreOffice (soffice) is not installed")
    return exe


def _convert_batch(args: tuple[list[str], str, str]) -> None:
    """One soffice process converts a batch of files into ``folder``."""
    files, folder, profiles = args
    profile = f"{profiles}-{os.getpid()}"  # one profile per soffice process: two never share one
    with tempfile.TemporaryDirectory(prefix="xltool-lo-out-") as out:
        subprocess.run([_soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to",
                        "xlsx:Calc MS Excel 2007 XML", "--outdir", out, *files],
                       check=True, capture_output=True, timeout=3600)
        for produced in Path(out).iterdir():
            os.replace(produced, Path(folder) / produced.name)


def make(n: int, kinds: tuple[str, ...] = KINDS, fmt: str = FMT, year: int = YEAR, workers: int | None = None,
         quiet: bool = False) -> Path:
    """Make sure the first ``n`` files of every kind exist; the corpus folder."""
    root = corpus_dir(fmt, year)
    workers = workers or os.cpu_count() or 1
    order = ["xltool", *[k for k in ("openpyxl", "libreoffice") if k in kinds]]
    for kind in order:
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        missing = [i for i in range(n) if not (folder / file_name(i)).exists()]
        if not missing:
            continue
        start = time.perf_counter()
        left = missing
        for _ in range(3):  # soffice drops the last files of a long batch: convert what is missing again
            _make_kind(kind, left, root, folder, fmt, year, workers)
            left = [i for i in left if not (folder / file_name(i)).exists()]
            if not left:
                break
        else:
            sys.exit(f"could not make {len(left)} {kind} files, e.g. {file_name(left[0])}")
        if not quiet:
            print(f"made {len(missing)} {kind} files in {time.perf_counter() - start:.0f} s", flush=True)
    roster = root / f"roster-{n}.csv"
    if not roster.exists():
        _write(roster, ("code,name\n" + "".join(f"{c},{m}\n" for c, m in map(agency, range(n)))).encode("utf-8"))
    return root


def _make_kind(kind: str, missing: list[int], root: Path, folder: Path, fmt: str, year: int, workers: int) -> None:
    """Make the missing files of one kind, on every core."""
    if kind == "libreoffice":
        sources = [str(root / "xltool" / file_name(i)) for i in missing]
        size = max(1, min(250, -(-len(sources) // workers)))
        batches = [(sources[k:k + size], str(folder), f"{root}/.lo-profile")
                   for k in range(0, len(sources), size)]
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_convert_batch, batches))
        for profile in root.glob(".lo-profile-*"):
            shutil.rmtree(profile, ignore_errors=True)
    else:
        job = _make_xltool if kind == "xltool" else _make_openpyxl
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(job, [(i, fmt, year, str(folder)) for i in missing], chunksize=32))


def files(n: int, kind: str, fmt: str = FMT, year: int = YEAR) -> list[Path]:
    """The first ``n`` files of a kind (made by :func:`make`)."""
    folder = corpus_dir(fmt, year) / kind
    return [folder / file_name(i) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    root = make(args.n, tuple(args.kinds.split(",")))
    print(root)


if __name__ == "__main__":
    main()
