"""Formulas compiled once per shape, run without the dispatcher, and kept between runs.

Every formula is still parsed and compiled by the ``formulas`` library and every value is computed by the
library's own function implementations (``SUM`` is ``formulas.functions.math``'s, ``+`` its operator); nothing
here trusts a cached value of a file or assumes what a formula computes from its text. Three things make it
cheap:

- **One compile per shape** (:mod:`xltool.formula_shapes`). A formula's shape is its text with each cell
  reference replaced by its form and by which other references it repeats: ``=SUM(D7:I7)`` in row 7 and
  ``=SUM(D8:I8)`` in row 8 have one shape, and so the same compiled function, called with the cells each
  text names. Any doubt, and that formula text is compiled on its own.
- **No dispatcher per call** (:mod:`xltool.formula_plan`). The library compiles a formula into a schedula
  ``DispatchPipe``, whose call costs ~0.6 ms; a plan runs the same pipe as a plain loop, and anything it does
  not model falls back to calling the ``DispatchPipe`` itself.
- **A cache between runs.** Plans whose functions are the library's registered functions and operators and
  whose constants are plain numbers or text are written to ``$XDG_CACHE_HOME/xltool`` (or
  ``~/.cache/xltool``; ``XLTOOL_CACHE_DIR`` sets another folder, ``XLTOOL_CACHE=0`` disables it), in one JSON
  file whose name holds a digest of the code that says what an entry means (this module, its shapes, plans
  and function lookup) and the versions of xltool, Python, formulas and schedula: another version never reads
  it, and deleting it is always safe. A plan read from it names the library functions to call; the library
  still computes every value.

The library's functions are found without importing all of them (:mod:`xltool.formula_functions`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from xltool import formula_functions, formula_plan, formula_shapes
from xltool.formula_functions import build_function_index, parser
from xltool.formula_plan import Fallback, Plan, plan_from_pipe, plan_from_ref
from xltool.formula_shapes import scan, shareable, slot_names

os.environ.setdefault("TQDM_DISABLE", "1")

CACHE_ENV, CACHE_DIR_ENV = "XLTOOL_CACHE", "XLTOOL_CACHE_DIR"
MAX_PERSISTED = 2000  # shapes and texts kept in the file; beyond that new ones stay in memory only
MAX_WRITES = 50  # writes of the file by one process (a batch of odd formulas must not rewrite it for ever)
MAX_PREPARED = 8192  # formula texts remembered in memory
MAX_COMPILED = 2048  # shapes, and texts compiled alone, remembered in memory
MAX_PIPES = 256  # the library's compiled functions themselves (large) remembered in memory


class Unparsable(Exception):
    """The library cannot parse or compile the formula."""


# -- compiled formulas -----------------------------------------------------------------------------------

class Compiled:
    """A compiled formula: its inputs (a token index of the text, or a literal name) and how to run it."""

    __slots__ = ("slots", "plan", "pipe")

    def __init__(self, slots: tuple, plan: Plan | None, pipe=None):
        self.slots, self.plan, self.pipe = slots, plan, pipe


class Prepared:
    """One formula text, ready to run: the names of its arguments and the order the library resolves them."""

    __slots__ = ("formula", "compiled", "names", "order")

    def __init__(self, formula: str, compiled: Compiled, names: tuple[str, ...]):
        self.formula, self.compiled, self.names = formula, compiled, names
        self.order = tuple(sorted(range(len(names)), key=names.__getitem__))

    def run(self, args: list) -> object:
        """The formula's result for its arguments (in the order of :attr:`names`)."""
        compiled = self.compiled
        if compiled.plan is not None:
            try:
                return compiled.plan(args)
            except Fallback:
                pass
        pipe = compiled.pipe or compile_pipe(self.formula)[0]
        return pipe(*[args[i] for i in self.order])


def compile_pipe(formula: str):
    """The library's compiled function of one formula text and its input names (sorted, as it sorts them)."""
    found = _pipes.get(formula)
    if found is None:
        try:
            func = parser().ast(formula)[1].compile()
        except Exception:  # the library raises many kinds for a formula it cannot parse
            raise Unparsable(formula) from None
        if len(_pipes) >= MAX_PIPES:
            _pipes.clear()
        found = _pipes[formula] = (func, tuple(func.inputs or ()))
    return found


_pipes: dict[str, tuple] = {}
_prepared: dict[str, Prepared | Unparsable] = {}
_shapes: dict[str, Compiled] = {}
_texts: dict[str, Compiled] = {}


def prepare(formula: str) -> Prepared:
    """A formula text compiled (once per shape, or once per text), ready to run; :class:`Unparsable`."""
    found = _prepared.get(formula)
    if found is None:
        try:
            found = _prepare(formula)
        except Unparsable as exc:
            found = exc
        if len(_prepared) >= MAX_PREPARED:
            _prepared.clear()
        if len(formula) <= 4096:  # a formula of Excel's longest (8,192 characters) is compiled each time
            _prepared[formula] = found
    if isinstance(found, Unparsable):
        raise found
    return found


