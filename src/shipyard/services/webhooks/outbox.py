"""The outbox: a delivery is a row written in the same transaction as the change it announces.

So a change that rolls back sends nothing, and one that commits is never lost: its deliveries
are in the database, sent right after the commit (best effort) and otherwise by
``shipyard webhooks deliver`` or a background dispatcher.

A service that owns its transaction opens it with :func:`transaction` instead of
``AuditLog.transaction()`` and calls :func:`enqueue` (or :func:`enqueue_audit_event`) in it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert, or_, select, true

from shipyard import settings
from shipyard.entities.audit import AuditEvent
from shipyard.entities.webhook import DeliveryStatus
from shipyard.errors import InvalidInputError
from shipyard.services.webhooks import events as ev
from shipyard.store import schema as t

if TYPE_CHECKING:
    from shipyard.services.audit.log import AuditLog

#: ``Connection.info`` key of the delivery ids enqueued in the open transaction.
QUEUED = "shipyard_webhooks_queued"
_log = logging.getLogger("shipyard.webhooks")


def _now() -> int:
    return time.time_ns() // 1_000_000


def body_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def enqueue(conn: Connection, event_type: str, payload: Mapping[str, Any]) -> list[str]:
    """Insert one pending delivery of ``event_type`` per active webhook that wants it, in
    ``conn``'s open transaction; returns their ids. ``payload["model"]`` (if any) is matched
    against each webhook's model filter."""
    if event_type not in ev.EVENT_TYPES:
        raise InvalidInputError(f"unknown webhook event type {event_type!r}; choose from "
                                f"{', '.join(ev.EVENT_TYPES)}", field="event_type")
    w = t.webhooks
    model = payload.get("model")
    query = select(w.c.id, w.c.events).where(w.c.active == true())
    query = query.where(w.c.model_name.is_(None) if model is None
                        else or_(w.c.model_name.is_(None), w.c.model_name == model))
    now = _now()
    rows = []
    for hook_id, events in conn.execute(query.order_by(w.c.id)):
        if not ev.wants(json.loads(events), event_type):
            continue
        delivery_id = uuid.uuid4().hex
        try:
            body = body_json({"id": delivery_id, "event": event_type, "created_time": now,
                              "data": dict(payload)})
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"webhook payload is not strict JSON: {exc}",
                                    field="payload") from None
        rows.append({"id": delivery_id, "webhook_id": hook_id, "event_type": event_type,
                     "payload": body, "status": str(DeliveryStatus.PENDING), "attempts": 0,
                     "next_attempt_time": now, "created_time": now})
    if rows:
        conn.execute(insert(t.webhook_deliveries), rows)
        conn.info.setdefault(QUEUED, []).extend(r["id"] for r in rows)
    return [r["id"] for r in rows]


def enqueue_audit_event(conn: Connection, event: AuditEvent) -> list[str]:
    """Enqueue the webhook event a registry audit event announces, if it announces one."""
    found = ev.from_audit_event(event)
    return [] if found is None else enqueue(conn, found[0], found[2])


@contextmanager
def transaction(audit: AuditLog) -> Iterator[Connection]:
    """``audit.transaction()``; once it has committed, the deliveries enqueued in it are
    handed to a background dispatcher of this process or, failing one, sent at once."""
    queued: list[str] = []
    with audit.transaction() as conn:
        conn.info.pop(QUEUED, None)  # left by a caller that never committed
        try:
            yield conn
        finally:
            queued = conn.info.pop(QUEUED, [])
    if queued:
        after_commit(audit.engine, queued)


def after_commit(engine: Engine, delivery_ids: list[str]) -> None:
    """Best effort, never raising: the change has committed and its deliveries are stored."""
    from shipyard.services.webhooks import background

    try:
        if background.wake(engine) or not settings.WEBHOOK_DELIVER_ON_COMMIT.get():
            return
        from shipyard.services.webhooks.dispatcher import Dispatcher

        Dispatcher(engine).deliver(delivery_ids)
    except Exception as exc:  # the outbox keeps them for the next sender
        _log.warning("webhook deliveries %s stay queued: %s", ", ".join(delivery_ids), exc)
