"""The run queue taken by ``shipyard worker``: triggers, claims with row locks, heartbeats.

A worker claims the oldest due queued run in a short transaction -- ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, the write lock (``BEGIN IMMEDIATE``) on SQLite -- so each run is
taken by exactly one worker. While it runs, the worker refreshes ``heartbeat_time``; a run
whose heartbeat is older than the timeout is marked failed by the scheduler and can be put
back in the queue with :func:`requeue`.

The tracking pipeline run a worker starts carries the tag :data:`TAG_QUEUE_ID` (the queued
run's id) from its first moment, so the scheduler can find and fail it when the worker is
lost (:func:`shipyard.pipelines.history.fail_unfinished`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, insert, select, update

from shipyard.errors import InvalidInputError, InvalidStateError, NotFoundError
from shipyard.pipelines.schedules import get_schedule, now_ms
from shipyard.store.db import is_sqlite, reading, writing
from shipyard.store.schema import queued_runs

STATUSES = ("queued", "claimed", "running", "succeeded", "failed")
TAG_QUEUE_ID = "shipyard.queue.id"  # on the pipeline run a worker starts: the queued run's id
TAG_QUEUE_ERROR = "shipyard.queue.error"  # on tracking runs failed for their queued run


@dataclass(frozen=True)
class QueuedRun:
    id: str
    schedule_name: str | None
    pipeline_ref: str
    params: dict[str, Any]
    code_digest: str | None
    reason: str
    due_time: int
    status: str
    claimed_by: str | None
    heartbeat_time: int | None
    pipeline_run_id: str | None
    error: str | None
    created_time: int


def _row(r: Any) -> QueuedRun:
    return QueuedRun(r.id, r.schedule_name, r.pipeline_ref, json.loads(r.params), r.code_digest,
                     r.reason, r.due_time, r.status, r.claimed_by, r.heartbeat_time,
                     r.pipeline_run_id, r.error, r.created_time)


def enqueue(engine: Engine, ref: str, params: dict[str, Any], reason: str, *,
            schedule_name: str | None = None, code_digest: str | None = None) -> QueuedRun:
    """Queue a run due now (not tied to a due time, so never deduplicated)."""
    if not reason.strip():
        raise InvalidInputError("a triggered run needs a reason (--reason)", field="reason")
    now = now_ms()
    run_id = uuid.uuid4().hex
    with writing(engine) as conn:
        conn.execute(insert(queued_runs).values(
            id=run_id, schedule_name=schedule_name, due_key=None, pipeline_ref=ref,
            params=json.dumps(params), code_digest=code_digest, reason=reason, due_time=now,
            status="queued", created_time=now))
    return get(engine, run_id)


def trigger(engine: Engine, name: str, params: dict[str, Any] | None, reason: str) -> QueuedRun:
    """Queue a run of schedule ``name`` now, its params overridden by ``params``."""
    schedule = get_schedule(engine, name)
    return enqueue(engine, schedule.pipeline_ref, {**schedule.params, **(params or {})}, reason,
                   schedule_name=name, code_digest=schedule.code_digest)


def get(engine: Engine, run_id: str) -> QueuedRun:
    with reading(engine) as conn:
        row = conn.execute(select(queued_runs).where(queued_runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"no queued run {run_id!r}", field="id")
    return _row(row)


def list_queue(engine: Engine, status: str | None = None, limit: int = 100) -> list[QueuedRun]:
    query = select(queued_runs).order_by(queued_runs.c.due_time.desc()).limit(limit)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInputError(f"--status {status!r}: use one of {', '.join(STATUSES)}",
                                    field="status")
        query = query.where(queued_runs.c.status == status)
    with reading(engine) as conn:
        return [_row(r) for r in conn.execute(query).all()]


def claim(engine: Engine, worker: str, now: int | None = None) -> QueuedRun | None:
    """Take the oldest due queued run for ``worker``, or None when nothing is due."""
    now = now_ms() if now is None else now
    with writing(engine) as conn:
        query = (select(queued_runs.c.id)
                 .where(and_(queued_runs.c.status == "queued", queued_runs.c.due_time <= now))
                 .order_by(queued_runs.c.due_time).limit(1))
        if not is_sqlite(engine):
            query = query.with_for_update(skip_locked=True)
        run_id = conn.execute(query).scalar()
        if run_id is None:
            return None
        conn.execute(update(queued_runs).where(queued_runs.c.id == run_id).values(
            status="claimed", claimed_by=worker, heartbeat_time=now))
        row = conn.execute(select(queued_runs).where(queued_runs.c.id == run_id)).one()
    return _row(row)


def _mine(run_id: str, worker: str) -> Any:
    return and_(queued_runs.c.id == run_id, queued_runs.c.claimed_by == worker,
                queued_runs.c.status.in_(("claimed", "running")))


def heartbeat(engine: Engine, run_id: str, worker: str, status: str = "running") -> bool:
    """Refresh a claimed run's heartbeat; False if it is no longer this worker's."""
    with writing(engine) as conn:
        return bool(conn.execute(update(queued_runs).where(_mine(run_id, worker)).values(
            status=status, heartbeat_time=now_ms())).rowcount)


def finish(engine: Engine, run_id: str, worker: str, *, pipeline_run_id: str | None,
           error: str | None) -> bool:
    """Record the outcome; False if the run was failed as stale meanwhile."""
    with writing(engine) as conn:
        return bool(conn.execute(update(queued_runs).where(_mine(run_id, worker)).values(
            status="failed" if error else "succeeded", pipeline_run_id=pipeline_run_id,
            error=error, heartbeat_time=now_ms())).rowcount)


def stale_error(timeout_s: float) -> str:
    return (f"no heartbeat for {timeout_s:g}s: the worker stopped or lost the database; "
            "`shipyard pipelines requeue ID` runs it again")


def fail_stale_runs(engine: Engine, timeout_s: float, now: int | None = None) -> list[QueuedRun]:
    """Mark failed each claimed or running run whose heartbeat is older than ``timeout_s``;
    the runs this call failed (RETURNING, so concurrent schedulers never both report one)."""
    now = now_ms() if now is None else now
    limit = now - int(timeout_s * 1000)
    with writing(engine) as conn:
        rows = conn.execute(update(queued_runs).where(and_(
            queued_runs.c.status.in_(("claimed", "running")),
            queued_runs.c.heartbeat_time < limit)).values(
            status="failed", error=stale_error(timeout_s)).returning(*queued_runs.c)).all()
    return [_row(r) for r in rows]


def fail_stale(engine: Engine, timeout_s: float, now: int | None = None) -> int:
    """Mark failed each claimed or running run whose heartbeat is older than ``timeout_s``."""
    return len(fail_stale_runs(engine, timeout_s, now))


def link(engine: Engine, run_id: str, pipeline_run_id: str) -> None:
    """Record the pipeline run of a run that ended without its worker recording it."""
    with writing(engine) as conn:
        conn.execute(update(queued_runs).where(and_(
            queued_runs.c.id == run_id, queued_runs.c.pipeline_run_id.is_(None))).values(
            pipeline_run_id=pipeline_run_id))


def requeue(engine: Engine, run_id: str) -> QueuedRun:
    """Put a failed run back in the queue: the steps that finished in the failed attempt are
    cache hits (same code package, params and environment), so only the rest run again. The
    failed attempt's pipeline run stays findable by its :data:`TAG_QUEUE_ID` tag."""
    with writing(engine) as conn:
        done = conn.execute(update(queued_runs).where(and_(
            queued_runs.c.id == run_id, queued_runs.c.status == "failed")).values(
            status="queued", claimed_by=None, heartbeat_time=None, error=None,
            pipeline_run_id=None)).rowcount
    if not done:
        current = get(engine, run_id)
        raise InvalidStateError(f"run {run_id} is {current.status}; only a failed run can be "
                                "queued again", field="id")
    return get(engine, run_id)
