"""The audit page's filters, checked, and the one query a page of events costs.

Filters: ``actor`` (exact), ``action`` (exact, or a prefix before a dot: ``version`` finds
``version.approve``), ``kind`` (the entity type), ``entity`` (an entity id and the ids under
it, as ``shipyard audit log --entity`` finds them: a model name finds its versions and
aliases), ``since``/``until`` (UTC dates or date-times). Pages go back in ``seq`` order with
``before`` (the last seq shown), so a page is one indexed query however long the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, or_, select

from shipyard.entities.audit import AuditEvent
from shipyard.errors import InvalidInputError
from shipyard.services.audit import rows

PAGE_SIZE = 50
SUGGESTION_EVENTS = 1000
MAX_TEXT = 500
TIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                "%Y-%m-%d %H:%M:%S")
TIME_HELP = "use a UTC date or date-time such as 2026-03-01 or 2026-03-01T14:30"


@dataclass(frozen=True)
class Filters:
    actor: str = ""
    action: str = ""
    kind: str = ""
    entity: str = ""
    since: str = ""
    until: str = ""
    before: str = ""

    def params(self) -> dict[str, str]:
        """The filters as URL parameters (the page cursor left out)."""
        return {"actor": self.actor, "action": self.action, "kind": self.kind,
                "entity": self.entity, "since": self.since, "until": self.until}

    @property
    def active(self) -> bool:
        return any(self.params().values())


def parse_time(value: str, field: str, *, end: bool = False) -> int | None:
    """Milliseconds since the epoch for a UTC date or date-time; a date given as ``until``
    means the end of that day."""
    text = value.strip()
    if not text:
        return None
    for fmt in TIME_FORMATS:
        try:
            when = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        ms = int(when.timestamp() * 1000)
        if end and fmt == "%Y-%m-%d":
            ms += 86_400_000 - 1
        return ms
    raise InvalidInputError(f"{field} {text[:40]!r} is not a date: {TIME_HELP}", field=field)


def _text(value: str, field: str) -> str:
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInputError(f"{field} is longer than {MAX_TEXT} characters; shorten it",
                                field=field)
    return text


def page(conn: Connection, filters: Filters, size: int = PAGE_SIZE
         ) -> tuple[list[AuditEvent], int | None]:
    """The events matching ``filters``, newest first, and the cursor of the next page (None
    at the end). ``InvalidInputError`` names the filter that is wrong and how to fix it."""
    e = rows.E
    actor = _text(filters.actor, "actor")
    action = _text(filters.action, "action")
    kind = _text(filters.kind, "kind")
    entity = _text(filters.entity, "entity")
    since = parse_time(filters.since, "since")
    until = parse_time(filters.until, "until", end=True)
    if since is not None and until is not None and since > until:
        raise InvalidInputError("since is after until: swap them, or leave one empty",
                                field="since")
    before: int | None = None
    if filters.before.strip():
        try:
            before = int(filters.before)
        except ValueError:
            raise InvalidInputError(f"before must be an event number (seq), not "
                                    f"{filters.before[:40]!r}", field="before") from None
    query = rows.events_query(entity or None, kind or None)
    if actor:
        query = query.where(e.c.actor == actor)
    if action:
        query = query.where(or_(e.c.action == action,
                                e.c.action.startswith(f"{action}.", autoescape=True)))
    if since is not None:
        query = query.where(e.c.time >= since)
    if until is not None:
        query = query.where(e.c.time <= until)
    if before is not None:
        query = query.where(e.c.seq < before)
    found = [rows.event_from_row(r) for r in
             conn.execute(query.order_by(e.c.seq.desc()).limit(size + 1))]
    more = len(found) > size
    found = found[:size]
    return found, (found[-1].seq if more and found else None)


def choices(conn: Connection) -> dict[str, list[str]]:
    """The actions, entity types and actors of the newest events, for the filter boxes'
    suggestions (the newest only: a scan of a long chain on every visit would cost more than
    the suggestions are worth)."""
    e = rows.E
    recent = conn.execute(select(e.c.action, e.c.entity_type, e.c.actor)
                          .order_by(e.c.seq.desc()).limit(SUGGESTION_EVENTS)).all()
    return {"actions": sorted({r.action for r in recent}),
            "kinds": sorted({r.entity_type for r in recent}),
            "actors": sorted({r.actor for r in recent})}
