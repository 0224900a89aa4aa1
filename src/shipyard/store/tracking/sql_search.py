"""Run search compiled to SQL that the database answers from its indexes.

Ordered by a metric, a page is read in order off ``latest_metrics(experiment_id, key, value)``
with every filter comparison an EXISTS test, so the query stops after a page's worth of runs;
runs without that metric follow from a second query. In any other order, comparisons under a
top-level AND become inner joins (a run lacking the key cannot match) that the planner may start
from, and comparisons under OR or NOT become EXISTS subqueries.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Select,
    String,
    Table,
    and_,
    cast,
    exists,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement as Column
from sqlalchemy.sql.selectable import Join

from shipyard.entities import LifecycleStage, RunInfo, ViewType
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
from shipyard.store.tracking.sql_rows import RUN_COLUMNS, run_info

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


@dataclass(frozen=True, slots=True)
class _Token:
    offset: int = 0
    ranked: int | None = None  # runs that have the first sort metric, once known


def _encode(offset: int, ranked: int | None) -> str:
    body: dict[str, int] = {"offset": offset}
    if ranked is not None:
        body["ranked"] = ranked
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def _decode(token: str | None) -> _Token:
    if not token:
        return _Token()
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode()))
        parsed = _Token(body["offset"], body.get("ranked"))
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError,
            UnicodeDecodeError):
        parsed = None
    if parsed is None or not all(
        isinstance(v, int) and v >= 0 for v in (parsed.offset, parsed.ranked or 0)
    ):
        raise InvalidInputError(
            "page_token is not one this server handed out; pass back next_page_token as is",
            field="page_token",
        )
    return parsed


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


class _LeftFirst(Join):
    """An inner join that SQLite must read from its left side first (``CROSS JOIN``).

    The ranked query reads runs in order off the sort metric's index and stops after a page.
    Once SQLite has statistics (``ANALYZE``), its planner may instead scan every run of the
    experiment, test each against the filter and sort them all: hundreds of milliseconds at
    100,000 runs instead of a few. Other databases get a plain join."""

    inherit_cache = True


@compiles(_LeftFirst, "sqlite")
def _cross_join(join: _LeftFirst, compiler: SQLCompiler, **kw: Any) -> str:
    # The left side is one aliased table (no joins inside), so the first JOIN is this one.
    assert not isinstance(join.left, Join)
    text: str = compiler.visit_join(join, **kw)  # type: ignore[no-untyped-call]  # untyped upstream
    return text.replace(" JOIN ", " CROSS JOIN ", 1)


class _QueryBuilder:
    """Joins, conditions and sort keys of one search query over ``runs``."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.joins: list[tuple[FromClause, ColumnElement[bool], bool]] = []  # (alias, on, outer)
        self.joined_metrics: dict[str, FromClause] = {}
        self.where: list[ColumnElement[bool]] = []

    def add_filter(self, node: Node | None, *, as_joins: bool) -> None:
        """With ``as_joins``, top-level AND comparisons become inner joins the planner may
        start from; otherwise every comparison is an EXISTS test on the driving rows."""
        if node is None:
            return
        for item in node.items if isinstance(node, And) else (node,):
            if as_joins and isinstance(item, Comparison) and item.entity != "attribute":
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

    def sort_clause(self, column: Column[Any], ascending: bool) -> Any:
        clause = column.asc() if ascending else column.desc()
        # Rows without the value sort last. Only say so where it is not the default, so the
        # database can still read the order straight off an index.
        nulls_first_by_default = (self.dialect == "sqlite") == ascending
        return clause.nulls_last() if nulls_first_by_default else clause

    def order_clauses(self, orders: Sequence[OrderBy]) -> list[Any]:
        clauses = [self.sort_clause(self._sort_column(o), o.ascending) for o in orders]
        return [*clauses, t.runs.c.start_time.desc(), t.runs.c.run_id.asc()]

    def source(self, first: Any) -> Any:
        for alias, on, outer in self.joins:
            first = first.join(alias, on, isouter=outer)
        return first


