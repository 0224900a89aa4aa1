"""The registry under test: the service over SQLite and PostgreSQL with the real audit log, and
the REST client through the real server app in-process; and a reader of the events written."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from shipyard.services.audit.log import AuditLog
from shipyard.services.registry.service import RegistryService
from shipyard.store import schema as t
from shipyard.store.tracking.sql import SqlTrackingStore
from shipyard.testing.registry_conformance import RegistryUnderTest
from tests.conftest import make_store

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 on import; its TestClient works the same with httpx.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

AUDIT_KEY = "test-audit-key-0123456789abcdef"
USER_HEADER = "X-Shipyard-User"
_REGISTRY_TABLES = (t.version_reports, t.approvals, t.alias_history, t.model_aliases,
                    t.model_version_tags, t.model_versions, t.registered_model_tags,
                    t.registered_models, t.audit_events)


def registry_store(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> SqlTrackingStore:
    """A tracking store over an empty registry database (PostgreSQL outlives a test, so its
    tables are emptied), with the audit key and checkpoint every AuditLog in the test reads from
    the settings."""
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", AUDIT_KEY)
    monkeypatch.setenv("SHIPYARD_AUDIT_CHECKPOINT", str(tmp_path / "checkpoint.json"))
    store = make_store(backend, tmp_path)
    assert isinstance(store, SqlTrackingStore)
    with store.engine.begin() as conn:
        for table in _REGISTRY_TABLES:
            conn.execute(delete(table))
    return store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry(request: pytest.FixtureRequest, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[RegistryService]:
    engine = registry_store(request.param, tmp_path, monkeypatch).engine
    yield RegistryService(engine, AuditLog(engine))
    engine.dispose()


def client_as(app: object, user: str) -> TestClient:
    """An in-process client of ``app`` whose every request names ``user``: a hook runs last,
    after the transport has set its own ``X-Shipyard-User`` (from ``SHIPYARD_USER``)."""
    client = TestClient(app)  # type: ignore[arg-type]

    def identify(request: httpx.Request) -> None:
        request.headers[USER_HEADER] = user

    client.event_hooks = {"request": [identify], "response": []}
    return client


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "rest"])
def registry_under_test(request: pytest.FixtureRequest, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> Iterator[RegistryUnderTest]:
    """The local service on SQLite and PostgreSQL, and the REST client talking to the real
    server app in-process (over SQLite), one client per person."""
    monkeypatch.setenv("SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT", "false")  # no webhooks here
    backend = "sqlite" if request.param == "rest" else request.param
    store = registry_store(backend, tmp_path, monkeypatch)
    engine = store.engine
    if request.param != "rest":
        service = RegistryService(engine)
        yield RegistryUnderTest(engine, lambda _actor: service)
        engine.dispose()
        return
    from shipyard.server.app import create_app
    from shipyard.store.rest.registry_client import RestRegistry

    app = create_app(store)
    clients: list[TestClient] = []

    def acting_as(actor: str) -> RestRegistry:
        clients.append(client_as(app, actor))
        return RestRegistry.connect("http://testserver", client=clients[-1], retries=0)

    yield RegistryUnderTest(engine, acting_as)
    for client in clients:
        client.close()
    engine.dispose()


def audit_actions(registry: RegistryService) -> list[tuple[str, str, str]]:
    a = t.audit_events
    with registry.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(a.c.actor, a.c.action, a.c.entity_id).order_by(a.c.seq))]