def _prepare(formula: str) -> Prepared:
    scanned = scan(formula)
    if scanned is not None:
        key, names = scanned
        compiled = _shapes.get(key) or _from_disk("shapes", key)
        if compiled is not None:
            _remember(_shapes, key, compiled)
            return Prepared(formula, compiled, slot_names(compiled.slots, names))
    compiled = _texts.get(formula) or _from_disk("texts", formula)
    if compiled is not None:
        _remember(_texts, formula, compiled)
        return Prepared(formula, compiled, slot_names(compiled.slots, ()))
    func, inputs = compile_pipe(formula)
    plan = plan_from_pipe(func)
    slots = shareable(inputs, scanned[1]) if scanned is not None else None
    pipe = func if plan is None else None  # a plan falls back to compiling again: a pipe is big to keep
    if slots is not None:
        compiled = _remember(_shapes, scanned[0], Compiled(slots, plan, pipe))
        _to_disk("shapes", scanned[0], compiled)
        return Prepared(formula, compiled, slot_names(slots, scanned[1]))
    compiled = _remember(_texts, formula, Compiled(inputs, plan, pipe))
    _to_disk("texts", formula, compiled)
    return Prepared(formula, compiled, inputs)


def _remember(table: dict, key: str, compiled: Compiled) -> Compiled:
    if len(table) >= MAX_COMPILED:
        table.clear()  # a batch of odd formulas must not fill the memory
    table[key] = compiled
    return compiled


def clear() -> None:
    """Forget everything compiled in this process (the cache file stays)."""
    global _disk
    _pipes.clear()
    _prepared.clear()
    _shapes.clear()
    _texts.clear()
    _disk = None


# -- the cache between runs ------------------------------------------------------------------------------

_disk: dict | None = None
_writes = 0


def enabled() -> bool:
    return os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "xltool" / "Cache"
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache") / "xltool"


def cache_file() -> Path:
    """The cache file for this xltool, the code of its entries (this module, :mod:`xltool.formula_shapes`,
    :mod:`xltool.formula_plan`, :mod:`xltool.formula_functions`), this Python and these versions of formulas
    and schedula."""
    import formulas
    import schedula

    from xltool import __version__

    digest = hashlib.sha256(f"xltool {__version__}\npython {sys.version_info[0]}.{sys.version_info[1]}\n"
                            f"formulas {formulas.__version__}\nschedula {schedula.__version__}\n".encode())
    for source in (__file__, formula_shapes.__file__, formula_plan.__file__, formula_functions.__file__):
        try:
            digest.update(Path(source).read_bytes())
        except OSError:
            pass
    return cache_dir() / f"formulas-{digest.hexdigest()[:20]}.json"


def _load() -> dict:
    global _disk
    if _disk is None:
        _disk = {"shapes": {}, "texts": {}}
        if enabled():
            try:
                data = json.loads(cache_file().read_text(encoding="utf-8"))
                if isinstance(data.get("shapes"), dict) and isinstance(data.get("texts"), dict):
                    _disk = {"shapes": data["shapes"], "texts": data["texts"]}
            except (OSError, ValueError, AttributeError, TypeError):
                pass  # no file, or one that is damaged: compile again
    return _disk


def _from_disk(table: str, key: str) -> Compiled | None:
    entry = _load()[table].get(key)
    if entry is None:
        return None
    try:
        slots = tuple(s if type(s) is str else int(s) for s in entry["slots"])
        return Compiled(slots, plan_from_ref(entry["plan"]))
    except Exception:  # an entry this code cannot use: compile the formula again
        _load()[table].pop(key, None)
        return None


def _to_disk(table: str, key: str, compiled: Compiled) -> None:
    """Add a compiled formula to the cache file (re-read first, written atomically; a lost race only loses
    an entry)."""
    global _writes
    if not enabled() or compiled.plan is None or compiled.plan.ref is None or _writes >= MAX_WRITES \
            or len(key) > 1024:
        return
    disk = _load()
    if len(disk["shapes"]) + len(disk["texts"]) >= MAX_PERSISTED:
        return
    disk[table][key] = {"slots": list(compiled.slots), "plan": compiled.plan.ref}
    _writes += 1
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
            for name in ("shapes", "texts"):
                for k, v in current.get(name, {}).items():
                    disk[name].setdefault(k, v)
        except (OSError, ValueError, AttributeError, TypeError):
            pass
        fd, tmp = tempfile.mkstemp(prefix=".formulas-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"shapes": disk["shapes"], "texts": disk["texts"]}, handle, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            with _suppress():
                os.unlink(tmp)
            raise
    except OSError:
        pass  # a read-only home, a full disk: the cache is only an optimisation


def _suppress():
    import contextlib

    return contextlib.suppress(OSError)


def main() -> None:
    """``python -m xltool.formula_cache --index``: print xltool/formula_index.py for the installed library."""
    if sys.argv[1:] != ["--index"]:
        sys.exit("usage: python -m xltool.formula_cache --index > xltool/formula_index.py")
    from formulas import __version__ as version

    lines = ['"""Which module of the ``formulas`` library defines each of its functions (for',
             ':func:`xltool.formula_functions.library_function`).', "",
             "Generated by ``python -m xltool.formula_cache --index`` for the version below; used only with that",
             'version (tests/test_speed.py checks it against the installed library)."""', "",
             f"FORMULAS_VERSION = {version!r}", "", "MODULES = {"]
    for module, names in sorted(build_function_index().items()):
        lines.append(f"    {module!r}: (")
        line = ""
        for name in names:
            if len(line) + len(name) > 100:
                lines.append(f"        {line!r}")
                line = ""
            line += name + " "
        lines.append(f"        {line!r}")
        lines.append("    ),")
    lines.append("}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