@dataclass(frozen=True, slots=True)
class _Search:
    experiment_ids: list[int] | None
    node: Node | None
    orders: list[OrderBy]
    view: ViewType
    dialect: str

    def run_conditions(self) -> list[ColumnElement[bool]]:
        conditions = []
        stage = stage_condition(t.runs.c.lifecycle_stage, self.view)
        if stage is not None:
            conditions.append(stage)
        if self.experiment_ids is not None:
            conditions.append(t.runs.c.experiment_id.in_(self.experiment_ids))
        return conditions

    def joined(self) -> Select[Any]:
        """Any order: the planner picks its way in through the joined filter tables."""
        builder = _QueryBuilder(self.dialect)
        builder.add_filter(self.node, as_joins=True)
        clauses = builder.order_clauses(self.orders)
        return (select(*RUN_COLUMNS).select_from(builder.source(t.runs))
                .where(*self.run_conditions(), *builder.where).order_by(*clauses))

    def ranked(self) -> Select[Any]:
        """Runs that have the first sort metric, read in order off
        ``latest_metrics(experiment_id, key, value)`` so a page stops after a page's worth."""
        first = self.orders[0]
        ranked = t.latest_metrics.alias("ranked")
        builder = _QueryBuilder(self.dialect)
        builder.add_filter(self.node, as_joins=False)
        clauses = [builder.sort_clause(ranked.c.value, first.ascending),
                   *builder.order_clauses(self.orders[1:])]
        conditions = [ranked.c.key == first.key, ranked.c.value.is_not(None)]
        if self.experiment_ids is not None:
            conditions.append(ranked.c.experiment_id.in_(self.experiment_ids))
        stage = stage_condition(t.runs.c.lifecycle_stage, self.view)
        if stage is not None:
            conditions.append(stage)
        source = builder.source(_LeftFirst(ranked, t.runs, t.runs.c.run_id == ranked.c.run_id))
        return (select(*RUN_COLUMNS).select_from(source)
                .where(*conditions, *builder.where).order_by(*clauses))

    def unranked(self) -> Select[Any]:
        """Runs without a value for the first sort metric (missing or NaN): they come last."""
        first = self.orders[0]
        has = t.latest_metrics.alias("has")
        builder = _QueryBuilder(self.dialect)
        builder.add_filter(self.node, as_joins=False)
        clauses = builder.order_clauses(self.orders[1:])
        lacks = ~exists().where(has.c.run_id == t.runs.c.run_id, has.c.key == first.key,
                                has.c.value.is_not(None))
        return (select(*RUN_COLUMNS).select_from(builder.source(t.runs))
                .where(*self.run_conditions(), lacks, *builder.where).order_by(*clauses))


def _prepare(experiment_ids: Sequence[str] | None, filter_string: str | None,
             order_by: Sequence[str] | None, view: ViewType, dialect: str) -> _Search:
    return _Search(None if experiment_ids is None else _experiment_pks(experiment_ids),
                   parse_filter(filter_string), parse_order_by(order_by), view, dialect)


def first_query(experiment_ids: Sequence[str] | None, filter_string: str | None,
                order_by: Sequence[str] | None, view: ViewType, dialect: str) -> Select[Any]:
    """The main query a search runs (for diagnostics such as EXPLAIN)."""
    plan = _prepare(experiment_ids, filter_string, order_by, view, dialect)
    return plan.ranked() if plan.orders and plan.orders[0].entity == "metric" else plan.joined()


def search(
    conn: Connection,
    experiment_ids: Sequence[str] | None,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
    page_token: str | None,
    view: ViewType,
) -> tuple[list[RunInfo], str | None]:
    """One page of run infos and the token of the next page."""
    token = _decode(page_token)
    plan = _prepare(experiment_ids, filter_string, order_by, view, conn.dialect.name)
    offset, want = token.offset, max_results + 1  # one more tells whether a page follows
    if not plan.orders or plan.orders[0].entity != "metric":
        rows = list(conn.execute(plan.joined().limit(want).offset(offset)))
        ranked_total = None
    else:
        # Runs with the sort metric first, then those without; the token remembers how many
        # had it once a page has crossed over, so later pages need not count them again.
        rows, ranked_total = [], token.ranked
        if ranked_total is None or offset < ranked_total:
            rows = list(conn.execute(plan.ranked().limit(want).offset(offset)))
        if len(rows) < want:
            if ranked_total is None:
                ranked_total = offset + len(rows) if rows or offset == 0 else conn.execute(
                    select(func.count()).select_from(plan.ranked().subquery())).scalar_one()
            rows += conn.execute(plan.unranked().limit(want - len(rows))
                                 .offset(max(0, offset - ranked_total)))
    infos = [run_info(row) for row in rows[:max_results]]
    next_token = _encode(offset + max_results, ranked_total) if len(rows) > max_results else None
    return infos, next_token


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
