"""Shared fixtures: an isolated SHIPYARD_HOME per test and the tracking store backends.

PostgreSQL tests run when SHIPYARD_TEST_DATABASE_URL names a database the tests may wipe
(``.ci/run`` sets it); without it they are skipped with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.store.tracking.protocol import TrackingStore

PG_URL = os.environ.get("SHIPYARD_TEST_DATABASE_URL", "")
PG_SKIP = "PostgreSQL tests need SHIPYARD_TEST_DATABASE_URL (a database the tests may wipe)"
_wiped = False


def _forget_state() -> None:
    from shipyard.sdk import fluent
    from shipyard.store.tracking.factory import forget_open_stores

    fluent._clients.clear()
    forget_open_stores()


@pytest.fixture(autouse=True)
def shipyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "shipyard-home"
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    for name in ("SHIPYARD_TRACKING_URI", "SHIPYARD_ARTIFACTS_URI", "SHIPYARD_USER"):
        monkeypatch.delenv(name, raising=False)
    _forget_state()
    yield home
    _forget_state()


def wipe_postgres(url: str) -> None:
    """Drop every table once per session: the suite starts from an empty database."""
    global _wiped  # noqa: PLW0603 - once per test session
    if _wiped:
        return
    from sqlalchemy import text

    from shipyard.store.db import create_db_engine

    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    _wiped = True


def make_store(backend: str, tmp_path: Path) -> TrackingStore:
    from shipyard.artifacts import open_content_store
    from shipyard.store.db import create_db_engine
    from shipyard.store.tracking.sql import SqlTrackingStore

    content = open_content_store((tmp_path / "artifacts").as_uri())
    if backend == "sqlite":
        return SqlTrackingStore(create_db_engine(f"sqlite:///{tmp_path / 'meta.db'}"), content)
    if not PG_URL:
        pytest.skip(PG_SKIP)
    wipe_postgres(PG_URL)
    return SqlTrackingStore(create_db_engine(PG_URL), content)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tracking_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackingStore]:
    store = make_store(request.param, tmp_path)
    yield store
    store.engine.dispose()  # type: ignore[attr-defined]
