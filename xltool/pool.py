"""Process pools that work wherever xltool runs: ``fork`` where the system has it (fast to start), ``spawn``
elsewhere (Windows). ``XLTOOL_START_METHOD`` forces one (the tests run the pools under ``spawn`` too).
``multiprocessing`` is imported when a pool is made: checking one file does not start with it. And how an xltool
process, the command's and each worker, uses the garbage collector (:func:`collect_rarely`)."""

from __future__ import annotations

import atexit
import gc
import os
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

START_METHOD_ENV = "XLTOOL_START_METHOD"
PARALLEL_FROM = 16  # jobs; below this a process pool costs more than it saves


def collect_rarely() -> None:
    """How an xltool process uses the cyclic garbage collector. Starting up makes some 40,000 objects that live
    as long as the process (modules, classes, functions), and the default policy, a young collection every 700
    new objects, walks them over and over: 3% of a single check. A young collection every 100,000 keeps what
    cyclic garbage there is bounded at a fraction of the cost. At exit nothing is collected (``gc.freeze``):
    the system takes the memory back at once, where a last walk of every object is another 5%."""
    gc.set_threshold(100_000)
    atexit.register(gc.freeze)


def start_method() -> str:
    forced = os.environ.get(START_METHOD_ENV)
    if forced:
        return forced
    import multiprocessing

    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose workers end when the process that started them is gone."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(start_method()),
                               initializer=_end_with, initargs=(os.getpid(),))


def _end_with(parent: int) -> None:
    """Make a pool worker end when the process that started it is gone.

    A process killed outright (``kill -9``, the out-of-memory killer) cannot stop its workers; they
    would wait for work for ever. A thread in each worker watches its parent and ends the worker.

    What a forked worker inherits is moved out of the garbage collector's sight (``gc.freeze``): its
    collections then do not walk, and copy, the parent's objects.
    """
    collect_rarely()  # a spawned worker starts with the default policy
    gc.freeze()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.1)
        os._exit(1)

    threading.Thread(target=watch, name="xltool-parent-watch", daemon=True).start()
