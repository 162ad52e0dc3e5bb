"""The ``formulas`` library's functions, found without importing all of them, and its parser looking names up
that way. The parser's own first use imports every function module of the library (scipy included, ~1–2 s)
to look one name up; :func:`library_function` finds a function in just the module that defines it, from an
index of the installed library version (:mod:`xltool.formula_index`, checked by the tests, written by
``python -m xltool.formula_cache --index`` from :func:`build_function_index`), and otherwise asks the library
for all of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

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


def parser():
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
