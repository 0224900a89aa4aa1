"""``Dispatcher``: sends due deliveries from the outbox and records each attempt.

Several dispatchers (threads, processes, machines) may run at once. Each claims its deliveries
in a short transaction -- ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock
(``BEGIN IMMEDIATE``) on SQLite -- and leases them by moving ``next_attempt_time`` past the
longest an attempt can take, so no other dispatcher takes them meanwhile. The POST happens
outside any transaction (a slow receiver never holds a database lock); a second short
transaction records the outcome. A dispatcher that dies mid-attempt leaves its deliveries to be
retried once the lease ends: delivery is at least once, and receivers deduplicate on
``X-Shipyard-Delivery``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, select, true, update
from sqlalchemy.exc import OperationalError

from shipyard import settings
from shipyard.entities.webhook import DeliveryResult, DeliveryStatus
from shipyard.errors import BackendError, InvalidInputError
from shipyard.services.webhooks import signing
from shipyard.store import schema as t
from shipyard.store.db import SQLITE_BEGIN

_PENDING = str(DeliveryStatus.PENDING)
_MAX_ERROR = 1000
_EXCERPT = 200  # bytes of a refusing receiver's answer kept in the log


def _now() -> int:
    return time.time_ns() // 1_000_000


def backoff_ms(attempts: int) -> int:
    """Wait after the ``attempts``-th failed attempt: the base, doubled each time, capped."""
    base = settings.WEBHOOK_BACKOFF.get()
    return int(min(settings.WEBHOOK_BACKOFF_MAX.get(), base * 2 ** min(attempts - 1, 60))
               * 1000)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: str
    webhook_id: int
    event_type: str
    payload: str
    attempts: int  # counting the one about to be made
    url: str
    secret: str


class Dispatcher:
    """Posts due deliveries of ``engine``'s outbox. ``client`` defaults to a fresh
    ``httpx.Client`` per batch with the ``SHIPYARD_WEBHOOK_TIMEOUT``."""

    def __init__(self, engine: Engine, *, client: httpx.Client | None = None) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        self._client = client

    def deliver_due(self, limit: int = 100) -> list[DeliveryResult]:
        """Claim up to ``limit`` due deliveries, oldest first, post each once, record how it
        went; returns one result per attempt made."""
        if limit < 1:
            raise InvalidInputError(f"limit must be at least 1, not {limit}", field="limit")
        return self._send_all(self._claim(limit, None))

    def deliver(self, delivery_ids: Sequence[str]) -> list[DeliveryResult]:
        """Attempt these deliveries now, those of them that are still pending and due."""
        ids = list(delivery_ids)
        return self._send_all(self._claim(len(ids), ids)) if ids else []

    # -- Claiming and recording -------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self._writer.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise BackendError(f"webhook outbox write failed: {exc.orig}") from exc

    def _claim(self, limit: int, ids: list[str] | None) -> list[_Claimed]:
        d, w = t.webhook_deliveries, t.webhooks
        now = _now()
        lease = int((3 * settings.WEBHOOK_TIMEOUT.get() + 60) * 1000)
        query = (select(d.c.id, d.c.webhook_id, d.c.event_type, d.c.payload, d.c.attempts,
                        w.c.url, w.c.secret)
                 .join(w, w.c.id == d.c.webhook_id)
                 .where(d.c.status == _PENDING, d.c.next_attempt_time <= now,
                        w.c.active == true())
                 .order_by(d.c.next_attempt_time, d.c.created_time).limit(limit))
        if ids is not None:
            query = query.where(d.c.id.in_(ids))
        with self._transaction() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(of=d, skip_locked=True)
            claimed = [_Claimed(r.id, r.webhook_id, r.event_type, r.payload, r.attempts + 1,
                                r.url, r.secret) for r in conn.execute(query)]
            if claimed:
                conn.execute(update(d).where(d.c.id.in_([c.id for c in claimed]))
                             .values(attempts=d.c.attempts + 1, next_attempt_time=now + lease))
        return claimed

    def _record(self, c: _Claimed, code: int | None, error: str | None) -> DeliveryResult:
        now = _now()
        values: dict[str, Any] = {"last_status_code": code, "last_error": error}
        if error is None:
            status = DeliveryStatus.DELIVERED
            values["delivered_time"] = now
        elif c.attempts >= max(1, settings.WEBHOOK_MAX_ATTEMPTS.get()):
            status = DeliveryStatus.FAILED
        else:
            status = DeliveryStatus.PENDING
            values["next_attempt_time"] = now + backoff_ms(c.attempts)
        d = t.webhook_deliveries
        with self._transaction() as conn:  # the webhook may have been removed meanwhile
            conn.execute(update(d).where(d.c.id == c.id, d.c.status == _PENDING)
                         .values(status=str(status), **values))
        return DeliveryResult(c.id, c.webhook_id, c.event_type, c.url, status, c.attempts, code,
                              error)

    # -- Sending -----------------------------------------------------------------------------

    def _send_all(self, claimed: list[_Claimed]) -> list[DeliveryResult]:
        if not claimed:
            return []
        if self._client is not None:
            return [self._record(c, *_post(self._client, c)) for c in claimed]
        timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT.get())
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            return [self._record(c, *_post(client, c)) for c in claimed]


def _post(client: httpx.Client, c: _Claimed) -> tuple[int | None, str | None]:
    """One attempt: ``(status code, None)`` on a 2xx answer, else the code and an error."""
    from shipyard import __version__

    body = c.payload.encode()
    stamp = int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": f"Shipyard/{__version__}",
               signing.EVENT_HEADER: c.event_type, signing.DELIVERY_HEADER: c.id,
               signing.TIMESTAMP_HEADER: str(stamp),
               signing.SIGNATURE_HEADER: signing.signature(c.secret, stamp, body)}
    try:
        with client.stream("POST", c.url, content=body, headers=headers) as answer:
            if answer.is_success:
                return answer.status_code, None
            said = _excerpt(answer)
            return answer.status_code, f"HTTP {answer.status_code}" + (f": {said}" if said
                                                                        else "")
    except Exception as exc:  # whatever ends an attempt is that delivery's error
        return None, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]


def _excerpt(answer: httpx.Response) -> str:
    got = b""
    try:
        for chunk in answer.iter_bytes():
            got += chunk
            if len(got) >= _EXCERPT:
                break
    except httpx.HTTPError:
        pass  # the status code is the finding; the body is a courtesy
    return got[:_EXCERPT].decode("utf-8", "replace").strip()
