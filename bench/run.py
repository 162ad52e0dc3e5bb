"""Benchmark: `xltool merge` against the raw floor of reading the same files, on files as office suites save them,
and a single `xltool check FILE` as a clerk runs it.

    python bench/run.py                  # 1,000 files of each kind (the corpus is made once: bench/corpus.py)
    python bench/run.py --n 10000        # 10,000 (minutes; the LibreOffice corpus takes long to make once)
    python bench/run.py --kinds openpyxl --skip-single

Measures, in one run on this machine, for each kind of file (xltool's own, saved by openpyxl, re-saved by
LibreOffice — see bench/corpus.py):

  floor  read + sha256 + unzip + expat-parse every XML part of every file, in one process;
  merge  `xltool merge FOLDER -o summary.xlsx` end to end (a fresh process and its workers), without and with
         a roster of all the agencies: wall time, CPU time, the CPU time other processes of the machine took
         meanwhile (a shared machine's noise), and peak memory (proportional set size of the process tree,
         sampled every 20 ms);
  ratio  merge / floor (the target: at most 2).

The three are measured in rounds, one after the other (5 rounds; 2 above 2,000 files; --repeat), so that a shared
machine's slow minutes fall on all three alike, and the best of each is kept; the ratios of the rounds themselves
(each merge over the floor of its own round) are given too, as their range. Then `xltool check FILE` (wall time,
interpreter start included), median of 7 fresh processes each: cold (the compiled-formula cache emptied before every
run) and warm (the cache kept), and beside them, in the same rounds, Python starting and importing numpy and
`formulas` alone: what any check must do before its own work (this machine's speed moves from minute to minute; this
shows where it stood). The files are read once before anything is timed, so that every measure starts with them in
the page cache; on a shared machine each measure waits until the other processes are quiet, and reports the CPU they
took meanwhile. Python's bytecode is kept under the corpus folder (PYTHONPYCACHEPREFIX), as an installed package has
it. Writes bench/results-N.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from xml.parsers import expat

os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402

KIND_NAMES = {"xltool": "as xltool fills them", "openpyxl": "saved by openpyxl", "libreoffice": "re-saved by LibreOffice"}
SINGLE_RUNS = 7


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


def busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (/proc/stat), to tell how much of a
    run's time other processes took."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _, _, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(limit: float = 900.0) -> None:
    """Wait (at most ``limit`` seconds) until the other processes of a shared machine use under a tenth of a
    core, so that a measure is not theirs."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy, own = busy_seconds(), time.process_time()
        time.sleep(2)
        if busy_seconds() - busy - (time.process_time() - own) < 0.2:
            return
    print("the machine stayed busy: measuring anyway", flush=True)


