"""One TOML table of a spec file, read key by key with the type each key must have: unknown and missing keys,
and a value of the wrong type, fail with the place and what was expected (the spec loader's checks of every
key and scalar, :mod:`xltool.spec_loader`).
"""

from __future__ import annotations

from collections.abc import Callable

from xltool.errors import SpecError


class SpecSection:
    """One TOML table of the spec, read key by key with the type each key must have."""

    def __init__(self, fail: Callable[[str, str], SpecError], obj: object, where: str, required: tuple[str, ...],
                 optional: tuple[str, ...] | None = ()):
        """``fail(where, message)``: the error to raise, naming the file; ``optional``: the other keys allowed;
        None when any key is (a table keyed by names)."""
        self.fail = fail
        self.where = where
        if not isinstance(obj, dict):
            raise self.fail(where, f"expected a table, got {_kind(obj)}")
        unknown = sorted(set(obj) - set(required) - set(optional)) if optional is not None else []
        if unknown:
            raise self.fail(where, f"unknown key {unknown[0]!r}")
        for key in required:
            if key not in obj:
                raise self.fail(where, f"missing key {key!r}")
        self.obj = obj

    def __contains__(self, key: str) -> bool:
        return key in self.obj

    def _get(self, key: str, default: object, types: tuple[type, ...], expected: str) -> object:
        value = self.obj.get(key, default)
        if value is default:
            return value
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise self.fail(self.where, f"{key} must be {expected}, got {_kind(value)} {value!r}")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        return self._get(key, default, (str,), "a string")

    def integer(self, key: str, default: int | None = None) -> int | None:
        return self._get(key, default, (int,), "an integer")

    def number(self, key: str, default: float | None = None) -> float | None:
        return self._get(key, default, (int, float), "a number")

    def flag(self, key: str, default: bool | None = None) -> bool | None:
        return self._get(key, default, (bool,), "true or false")

    def texts(self, key: str, default: tuple = ()) -> tuple[str, ...]:
        value = self._get(key, default, (list, tuple), "a list of strings")
        if not all(isinstance(v, str) for v in value):
            raise self.fail(self.where, f"{key} must be a list of strings")
        return tuple(value)

    def tables(self, key: str) -> list:
        return self._get(key, [], (list,), "an array of tables")


def _kind(value: object) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)
