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
from tests.s3_server import s3_bucket_url, s3_server

__all__ = ["s3_bucket_url", "s3_server"]  # fixtures every test module may use
pytest_plugins = ["tests.ui_support"]  # the browser fixtures of the UI tests

PG_URL = os.environ.get("SHIPYARD_TEST_DATABASE_URL", "")
PG_SKIP = "PostgreSQL tests need SHIPYARD_TEST_DATABASE_URL (a database the tests may wipe)"
_wiped = False


def _forget_state() -> None:
    from shipyard.sdk import fluent
    from shipyard.store.tracking.factory import forget_open_stores

    fluent._clients.clear()
    fluent._experiment.set(None)  # a test's set_experiment must not leak into the next test
    forget_open_stores()


@pytest.fixture(autouse=True)
def shipyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "shipyard-home"
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    monkeypatch.setenv("SHIPYARD_CACHE_DIR", str(tmp_path / "shipyard-cache"))
    for name in ("SHIPYARD_TRACKING_URI", "SHIPYARD_ARTIFACTS_URI", "SHIPYARD_USER",
                 "SHIPYARD_AUDIT_KEY", "SHIPYARD_AUDIT_KEY_FILE", "SHIPYARD_AUDIT_CHECKPOINT"):
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


def make_store(backend: str, tmp_path: Path, artifacts_uri: str | None = None) -> TrackingStore:
    from shipyard.artifacts import open_content_store
    from shipyard.store.db import create_db_engine
    from shipyard.store.tracking.sql import SqlTrackingStore

    content = open_content_store(artifacts_uri or (tmp_path / "artifacts").as_uri())
    if backend == "sqlite":
        return SqlTrackingStore(create_db_engine(f"sqlite:///{tmp_path / 'meta.db'}"), content)
    if not PG_URL:
        pytest.skip(PG_SKIP)
    wipe_postgres(PG_URL)
    return SqlTrackingStore(create_db_engine(PG_URL), content)


@pytest.fixture(params=["sqlite", "sqlite+s3", pytest.param("postgres",
                                                            marks=pytest.mark.postgres), "rest"])
def tracking_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackingStore]:
    """Each backend: SQLite with local artifacts, SQLite with S3 artifacts (a local moto
    server), PostgreSQL with local artifacts, and the REST client talking to the real server
    app in-process (over SQLite with local artifacts)."""
    backend, _, artifacts = request.param.partition("+")
    uri = request.getfixturevalue("s3_bucket_url") if artifacts == "s3" else None
    if backend == "rest":
        yield from _rest_store(tmp_path)
        return
    store = make_store(backend, tmp_path, uri)
    yield store
    store.engine.dispose()  # type: ignore[attr-defined]


def _rest_store(tmp_path: Path) -> Iterator[TrackingStore]:
    """A RestTrackingStore whose requests run the server app in-process (starlette's
    TestClient is an httpx.Client); the app serves a SqlTrackingStore on SQLite."""
    import warnings

    from shipyard.server.app import create_app
    from shipyard.store.rest.client import RestTrackingStore

    with warnings.catch_warnings():
        # Starlette 1.x asks for httpx2 on import; the TestClient works the same with httpx.
        warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
        from starlette.testclient import TestClient

    inner = make_store("sqlite", tmp_path)
    with TestClient(create_app(inner)) as client:
        yield RestTrackingStore("http://testserver", client=client)
    inner.engine.dispose()  # type: ignore[attr-defined]


def pytest_report_header() -> str:
    if PG_URL:
        return "PostgreSQL tests: on (SHIPYARD_TEST_DATABASE_URL is set)"
    return f"PostgreSQL tests: skipped. {PG_SKIP}"
