"""Appending an event inside the caller's transaction, and checkpointing it after the commit.

The service that changes a model (or an alias, an approval...) calls :func:`append` on the
connection of its own open transaction, so the change and its event commit or roll back
together. The chain's head is read under the database's write lock so that concurrent writers
queue up instead of both extending the same head (a fork):

- SQLite: the caller's transaction must have begun with ``BEGIN IMMEDIATE`` (the store's
  writers do), which takes the one write lock before anything is read;
- PostgreSQL: :func:`append` first takes a transaction-scoped advisory lock on a fixed id, held
  until the caller commits or rolls back. The primary key on ``seq`` backs both up.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, text

from shipyard.entities.audit import AuditEvent
from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.services.audit import chain, rows
from shipyard.services.audit.checkpoint import Checkpoint, advance_checkpoint, checkpoint_path
from shipyard.services.audit.key import load_key
from shipyard.store.db import SQLITE_BEGIN

_PG_LOCK_ID = 0x5348_4155  # "SHAU"; the migration lock is "SHIP"
#: ``Connection.info`` key of the newest event appended in the open transaction.
PENDING = "shipyard_audit_pending"
_LIMITS = {"actor": 256, "action": 100, "entity_type": 50, "entity_id": 500}
_log = logging.getLogger("shipyard.audit")


def to_json(value: Any, field: str = "after") -> str | None:
    """A state as canonical JSON text (keys sorted); None stays None (no state)."""
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False, default=_plain)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"audit {field} state is not strict JSON: {exc}",
                                field=field) from None


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def append(conn: Connection, *, actor: str, action: str, entity_type: str, entity_id: str,
           before: Any = None, after: Any = None, reason: str | None = None,
           key: bytes | None = None) -> AuditEvent:
    """Append one event to the chain within ``conn``'s open write transaction.

    ``before``/``after`` are JSON-able states (dataclasses and enums are converted), None for
    none. ``key`` defaults to :func:`load_key` (creating the key file on first use). The event
    is only durable once the caller commits; then call :func:`after_commit` with it (or use
    ``AuditLog.transaction()``, which does).
    """
    fields = {"actor": actor, "action": action, "entity_type": entity_type,
              "entity_id": entity_id}
    for name, value in fields.items():
        if not isinstance(value, str) or not value:
            raise InvalidInputError(f"audit {name} must be a non-empty string", field=name)
        if len(value) > _LIMITS[name]:
            raise InvalidInputError(f"audit {name} is {len(value)} characters; at most "
                                    f"{_LIMITS[name]}", field=name)
    _check_write_transaction(conn)
    key = load_key(create=True) if key is None else key
    before_text, after_text = to_json(before, "before"), to_json(after, "after")
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    current = rows.head(conn)
    seq, previous = (1, chain.GENESIS_MAC) if current is None else (current[0] + 1, current[1])
    now = time.time_ns() // 1_000_000
    mac = chain.link(key, previous, chain.canonical(seq, now, actor, action, entity_type,
                                                   entity_id, before_text, after_text, reason))
    event = AuditEvent(seq, now, actor, action, entity_type, entity_id, before_text,
                       after_text, reason, mac)
    conn.execute(insert(rows.E), dataclasses.asdict(event))
    conn.info[PENDING] = (event, chain.key_id(key))
    return event


def _check_write_transaction(conn: Connection) -> None:
    if not conn.in_transaction():
        raise RuntimeError("audit append needs the caller's open transaction (conn.begin())")
    if conn.dialect.name == "sqlite" and \
            conn.get_execution_options().get(SQLITE_BEGIN) != "IMMEDIATE":
        # A deferred transaction reads the head without the write lock; a concurrent writer
        # would then make this one fail with "database is locked" at its insert.
        raise RuntimeError("on SQLite, audit append needs a transaction begun with BEGIN "
                           "IMMEDIATE: engine.execution_options(shipyard_sqlite_begin="
                           "'IMMEDIATE')")


def after_commit(event: AuditEvent, *, key: bytes | None = None,
                 checkpoint: Path | None = None) -> bool:
    """Move the checkpoint to ``event`` (the newest one of a committed transaction).

    Never raises: the change is committed, and a checkpoint that lags behind only protects a
    shorter prefix of the chain until the next write. Failures are logged. True if written.
    """
    try:
        key = load_key() if key is None else key
        return write_checkpoint(event, chain.key_id(key), checkpoint)
    except (ShipyardError, OSError) as exc:
        after_commit_failed(event, exc)
        return False


def after_commit_failed(event: AuditEvent, error: Exception) -> None:
    _log.warning("audit checkpoint not advanced to event %d: %s", event.seq, error)


def write_checkpoint(event: AuditEvent, key_fingerprint: str, path: Path | None) -> bool:
    return advance_checkpoint(path or checkpoint_path(), Checkpoint(
        seq=event.seq, mac=event.mac, length=event.seq, key_id=key_fingerprint,
        time=time.time_ns() // 1_000_000))
