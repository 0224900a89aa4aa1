"""Database engines for the metadata store: SQLite (embedded default) and PostgreSQL.

SQLite is tuned for several processes writing one file at once: WAL journal, a long busy
timeout, and write transactions opened with ``BEGIN IMMEDIATE`` so a writer takes the write
lock up front instead of failing with "database is locked" when it upgrades a read lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import StaticPool

from shipyard import settings
from shipyard.errors import InvalidInputError

#: Execution option naming how a SQLite transaction begins ("IMMEDIATE" for writers).
SQLITE_BEGIN = "shipyard_sqlite_begin"


def normalize_url(uri: str) -> URL:
    """Parse a SQLAlchemy URL, choosing psycopg 3 for plain ``postgresql://`` URLs."""
    try:
        url = make_url(uri)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise InvalidInputError(
            f"tracking URI {uri!r} is not a database URL ({exc}); use sqlite:///path/to/file.db "
            "or postgresql+psycopg://user@host/db",
            field="tracking_uri",
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInputError(
            f"tracking URI {uri!r}: backend {url.get_backend_name()!r} is not supported; "
            "use sqlite:/// or postgresql+psycopg://",
            field="tracking_uri",
        )
    return url


def create_db_engine(uri: str) -> Engine:
    url = normalize_url(uri)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:")
    kwargs: dict[str, Any] = {}
    if in_memory:
        # One shared connection, or each pool connection would see its own empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot create the folder of the SQLite database {database!r}: "
                f"{exc.strerror or exc}; set SHIPYARD_HOME or the tracking URI to a writable place",
                field="tracking_uri",
            ) from None
        kwargs = {"connect_args": {"check_same_thread": False}}
    engine = create_engine(url, **kwargs)
    busy_ms = int(settings.SQLITE_BUSY_TIMEOUT.get() * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can choose BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        if not in_memory:
            _use_wal(cursor, busy_ms)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # LIKE is case-sensitive on every backend; ILIKE is the case-insensitive one.
        cursor.execute("PRAGMA case_sensitive_like = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _use_wal(cursor: Any, busy_ms: int) -> None:
    """Put the database in WAL mode (it stays so, in the file).

    Why the loop: switching a new file to WAL needs a lock SQLite's busy handler does not wait
    for, so a process opening a brand-new database while another one migrates it would fail
    with "database is locked". Once the file is in WAL mode nothing needs switching.
    """
    import sqlite3
    import time

    deadline = time.monotonic() + busy_ms / 1000
    delay = 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def open_current(engine: Engine) -> None:
    """Bring the database to this version's schema, or say clearly why it cannot be opened."""
    from sqlalchemy.exc import OperationalError

    from shipyard.errors import BackendError
    from shipyard.store import migrate

    try:
        migrate.ensure_current(engine)
    except OperationalError as exc:
        raise BackendError(f"cannot open the metadata database: {exc.orig}") from exc


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads; a database failure becomes a ``BackendError``."""
    from sqlalchemy.exc import OperationalError

    from shipyard.errors import BackendError

    try:
        with engine.connect() as conn:
            yield conn
    except OperationalError as exc:
        raise BackendError(f"metadata database read failed: {exc.orig}") from exc


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction, begun with ``BEGIN IMMEDIATE`` on SQLite (see the module)."""
    from sqlalchemy.exc import OperationalError

    from shipyard.errors import BackendError

    try:
        with engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}).begin() as conn:
            yield conn
    except OperationalError as exc:
        raise BackendError(f"metadata database write failed: {exc.orig}") from exc
