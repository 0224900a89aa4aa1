"""A registry service over SQLite and PostgreSQL with the real audit log, and a reader of the
events it wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from shipyard.services.audit.log import AuditLog
from shipyard.services.registry.service import RegistryService
from shipyard.store import schema as t
from tests.conftest import make_store

_REGISTRY_TABLES = (t.version_reports, t.approvals, t.alias_history, t.model_aliases,
                    t.model_version_tags, t.model_versions, t.registered_model_tags,
                    t.registered_models, t.audit_events)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry(request: pytest.FixtureRequest, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[RegistryService]:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "test-audit-key-0123456789abcdef")
    tracking = make_store(request.param, tmp_path)
    engine = tracking.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:  # PostgreSQL outlives a test: start empty
        for table in _REGISTRY_TABLES:
            conn.execute(delete(table))
    yield RegistryService(engine, AuditLog(engine, checkpoint=tmp_path / "checkpoint.json"))
    engine.dispose()


def audit_actions(registry: RegistryService) -> list[tuple[str, str, str]]:
    a = t.audit_events
    with registry.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(a.c.actor, a.c.action, a.c.entity_id).order_by(a.c.seq))]
