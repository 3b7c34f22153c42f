"""Checks a parsed record against the JSON Schema that ships in the package, naming the field.

Records can hold a million samples, so the schema is compiled once into nested closures instead
of being interpreted per value; only the keywords the shipped schemas use are supported, and a
schema using any other keyword is refused when compiled (nothing is silently ignored). Two rules
are stricter than JSON Schema, because loadbench writes records this way and every reader relies
on it: an ``integer`` is a JSON integer (``1.0`` is not one), and a ``number`` is finite (Python's
``json`` reads ``NaN`` and ``Infinity``, which JSON does not have).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from loadbench.errors import LoadbenchError

Check = Callable[[Any], None]

_IGNORED = {"$schema", "$id", "title", "description", "$comment", "$defs", "default"}
_SUPPORTED = {"type", "required", "properties", "additionalProperties", "items", "enum",
              "const", "minimum", "exclusiveMinimum", "maximum", "$ref"} | _IGNORED


class SchemaViolation(LoadbenchError, ValueError):
    """A document does not match the schema; ``str()`` names the field and what was wrong."""


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number" if math.isfinite(v) else f"{v!r} (not a JSON number)"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _show(v: Any) -> str:
    text = json.dumps(v, allow_nan=True) if not isinstance(v, dict | list) else _type_name(v)
    return text if len(text) <= 40 else text[:37] + "..."


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "integer": lambda v: type(v) is int,
    "number": lambda v: (type(v) is int) or (type(v) is float and math.isfinite(v)),
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "array": lambda v: type(v) is list,
    "object": lambda v: type(v) is dict,
}
_ARTICLE = {"integer": "an integer", "number": "a finite number", "string": "a string",
            "boolean": "a boolean", "null": "null", "array": "an array", "object": "an object"}


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        if not ref.startswith("#/"):
            raise ValueError(f"schema: only local $ref are supported, got {ref!r}")
        if ref not in self.refs:
            node: Any = self.root
            for part in ref[2:].split("/"):
                node = node[part]
            slot: list[Check] = []
            self.refs[ref] = lambda v: slot[0](v)  # recursion-safe placeholder
            slot.append(self.compile(node))
            self.refs[ref] = slot[0]
        return self.refs[ref]

    def compile(self, s: Mapping[str, Any] | bool) -> Check:
        if s is True:
            return lambda v: None
        if s is False:
            def never(v: Any) -> None:
                raise _Fail("not allowed here")
            return never
        unknown = set(s) - _SUPPORTED
        if unknown:
            raise ValueError(f"schema keyword(s) not supported: {sorted(unknown)}")
        checks: list[Check] = []
        if "$ref" in s:
            checks.append(self.ref(s["$ref"]))
        if "const" in s:
            want = s["const"]

            def const(v: Any) -> None:
                if v != want or type(v) is not type(want):
                    raise _Fail(f"expected {_show(want)}, got {_show(v)}")
            checks.append(const)
        if "enum" in s:
            options = tuple(s["enum"])

            def enum(v: Any) -> None:
                if not any(v == o and type(v) is type(o) for o in options):
                    raise _Fail(f"{_show(v)} is not one of "
                                          f"{', '.join(_show(o) for o in options)}")
            checks.append(enum)
        if set(s) - _IGNORED == {"type", "minimum"} and s["type"] == "integer":
            # The shape of most sample fields: one fused check, since it runs millions of times.
            low = s["minimum"]

            def count(v: Any) -> None:
                if type(v) is not int or v < low:
                    raise _Fail(f"expected an integer, got {_show(v)}" if type(v) is not int
                                else f"must be at least {low:g}, got {v!r}")
            return count
        if "type" in s:
            names = [s["type"]] if isinstance(s["type"], str) else list(s["type"])
            tests = tuple(_TYPE_TESTS[n] for n in names)
            expected = " or ".join(_ARTICLE[n] for n in names)
            if len(tests) == 1:
                only = tests[0]

                def typ(v: Any) -> None:
                    if not only(v):
                        raise _Fail(f"expected {expected}, got {_show(v)}")
            else:
                def typ(v: Any) -> None:
                    if not any(t(v) for t in tests):
                        raise _Fail(f"expected {expected}, got {_show(v)}")
            checks.append(typ)
        for key, op, word in (("minimum", float.__lt__, "at least"),
                              ("exclusiveMinimum", float.__le__, "more than"),
                              ("maximum", float.__gt__, "at most")):
            if key in s:
                bound = float(s[key])

                def limit(v: Any, bound: float = bound, op: Any = op, word: str = word) -> None:
                    if type(v) in (int, float) and op(float(v), bound):
                        raise _Fail(f"must be {word} {bound:g}, got {v!r}")
                checks.append(limit)
        if "required" in s or "properties" in s or "additionalProperties" in s:
            checks.append(self._object(s))
        fast = _fast_items(s.get("items"))
        if fast is not None:
            checks.append(fast)
        elif "items" in s:
            item = self.compile(s["items"])

            def items(v: Any) -> None:
                if type(v) is not list:
                    return
                for i, x in enumerate(v):
                    try:
                        item(x)
                    except _Fail as e:
                        e.path.append(f"[{i}]")
                        raise
            checks.append(items)
        if len(checks) == 1:
            return checks[0]

        def all_of(v: Any) -> None:
            for c in checks:
                c(v)
        return all_of

    def _object(self, s: Mapping[str, Any]) -> Check:
        required = tuple(s.get("required", ()))
        props = {k: self.compile(v) for k, v in (s.get("properties") or {}).items()}
        extra = self.compile(s["additionalProperties"]) if "additionalProperties" in s else None

        def obj(v: Any) -> None:
            if type(v) is not dict:
                return
            for k in required:
                if k not in v:
                    raise _Fail(f"missing {k!r}")
            for k, x in v.items():
                c = props.get(k, extra)
                if c is not None:
                    try:
                        c(x)
                    except _Fail as e:
                        e.path.append(f".{k}")
                        raise
        return obj


class _Fail(Exception):
    """Raised inside compiled checks; containers add their key on the way out, so a valid
    document costs no path bookkeeping at all."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def _fast_items(items: Any) -> Check | None:
    """A check for arrays of integers (with a minimum) or of integers and nulls that runs in C
    (``map``, ``min``) rather than per element in Python: record columns hold a million."""
    if not isinstance(items, dict) or set(items) - _IGNORED - {"type", "minimum"}:
        return None
    kind, low = items.get("type"), items.get("minimum")
    if kind == "integer":
        allowed: set[type] = {int}
    elif kind == ["integer", "null"] and low is None:
        allowed = {int, type(None)}
    else:
        return None
    expected = " or ".join(_ARTICLE[k] for k in ([kind] if isinstance(kind, str) else kind))

    def arr(v: Any) -> None:
        if type(v) is not list or not v:
            return
        if not set(map(type, v)) <= allowed:
            i = next(i for i, x in enumerate(v) if type(x) not in allowed)
            e = _Fail(f"expected {expected}, got {_show(v[i])}")
            e.path.append(f"[{i}]")
            raise e
        if low is not None and min(v) < low:
            i = next(i for i, x in enumerate(v) if x < low)
            e = _Fail(f"must be at least {low:g}, got {v[i]!r}")
            e.path.append(f"[{i}]")
            raise e
    return arr


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """The schema as one check function ``check(value, where)``; raises on unsupported keywords."""
    return _Compiler(schema).compile(schema)


@functools.cache
def record_check(version: int) -> Check:
    """The compiled check of the shipped record schema of ``version``."""
    from importlib import resources

    text = resources.files("loadbench").joinpath(
        f"schema/record-v{version}.schema.json").read_text(encoding="utf-8")
    return compile_schema(json.loads(text))


@functools.cache
def batch_check(version: int) -> Check:
    """The compiled check of one line of a run's samples log (``$defs/batch``)."""
    from importlib import resources

    text = resources.files("loadbench").joinpath(
        f"schema/record-v{version}.schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    c = _Compiler(schema)
    return c.compile(schema["$defs"]["batch"])


def validate(data: Any, check: Check) -> None:
    """Raise SchemaViolation naming the first field of ``data`` that ``check`` rejects."""
    try:
        check(data)
    except _Fail as e:
        where = "".join(reversed(e.path)).lstrip(".") or "top level"
        raise SchemaViolation(f"{where}: {e.message}") from None
