"""Writing params, tags and metric points: checks first, then as few statements as possible."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from shipyard.entities import LifecycleStage, Metric, RunInfo
from shipyard.entities import limits as lim
from shipyard.errors import ConflictError, InvalidInputError, InvalidStateError
from shipyard.store import schema as t
from shipyard.store.tracking.sql_rows import encode_value


@dataclass(frozen=True, slots=True)
class Batch:
    metrics: Sequence[Metric]
    params: dict[str, str]
    tags: dict[str, str]


def checked_tags(tags: Mapping[str, object]) -> dict[str, str]:
    return {
        lim.check_key(key, "tag"): lim.check_value(value, "tag", key, lim.MAX_TAG_VALUE)
        for key, value in tags.items()
    }


def checked_params(params: Mapping[str, object]) -> dict[str, str]:
    return {
        lim.check_key(key, "param"): lim.check_value(value, "param", key, lim.MAX_PARAM_VALUE)
        for key, value in params.items()
    }


def checked_batch(
    metrics: Sequence[Metric], params: Mapping[str, object], tags: Mapping[str, object]
) -> Batch:
    if len(metrics) > lim.MAX_BATCH_METRICS:
        raise InvalidInputError(
            f"a batch holds {len(metrics)} metric points; the limit is {lim.MAX_BATCH_METRICS}",
            field="metrics",
        )
    if len(params) > lim.MAX_BATCH_PARAMS or len(tags) > lim.MAX_BATCH_TAGS:
        raise InvalidInputError(
            f"a batch holds at most {lim.MAX_BATCH_PARAMS} params and {lim.MAX_BATCH_TAGS} tags",
            field="params" if len(params) > lim.MAX_BATCH_PARAMS else "tags",
        )
    seen: set[str] = set()
    for point in metrics:
        if point.key not in seen:
            lim.check_key(point.key, "metric")
            seen.add(point.key)
        if type(point.value) is not float:
            lim.check_metric_value(point.key, point.value)
        if type(point.step) is not int or point.step not in _INT64:  # the common case is cheap
            lim.check_step(point.key, point.step)
    return Batch(metrics, checked_params(params), checked_tags(tags))


_INT64 = range(-(2**63), 2**63)


def check_writable(info: RunInfo, batch: Batch) -> None:
    if info.lifecycle_stage == LifecycleStage.DELETED:
        raise InvalidStateError(
            f"run {info.run_id!r} is deleted; restore it before logging to it", field="run_id"
        )
    if info.status.is_terminal and (batch.metrics or batch.params):
        raise InvalidStateError(
            f"run {info.run_id!r} has ended ({info.status}); metrics and params can only be "
            "logged to a running run (tags may still be set)",
            field="run_id",
        )


def _dialect_insert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def upsert_pairs(
    conn: Connection, table: Table, owner: str, owner_id: object, pairs: Mapping[str, str]
) -> None:
    """Insert or replace key/value rows (tags) of one owner."""
    if not pairs:
        return
    stmt = _dialect_insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[owner, "key"], set_={"value": stmt.excluded.value}
    )
    conn.execute(stmt, [{owner: owner_id, "key": k, "value": v} for k, v in pairs.items()])


def _insert_params(conn: Connection, run_id: str, params: dict[str, str]) -> None:
    c = t.params.c
    existing = dict(
        conn.execute(select(c.key, c.value).where(c.run_id == run_id, c.key.in_(params))).all()
    )
    for key, old in existing.items():
        if params[key] != old:
            raise ConflictError(
                f"param {key!r} of run {run_id!r} is already {old!r}; params cannot change "
                f"(tried {params[key]!r}). Log the new value under another key or in a new run.",
                field="param value",
                key=key,
            )
    new = [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()
           if k not in existing]
    if new:
        conn.execute(t.params.insert(), new)


def _placeholders(conn: Connection, count: int) -> str:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * count)


def _insert_metrics(conn: Connection, info: RunInfo, metrics: Sequence[Metric]) -> None:
    # The hot path of logging: one driver-level executemany, no per-row SQLAlchemy objects.
    run_id = info.run_id
    rows = [(run_id, m.key, m.step, m.timestamp, encode_value(float(m.value))) for m in metrics]
    conn.exec_driver_sql(
        "INSERT INTO metrics (run_id, key, step, timestamp, value) "
        f"VALUES ({_placeholders(conn, 5)})",
        rows,
    )
    latest: dict[str, Metric] = {}
    for m in metrics:
        best = latest.get(m.key)
        if best is None or (m.step, m.timestamp) >= (best.step, best.timestamp):
            latest[m.key] = m
    experiment_id = int(info.experiment_id)
    conn.exec_driver_sql(
        _UPSERT_LATEST.format(marks=_placeholders(conn, 6)),
        # Sorted keys: concurrent writers lock rows in one order, so they cannot deadlock.
        [(run_id, m.key, m.step, m.timestamp, encode_value(float(m.value)), experiment_id)
         for m in sorted(latest.values(), key=lambda m: m.key)],
    )


# The same text runs on SQLite (3.24+) and PostgreSQL; a fixed string skips SQLAlchemy's
# statement building on the hot path of logging.
_UPSERT_LATEST = (
    "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, experiment_id) "
    "VALUES ({marks}) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, "
    "step = excluded.step, timestamp = excluded.timestamp "
    "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step "
    "AND excluded.timestamp >= latest_metrics.timestamp)"
)


def write_batch(conn: Connection, info: RunInfo, batch: Batch) -> None:
    run_id = info.run_id
    if batch.params:
        _insert_params(conn, run_id, batch.params)
    if batch.tags:
        upsert_pairs(conn, t.tags, "run_id", run_id, batch.tags)
    if batch.metrics:
        _insert_metrics(conn, info, batch.metrics)