def run_measured(cmd: list[str], env: dict | None = None) -> dict:
    """Wall seconds, CPU seconds of the process tree, CPU seconds other processes took meanwhile, peak memory
    (sampled every 20 ms), exit code, output."""
    wait_for_quiet()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = busy_seconds()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_memory(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out = proc.stdout.read()
    code = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    others = max(0.0, busy_seconds() - busy - cpu)  # this process's own sampling included: an upper bound
    return {"wall": wall, "cpu": cpu, "others": others, "peak": peak, "code": code, "out": out}


def floor(paths: list[Path]) -> float:
    """Read, hash, unzip and expat-parse every XML part of every file, in this process: the least any checker
    that reads every part of every file must do."""
    wait_for_quiet()
    return _floor(paths)


def _floor(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                part = zf.read(info)
                if info.filename.endswith((".xml", ".rels")):
                    expat.ParserCreate().Parse(part, True)
    return time.perf_counter() - start


def warm(paths: list[Path]) -> int:
    return sum(len(p.read_bytes()) for p in paths)


def xltool_env(pycache: Path, cache_dir: Path | None = None) -> dict:
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(pycache), TQDM_DISABLE="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cache_dir is not None:
        env["XLTOOL_CACHE_DIR"] = str(cache_dir)
    return env


XLTOOL = [sys.executable, "-c", "from xltool.cli import main; main()"]
LIBRARIES = [sys.executable, "-c", "import numpy, formulas.functions.math"]  # Python, numpy and the library's SUM


def merge(folder: Path, out: Path, roster: Path | None, env: dict) -> dict:
    cmd = [*XLTOOL, "merge", str(folder), "-o", str(out), "--json"]
    if roster is not None:
        cmd += ["--roster", str(roster)]
    result = run_measured(cmd, env)
    try:
        entries = json.loads(result["out"])["agencies"]
        result["accepted"] = sum(e["status"].startswith("已采纳") for e in entries)
    except (ValueError, KeyError):
        result["accepted"] = None
    return result


def single_check(path: Path, pycache: Path, runs: int = SINGLE_RUNS, disk: bool = False) -> dict[str, list[float]]:
    """`xltool check FILE` in fresh processes: cold (an empty compiled-formula cache each time) and warm; with
    ``disk``, also cold with the operating system's file cache dropped first (root only)."""
    out: dict[str, list[float]] = {"cold": [], "warm": [], "disk": [], "libraries": []}
    wait_for_quiet()
    with tempfile.TemporaryDirectory(prefix="xltool-bench-cache-") as tmp:
        warm_dir = Path(tmp) / "warm"
        subprocess.run([*XLTOOL, "check", str(path)], env=xltool_env(pycache, warm_dir), capture_output=True)
        modes = (("cold", True), ("warm", False)) + ((("disk", True),) if disk else ())
        for _ in range(runs):
            for mode, empty in modes:
                cache = Path(tmp) / ("cold" if empty else "warm")
                if empty:
                    shutil.rmtree(cache, ignore_errors=True)
                if mode == "disk":
                    os.sync()
                    Path("/proc/sys/vm/drop_caches").write_text("3\n")
                start = time.perf_counter()
                done = subprocess.run([*XLTOOL, "check", str(path)], env=xltool_env(pycache, cache),
                                      capture_output=True)
                out[mode].append(time.perf_counter() - start)
                assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
            start = time.perf_counter()  # the same minute: what any check starts and imports first
            subprocess.run(LIBRARIES, env=xltool_env(pycache), capture_output=True, check=True)
            out["libraries"].append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="files of each kind (default 1000)")
    parser.add_argument("--kinds", default=",".join(corpus.KINDS))
    parser.add_argument("--skip-single", action="store_true", help="skip the single-file check")
    parser.add_argument("--skip-roster", action="store_true", help="skip the merges with a roster")
    parser.add_argument("--repeat", type=int, default=None,
                        help="rounds of floor and merges, the best of each kept (default 5, 2 above 2,000 files)")
    parser.add_argument("--drop-os-caches", action="store_true",
                        help="also time a single check after dropping the OS file cache (needs root)")
    parser.add_argument("--readme", action="store_true",
                        help="only rewrite README's bench block from bench/results-*.md")
    args = parser.parse_args()
    if args.readme:
        update_readme()
        return
    n, kinds = args.n, tuple(args.kinds.split(","))
    repeat = args.repeat or (5 if n <= 2000 else 2)
    root = corpus.make(n, kinds)
    pycache = root / "pycache"
    env = xltool_env(pycache)
    subprocess.run([*XLTOOL, "--version"], env=env, capture_output=True)  # bytecode written once
    load = os.getloadavg()[0]
    rows, single = [], {}
    work = Path(tempfile.mkdtemp(prefix="xltool-bench-"))
    try:
        for kind in kinds:
            paths = corpus.files(n, kind)
            folder = paths[0].parent
            if len(list(folder.glob("*.xlsx"))) != n:  # merge takes the whole folder: give it exactly n files
                folder = work / kind
                folder.mkdir()
                for p in paths:
                    os.symlink(p, folder / p.name)
            size = warm(paths)
            # Rounds of floor, merge and merge --roster, one after the other, so that a shared machine's slow
            # minutes fall on all three alike; the best of each is kept.
            floors, plains, listeds = [], [], []
            for _ in range(repeat):
                floors.append(floor(paths))
                plains.append(merge(folder, work / f"{kind}.xlsx", None, env))
                if not args.skip_roster:
                    listeds.append(merge(folder, work / f"{kind}-roster.xlsx", root / f"roster-{n}.csv", env))
                print(f"{kind}: floor {floors[-1]:.2f} s, merge {plains[-1]['wall']:.2f} s"
                      + (f", merge --roster {listeds[-1]['wall']:.2f} s" if listeds else "")
                      + f", accepted {plains[-1]['accepted']}", flush=True)
            floor_s = min(floors)
            plain = min(plains, key=lambda r: r["wall"])
            listed = min(listeds, key=lambda r: r["wall"]) if listeds else None
            rounds = [m["wall"] / f for f, m in zip(floors, plains)]
            rows.append((kind, size / n, floor_s, plain, listed, rounds))
            if not args.skip_single:
                single[kind] = single_check(paths[0], pycache, disk=args.drop_os_caches)
                print(f"{kind}: check FILE cold {statistics.median(single[kind]['cold']):.2f} s, "
                      f"warm {statistics.median(single[kind]['warm']):.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = render(n, rows, single, load, os.getloadavg()[0], repeat)
    (ROOT / "bench" / f"results-{n}.md").write_text(report, encoding="utf-8")
    print(report)


def render(n: int, rows: list, single: dict, load_before: float, load_after: float, repeat: int) -> str:
    lines = [f"# Benchmark: {n:,} workbooks of each kind (2021 format)", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"{platform.platform()}; load average {load_before:.2f} before, {load_after:.2f} after. "
             f"Best of {repeat} rounds; \"rounds\": the range of each round's merge over its own floor.", "",
             "| files | KB each | floor (1 process) | `xltool merge` | ratio | rounds | CPU | others' CPU "
             "| peak memory | merge `--roster` | ratio | peak memory |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind, size, floor_s, plain, listed, rounds in rows:
        accepted = "" if plain["accepted"] == n else f" ({plain['accepted']} accepted)"
        cells = [f"{n:,} {KIND_NAMES[kind]}{accepted}", f"{size / 1024:.1f}", f"{floor_s:.2f} s",
                 f"{plain['wall']:.2f} s", f"**{plain['wall'] / floor_s:.2f}**",
                 f"{min(rounds):.2f}–{max(rounds):.2f}", f"{plain['cpu']:.1f} s",
                 f"{plain['others']:.1f} s", f"{plain['peak'] / 2**20:.0f} MB"]
        if listed is not None:
            cells += [f"{listed['wall']:.2f} s", f"**{listed['wall'] / floor_s:.2f}**",
                      f"{listed['peak'] / 2**20:.0f} MB"]
        else:
            cells += ["—", "—", "—"]
        lines.append("| " + " | ".join(cells) + " |")
    if single:
        disk = any(times["disk"] for times in single.values())
        lines += ["", f"`xltool check FILE`, wall time with interpreter start, {SINGLE_RUNS} fresh processes each "
                      "(median, fastest):", "",
                  "| file | cold (formula cache emptied) | warm (cache kept) |" + (" cold, OS file cache dropped too |"
                                                                             if disk else "")
                  + " Python, numpy and `formulas` alone |",
                  "|---|---|---|" + ("---|" if disk else "") + "---|"]
        for kind, times in single.items():
            cells = [f"one {KIND_NAMES[kind]}"] + [f"{statistics.median(times[m]):.3f} s, {min(times[m]):.3f} s"
                                                  for m in (("cold", "warm", "disk") if disk else ("cold", "warm"))
                                                  + ("libraries",)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def update_readme() -> None:
    """README's Performance numbers (between its bench markers): the ratios of the latest results files."""
    blocks = []
    for path in sorted((ROOT / "bench").glob("results-*.md"), key=lambda p: int(p.stem.split("-")[1])):
        text = path.read_text(encoding="utf-8").strip().splitlines()
        blocks.append("\n".join([f"**{text[0].lstrip('# ')}**", *text[1:]]))
    readme = ROOT / "README.md"
    current = readme.read_text(encoding="utf-8")
    start, end = current.index("<!-- bench:start -->"), current.index("<!-- bench:end -->")
    readme.write_text(current[:start] + "<!-- bench:start -->\n" + "\n\n".join(blocks) + "\n" + current[end:],
                      encoding="utf-8")


if __name__ == "__main__":
    main()
