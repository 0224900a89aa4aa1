"""Reading audit rows: columns in chain order, the entity filter, rows to events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, or_, select

from shipyard.entities.audit import AuditEvent
from shipyard.store import schema as t

E = t.audit_events
#: The columns in the order of AuditEvent's fields (and of chain.canonical's arguments + mac).
COLUMNS = (E.c.seq, E.c.time, E.c.actor, E.c.action, E.c.entity_type, E.c.entity_id,
           E.c.before, E.c.after, E.c.reason, E.c.mac)


def event_from_row(row: Any) -> AuditEvent:
    return AuditEvent(*row)


def entity_clause(entity: str, entity_type: str | None = None) -> ColumnElement[bool]:
    """Events about ``entity``: its id itself and the ids under it, so a model name also finds
    its versions (``name/3``) and aliases (``name@prod``), which the registry names so."""
    clause = or_(E.c.entity_id == entity,
                 E.c.entity_id.startswith(f"{entity}/", autoescape=True),
                 E.c.entity_id.startswith(f"{entity}@", autoescape=True))
    if entity_type is not None:
        clause = (E.c.entity_type == entity_type) & clause
    return clause


def events_query(entity: str | None = None, entity_type: str | None = None) -> Select[Any]:
    query = select(*COLUMNS)
    if entity is not None:
        query = query.where(entity_clause(entity, entity_type))
    elif entity_type is not None:
        query = query.where(E.c.entity_type == entity_type)
    return query


def list_events(conn: Connection, *, entity: str | None = None,
                entity_type: str | None = None, limit: int | None = None,
                newest_first: bool = True) -> list[AuditEvent]:
    query = events_query(entity, entity_type).order_by(
        E.c.seq.desc() if newest_first else E.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return [event_from_row(row) for row in conn.execute(query)]


def head(conn: Connection) -> tuple[int, str] | None:
    """The last event's seq and mac; None for an empty chain."""
    row = conn.execute(select(E.c.seq, E.c.mac).order_by(E.c.seq.desc()).limit(1)).first()
    return None if row is None else (int(row.seq), str(row.mac))


def select_chain() -> Select[Any]:
    """Every event in chain order (on SQLite a scan of the table in rowid order)."""
    return select(*COLUMNS).order_by(E.c.seq)
