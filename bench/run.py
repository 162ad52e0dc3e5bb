"""Benchmark: merge against the naive per-file formulas loop and against just reading the files.

    python bench/run.py              # N = 1,000 filled 2021-format workbooks
    python bench/run.py --n 10000    # the memory target

Measures, on the same files, in one run:
  (g) generating N blank workbooks from a roster (xltool.generate.generate_roster);
  (a) `xltool merge` of all N, end to end, in a subprocess (wall time, peak memory of its process tree);
  (b) the naive loop `formulas.ExcelModel().loads(path).finish().calculate()` over a sample, scaled to N;
  (c) the floor: opening every file with openpyxl in read-only mode and reading every cell.
Prints the ratios (b)/(a) and (a)/(c), files per second and peak memory, and writes them to bench/results-<N>.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xltool.files import atomic_write  # noqa: E402
from tests.fill import random_values  # noqa: E402
from xltool.generate import (  # noqa: E402
    Metadata,
    default_timestamp,
    generate_roster,
    safe_filename,
    workbook_bytes,
)
from xltool.layout import layout_for  # noqa: E402
from xltool.roster import Agency  # noqa: E402

FMT, YEAR = "2021", 2024


def make_filled(out: Path, n: int) -> list[Path]:
    """N returned workbooks: what generate writes, with valid random values in every input cell."""
    layout = layout_for(FMT)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        agency = Agency(f"B{i:05d}", f"测试单位{i:05d}")
        meta = Metadata(layout.template.format, layout.template.version, YEAR, agency.code, agency.name,
                        generated_at=default_timestamp(), fingerprint=layout.fingerprint)
        values = random_values(layout.template, random.Random(i))
        path = out / safe_filename(f"{agency.code}_{agency.name}.xlsx")
        atomic_write(path, workbook_bytes(layout, meta, values=values))
        paths.append(path)
    return paths


def tree_memory(pid: int) -> int:
    """Proportional set size of a process and all its descendants, in bytes (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        stack.extend(children.get(p, []))
        try:  # PSS: pages shared by the forked workers are counted once, split between them
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def run_measured(cmd: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak memory of the process tree (sampled every 20 ms), exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_memory(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    return time.perf_counter() - start, peak, code


def naive(paths: list[Path]) -> float:
    import formulas

    start = time.perf_counter()
    for path in paths:
        formulas.ExcelModel().loads(str(path)).finish().calculate()
    return time.perf_counter() - start


def floor(paths: list[Path]) -> float:
    from openpyxl import load_workbook

    start = time.perf_counter()
    for path in paths:
        book = load_workbook(path, read_only=True)
        for ws in book.worksheets:
            for _ in ws.iter_rows(values_only=True):
                pass
        book.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of workbooks (default 1000)")
    parser.add_argument("--sample", type=int, default=30, help="files in the naive formulas sample")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--skip-naive", action="store_true", help="skip (b), e.g. for --n 10000")
    args = parser.parse_args()
    n = args.n
    shutil.rmtree(args.out, ignore_errors=True)
    files_dir = args.out / "files"

    start = time.perf_counter()
    generate_roster(args.out / "blank", FMT, YEAR, [Agency(f"G{i:05d}", f"单位{i:05d}") for i in range(min(n, 1000))])
    generate_s = time.perf_counter() - start
    shutil.rmtree(args.out / "blank")
    print(f"(g) generate {min(n, 1000)} blank workbooks: {generate_s:.1f} s", flush=True)

    paths = make_filled(files_dir, n)
    size = sum(p.stat().st_size for p in paths)
    print(f"made {n} filled workbooks ({size / n / 1024:.1f} KB each)", flush=True)

    summary = args.out / "summary.xlsx"
    merge_s, peak, code = run_measured([sys.executable, "-c", "from xltool.cli import main; main()", "merge",
                                        str(files_dir), "-o", str(summary)])
    assert code == 0 and summary.exists(), f"merge failed with exit code {code}"
    print(f"(a) merge: {merge_s:.2f} s, {n / merge_s:.0f} files/s, peak memory {peak / 2**20:.0f} MB", flush=True)

    floor_s = floor(paths)
    print(f"(c) openpyxl read-only read: {floor_s:.2f} s, {n / floor_s:.0f} files/s", flush=True)
    lines = [f"# Benchmark ({n} workbooks, {FMT} format)", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"{platform.platform()}", "",
             "| measure | seconds | files/s |", "|---|---|---|",
             f"| (g) generate {min(n, 1000)} blank workbooks from a roster | {generate_s:.1f} | "
             f"{min(n, 1000) / generate_s:.0f} |",
             f"| (a) `xltool merge` of all {n}, end to end | {merge_s:.2f} | {n / merge_s:.0f} |",
             f"| (c) openpyxl read-only, every cell of every file | {floor_s:.2f} | {n / floor_s:.0f} |"]
    ratios = [f"- (a)/(c) = {merge_s / floor_s:.2f} (target ≤ 3)",
              f"- peak memory of the merge (process and workers) = {peak / 2**20:.0f} MB"]
    if not args.skip_naive:
        sample = paths[: args.sample]
        naive_s = naive(sample) * n / len(sample)
        print(f"(b) naive formulas loop: {naive_s:.1f} s scaled from {len(sample)} files", flush=True)
        lines.append(f"| (b) naive `formulas` loop, {len(sample)} files scaled to {n} | {naive_s:.1f} | "
                     f"{n / naive_s:.1f} |")
        ratios.insert(0, f"- (b)/(a) = {naive_s / merge_s:.1f} (target ≥ 20)")
    report = "\n".join(lines + [""] + ratios) + "\n"
    (ROOT / "bench" / f"results-{n}.md").write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
