"""Persistence of tuning studies: each study's Optuna journal as numbered rows.

Optuna's ``JournalStorage`` keeps a study as a log of operations and replays it; this module
stores that log. Appending bumps ``tuning_studies.next_seq`` first, which takes the study
row's lock (PostgreSQL) or the database write lock (SQLite): concurrent appenders are
serialised, so log numbers are consecutive and commit in order, as the journal requires.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from shipyard.errors import BackendError, NotFoundError
from shipyard.store.db import is_sqlite, reading, writing
from shipyard.store.schema import tuning_studies


def study_run_id(engine: Engine, name: str) -> str | None:
    """The parent run of study ``name``, or None when the study does not exist yet."""
    with reading(engine) as conn:
        found = conn.execute(select(tuning_studies.c.run_id)
                             .where(tuning_studies.c.name == name)).scalar()
    return None if found is None else str(found)


def claim_study(engine: Engine, name: str, run_id: str) -> str:
    """Create study ``name`` with parent run ``run_id`` unless it exists; the parent run that
    won (``run_id``, or the one of a process that created the study first)."""
    try:
        with writing(engine) as conn:
            conn.execute(insert(tuning_studies).values(
                name=name, run_id=run_id, next_seq=0, created_time=int(time.time() * 1000)))
        return run_id
    except IntegrityError:  # another process created it between our check and insert
        found = study_run_id(engine, name)
        if found is None:  # pragma: no cover - a study is never deleted while claimed
            raise
        return found


class Journal:
    """The journal of study ``name``, read and appended on one connection of its own.

    Optuna reads the journal before every storage call (eight times per trial), so this talks
    to the driver directly: through SQLAlchemy each call cost about ten times the query.
    Not thread-safe; Optuna's ``JournalStorage`` calls it under its own lock.
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self._name = name
        self._sqlite = is_sqlite(engine)
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._engine.raw_connection()
        return self._conn

    def _sql(self, text: str) -> str:
        return text if self._sqlite else text.replace("?", "%s")

    def _failed(self, exc: Exception, what: str) -> BackendError:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.invalidate()  # reconnect on the next call
        return BackendError(f"tuning journal {what} failed for study {self._name!r}: {exc}")

    def read(self, start: int) -> list[str]:
        """The logs from number ``start`` on, in order."""
        try:
            conn = self._connection()
            cursor = conn.cursor()
            cursor.execute(self._sql(
                "SELECT body FROM tuning_logs WHERE study = ? AND seq >= ? ORDER BY seq"),
                (self._name, start))
            rows = cursor.fetchall()
            cursor.close()
            if not self._sqlite:
                conn.commit()  # end the read's transaction: never idle in one
            return [str(row[0]) for row in rows]
        except Exception as exc:
            raise self._failed(exc, "read") from exc

    def append(self, bodies: Sequence[str]) -> None:
        """Append ``bodies`` (JSON texts) in one transaction."""
        if not bodies:
            return
        try:
            conn = self._connection()
            cursor = conn.cursor()
            if self._sqlite:  # autocommit mode (see store/db.py): begin by hand, take the lock
                cursor.execute("BEGIN IMMEDIATE")
            try:
                # The UPDATE locks the study row until commit: appends are serialised.
                cursor.execute(self._sql(
                    "UPDATE tuning_studies SET next_seq = next_seq + ? WHERE name = ? "
                    "RETURNING next_seq"), (len(bodies), self._name))
                row = cursor.fetchone()
                if row is None:
                    raise NotFoundError(f"no tuning study {self._name!r}", field="study")
                first = int(row[0]) - len(bodies)
                cursor.executemany(self._sql(
                    "INSERT INTO tuning_logs (study, seq, body) VALUES (?, ?, ?)"),
                    [(self._name, first + i, body) for i, body in enumerate(bodies)])
                self._end(conn, cursor, "COMMIT")
            except BaseException:
                self._end(conn, cursor, "ROLLBACK")
                raise
            finally:
                cursor.close()
        except NotFoundError:
            raise
        except Exception as exc:
            raise self._failed(exc, "append") from exc

    def _end(self, conn: Any, cursor: Any, how: str) -> None:
        if self._sqlite:
            cursor.execute(how)
        elif how == "COMMIT":
            conn.commit()
        else:
            conn.rollback()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
