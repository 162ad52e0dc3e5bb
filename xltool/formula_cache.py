"""Formulas compiled once per shape, run without the dispatcher, and kept between runs.

Every formula is still parsed and compiled by the ``formulas`` library and every value is computed by the
library's own function implementations (``SUM`` is ``formulas.functions.math``'s, ``+`` its operator); nothing
here trusts a cached value of a file or assumes what a formula computes from its text. Three things make it
cheap:

- **One compile per shape.** A formula's shape is its text with each cell reference replaced by its form
  (sheet prefix, ``$`` flags, cell or range) and by which other references it repeats: ``=SUM(D7:I7)`` in row
  7 and ``=SUM(D8:I8)`` in row 8 have one shape, and so the same compiled function, called with the cells
  each text names. A shape is shared only when the library's compiled inputs are exactly the references
  found in the text (:func:`_shareable`); any doubt, and that formula text is compiled on its own.
- **No dispatcher per call.** The library compiles a formula into a schedula ``DispatchPipe``, whose call
  costs ~0.6 ms. :class:`Plan` runs the same pipe — the same function objects on the same arguments, in the
  same order, with the same filters — as a plain loop. Anything it does not model (an impure function,
  several outputs, a missing value) falls back to calling the ``DispatchPipe`` itself.
- **A cache between runs.** Plans whose functions are the library's registered functions and operators and
  whose constants are plain numbers or text are written to ``$XDG_CACHE_HOME/xltool`` (or
  ``~/.cache/xltool``; ``XLTOOL_CACHE_DIR`` sets another folder, ``XLTOOL_CACHE=0`` disables it), in one JSON
  file whose name holds a digest of this module and the versions of xltool, Python, formulas and schedula:
  another version never reads it, and deleting it is always safe. A plan read from it names the library
  functions to call; the library still computes every value.

The parser's own first use imports every function module of the library (scipy included, ~1–2 s) to look
one name up. :func:`library_function` finds a function in just the module that defines it, from an index
of the installed library version (:mod:`xltool.formula_index`, checked by the tests), and otherwise asks the
library for all of them.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

CACHE_ENV, CACHE_DIR_ENV = "XLTOOL_CACHE", "XLTOOL_CACHE_DIR"
MAX_PERSISTED = 2000  # shapes and texts kept in the file; beyond that new ones stay in memory only
MAX_WRITES = 50  # writes of the file by one process (a batch of odd formulas must not rewrite it for ever)
MAX_PREPARED = 8192  # formula texts remembered in memory
MAX_COMPILED = 2048  # shapes, and texts compiled alone, remembered in memory
MAX_PIPES = 256  # the library's compiled functions themselves (large) remembered in memory


class Unparsable(Exception):
    """The library cannot parse or compile the formula."""


# -- references in a formula's text ----------------------------------------------------------------

_SHEET = r"(?:'(?:[^']|'')+'|[^\W\d][\w.]*)!"
_CELL = r"\$?[A-Za-z]{1,3}\$?[0-9]{1,7}"
_TOKEN = re.compile(rf"(?<![\w.$'!:\]])({_SHEET})?({_CELL})(?::({_CELL}))?(?![\w.(!:\[$])")
_CELL_PARTS = re.compile(r"(\$?)([A-Za-z]{1,3})(\$?)([0-9]{1,7})")
_CELLISH = re.compile(r"[A-Za-z]\$?[0-9]")  # anything that may be a reference the scan did not take
_STRING = re.compile(r'"(?:[^"]|"")*"')
_MAX_ROW, _MAX_COL = 1_048_576, 16_384


def _column(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _cell_form(text: str) -> tuple[str, str] | None:
    """(form, name) of one cell reference: ``$D7`` -> (``$CR``, ``D7``); None outside the grid."""
    m = _CELL_PARTS.fullmatch(text)
    col, row = _column(m.group(2)), int(m.group(4))
    if not (1 <= col <= _MAX_COL and 1 <= row <= _MAX_ROW):
        return None
    return f"{m.group(1)}C{m.group(3)}R", (m.group(2) + m.group(4)).upper()


def _sheet_name(prefix: str) -> str:
    """How the library names a sheet prefix (``'依申请公开'!`` -> ``依申请公开``; upper case, quotes removed)."""
    sheet = prefix[:-1]
    if sheet.startswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    return sheet.upper()


def scan(formula: str) -> tuple[str, tuple[str, ...]] | None:
    """The shape key of a formula and the names of its references in order (as the library names them);
    None when its references cannot be told apart from the rest of its text with certainty."""
    parts = _STRING.split(formula)
    strings = _STRING.findall(formula)
    key: list[str] = []
    names: list[str] = []
    for i, part in enumerate(parts):
        last = 0
        for m in _TOKEN.finditer(part):
            prefix, first, second = m.group(1), m.group(2), m.group(3)
            cell1 = _cell_form(first)
            cell2 = _cell_form(second) if second else ("", "")
            if cell1 is None or cell2 is None:
                return None
            name = cell1[1] + (":" + cell2[1] if second else "")
            if prefix:
                name = _sheet_name(prefix) + "!" + name
            seen = names.index(name) if name in names else len(names)
            names.append(name)
            key.append(part[last:m.start()])
            key.append(f"\x00{prefix or ''}{cell1[0]}{':' + cell2[0] if second else ''}#{seen}\x00")
            last = m.end()
        rest = part[last:]
        key.append(rest)
        if i < len(strings):
            key.append(strings[i])
    skeleton = "".join(k for k in key if not k.startswith("\x00"))
    if _CELLISH.search(skeleton):
        return None
    return "".join(key), tuple(names)


# -- the library's functions, found without importing all of them --------------------------------------

_index: dict[str, str] | None = None


def _function_index() -> dict[str, str]:
    global _index
    if _index is None:
        from formulas import __version__ as version

        from xltool import formula_index

        _index = {}
        if version == formula_index.FORMULAS_VERSION:
            for module, names in formula_index.MODULES.items():
                _index.update(dict.fromkeys(names.split(), module))
    return _index


def library_function(name: str) -> Callable:
    """What ``formulas.functions.get_functions()[name]`` is, importing only the module that defines it when
    the index knows it (the library's own lookup imports every function module, scipy included)."""
    from formulas.functions import get_functions

    if get_functions.cache_info().currsize:
        return get_functions()[name]
    module = _function_index().get(name)
    if module is None:
        return get_functions()[name]
    if module == "":
        from formulas.functions import FUNCTIONS
        return FUNCTIONS[name]
    return importlib.import_module(module, "formulas.functions").FUNCTIONS[name]


def build_function_index() -> dict[str, list[str]]:
    """Module -> names, for every function of the installed library: the module whose definition wins in
    ``get_functions()`` (later modules override earlier ones, the package's own ``FUNCTIONS`` all)."""
    from formulas.functions import FUNCTIONS, SUBMODULES, get_functions

    modules = [(m, importlib.import_module(m, "formulas.functions").FUNCTIONS) for m in SUBMODULES]
    out: dict[str, list[str]] = {}
    for name, func in sorted(get_functions().items()):
        if FUNCTIONS.get(name) is func:
            winner = ""
        else:
            winner = [m for m, table in modules if table.get(name) is func][-1]
        out.setdefault(winner, []).append(name)
    return out


_parser_class = None


def _parser():
    """The library's parser, looking function names up with :func:`library_function`."""
    global _parser_class
    if _parser_class is None:
        from formulas.parser import Parser
        from formulas.tokens.function import Function

        class _Function(Function):
            def compile(self):
                if self.attr.get("func_token"):
                    return super().compile()
                return library_function(self.name.upper())

        class _Parser(Parser):
            filters = [_Function if f is Function else f for f in Parser.filters]

        _parser_class = _Parser
    return _parser_class()


# -- compiled formulas -----------------------------------------------------------------------------------

_NONE: list = []


def _none():
    """schedula's NONE, which a function returns for no value (imported on first use)."""
    if not _NONE:
        from schedula.utils.cst import NONE

        _NONE.append(NONE)
    return _NONE[0]


class _Fallback(Exception):
    """The plan met what it does not model: call the library's DispatchPipe instead."""


class Plan:
    """A compiled formula's pipe as a plain loop: each data node takes its input, constant or producing
    function's result through its filters; each function node calls its function on its inputs' values."""

    __slots__ = ("size", "steps", "output", "ref")

    def __init__(self, size: int, steps: tuple, output: int, ref: object = None):
        self.size, self.steps, self.output = size, steps, output
        self.ref = ref  # the persistable description, or None

    def __call__(self, args: Sequence) -> object:
        NONE = _none()
        values: list = [None] * self.size
        for step in self.steps:
            kind = step[0]
            if kind == 0:  # function: (0, function, input slots, output slot, filters)
                inputs = [values[i] for i in step[2]]
                value = step[1](*[v for v in inputs if v is not NONE])
            elif kind == 1:  # input: (1, argument index, slot, filters)
                value = args[step[1]]
            elif kind == 2:  # constant: (2, value, slot, filters)
                value = step[1]
            else:  # data produced by a function: (3, None, slot, filters)
                value = values[step[2]]
            for f in step[-1]:
                value = f(value)
            if value is NONE:
                raise _Fallback
            values[step[-2] if kind == 0 else step[2]] = value
        return values[self.output]


def _plan_from_pipe(func) -> Plan | None:
    """The plan of a compiled ``DispatchPipe``; None when it holds anything the plain loop does not model."""
    from formulas.builder import _default_filter
    from formulas.functions.operators import OPERATORS

    bypass = _default_filter()[0]
    inputs = list(func.inputs or ())
    defaults = func.dsp.default_values
    root = func._sol
    slots: dict[object, int] = {}
    produced: set[object] = set()
    steps, refs = [], []
    persistable = True

    def slot(node) -> int:
        return slots.setdefault(node, len(slots))

    for task, _, _ in func.pipe:
        node_id, sol = task[-1]
        if sol is not root:
            return None
        attr = sol.nodes[node_id]
        filters = tuple(attr.get("filters", ()))
        if any(f is not bypass for f in filters):
            return None
        filter_refs = ["bypass"] * len(filters)
        if attr["type"] == "data":
            if set(attr) - {"type", "wait_inputs", "index", "filters"}:
                return None
            if node_id in produced:
                steps.append((3, None, slot(node_id), filters))
                refs.append(["data", slot(node_id), filter_refs])
            elif node_id in inputs:
                steps.append((1, inputs.index(node_id), slot(node_id), filters))
                refs.append(["in", inputs.index(node_id), slot(node_id), filter_refs])
            elif node_id in defaults:
                value = defaults[node_id]["value"]
                steps.append((2, value, slot(node_id), filters))
                encoded = _encode(value)
                persistable = persistable and encoded is not None
                refs.append(["const", encoded, slot(node_id), filter_refs])
            else:
                return None
        elif attr["type"] == "function":
            if set(attr) - {"type", "inputs", "outputs", "function", "wait_inputs", "index", "solve_cycle"}:
                return None
            if len(attr["outputs"]) != 1 or any(i not in slots for i in attr["inputs"]):
                return None
            function = attr["function"]
            base = re.sub(r"<\d+>$", "", str(node_id)).upper()
            if OPERATORS.get(base) is function:
                ref = ["op", base]
            elif _safe_library_function(base) is function:
                ref = ["fn", base]
            else:
                ref, persistable = None, False
            out = attr["outputs"][0]
            if out in produced or out in inputs or out in defaults:
                return None  # a node with two estimations: the dispatcher picks one
            produced.add(out)
            in_slots = tuple(slots[i] for i in attr["inputs"])
            steps.append((0, function, in_slots, slot(out), filters))
            refs.append(["call", ref, list(in_slots), slot(out), filter_refs])
        else:
            return None
    output = func.outputs[0] if func.outputs and len(func.outputs) == 1 else None
    if output not in slots:
        return None
    return Plan(len(slots), tuple(steps), slots[output],
                {"size": len(slots), "steps": refs, "output": slots[output]} if persistable else None)


def _safe_library_function(name: str):
    try:
        return library_function(name)
    except Exception:
        return None


def _plan_from_ref(ref: dict) -> Plan:
    """A plan read back from the cache file: the library's functions and filters, looked up by name."""
    from formulas.functions import wrap_ranges_func
    from formulas.functions.operators import OPERATORS
    from schedula.utils.dsp import bypass as _bypass

    bypass = _bypass_filter(wrap_ranges_func, _bypass)
    steps = []
    for step in ref["steps"]:
        filters = tuple(bypass for f in step[-1] if f == "bypass")
        if len(filters) != len(step[-1]):
            raise ValueError("unknown filter")
        kind = step[0]
        if kind == "call":
            what, name = step[1]
            function = OPERATORS[name] if what == "op" and name in OPERATORS else \
                library_function(name) if what == "fn" else None
            if function is None:
                raise ValueError("unknown function")
            steps.append((0, function, tuple(step[2]), int(step[3]), filters))
        elif kind == "in":
            steps.append((1, int(step[1]), int(step[2]), filters))
        elif kind == "const":
            steps.append((2, _decode(step[1]), int(step[2]), filters))
        elif kind == "data":
            steps.append((3, None, int(step[1]), filters))
        else:
            raise ValueError("unknown step")
    plan = Plan(int(ref["size"]), tuple(steps), int(ref["output"]), ref)
    _check_plan(plan)
    return plan


def _check_plan(plan: Plan) -> None:
    """A plan read back must be well formed: every slot read after it is written, all within its size."""
    written: set[int] = set()
    for step in plan.steps:
        if step[0] == 0:
            if any(i not in written for i in step[2]):
                raise ValueError("a slot read before it is written")
            written.add(step[3])
        elif step[0] == 3:
            if step[2] not in written:
                raise ValueError("data read before it is written")
        else:
            written.add(step[2])
    if not written <= set(range(plan.size)) or plan.output not in written:
        raise ValueError("slots out of range")


_bypass_cache: list = []


def _bypass_filter(wrap_ranges_func, bypass):
    """The output filter the library's builder puts on every formula (``formulas.builder._default_filter``:
    ranges to values), made from the same library pieces without importing the parser."""
    if not _bypass_cache:
        _bypass_cache.append(wrap_ranges_func(bypass))
    return _bypass_cache[0]


def _plain(value) -> bool:
    return type(value) in (int, str, bool) or (type(value) is float and math.isfinite(value))


def _encode(value):
    """A constant of a plan as JSON, or None when it is not plain data (then the plan stays in memory)."""
    if _plain(value):
        return {"v": value}
    import numpy as np
    from formulas.functions import Array

    if type(value) in (np.ndarray, Array) and value.dtype == object and value.ndim <= 2 \
            and not getattr(value, "__dict__", None) and all(_plain(v) for v in value.flat):
        return {"a": value.tolist(), "array": type(value) is Array}
    return None


def _decode(encoded: dict):
    if "v" in encoded:
        return encoded["v"]
    import numpy as np
    from formulas.functions import Array

    array = np.empty(np.shape(encoded["a"]), dtype=object)
    array[...] = encoded["a"] if array.ndim else encoded["a"]
    return array.view(Array) if encoded["array"] else array


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
            except _Fallback:
                pass
        pipe = compiled.pipe or compile_pipe(self.formula)[0]
        return pipe(*[args[i] for i in self.order])


def compile_pipe(formula: str):
    """The library's compiled function of one formula text and its input names (sorted, as it sorts them)."""
    found = _pipes.get(formula)
    if found is None:
        try:
            func = _parser().ast(formula)[1].compile()
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
            return Prepared(formula, compiled, _names(compiled.slots, names))
    compiled = _texts.get(formula) or _from_disk("texts", formula)
    if compiled is not None:
        _remember(_texts, formula, compiled)
        return Prepared(formula, compiled, _names(compiled.slots, ()))
    func, inputs = compile_pipe(formula)
    plan = _plan_from_pipe(func)
    slots = _shareable(inputs, scanned[1]) if scanned is not None else None
    pipe = func if plan is None else None  # a plan falls back to compiling again: a pipe is big to keep
    if slots is not None:
        compiled = _remember(_shapes, scanned[0], Compiled(slots, plan, pipe))
        _to_disk("shapes", scanned[0], compiled)
        return Prepared(formula, compiled, _names(slots, scanned[1]))
    compiled = _remember(_texts, formula, Compiled(inputs, plan, pipe))
    _to_disk("texts", formula, compiled)
    return Prepared(formula, compiled, inputs)


def _remember(table: dict, key: str, compiled: Compiled) -> Compiled:
    if len(table) >= MAX_COMPILED:
        table.clear()  # a batch of odd formulas must not fill the memory
    table[key] = compiled
    return compiled


def _names(slots: tuple, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(names[s] if type(s) is int else s for s in slots)


def _shareable(inputs: tuple[str, ...], names: tuple[str, ...]) -> tuple | None:
    """Each compiled input as the index of the reference it is (or its literal name when it is none), when
    the inputs are exactly the references of the text; else None (the text is compiled on its own)."""
    slots: list = []
    matched = set()
    for name in inputs:
        if name in names:
            slots.append(names.index(name))
            matched.add(name)
        elif _CELLISH.search(name):
            return None  # an input the scan did not see as a reference
        else:
            slots.append(name)  # a whole row or column (A:A, 3:3): the same text in every formula of the shape
    if matched != set(names):
        return None  # a reference the library did not take as one
    return tuple(slots)


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
    """The cache file for this xltool, this module, this Python and these versions of formulas and schedula."""
    import formulas
    import schedula

    from xltool import __version__

    digest = hashlib.sha256(f"xltool {__version__}\npython {sys.version_info[0]}.{sys.version_info[1]}\n"
                            f"formulas {formulas.__version__}\nschedula {schedula.__version__}\n".encode())
    try:
        digest.update(Path(__file__).read_bytes())
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
        return Compiled(slots, _plan_from_ref(entry["plan"]))
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
             ':func:`xltool.formula_cache.library_function`).', "",
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
