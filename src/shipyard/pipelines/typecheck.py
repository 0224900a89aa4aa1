"""Small structural type checks for step arguments: enough for the common annotations
(classes, ``X | None``, ``list[int]``, ``dict[str, float]``, ``Any``), lenient elsewhere."""

from __future__ import annotations

import types
import typing
from typing import Any


def _members(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return None


def value_matches(value: Any, expected: Any) -> bool:
    """Whether a constant passed to a step fits the parameter's annotation."""
    if expected is Any or isinstance(expected, typing.TypeVar):
        return True
    members = _members(expected)
    if members is not None:
        return any(value_matches(value, m) for m in members)
    if expected is None or expected is type(None):
        return value is None
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return True  # PEP 484: an int is acceptable where a float is expected
    origin = typing.get_origin(expected) or expected
    if not isinstance(origin, type):
        return True  # Literal, Annotated, protocols...: not checked here
    if not isinstance(value, origin):
        return False
    args = typing.get_args(expected)
    if args and isinstance(value, (list, set, frozenset)) and len(args) == 1:
        return all(value_matches(v, args[0]) for v in value)
    if args and isinstance(value, dict) and len(args) == 2:
        return all(value_matches(k, args[0]) and value_matches(v, args[1])
                   for k, v in value.items())
    return True


def type_accepts(expected: Any, produced: Any) -> bool:
    """Whether an output annotated ``produced`` may be passed where ``expected`` is declared."""
    if expected is Any or produced is Any or expected == produced:
        return True
    produced_members = _members(produced)
    if produced_members is not None:
        return all(type_accepts(expected, p) for p in produced_members)
    members = _members(expected)
    if members is not None:
        return any(type_accepts(m, produced) for m in members)
    if expected is float and produced is int:
        return True
    want = typing.get_origin(expected) or expected
    have = typing.get_origin(produced) or produced
    if not isinstance(want, type) or not isinstance(have, type):
        return True
    return issubclass(have, want)
