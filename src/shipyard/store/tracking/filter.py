"""The run-search filter grammar: filter text to a small AST and back. Pure: no SQL, no I/O.

A superset of MLflow's ``search_runs`` filter. Keywords and entity prefixes are case-insensitive::

    filter      := <empty or blank: match everything> | or_expr
    or_expr     := and_expr (OR and_expr)*
    and_expr    := not_expr (AND not_expr)*             AND binds tighter than OR
    not_expr    := NOT not_expr | '(' or_expr ')' | comparison
    comparison  := identifier comparator value
    identifier  := entity '.' key | attribute           e.g. metrics.f1, tags.`a b`, status
    entity      := metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr
    key         := bare | `backtick quoted` | "double quoted"
    comparator  := = | == | != | <> | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
    value       := string | number | '(' value (',' value)* ')'    (a list only after IN)

- A bare key is letters, digits and ``_ . - / :``; it may hold dots: ``metrics.val.f1`` is the
  metric ``val.f1``. In a backtick-quoted key a doubled backtick stands for one backtick; a
  double-quoted key follows the string rules below.
- Strings are single- or double-quoted. Inside, a doubled quote (``'it''s'``) or a backslash
  (``'it\\'s'``) escapes the quote, ``\\\\`` is one backslash, and a backslash before any other
  character is kept as is, so LIKE escapes such as ``'100\\%'`` reach the backend untouched.
- Numbers follow Python's float syntax without ``nan`` and underscores: ``1``, ``-2.5``,
  ``1e-3``, ``inf``, ``-inf``. They are always parsed to ``float``.
- Types are checked here: metrics, ``start_time`` and ``end_time`` take numbers with
  ``= != < <= > >= IN NOT IN``; params, tags and the other attributes take strings with
  ``= != LIKE ILIKE IN NOT IN``. ``IN`` and ``NOT IN`` need a non-empty parenthesised list.
- ``NOT`` binds tightest; ``a AND b AND c`` is one n-ary :class:`And`, while parentheses keep
  their own node (``(a AND b) AND c`` nests), so :func:`format_filter` round-trips exactly.
  Nesting deeper than 64 levels is a syntax error, never a ``RecursionError``.

Every fault raises :class:`~shipyard.errors.FilterSyntaxError` with the offset of the fault.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from shipyard.errors import FilterSyntaxError

Entity: TypeAlias = Literal["metric", "param", "tag", "attribute"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """``<entity>.<key> <op> <value>``; ``op`` is normalised (``==`` is ``=``, ``<>`` is ``!=``)."""

    entity: Entity
    key: str
    op: str  # one of '=', '!=', '<', '<=', '>', '>=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'
    value: str | float | tuple[str | float, ...]  # a tuple only for IN / NOT IN


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node: TypeAlias = Comparison | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderBy:
    entity: Entity
    key: str
    ascending: bool = True


#: Canonical attribute names, in the order error messages list them.
ATTRIBUTES: tuple[str, ...] = (
    "run_id", "run_name", "status", "user", "start_time", "end_time",
    "experiment_id", "lifecycle_stage", "parent_run_id",
)  # fmt: skip
NUMERIC_ATTRIBUTES: frozenset[str] = frozenset({"start_time", "end_time"})
NUMERIC_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN")
STRING_OPS: tuple[str, ...] = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")

_ENTITIES: dict[str, Entity] = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute",
}  # fmt: skip
_ATTRIBUTE_ALIASES: dict[str, str] = {name: name for name in ATTRIBUTES} | {
    "run_uuid": "run_id", "user_id": "user", "created": "start_time",
}  # fmt: skip


@dataclass(frozen=True)
class Grammar:
    """What a filter may name: the entities, the attributes (with aliases) and which
    attributes hold numbers. Runs use :data:`RUNS`; other searches (model versions) pass
    their own."""

    entities: frozenset[Entity]
    attributes: tuple[str, ...]
    aliases: dict[str, str]
    numeric: frozenset[str]


RUNS = Grammar(frozenset({"metric", "param", "tag", "attribute"}), ATTRIBUTES,
               _ATTRIBUTE_ALIASES, NUMERIC_ATTRIBUTES)

_PREFIXES: dict[Entity, str] = {
    "metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes",
}  # fmt: skip
_SYMBOL_OPS: dict[str, str] = {
    "==": "=", "=": "=", "!=": "!=", "<>": "!=", "<=": "<=", ">=": ">=", "<": "<", ">": ">",
}  # fmt: skip
_COMPARATORS = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN"
_MAX_DEPTH = 64

_WS = re.compile(r"\s*")
_WORD = re.compile(r"[\w.\-/:]+")
_TOKEN = re.compile(r"[\w.\-/:]{1,30}|\S")
_SYMBOL = re.compile(r"==|!=|<>|<=|>=|=|<|>")
_KEYWORD = re.compile(r"(AND|OR|NOT|LIKE|ILIKE|IN|ASC|DESC)(?![\w.\-/:])", re.IGNORECASE)
_NOT_IN = re.compile(r"NOT\s+IN(?![\w.\-/:])", re.IGNORECASE)
_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?)(?![\w.])",
    re.IGNORECASE,
)
_STRINGS = {q: re.compile(rf"{q}((?:[^{q}\\]|\\.|{q}{q})*){q}", re.DOTALL) for q in "'\""}
_ESCAPES = {q: re.compile(rf"\\(.)|{q}{q}", re.DOTALL) for q in "'\""}
_BACKTICK = re.compile(r"`((?:[^`]|``)*)`")


def _unescape_one(match: re.Match[str]) -> str:
    char = match.group(1)
    if char is None:  # a doubled quote
        return match.group(0)[0]
    return char if char in "\\'\"" else match.group(0)


def _unescape(body: str, quote: str) -> str:
    if "\\" not in body and quote * 2 not in body:
        return body
    return _ESCAPES[quote].sub(_unescape_one, body)


class _Parser:
    """Recursive descent straight over the text; ``pos`` is the offset of the next character."""

    __slots__ = ("field", "grammar", "noun", "pos", "text")

    def __init__(self, text: str, field: str, noun: str, grammar: Grammar = RUNS) -> None:
        self.text, self.field, self.noun, self.pos = text, field, noun, 0
        self.grammar = grammar

    def error(self, message: str, position: int) -> FilterSyntaxError:
        return FilterSyntaxError(message, text=self.text, position=position, field=self.field)

    def skip(self) -> int:
        match = _WS.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos
        return self.pos

    def describe(self, position: int) -> str:
        """What stands at ``position``, for an error message."""
        match = _TOKEN.match(self.text, position)
        return repr(match.group()) if match else f"the end of the {self.noun}"

    def keyword(self, *words: str) -> str | None:
        match = _KEYWORD.match(self.text, self.skip())
        if match is None or (word := match.group(1).upper()) not in words:
            return None
        self.pos = match.end()
        return word

    def at(self, char: str) -> bool:
        return self.text.startswith(char, self.skip())

    def parse_or(self, depth: int) -> Node:
        items = [self.parse_and(depth)]
        while self.keyword("OR"):
            items.append(self.parse_and(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self, depth: int) -> Node:
        items = [self.parse_not(depth)]
        while self.keyword("AND"):
            items.append(self.parse_not(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self, depth: int) -> Node:
        start = self.skip()
        if depth >= _MAX_DEPTH:
            raise self.error(f"the filter nests more than {_MAX_DEPTH} levels deep", start)
        if self.keyword("NOT"):
            return Not(self.parse_not(depth + 1))
        if not self.at("("):
            return self.parse_comparison()
        self.pos += 1
        node = self.parse_or(depth + 1)
        if not self.at(")"):
            if self.pos >= len(self.text):
                raise self.error("unbalanced parenthesis: this '(' is never closed", start)
            raise self.error(f"expected AND, OR or ')', got {self.describe(self.pos)}", self.pos)
        self.pos += 1
        return node

    def parse_identifier(self) -> tuple[Entity, str]:
        start = self.skip()
        match = _WORD.match(self.text, start)
        if match is None:
            raise self.error(
                "expected an identifier (metrics.<key>, params.<key>, tags.<key> or an "
                f"attribute such as status), got {self.describe(start)}",
                start,
            )
        head = self.pos = match.end()
        prefix, dot, key = match.group().partition(".")
        if not dot:  # a bare attribute name
            if prefix.lower() in _ENTITIES:
                raise self.error(f"expected '.' and a key after {prefix!r}", head)
            entity: Entity = "attribute"
            key, key_pos = prefix, start
        else:
            key_pos = start + len(prefix) + 1
            found = _ENTITIES.get(prefix.lower())
            if found is None:
                raise self.error(
                    f"unknown entity {prefix!r}: expected metrics, params, tags or attributes "
                    "(or a bare attribute name) before '.'",
                    start,
                )
            entity = found
            if entity not in self.grammar.entities:
                allowed = ", ".join(sorted(_PREFIXES[e] for e in self.grammar.entities))
                raise self.error(f"{prefix!r} cannot be searched here: expected {allowed}",
                                 start)
            if not key:
                key = self.parse_quoted_key(key_pos, match.group())
        if entity == "attribute":
            name = self.grammar.aliases.get(key.lower())
            if name is None:
                raise self.error(
                    f"unknown attribute {key!r}: expected one of "
                    f"{', '.join(self.grammar.attributes)}", key_pos
                )
            key = name
        return entity, key

    def parse_quoted_key(self, position: int, after: str) -> str:
        quote = self.text[position : position + 1]
        if quote == "`":
            match = _BACKTICK.match(self.text, position)
            key = match.group(1).replace("``", "`") if match else ""
        elif quote == '"':
            match = _STRINGS['"'].match(self.text, position)
            key = _unescape(match.group(1), '"') if match else ""
        else:
            raise self.error(
                f'expected a key (bare, `quoted` or "quoted") after {after!r}, '
                f"got {self.describe(position)}",
                position,
            )
        if match is None:
            raise self.error(f"unterminated quoted key: no closing {quote}", position)
        if not key:
            raise self.error("expected a key, got an empty quoted key", position)
        self.pos = match.end()
        return key

    def parse_comparator(self, identifier: str) -> str:
        position = self.skip()
        symbol = _SYMBOL.match(self.text, position)
        if symbol:
            self.pos = symbol.end()
            return _SYMBOL_OPS[symbol.group()]
        not_in = _NOT_IN.match(self.text, position)
        if not_in:
            self.pos = not_in.end()
            return "NOT IN"
        word = self.keyword("LIKE", "ILIKE", "IN")
        if word is None:
            raise self.error(
                f"expected a comparator ({_COMPARATORS}) after {identifier!r}, "
                f"got {self.describe(position)}",
                position,
            )
        return word

    def parse_comparison(self) -> Comparison:
        start = self.skip()
        entity, key = self.parse_identifier()
        identifier = self.text[start : self.pos]
        op_pos = self.skip()
        op = self.parse_comparator(identifier)
        numeric = entity == "metric" or (entity == "attribute" and key in self.grammar.numeric)
        allowed = NUMERIC_OPS if numeric else STRING_OPS
        if op not in allowed:
            kind = "numbers" if numeric else "strings"
            raise self.error(
                f"{op} cannot compare {entity} {key!r}, which holds {kind}: "
                f"expected one of {', '.join(allowed)}",
                op_pos,
            )
        if op not in ("IN", "NOT IN"):
            return Comparison(entity, key, op, self.parse_scalar(entity, key, numeric, op))
        open_pos = self.skip()
        if not self.at("("):
            example = "(1, 2)" if numeric else "('a', 'b')"
            raise self.error(
                f"expected a parenthesised list such as {example} after {op}, "
                f"got {self.describe(open_pos)}",
                open_pos,
            )
        self.pos += 1
        if self.at(")"):
            raise self.error(f"{op} needs a non-empty list: expected a value", self.pos)
        items = [self.parse_scalar(entity, key, numeric, "(")]
        while not self.at(")"):
            if self.pos >= len(self.text):
                raise self.error("unbalanced parenthesis: this '(' is never closed", open_pos)
            if not self.at(","):
                raise self.error(
                    f"expected ',' or ')' in the {op} list, got {self.describe(self.pos)}",
                    self.pos,
                )
            self.pos += 1
            items.append(self.parse_scalar(entity, key, numeric, ","))
        self.pos += 1
        return Comparison(entity, key, op, tuple(items))

    def parse_scalar(self, entity: Entity, key: str, numeric: bool, after: str) -> str | float:
        position = self.skip()
        quote = self.text[position : position + 1]
        if quote in ("'", '"'):
            string = _STRINGS[quote].match(self.text, position)
            if string is None:
                raise self.error(f"unterminated string: no closing {quote}", position)
            if numeric:
                raise self.error(
                    f"{entity} {key!r} compares to numbers, not strings: expected a number",
                    position,
                )
            self.pos = string.end()
            return _unescape(string.group(1), quote)
        number = _NUMBER.match(self.text, position)
        if number and numeric:
            self.pos = number.end()
            return float(number.group())
        if number:
            raise self.error(
                f"{entity} {key!r} compares to strings: expected a quoted string "
                f"such as '{number.group()}'",
                position,
            )
        expected = "a number" if numeric else "a quoted string"
        raise self.error(
            f"expected {expected} after {after!r}, got {self.describe(position)}", position
        )


def parse_filter(text: str | None, grammar: Grammar = RUNS) -> Node | None:
    """Parse a search filter (of runs unless ``grammar`` says otherwise); ``None`` for an empty
    or blank one, which matches everything."""
    if text is None or not text.strip():
        return None
    parser = _Parser(text, "filter", "filter", grammar)
    node = parser.parse_or(0)
    position = parser.skip()
    if position < len(text):
        if text[position] == ")":
            raise parser.error("unbalanced parenthesis: ')' without a matching '('", position)
        raise parser.error(
            f"expected AND, OR or the end of the filter, got {parser.describe(position)}",
            position,
        )
    return node


def parse_order_by(clauses: Sequence[str] | None) -> list[OrderBy]:
    """Parse ``order_by`` clauses such as ``metrics.f1 DESC``; ascending unless ``DESC``.

    A single string is taken as one clause. Errors have ``field == "order_by"`` and point into
    the clause at fault.
    """
    if isinstance(clauses, str):
        clauses = [clauses]
    result: list[OrderBy] = []
    for clause in clauses or ():
        parser = _Parser(clause, "order_by", "clause")
        entity, key = parser.parse_identifier()
        direction = parser.keyword("ASC", "DESC")
        position = parser.skip()
        if position < len(clause):
            expected = (
                "the end of the clause" if direction else "ASC, DESC or the end of the clause"
            )
            raise parser.error(f"expected {expected}, got {parser.describe(position)}", position)
        result.append(OrderBy(entity, key, direction != "DESC"))
    return result


def _format_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _format_scalar(value: str | float) -> str:
    if isinstance(value, str):
        return _format_string(value)
    number = float(value)
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _format_key(entity: Entity, key: str) -> str:
    if entity == "attribute" and key in ATTRIBUTES:
        return key
    return "`" + key.replace("`", "``") + "`"


def format_filter(node: Node) -> str:
    """The canonical text of ``node``; ``parse_filter`` of it gives back an equal AST.

    Keys are always backtick-quoted (a backtick inside doubled), strings single-quoted (a quote
    doubled, a backslash doubled), compound operands of AND / OR / NOT parenthesised.
    """
    if isinstance(node, Comparison):
        value = node.value
        if isinstance(value, tuple):
            text = "(" + ", ".join(_format_scalar(item) for item in value) + ")"
        else:
            text = _format_scalar(value)
        return f"{_PREFIXES[node.entity]}.{_format_key(node.entity, node.key)} {node.op} {text}"
    if isinstance(node, Not):
        inner = format_filter(node.item)
        return f"NOT ({inner})" if isinstance(node.item, And | Or) else f"NOT {inner}"
    if not node.items:
        raise ValueError(f"cannot format an empty {type(node).__name__}")
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(
        f"({format_filter(item)})" if isinstance(item, And | Or) else format_filter(item)
        for item in node.items
    )
