"""Bring a metadata database to the schema this version of Shipyard expects.

Checking costs one query when the database is current; Alembic itself is only imported when
there is something to do. Processes that start on a new database at the same moment migrate it
once: the migration holds the database's write lock (SQLite) or an advisory lock (PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, inspect, text

from shipyard.errors import BackendError
from shipyard.store.db import SQLITE_BEGIN

#: The newest migration; ``tests/test_migrations.py`` checks it equals Alembic's head.
HEAD_REVISION = "0011"
_PG_LOCK_ID = 0x5348_4950  # "SHIP"


def revision_of(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return revision_of(conn)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` under the migration lock."""
    from alembic import command
    from alembic.config import Config

    with engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}).connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite rebuilds a table to alter it; with foreign keys on, dropping the old copy
            # would cascade-delete every row that points at it. The pragma only takes effect
            # outside a transaction, hence on the driver connection before BEGIN.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
                if revision == "head" and revision_of(conn) == HEAD_REVISION:
                    return  # another process migrated while we waited for the lock
                config = Config()
                config.set_main_option("script_location", "shipyard.store:migrations")
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise BackendError(f"migration broke a foreign key: {tuple(broken)}")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def ensure_current(engine: Engine) -> None:
    if current_revision(engine) != HEAD_REVISION:
        upgrade(engine)
