"""Model-version and model search: the run filter grammar, compiled to one SQL query.

    tags.stage = 'prod' AND name LIKE 'er-%' AND status = 'approved'

Attributes: ``name``, ``version`` (a number), ``run_id``, ``source``, ``status``, ``flavor``,
``created_by``, ``created_time`` (a number, epoch ms); ``tags.<key>`` for version tags. A
comparison on a tag is an ``EXISTS`` on ``model_version_tags`` (its primary key leads with
the version), so the database answers from indexes and stops after a page.

Registered models (:func:`model_filter`) take ``name``, ``description``, ``created_by``,
``created_time``, ``updated_time`` (numbers, epoch ms) and ``tags.<key>`` for model tags.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select, true

from shipyard.errors import InvalidInputError
from shipyard.store import schema as t
from shipyard.store.tracking.filter import And, Comparison, Grammar, Node, Not, Or, parse_filter

_V, _VT = t.model_versions, t.model_version_tags
_M, _MT = t.registered_models, t.registered_model_tags
_ATTRS = ("name", "version", "run_id", "source", "status", "flavor", "created_by",
          "created_time")
VERSIONS = Grammar(frozenset({"tag", "attribute"}), _ATTRS,
                   {**{a: a for a in _ATTRS}, "source_path": "source", "run_uuid": "run_id",
                    "user": "created_by", "user_id": "created_by"},
                   frozenset({"version", "created_time"}))
_MODEL_ATTRS = ("name", "description", "created_by", "created_time", "updated_time")
MODELS = Grammar(frozenset({"tag", "attribute"}), _MODEL_ATTRS,
                 {**{a: a for a in _MODEL_ATTRS}, "user": "created_by", "user_id": "created_by"},
                 frozenset({"created_time", "updated_time"}))
MAX_RESULTS = 50_000


def version_filter(text: str | None) -> ColumnElement[bool]:
    node = parse_filter(text, VERSIONS)
    return true() if node is None else _compile(node, _comparison)


def model_filter(text: str | None) -> ColumnElement[bool]:
    node = parse_filter(text, MODELS)
    return true() if node is None else _compile(node, _model_comparison)


def _compile(node: Node, compare: Callable[[Comparison], ColumnElement[bool]]
             ) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_compile(item, compare) for item in node.items))
    if isinstance(node, Or):
        return or_(*(_compile(item, compare) for item in node.items))
    if isinstance(node, Not):
        return not_(_compile(node.item, compare))
    return compare(node)


def _comparison(c: Comparison) -> ColumnElement[bool]:
    if c.entity == "tag":
        test = _apply(_VT.c.value, c.op, c.value)
        return exists(select(1).where(_VT.c.name == _V.c.name, _VT.c.version == _V.c.version,
                                      _VT.c.key == c.key, test))
    return _apply(_V.c[c.key], c.op, c.value)


def _model_comparison(c: Comparison) -> ColumnElement[bool]:
    if c.entity == "tag":
        test = _apply(_MT.c.value, c.op, c.value)
        return exists(select(1).where(_MT.c.name == _M.c.name, _MT.c.key == c.key, test))
    return _apply(_M.c[c.key], c.op, c.value)


def _apply(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "IN":
        return column.in_(list(value)) if value else false()
    if op == "NOT IN":
        return column.not_in(list(value))  # type: ignore[no-any-return]
    if op == "LIKE":
        return column.like(value)  # type: ignore[no-any-return]
    if op == "ILIKE":
        return column.ilike(value)  # type: ignore[no-any-return]
    comparisons = {"=": column.__eq__, "!=": column.__ne__, "<": column.__lt__,
                   "<=": column.__le__, ">": column.__gt__, ">=": column.__ge__}
    return comparisons[op](value)  # type: ignore[no-any-return]


def check_max_results(max_results: int) -> int:
    if not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
        raise InvalidInputError(f"max_results must be from 1 to {MAX_RESULTS}, not "
                                f"{max_results!r}", field="max_results")
    return max_results
