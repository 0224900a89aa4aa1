"""``sy.registry`` unchanged against a server: with an http(s) tracking URI the SDK's registry is
the REST client, the people are who ``SHIPYARD_USER`` names per request, and the rules run on
the server. ``sy.log_model``, ``sy.load_model`` and ``sy.evaluate`` work through the server's
artifact API; a trusted load, which must write the audit log beside the database, is refused up
front with the way out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard as sy
from shipyard import settings
from shipyard.errors import PermissionDeniedError
from shipyard.sdk import fluent
from shipyard.sdk.client import Client
from shipyard.services.audit.log import AuditLog
from shipyard.store.rest.client import RestTrackingStore
from shipyard.store.rest.registry_client import RestRegistry
from tests.registry_support import TestClient, registry_store

URL = "http://testserver"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The SDK's client for ``SHIPYARD_TRACKING_URI=http://testserver`` talks to the real app
    in-process; yields the server's database engine."""
    from shipyard.server.app import create_app

    monkeypatch.setenv("SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT", "false")
    store = registry_store("sqlite", tmp_path / "server", monkeypatch)
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", URL)
    with TestClient(create_app(store)) as http:
        key = (settings.tracking_uri(), settings.artifacts_uri())
        fluent._clients[key] = Client(store=RestTrackingStore(URL, client=http))
        yield store.engine
    store.engine.dispose()


def test_sy_registry_against_a_server(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(fluent.client().registry, RestRegistry)
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    mv = sy.registry.register_version("er-matcher", "runs:/x/model", flavor="sklearn")
    assert mv.created_by == "alice"
    sy.registry.set_policy("er-matcher", {"approvals": 1, "protected_aliases": ["production"]})
    sy.registry.request_approval("er-matcher", mv.version, comment="beats v0")
    with pytest.raises(PermissionDeniedError, match="four eyes: 'alice'"):
        sy.registry.approve("er-matcher", mv.version)
    with pytest.raises(PermissionDeniedError, match="not approved"):
        sy.registry.set_alias("er-matcher", "production", mv.version)
    monkeypatch.setenv("SHIPYARD_USER", "bob")
    assert sy.registry.approve("er-matcher", mv.version, comment="ok").status == "approved"
    sy.registry.set_alias("er-matcher", "production", mv.version, reason="go live")
    assert sy.registry.resolve("models:/er-matcher@production").version == mv.version
    assert [(h.alias, h.actor) for h in sy.registry.alias_history("er-matcher")] == [
        ("production", "bob")]
    assert [(e.actor, e.action) for e in AuditLog(server).events(newest_first=False)] == [
        ("alice", "model.create"), ("alice", "version.create"), ("alice", "policy.set"),
        ("alice", "version.request"), ("bob", "version.approve"), ("bob", "alias.set")]


def test_log_and_load_a_model_through_a_server(server: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("skops")
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("SHIPYARD_USER", "alice")
    frame = pd.DataFrame({"jaro": [0.1, 0.9, 0.8, 0.2], "same_zip": [0, 1, 1, 0]})
    model = LogisticRegression().fit(frame, [0, 1, 1, 0])
    with sy.start_run(experiment="er"):
        mv = sy.log_model(model, "er-matcher", input_example=frame.head(2))  # type: ignore[attr-defined]
    assert (mv.version, mv.created_by, mv.flavor) == (1, "alice", "sklearn")
    loaded = sy.load_model("models:/er-matcher/1")
    assert np.array_equal(loaded.predict(frame), model.predict(frame))  # type: ignore[attr-defined]
    with pytest.raises(sy.InvalidStateError, match="audit log") as trusted:
        sy.load_model("models:/er-matcher/1", trust=True)
    assert trusted.value.field == "trust"
    frame["is_match"] = [0, 1, 1, 0]
    report = sy.evaluate(mv, frame, target="is_match")  # type: ignore[attr-defined]
    attached = sy.registry.reports("er-matcher", 1)["evaluation"]
    assert attached.metrics["accuracy"] == report.metrics["accuracy"] == 1.0
    runs = sy.search_runs("tags.`shipyard.model.name` = 'er-matcher'", experiments="evaluations")
    stored = {a.path: a.digest for a in fluent.client().list_artifacts(runs[0].run_id, "report")}
    assert stored["report/evaluation.json"] == attached.json_digest
