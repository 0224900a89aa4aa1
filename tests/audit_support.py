"""The audit log's test fixtures: a migrated database on SQLite and PostgreSQL (empty
audit table), the AuditLog over it, and the tampering helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, text, update

from shipyard.services.audit import GENESIS_MAC, AuditLog, canonical
from shipyard.services.audit.chain import link
from shipyard.store import migrate
from shipyard.store import schema as t
from shipyard.store.db import create_db_engine
from tests.conftest import PG_SKIP, PG_URL, wipe_postgres

E = t.audit_events
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    if not PG_URL:
        pytest.skip(PG_SKIP)
    wipe_postgres(PG_URL)
    return PG_URL


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _url(request.param, tmp_path)


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = create_db_engine(url)
    migrate.ensure_current(engine)
    with engine.begin() as conn:  # PostgreSQL: the database outlives a test
        conn.execute(delete(E))
    yield engine
    engine.dispose()


@pytest.fixture
def log(engine: Engine) -> AuditLog:
    return AuditLog(engine)  # key file and checkpoint in this test's SHIPYARD_HOME


def fill(log: AuditLog, count: int) -> None:
    for n in range(1, count + 1):
        log.record(actor=f"user{n % 3}", action="alias.set", entity_type="alias",
                   entity_id=f"fraud@prod{n}", before={"version": n - 1},
                   after={"version": n}, reason=f"step {n}")


def tamper(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement))


def rewrite(engine: Engine, key: bytes, change: dict[str, str] | None = None) -> None:
    """Recompute every MAC with ``key`` (changing event 3 first): what a forger does."""
    with engine.begin() as conn:
        if change:
            conn.execute(update(E).where(E.c.seq == 3).values(**change))
        events = conn.execute(select(E).order_by(E.c.seq)).all()
        previous = GENESIS_MAC
        for row in events:
            mac = link(key, previous, canonical(
                row.seq, row.time, row.actor, row.action, row.entity_type, row.entity_id,
                row.before, row.after, row.reason))
            conn.execute(update(E).where(E.c.seq == row.seq).values(mac=mac))
            previous = mac


