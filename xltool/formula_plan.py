"""A compiled formula run as a plain loop. The library compiles a formula into a schedula ``DispatchPipe``,
whose call costs ~0.6 ms; a :class:`Plan` runs the same pipe — the same function objects on the same
arguments, in the same order, with the same filters — without the dispatcher. Anything it does not model (an
impure function, several outputs, a missing value) is not planned, or raises :class:`Fallback` and the
``DispatchPipe`` itself is called. A plan whose functions are the library's registered functions and
operators and whose constants are plain numbers or text has a persistable description (:attr:`Plan.ref`),
which :func:`plan_from_ref` turns back into a plan, looking the functions up by name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

from xltool.formula_functions import library_function

class _Library(NamedTuple):
    NONE: object  # schedula's NONE, which a function returns for no value
    Ranges: type
    RangeValueError: type
    bypass: object  # schedula's bypass
    output_filter: object  # the filter the library's builder puts on every formula: bypass in its range glue
    glue: object  # the code of the library's wrap_ranges_func wrapper


@cache
def _library() -> _Library:
    """The library's pieces a plan uses, imported on first use (``formulas.builder._default_filter`` made from the
    same pieces: that module imports the parser)."""
    from formulas.errors import RangeValueError
    from formulas.functions import wrap_ranges_func
    from formulas.ranges import Ranges
    from schedula.utils.cst import NONE
    from schedula.utils.dsp import bypass

    output_filter = wrap_ranges_func(bypass)
    return _Library(NONE, Ranges, RangeValueError, bypass, output_filter, output_filter.__code__)


class Fallback(Exception):
    """The plan met what it does not model: call the library's DispatchPipe instead."""


class Plan:
    """A compiled formula's pipe as a plain loop: each data node takes its input, constant or producing
    function's result through its filters; each function node calls its function on its inputs' values."""

    __slots__ = ("size", "steps", "output", "ref", "_run")

    def __init__(self, size: int, steps: tuple, output: int, ref: object = None):
        self.size, self.steps, self.output = size, steps, output
        self.ref = ref  # the persistable description, or None
        self._run = tuple((*step[:-1], tuple((f, _is_bypass(f)) for f in step[-1]),
                           _unwrapped(step[1]) if step[0] == 0 else None) for step in steps)

    def __call__(self, args: Sequence) -> object:
        NONE, Ranges, RangeValueError = _library()[:3]
        values: list = [None] * self.size
        for step in self._run:
            kind = step[0]
            if kind == 0:  # function: (0, function, input slots, output slot, filters, inner function)
                inputs = [v for v in [values[i] for i in step[2]] if v is not NONE]
                inner = step[5]
                for v in inputs:
                    if isinstance(v, Ranges):
                        inner = None
                        break
                if inner is None:
                    value = step[1](*inputs)
                else:
                    try:
                        value = inner(*inputs)
                    except RangeValueError:
                        value = step[1](*inputs)
                filters = step[4]
            else:
                if kind == 1:  # input: (1, argument index, slot, filters)
                    value = args[step[1]]
                elif kind == 2:  # constant: (2, value, slot, filters)
                    value = step[1]
                else:  # data produced by a function: (3, None, slot, filters)
                    value = values[step[2]]
                filters = step[3]
            for f, bypass in filters:
                if not bypass or isinstance(value, Ranges):  # the bypass filter gives any other value as it is
                    value = f(value)
            if value is NONE:
                raise Fallback
            values[step[3] if kind == 0 else step[2]] = value
        return values[self.output]


def _unwrapped(function):
    """The function the library's ``wrap_ranges_func`` wraps in ``function``, or None.

    The library wraps most functions, and the output filter of every formula, in ``wrap_ranges_func``, whose
    wrapper turns each argument that is a ``Ranges`` into its value, then calls the function (a
    ``RangeValueError`` of that turning gives no value). A plan calls the wrapped function directly when no
    argument is a ``Ranges``, and the wrapper itself otherwise or when a ``RangeValueError`` is raised all the
    same: the same result, without the wrapper's work on every call."""
    glue = _library().glue
    return getattr(function, "__wrapped__", None) if getattr(function, "__code__", None) is glue else None


def _is_bypass(f) -> bool:
    """Whether the filter is the library's output filter: ``bypass`` wrapped in ``wrap_ranges_func``."""
    return _unwrapped(f) is _library().bypass


def plan_from_pipe(func) -> Plan | None:
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


def plan_from_ref(ref: dict) -> Plan:
    """A plan read back from the cache file: the library's functions and filters, looked up by name."""
    bypass = _library().output_filter
    steps = []
    for step in ref["steps"]:
        filters = tuple(bypass for f in step[-1] if f == "bypass")
        if len(filters) != len(step[-1]):
            raise ValueError("unknown filter")
        kind = step[0]
        if kind == "call":
            what, name = step[1]
            function = _operator(name) if what == "op" else library_function(name) if what == "fn" else None
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


def _operator(name: str):
    """The library's operator of this name, or None. Its module imports the library's parser (~0.05 s), which
    a plan of functions alone (``=SUM(D7:I7)``) does not need: imported only for a plan with an operator."""
    from formulas.functions.operators import OPERATORS

    return OPERATORS.get(name)


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
