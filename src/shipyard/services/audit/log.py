"""``AuditLog``: the audit chain of one database, with its key and checkpoint.

A service that owns a transaction writes through it::

    with audit_log.transaction() as conn:          # BEGIN IMMEDIATE on SQLite
        ...change the rows...
        audit_log.append(conn, actor=..., action="alias.set", entity_type="alias",
                         entity_id="fraud@production", before=old, after=new, reason=why)
    # committed: the checkpoint has moved to the new head

Why a context manager rather than a SQLAlchemy event: Core's ``commit`` event fires *before*
the database commits, and a checkpoint written ahead of a commit that then fails would make
verify report a cut-off tail forever (the checkpoint only moves forward).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import OperationalError

from shipyard import settings
from shipyard.entities.audit import AuditEvent
from shipyard.errors import BackendError, InvalidStateError, NotFoundError, ShipyardError
from shipyard.services.audit import rows
from shipyard.services.audit import writer as appending
from shipyard.services.audit.checkpoint import checkpoint_path, read_checkpoint
from shipyard.services.audit.exporter import ExportResult, export
from shipyard.services.audit.key import load_key
from shipyard.services.audit.verifier import VerifyReport, verify
from shipyard.store.db import SQLITE_BEGIN


class AuditLog:
    """The chain in ``engine``'s database. ``key`` and ``checkpoint`` default to the settings
    (``SHIPYARD_AUDIT_KEY`` or the key file; ``SHIPYARD_AUDIT_CHECKPOINT``), read when used."""

    def __init__(self, engine: Engine, *, key: bytes | None = None,
                 checkpoint: Path | None = None) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        self._key = key
        self._checkpoint = checkpoint

    @property
    def checkpoint_file(self) -> Path:
        return self._checkpoint or checkpoint_path()

    def key(self, *, create: bool = False) -> bytes:
        return self._key if self._key is not None else load_key(create=create)

    # -- Writing ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); events appended in it are
        checkpointed once it has committed, and vanish with it if it rolls back."""
        pending: tuple[AuditEvent, str] | None = None
        try:
            with self._writer.begin() as conn:
                conn.info.pop(appending.PENDING, None)  # left by a caller that never committed
                try:
                    yield conn
                finally:
                    pending = conn.info.pop(appending.PENDING, None)
        except OperationalError as exc:
            raise BackendError(f"metadata database write failed: {exc.orig}") from exc
        if pending is not None:
            self._after_commit(*pending)

    def append(self, conn: Connection, *, actor: str, action: str, entity_type: str,
               entity_id: str, before: Any = None, after: Any = None,
               reason: str | None = None) -> AuditEvent:
        """:func:`shipyard.services.audit.writer` with this log's key."""
        return appending.append(conn, actor=actor, action=action, entity_type=entity_type,
                                entity_id=entity_id, before=before, after=after, reason=reason,
                                key=self.key(create=True))

    def record(self, *, actor: str, action: str, entity_type: str, entity_id: str,
               before: Any = None, after: Any = None, reason: str | None = None) -> AuditEvent:
        """Append one event in a transaction of its own (for changes made elsewhere)."""
        with self.transaction() as conn:
            return self.append(conn, actor=actor, action=action, entity_type=entity_type,
                               entity_id=entity_id, before=before, after=after, reason=reason)

    def after_commit(self, event: AuditEvent) -> bool:
        """Checkpoint ``event`` after a commit made outside :meth:`transaction`."""
        return appending.after_commit(event, key=self.key(), checkpoint=self.checkpoint_file)

    def _after_commit(self, event: AuditEvent, key_fingerprint: str) -> None:
        try:
            appending.write_checkpoint(event, key_fingerprint, self.checkpoint_file)
        except (ShipyardError, OSError) as exc:  # committed already: warn, never fail
            appending.after_commit_failed(event, exc)

    # -- Reading ---------------------------------------------------------------------------

    def events(self, *, entity: str | None = None, entity_type: str | None = None,
               limit: int | None = None, newest_first: bool = True) -> list[AuditEvent]:
        with self.engine.connect() as conn:
            return rows.list_events(conn, entity=entity, entity_type=entity_type, limit=limit,
                                    newest_first=newest_first)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(rows.E)).scalar_one())

    def verify(self) -> VerifyReport:
        """The whole chain checked against the key and the checkpoint. A damaged checkpoint
        file is a failed report, not an error: it is a finding like any other."""
        try:
            checkpoint = read_checkpoint(self.checkpoint_file)
        except BackendError as exc:
            return VerifyReport(False, 0, None, exc.message)
        try:
            key = self.key()
        except NotFoundError:
            if checkpoint is None and self.count() == 0:
                return VerifyReport(True, 0)  # nothing written yet, so no key made yet
            raise
        return verify(self.engine, key, checkpoint)

    def export(self, dest: Path, *, entity: str | None = None,
               entity_type: str | None = None) -> ExportResult:
        """Write the auditor's bundle (docs/audit.md) to the zip file ``dest``."""
        return export(self.engine, self.key(), dest, entity=entity, entity_type=entity_type,
                      checkpoint=self.checkpoint_file)


def open_audit_log(tracking_uri: str | None = None) -> AuditLog:
    """The audit log of the database the settings (or ``tracking_uri``) name."""
    from shipyard.store import migrate
    from shipyard.store.db import create_db_engine

    uri = tracking_uri or settings.tracking_uri()
    if uri.startswith(("http://", "https://")):
        raise InvalidStateError(
            "the audit log is verified and exported next to the metadata database, and the "
            "tracking URI names a server: run this on the server's machine, or set "
            "SHIPYARD_TRACKING_URI to the server's database URL", field="tracking_uri")
    engine = create_db_engine(uri)
    try:
        migrate.ensure_current(engine)
    except OperationalError as exc:
        raise BackendError(f"cannot open the metadata database: {exc.orig}") from exc
    return AuditLog(engine)
