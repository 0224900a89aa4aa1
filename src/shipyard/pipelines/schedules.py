"""Pipeline schedules in the metadata store: a cron expression or a fixed interval, and the
scheduler's tick that turns due schedules into queued runs (docs/pipelines.md).

Enqueueing is idempotent per (schedule, due time): each scheduled row has the unique
``due_key`` ``<name>@<due ms>``, and the schedule row is locked while it is advanced
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite), so several schedulers
never enqueue one due run twice.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shipyard.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from shipyard.store.db import is_sqlite, reading, writing
from shipyard.store.schema import queued_runs, schedules

MISSED_POLICIES = ("skip", "catch-up")
MAX_CATCH_UP = 1000  # due runs enqueued per schedule and tick under "catch-up"
_EVERY = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Schedule:
    name: str
    pipeline_ref: str
    params: dict[str, Any]
    cron: str | None
    interval_s: int | None
    missed: str
    code_digest: str | None
    next_due_time: int
    active: bool
    created_by: str
    created_time: int


def parse_every(text: str) -> int:
    """Seconds of ``--every`` (``"10m"``, ``"30s"``, ``"2h"``, ``"1d"``)."""
    match = _EVERY.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise InvalidInputError(f"--every {text!r} is not an interval: write e.g. '30s', '10m', "
                                "'2h' or '1d'", field="every")
    return int(match.group(1)) * _UNIT[match.group(2)]


def check_cron(expr: str) -> None:
    from croniter import croniter

    if not croniter.is_valid(expr):
        raise InvalidInputError(
            f"--cron {expr!r} is not a cron expression: write five fields, minute hour "
            "day-of-month month day-of-week, e.g. '0 3 * * *' (03:00 UTC daily)", field="cron")


def next_after(cron: str | None, interval_s: int | None, after_ms: int, anchor_ms: int) -> int:
    """The first due time strictly after ``after_ms`` (cron in UTC; intervals from ``anchor``)."""
    if cron is not None:
        from croniter import croniter

        start = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
        return int(croniter(cron, start).get_next(float) * 1000)
    step = (interval_s or 1) * 1000
    if after_ms < anchor_ms:
        return anchor_ms
    return anchor_ms + ((after_ms - anchor_ms) // step + 1) * step


def _row(r: Any) -> Schedule:
    return Schedule(r.name, r.pipeline_ref, json.loads(r.params), r.cron, r.interval_s,
                    r.missed, r.code_digest, r.next_due_time, bool(r.active), r.created_by,
                    r.created_time)


def create_schedule(engine: Engine, name: str, ref: str, *, params: dict[str, Any] | None = None,
                    cron: str | None = None, every: str | None = None, missed: str = "skip",
                    code_digest: str | None = None, created_by: str = "",
                    start_ms: int | None = None) -> Schedule:
    """Store a schedule; its first run is due at the next cron time or one interval from now."""
    if not name.strip():
        raise InvalidInputError("a schedule needs a name", field="name")
    if (cron is None) == (every is None):
        raise InvalidInputError("give exactly one of --cron and --every", field="cron")
    if missed not in MISSED_POLICIES:
        raise InvalidInputError(f"--missed {missed!r}: use one of {', '.join(MISSED_POLICIES)}",
                                field="missed")
    interval_s = parse_every(every) if every is not None else None
    if cron is not None:
        check_cron(cron)
    now = now_ms() if start_ms is None else start_ms
    first = next_after(cron, interval_s, now, now + (interval_s or 0) * 1000)
    values = {"name": name, "pipeline_ref": ref, "params": json.dumps(params or {}),
              "cron": cron, "interval_s": interval_s, "missed": missed,
              "code_digest": code_digest, "next_due_time": first, "active": True,
              "created_by": created_by, "created_time": now}
    with writing(engine) as conn:
        if conn.execute(select(schedules.c.name).where(schedules.c.name == name)).first():
            raise AlreadyExistsError(f"schedule {name!r} exists; unschedule it first",
                                     field="name")
        conn.execute(insert(schedules).values(**values))
    return get_schedule(engine, name)


def get_schedule(engine: Engine, name: str) -> Schedule:
    with reading(engine) as conn:
        row = conn.execute(select(schedules).where(schedules.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no schedule {name!r}; see `shipyard pipelines schedules`",
                            field="name")
    return _row(row)


def list_schedules(engine: Engine) -> list[Schedule]:
    with reading(engine) as conn:
        rows = conn.execute(select(schedules).order_by(schedules.c.name)).all()
    return [_row(r) for r in rows]


def delete_schedule(engine: Engine, name: str) -> None:
    """Remove a schedule; runs it already queued stay queued."""
    with writing(engine) as conn:
        gone = conn.execute(delete(schedules).where(schedules.c.name == name)).rowcount
    if not gone:
        raise NotFoundError(f"no schedule {name!r}", field="name")


def insert_ignoring_duplicates(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert a queued run unless its ``due_key`` is taken; True if it was inserted."""
    make = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    stmt = make(queued_runs).values(**values).on_conflict_do_nothing(
        index_elements=["due_key"])
    return bool(conn.execute(stmt).rowcount)


def enqueue_due(engine: Engine, now: int | None = None) -> int:
    """Enqueue the due runs of every active schedule and advance it; the number enqueued."""
    now = now_ms() if now is None else now
    added = 0
    with writing(engine) as conn:
        query = select(schedules).where(and_(schedules.c.active.is_(True),
                                             schedules.c.next_due_time <= now))
        if not is_sqlite(engine):
            query = query.with_for_update(skip_locked=True)
        for row in conn.execute(query).all():
            s = _row(row)
            due = s.next_due_time
            times: list[int] = []
            while due <= now and len(times) < MAX_CATCH_UP:
                times.append(due)
                due = next_after(s.cron, s.interval_s, due, s.next_due_time)
            if due <= now:  # more missed than MAX_CATCH_UP: jump past now
                due = next_after(s.cron, s.interval_s, now, s.next_due_time)
            if s.missed == "skip":
                times = times[-1:]
            for t in times:
                added += insert_ignoring_duplicates(conn, {
                    "id": uuid.uuid4().hex, "schedule_name": s.name, "due_key": f"{s.name}@{t}",
                    "pipeline_ref": s.pipeline_ref, "params": json.dumps(s.params),
                    "code_digest": s.code_digest, "reason": f"schedule {s.name}",
                    "due_time": t, "status": "queued", "created_time": now})
            conn.execute(update(schedules).where(schedules.c.name == s.name)
                         .values(next_due_time=due))
    return added
