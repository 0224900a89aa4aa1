"""Turning rows of the tracking tables into entities, many runs at a time."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from shipyard.entities import LifecycleStage, Metric, Run, RunData, RunInfo, RunStatus
from shipyard.store import schema as t

# SQLite allows 32,766 bound parameters; stay well under it on every backend.
_CHUNK = 5000

RUN_COLUMNS = (
    t.runs.c.run_id,
    t.runs.c.experiment_id,
    t.runs.c.run_name,
    t.runs.c.user_id,
    t.runs.c.status,
    t.runs.c.start_time,
    t.runs.c.end_time,
    t.runs.c.lifecycle_stage,
    t.runs.c.parent_run_id,
)


def decode_value(value: float | None) -> float:
    """NULL in a metric column stands for NaN."""
    return math.nan if value is None else value


def encode_value(value: float) -> float | None:
    return None if math.isnan(value) else value


def run_info(row: Sequence[Any]) -> RunInfo:
    return RunInfo(
        run_id=row[0],
        experiment_id=str(row[1]),
        run_name=row[2],
        user=row[3],
        status=RunStatus(row[4]),
        start_time=row[5],
        end_time=row[6],
        lifecycle_stage=LifecycleStage(row[7]),
        parent_run_id=row[8],
    )


def metric(row: Sequence[Any]) -> Metric:
    return Metric(key=row[0], value=decode_value(row[1]), step=row[2], timestamp=row[3])


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _key_values(conn: Connection, table: str, run_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """(run_id, key, value) rows of the runs, read on the driver's cursor.

    Loading a large page is dominated by per-row overhead; plain DB-API tuples are several
    times cheaper than SQLAlchemy rows here, and the SQL is fixed.
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    rows: list[tuple[Any, ...]] = []
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for chunk in _chunks(run_ids):
            cursor.execute(
                f"SELECT run_id, key, value FROM {table} "
                f"WHERE run_id IN ({', '.join([mark] * len(chunk))})",
                tuple(chunk),
            )
            rows += cursor.fetchall()
    finally:
        cursor.close()
    return rows


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    A page of 10,000 runs allocates some 150,000 dicts and records, none of them cyclic; the
    collector's passes over them cost a third of the load time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_runs(conn: Connection, infos: Sequence[RunInfo]) -> list[Run]:
    """Attach params, latest metrics and tags to run infos, keeping their order."""
    ids = [info.run_id for info in infos]
    params: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    metrics: dict[str, dict[str, float]] = {run_id: {} for run_id in ids}
    tags: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    if ids:
        for run_id, key, value in _key_values(conn, "params", ids):
            params[run_id][key] = value
        for run_id, key, value in _key_values(conn, "latest_metrics", ids):
            metrics[run_id][key] = math.nan if value is None else value
        for run_id, key, value in _key_values(conn, "tags", ids):
            tags[run_id][key] = value
    return [
        Run(info, RunData(params[info.run_id], metrics[info.run_id], tags[info.run_id]))
        for info in infos
    ]
