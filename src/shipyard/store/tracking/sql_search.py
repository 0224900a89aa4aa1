"""Run search compiled to one SQL query that the database answers from its indexes.

Comparisons joined by a top-level AND become inner joins (a run lacking the key cannot match),
so the database can drive the query from the index on ``latest_metrics(key, value)`` and stop
after one page. Comparisons under OR or NOT become EXISTS subqueries.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    Table,
    and_,
    cast,
    exists,
    not_,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement as Column

from shipyard.entities import LifecycleStage, ViewType
from shipyard.errors import InvalidInputError
from shipyard.store import schema as t
from shipyard.store.tracking.filter import (
    And,
    Comparison,
    Node,
    Not,
    Or,
    OrderBy,
    parse_filter,
    parse_order_by,
)
from shipyard.store.tracking.sql_rows import RUN_COLUMNS

_ENTITY_TABLES: dict[str, Table] = {
    "metric": t.latest_metrics,
    "param": t.params,
    "tag": t.tags,
}
_ATTRIBUTE_COLUMNS: dict[str, Column[Any]] = {
    "run_id": t.runs.c.run_id,
    "run_name": t.runs.c.run_name,
    "status": t.runs.c.status,
    "user": t.runs.c.user_id,
    "start_time": t.runs.c.start_time,
    "end_time": t.runs.c.end_time,
    "experiment_id": cast(t.runs.c.experiment_id, String),
    "lifecycle_stage": t.runs.c.lifecycle_stage,
    "parent_run_id": t.runs.c.parent_run_id,
}


def stage_condition(column: Column[Any], view: ViewType) -> ColumnElement[bool] | None:
    if view == ViewType.ACTIVE_ONLY:
        return column == LifecycleStage.ACTIVE.value
    if view == ViewType.DELETED_ONLY:
        return column == LifecycleStage.DELETED.value
    return None


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        offset = None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(
            "page_token is not one this server handed out; pass back next_page_token as is",
            field="page_token",
        )
    return offset


_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "LIKE": lambda column, value: column.like(value),
    "ILIKE": lambda column, value: column.ilike(value),
    "IN": lambda column, value: column.in_(list(value)),
    "NOT IN": lambda column, value: column.not_in(list(value)),
}


def _compare(column: Column[Any], op: str, value: Any) -> ColumnElement[bool]:
    return _OPERATORS[op](column, value)


def _key_condition(table: FromClause, comparison: Comparison) -> ColumnElement[bool]:
    return and_(table.c.run_id == t.runs.c.run_id, table.c.key == comparison.key,
                _compare(table.c.value, comparison.op, comparison.value))


def _expression(node: Node) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_expression(item) for item in node.items))
    if isinstance(node, Or):
        return or_(*(_expression(item) for item in node.items))
    if isinstance(node, Not):
        return not_(_expression(node.item))
    if node.entity == "attribute":
        return _compare(_ATTRIBUTE_COLUMNS[node.key], node.op, node.value)
    table = _ENTITY_TABLES[node.entity].alias()
    return exists().where(_key_condition(table, node))


class _QueryBuilder:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.joins: list[tuple[FromClause, ColumnElement[bool], bool]] = []  # (alias, on, outer)
        self.joined_metrics: dict[str, FromClause] = {}
        self.where: list[ColumnElement[bool]] = []

    def add_filter(self, node: Node | None) -> None:
        if node is None:
            return
        for item in node.items if isinstance(node, And) else (node,):
            if isinstance(item, Comparison) and item.entity != "attribute":
                alias = _ENTITY_TABLES[item.entity].alias()
                self.joins.append((alias, _key_condition(alias, item), False))
                if item.entity == "metric":
                    self.joined_metrics.setdefault(item.key, alias)
            else:
                self.where.append(_expression(item))

    def _sort_column(self, order: OrderBy) -> Column[Any]:
        if order.entity == "attribute":
            return _ATTRIBUTE_COLUMNS[order.key]
        if order.entity == "metric" and order.key in self.joined_metrics:
            return self.joined_metrics[order.key].c.value
        alias = _ENTITY_TABLES[order.entity].alias()
        on = and_(alias.c.run_id == t.runs.c.run_id, alias.c.key == order.key)
        self.joins.append((alias, on, True))
        return alias.c.value

    def order_clauses(self, orders: Sequence[OrderBy]) -> list[Any]:
        clauses: list[Any] = []
        for order in orders:
            column = self._sort_column(order)
            clause = column.asc() if order.ascending else column.desc()
            # Runs without the value sort last. Only say so where it is not the default, so
            # the database can still read the order straight off an index.
            nulls_first_by_default = (self.dialect == "sqlite") == order.ascending
            clauses.append(clause.nulls_last() if nulls_first_by_default else clause)
        clauses += [t.runs.c.start_time.desc(), t.runs.c.run_id.asc()]
        return clauses


def build_query(
    experiment_ids: Sequence[str] | None,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
    page_token: str | None,
    view: ViewType,
    dialect: str,
) -> tuple[Select[Any], int]:
    """The query for one page (one row more than the page, to tell if another follows)."""
    offset = _offset(page_token)
    builder = _QueryBuilder(dialect)
    builder.add_filter(parse_filter(filter_string))
    clauses = builder.order_clauses(parse_order_by(order_by))
    stage = stage_condition(t.runs.c.lifecycle_stage, view)
    if stage is not None:
        builder.where.append(stage)
    if experiment_ids is not None:
        builder.where.append(t.runs.c.experiment_id.in_(_experiment_pks(experiment_ids)))
    source: Any = t.runs
    for alias, on, outer in builder.joins:
        source = source.join(alias, on, isouter=outer)
    query = (
        select(*RUN_COLUMNS).select_from(source).where(*builder.where)
        .order_by(*clauses).limit(max_results + 1).offset(offset)
    )
    return query, offset


def _experiment_pks(experiment_ids: Sequence[str]) -> list[int]:
    if isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    try:
        return [int(e) for e in experiment_ids]
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"experiment_ids must be experiment ids (numbers), got {list(experiment_ids)!r}",
            field="experiment_ids",
        ) from None
