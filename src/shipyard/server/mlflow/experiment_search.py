"""MLflow's ``search_experiments`` filter and ``order_by``, evaluated over a store's experiments.

The tracking protocol filters experiments by lifecycle stage and name pattern only, so the rest of
MLflow's grammar is answered here, in memory::

    filter      := comparison (AND comparison)*
    comparison  := name|experiment_id  (= | != | LIKE | ILIKE | IN | NOT IN)  string(s)
                 | creation_time|last_update_time  (= | != | < | <= | > | >=)  number
                 | tags.<key>  (= | != | LIKE | ILIKE)  string  |  tags.<key> IS [NOT] NULL
    order_by    := name|experiment_id|creation_time|last_update_time [ASC|DESC]

Attributes may be written ``attribute.name``; tag keys may be quoted with backticks or double
quotes. ``LIKE`` is case-sensitive and ``ILIKE`` is not; ``%`` and ``_`` are its wildcards.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.entities import Experiment
from shipyard.server.mlflow.errors import invalid_parameter

_STRING_ATTRIBUTES = ("name", "experiment_id")
_NUMERIC_ATTRIBUTES = ("creation_time", "last_update_time")
_ORDER_KEYS = (*_STRING_ATTRIBUTES, *_NUMERIC_ATTRIBUTES)
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_TAG_OPS = ("=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL")

_WS = re.compile(r"\s*")
_WORD = re.compile(r"[A-Za-z_][\w\-/:]*")
_BARE_KEY = re.compile(r"[\w\-/:.]+")
_KEYWORD_OP = re.compile(r"(NOT\s+IN|IS\s+NOT\s+NULL|IS\s+NULL|ILIKE|LIKE|IN)\b", re.I)
_SYMBOL_OP = re.compile(r"!=|<>|<=|>=|==|=|<|>")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_AND = re.compile(r"AND\b", re.I)
_DIRECTION = re.compile(r"(ASC|DESC)\b", re.I)


@dataclass(frozen=True, slots=True)
class Clause:
    entity: str  # "attribute" or "tag"
    key: str
    op: str
    value: str | float | tuple[str, ...] | None


class _Scanner:
    def __init__(self, text: str, what: str) -> None:
        self.text, self.pos, self.what = text, 0, what

    def skip(self) -> None:
        self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def error(self, message: str) -> Exception:
        return invalid_parameter(
            f"Invalid {self.what} {self.text!r}: {message} at position {self.pos}.")

    def match(self, pattern: re.Pattern[str]) -> str | None:
        self.skip()
        found = pattern.match(self.text, self.pos)
        if found is None:
            return None
        self.pos = found.end()
        return found.group(0)

    def quoted(self) -> str | None:
        """A '...', "..." or `...` token; a doubled quote or a backslash escapes the quote."""
        self.skip()
        if self.pos >= len(self.text) or self.text[self.pos] not in "'\"`":
            return None
        quote, i, out = self.text[self.pos], self.pos + 1, []
        while i < len(self.text):
            char = self.text[i]
            if char == "\\" and quote != "`" and i + 1 < len(self.text):
                out.append(self.text[i + 1])
                i += 2
            elif char == quote and self.text[i + 1:i + 2] == quote:
                out.append(quote)
                i += 2
            elif char == quote:
                self.pos = i + 1
                return "".join(out)
            else:
                out.append(char)
                i += 1
        raise self.error(f"unterminated {quote}-quoted text")

    def identifier(self, allow_tags: bool) -> tuple[str, str]:
        word = self.match(_WORD)
        if word is None:
            raise self.error("expected an attribute such as name or a tag such as tags.team")
        if self.text.startswith(".", self.pos):
            prefix = word.lower()
            self.pos += 1
            if prefix in ("tag", "tags") and allow_tags:
                key = self.quoted()
                key = key if key is not None else self.match(_BARE_KEY)
                if not key:
                    raise self.error("expected a tag key after 'tags.'")
                return "tag", key
            if prefix not in ("attribute", "attributes"):
                raise self.error(f"unknown entity {word!r}; expected attribute"
                                 + (" or tags" if allow_tags else ""))
            word = self.quoted() or self.match(_WORD) or ""
        if word not in _ORDER_KEYS:
            raise self.error(f"unknown attribute {word!r}; expected one of "
                             f"{', '.join(_ORDER_KEYS)}")
        return "attribute", word

    def scalar(self) -> str | float:
        text = self.quoted()
        if text is not None:
            return text
        number = self.match(_NUMBER)
        if number is None:
            raise self.error("expected a quoted string or a number")
        return float(number)


def _comparison(scanner: _Scanner) -> Clause:
    entity, key = scanner.identifier(allow_tags=True)
    op = scanner.match(_KEYWORD_OP) or scanner.match(_SYMBOL_OP)
    if op is None:
        raise scanner.error("expected a comparator such as =, !=, LIKE or >")
    op = {"==": "=", "<>": "!="}.get(op, " ".join(op.upper().split()))
    allowed = (_TAG_OPS if entity == "tag"
               else _NUMERIC_OPS if key in _NUMERIC_ATTRIBUTES else _STRING_OPS)
    if op not in allowed:
        raise scanner.error(f"{op} cannot compare {key!r}; use one of {', '.join(allowed)}")
    value: str | float | tuple[str, ...] | None = None
    if op in ("IN", "NOT IN"):
        if scanner.match(re.compile(r"\(")) is None:
            raise scanner.error(f"{op} takes a parenthesised list")
        items = [scanner.scalar()]
        while scanner.match(re.compile(",")):
            items.append(scanner.scalar())
        if scanner.match(re.compile(r"\)")) is None:
            raise scanner.error("expected ',' or ')'")
        value = tuple(_text(item) for item in items)
    elif op not in ("IS NULL", "IS NOT NULL"):
        scalar = scanner.scalar()
        if key in _NUMERIC_ATTRIBUTES and entity == "attribute":
            if not isinstance(scalar, float):
                raise scanner.error(f"{key} compares with a number")
            value = scalar
        else:
            value = _text(scalar)
    return Clause(entity, key, op, value)


def _text(value: str | float) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def parse_filter(text: str | None) -> list[Clause]:
    """The AND-ed comparisons of an experiment filter (INVALID_PARAMETER_VALUE if malformed)."""
    scanner = _Scanner(text or "", "filter")
    clauses: list[Clause] = []
    if scanner.at_end():
        return clauses
    while True:
        clauses.append(_comparison(scanner))
        if scanner.at_end():
            return clauses
        if scanner.match(_AND) is None:
            raise scanner.error("expected AND (experiment filters join comparisons with AND)")


def _like(pattern: str, flags: int) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), flags | re.S)


def _value_of(experiment: Experiment, clause: Clause) -> Any:
    if clause.entity == "tag":
        return experiment.tags.get(clause.key)
    return getattr(experiment, clause.key)


def _matches(experiment: Experiment, clause: Clause) -> bool:
    actual = _value_of(experiment, clause)
    op, value = clause.op, clause.value
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        return False
    if op in ("IN", "NOT IN"):
        assert isinstance(value, tuple)
        return (actual in value) == (op == "IN")
    if op in ("LIKE", "ILIKE"):
        assert isinstance(value, str)
        return _like(value, re.I if op == "ILIKE" else 0).fullmatch(actual) is not None
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b),
        "<": lambda a, b: bool(a < b), "<=": lambda a, b: bool(a <= b),
        ">": lambda a, b: bool(a > b), ">=": lambda a, b: bool(a >= b),
    }
    return compare[op](actual, value)


def filter_experiments(experiments: Sequence[Experiment], text: str | None) -> list[Experiment]:
    clauses = parse_filter(text)
    return [e for e in experiments if all(_matches(e, clause) for clause in clauses)]


def parse_order_by(clauses: Sequence[str]) -> list[tuple[str, bool]]:
    """(attribute, ascending) pairs; MLflow's default and its ``experiment_id`` tie-breaker."""
    order: list[tuple[str, bool]] = []
    for clause in clauses or ("creation_time DESC", "experiment_id ASC"):
        scanner = _Scanner(clause, "order_by clause")
        _, key = scanner.identifier(allow_tags=False)
        direction = scanner.match(_DIRECTION)
        if not scanner.at_end():
            raise scanner.error("expected ASC, DESC or the end of the clause")
        order.append((key, (direction or "ASC").upper() == "ASC"))
    if not any(key == "experiment_id" for key, _ in order):
        order.append(("experiment_id", True))
    return order


def _sort_value(experiment: Experiment, key: str) -> Any:
    if key == "experiment_id":
        eid = experiment.experiment_id
        return (0, int(eid), "") if eid.isdigit() else (1, 0, eid)
    return getattr(experiment, key)


def sort_experiments(
    experiments: Sequence[Experiment], order_by: Sequence[str]
) -> list[Experiment]:
    ordered = list(experiments)
    for key, ascending in reversed(parse_order_by(order_by)):  # stable sorts, last key first
        ordered.sort(key=functools.partial(_sort_value, key=key), reverse=not ascending)
    return ordered
