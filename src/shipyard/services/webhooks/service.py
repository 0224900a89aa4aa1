"""``WebhookService``: add, list, pause and remove webhooks, and read the delivery log.

Adding, pausing and removing a webhook is audited like any registry change. The audit log
records where events go (the URL without credentials or query string), never the secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, select, update

from shipyard.entities.webhook import DeliveryStatus, NewWebhook, Webhook, WebhookDelivery
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.services.audit.log import AuditLog
from shipyard.services.webhooks import events as ev
from shipyard.services.webhooks.signing import new_secret
from shipyard.store import schema as t
from shipyard.store.db import open_current, reading

MAX_DELIVERIES = 1000


def _webhook(row: Row[Any]) -> Webhook:
    return Webhook(row.id, row.url, tuple(json.loads(row.events)), row.model_name,
                   bool(row.active), row.created_time, row.created_by)


def _delivery(row: Row[Any]) -> WebhookDelivery:
    return WebhookDelivery(row.id, row.webhook_id, row.event_type, row.payload,
                           DeliveryStatus(row.status), row.attempts, row.next_attempt_time,
                           row.last_status_code, row.last_error, row.created_time,
                           row.delivered_time)


def _audit_state(hook: Webhook) -> dict[str, Any]:
    return {"url": ev.redacted_url(hook.url), "events": list(hook.events), "model": hook.model,
            "active": hook.active}


def check_status(status: str | None) -> DeliveryStatus | None:
    if status is None:
        return None
    try:
        return DeliveryStatus(status)
    except ValueError:
        raise InvalidInputError(f"delivery status {status!r} is not one of "
                                f"{', '.join(s.value for s in DeliveryStatus)}",
                                field="status") from None


class WebhookService:
    def __init__(self, engine: Engine, audit: AuditLog | None = None) -> None:
        self.engine = engine
        self.audit = audit or AuditLog(engine)
        open_current(engine)

    def _read(self) -> AbstractContextManager[Connection]:
        return reading(self.engine)

    def add(self, url: str, *, actor: str, events: Iterable[str] | None = None,
            model: str | None = None) -> NewWebhook:
        """Post ``events`` (default: all) of ``model`` (default: every model) to ``url``. The
        returned secret signs every delivery; it is not shown again."""
        url, chosen, model = ev.check_url(url), ev.check_events(events), ev.check_model(model)
        secret = new_secret()
        now = time.time_ns() // 1_000_000
        w = t.webhooks
        with self.audit.transaction() as conn:
            hook_id = conn.execute(insert(w).values(
                url=url, events=json.dumps(list(chosen)), secret=secret, model_name=model,
                active=True, created_time=now, created_by=actor).returning(w.c.id)).scalar_one()
            hook = Webhook(hook_id, url, chosen, model, True, now, actor)
            self.audit.append(conn, actor=actor, action="webhook.add", entity_type="webhook",
                              entity_id=str(hook_id), after=_audit_state(hook))
        return NewWebhook(hook, secret)

    def get(self, webhook_id: int) -> Webhook:
        with self._read() as conn:
            return self._load(conn, webhook_id)

    def list_webhooks(self) -> list[Webhook]:
        with self._read() as conn:
            return [_webhook(r) for r in conn.execute(select(t.webhooks)
                                                      .order_by(t.webhooks.c.id))]

    def set_active(self, webhook_id: int, active: bool, *, actor: str) -> Webhook:
        """Pause (False) or resume a webhook. A paused one gets no new deliveries, and its
        queued ones wait until it is resumed."""
        w = t.webhooks
        with self.audit.transaction() as conn:
            before = self._load(conn, webhook_id)
            conn.execute(update(w).where(w.c.id == webhook_id).values(active=active))
            after = self._load(conn, webhook_id)
            self.audit.append(conn, actor=actor,
                              action="webhook.enable" if active else "webhook.disable",
                              entity_type="webhook", entity_id=str(webhook_id),
                              before=_audit_state(before), after=_audit_state(after))
        return after

    def remove(self, webhook_id: int, *, actor: str) -> None:
        """Delete a webhook and its delivery log; queued deliveries are never sent."""
        w = t.webhooks
        with self.audit.transaction() as conn:
            before = self._load(conn, webhook_id)
            conn.execute(delete(w).where(w.c.id == webhook_id))
            self.audit.append(conn, actor=actor, action="webhook.remove", entity_type="webhook",
                              entity_id=str(webhook_id), before=_audit_state(before))

    def deliveries(self, *, status: str | None = None, webhook_id: int | None = None,
                   limit: int = 100) -> list[WebhookDelivery]:
        """The delivery log, newest first."""
        wanted = check_status(status)
        if not 1 <= limit <= MAX_DELIVERIES:
            raise InvalidInputError(f"limit must be between 1 and {MAX_DELIVERIES}",
                                    field="limit")
        d = t.webhook_deliveries
        query = select(d).order_by(d.c.created_time.desc(), d.c.id).limit(limit)
        if wanted is not None:
            query = query.where(d.c.status == str(wanted))
        if webhook_id is not None:
            query = query.where(d.c.webhook_id == webhook_id)
        with self._read() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    @staticmethod
    def _load(conn: Connection, webhook_id: int) -> Webhook:
        row = conn.execute(select(t.webhooks).where(t.webhooks.c.id == webhook_id)).first()
        if row is None:
            raise NotFoundError(f"no webhook with id {webhook_id}; `shipyard webhooks list` "
                                "shows them", field="id")
        return _webhook(row)
