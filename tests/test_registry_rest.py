"""The registry over HTTP: bad input gets a 4xx in Shipyard's one error shape naming the field
(never a 500, nothing stored changes), each route checks the permission its write needs, the
actor is the request's and never a keyword or body field, reads are retried and writes are not,
and the REST client has exactly the service's methods."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.entities.auth import Grant, Principal, Role, User
from shipyard.errors import BackendError, PermissionDeniedError
from shipyard.server.app import create_app
from shipyard.services.audit.log import AuditLog
from shipyard.services.registry.service import RegistryService
from shipyard.store.registry.protocol import ModelRegistry
from shipyard.store.rest.registry_client import RestRegistry
from tests.registry_support import TestClient, client_as, registry_store

R = "/api/v1/registry"
M = f"{R}/models/er-matcher"
V1 = f"{M}/versions/1"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The server app over SQLite, holding er-matcher v1 registered by alice."""
    monkeypatch.setenv("SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT", "false")
    store = registry_store("sqlite", tmp_path, monkeypatch)
    RegistryService(store.engine).create_version("er-matcher", "runs:/x/model", actor="alice")
    yield create_app(store)
    store.engine.dispose()


def _events(app: Any) -> int:
    return AuditLog(app.state.store_slot.get().engine).count()


def _error(response: Any, status: int, code: str, field: str | None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body.get("field")) == (code, field), body
    return str(body["message"])


# -- Bad input ---------------------------------------------------------------------------------

BAD: list[tuple[str, str, str, dict[str, Any], int, str, str]] = [
    # (id, method, path, request kwargs, status, code, field)
    ("unknown-model", "GET", f"{R}/models/nope", {}, 404, "NOT_FOUND", "name"),
    ("unknown-version", "GET", f"{M}/versions/7", {}, 404, "NOT_FOUND", "version"),
    ("version-not-a-number", "GET", f"{M}/versions/seven", {}, 400, "INVALID_INPUT",
     "path.version"),
    ("reserved-alias", "PUT", f"{M}/aliases/latest", {"json": {"version": 1}}, 400,
     "INVALID_INPUT", "alias"),
    ("malformed-alias", "PUT", f"{M}/aliases/a%2Fb", {"json": {"version": 1}}, 400,
     "INVALID_INPUT", "alias"),
    ("not-json", "POST", f"{R}/models", {"content": b"{name: 1", "headers": JSON}, 400,
     "INVALID_INPUT", "body"),
    ("no-body", "POST", f"{M}/versions", {}, 400, "INVALID_INPUT", "body"),
    ("missing-field", "POST", f"{M}/versions", {"json": {"flavor": "sklearn"}}, 400,
     "INVALID_INPUT", "body.source"),
    ("mistyped-field", "POST", f"{M}/versions", {"json": {"source": 3}}, 400,
     "INVALID_INPUT", "body.source"),
    ("actor-in-body", "POST", f"{V1}/approve", {"json": {"actor": "bob"}}, 400,
     "INVALID_INPUT", "body.actor"),
    ("alias-version-mistyped", "PUT", f"{M}/aliases/staging", {"json": {"version": "three"}},
     400, "INVALID_INPUT", "body.version"),
    ("alias-version-missing", "PUT", f"{M}/aliases/staging", {"json": {"reason": "x"}}, 400,
     "INVALID_INPUT", "body.version"),
    ("report-metric-mistyped", "POST", f"{V1}/reports",
     {"json": {"kind": "evaluation", "json_digest": "0" * 64, "metrics": {"f1": "high"}}}, 400,
     "INVALID_INPUT", "body.metrics.f1"),
    ("report-bad-kind", "POST", f"{V1}/reports", {"json": {"kind": "a b", "json_digest": "0"}},
     400, "INVALID_INPUT", "kind"),
    ("policy-not-an-object", "PUT", f"{M}/policy", {"json": [1, 2]}, 400, "INVALID_INPUT",
     "body"),
    ("policy-bad-approvals", "PUT", f"{M}/policy", {"json": {"approvals": -1}}, 400,
     "INVALID_INPUT", "policy.approvals"),
    ("policy-bad-threshold", "PUT", f"{M}/policy", {"json": {"thresholds": ["f1 >> 1"]}}, 400,
     "INVALID_INPUT", "policy.thresholds"),
    ("policy-unknown-field", "PUT", f"{M}/policy", {"json": {"colour": "red"}}, 400,
     "INVALID_INPUT", "policy.colour"),
    ("bad-uri", "GET", f"{R}/resolve", {"params": {"uri": "er-matcher"}}, 400,
     "INVALID_INPUT", "model_uri"),
    ("no-uri", "GET", f"{R}/resolve", {}, 400, "INVALID_INPUT", "query.uri"),
    ("alias-at-no-time", "GET", f"{M}/alias-at", {"params": {"alias": "x"}}, 400,
     "INVALID_INPUT", "query.time_ms"),
    ("bad-filter", "POST", f"{R}/versions/search", {"json": {"filter": "colour = 'red'"}}, 400,
     "INVALID_FILTER", "filter"),
    ("bad-page-token", "POST", f"{R}/models/search", {"json": {"page_token": "x"}}, 400,
     "INVALID_INPUT", "page_token"),
    ("unknown-tag", "DELETE", f"{V1}/tags", {"params": {"key": "nope"}}, 404, "NOT_FOUND",
     "key"),
    ("taken-name", "POST", f"{R}/models", {"json": {"name": "er-matcher"}}, 409,
     "ALREADY_EXISTS", "name"),
    ("not-yet-requested", "POST", f"{V1}/approve", {}, 409, "INVALID_STATE", "version"),
    ("wrong-method", "PATCH", f"{V1}/approve", {}, 405, "INVALID_INPUT", "method"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code", "field"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_requests_get_a_4xx_naming_the_field_and_change_nothing(
        app: Any, caplog: pytest.LogCaptureFixture, method: str, path: str,
        kwargs: dict[str, Any], status: int, code: str, field: str) -> None:
    client = client_as(app, "bob")
    before = _events(app)
    with caplog.at_level(logging.INFO):
        response = client.request(method, path, **kwargs)
    _error(response, status, code, field)
    assert _events(app) == before
    assert [r for r in caplog.records if r.exc_info] == [] and "Traceback" not in caplog.text


def test_four_eyes_and_approving_twice_over_http(app: Any) -> None:
    alice, bob = client_as(app, "alice"), client_as(app, "bob")
    assert alice.post(f"{V1}/request-approval", json={"comment": "ready"}).status_code == 200
    message = _error(alice.post(f"{V1}/approve"), 403, "PERMISSION_DENIED", "actor")
    assert message.startswith("four eyes: 'alice' registered er-matcher v1 and cannot approve")
    approved = bob.post(f"{V1}/approve", json={"comment": "reviewed"})
    assert approved.status_code == 200 and approved.json()["version"]["status"] == "approved"
    assert "it is approved" in _error(bob.post(f"{V1}/approve"), 409, "INVALID_STATE",
                                      "version")
    assert bob.put(f"{M}/aliases/production", json={"version": 1}).status_code == 200
    assert "production -> v1" in _error(bob.delete(M), 409, "INVALID_STATE", "name")
    actors = [(e.actor, e.action) for e in
              AuditLog(app.state.store_slot.get().engine).events(newest_first=False)]
    assert actors[-3:] == [("alice", "version.request"), ("bob", "version.approve"),
                           ("bob", "alias.set")]


def test_the_actor_keyword_is_ignored_by_the_server(app: Any) -> None:
    alice = RestRegistry.connect("http://testserver", client=client_as(app, "alice"))
    created = alice.create_version("er-matcher", "runs:/y/model", actor="mallory")
    assert created.created_by == "alice"
    alice.request_approval("er-matcher", created.version, actor="alice")
    with pytest.raises(PermissionDeniedError, match="four eyes: 'alice'"):
        alice.approve("er-matcher", created.version, actor="bob")


# -- Permissions -------------------------------------------------------------------------------


class _Principal:
    """Test stand-in for the auth middleware: the principal ``pat`` holding the roles the
    ``X-Test-Roles`` header lists (``approver`` or ``approver@model``), put where
    :func:`shipyard.server.auth.require` reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        roles = Headers(scope=scope).get("x-test-roles") if scope["type"] == "http" else None
        if roles is not None:
            grants = tuple(Grant(i, "pat", Role(role), model or None, 0, "ops") for i, (
                role, _, model) in enumerate(r.partition("@") for r in roles.split(",") if r))
            principal = Principal(User("pat", 0, "ops"), grants)
            scope["state"] = {**scope.get("state", {}), "principal": principal}
        await self.app(scope, receive, send)


# (permission, roles lacking it, method, path, json body); deletes last: they remove the model
NEEDS: list[tuple[str, str, str, str, Any]] = [
    ("read", "", "GET", f"{R}/models", None), ("read", "", "GET", M, None),
    ("read", "", "POST", f"{R}/models/search", {}), ("read", "", "GET", f"{M}/versions", None),
    ("read", "", "POST", f"{R}/versions/search", {}), ("read", "", "GET", V1, None),
    ("read", "", "GET", f"{R}/resolve?uri=models:/er-matcher/1", None),
    ("read", "", "GET", f"{V1}/approvals", None), ("read", "", "GET", f"{V1}/reports", None),
    ("read", "", "GET", f"{M}/alias-history", None),
    ("read", "", "GET", f"{M}/alias-at?alias=x&time_ms=0", None),
    ("read", "", "GET", f"{M}/policy", None),
    ("write", "viewer", "POST", f"{R}/models", {"name": "fraud"}),
    ("write", "viewer", "PATCH", M, {"description": "d"}),
    ("write", "viewer", "POST", f"{M}/tags", {"key": "k", "value": "v"}),
    ("write", "viewer", "DELETE", f"{M}/tags?key=k", None),
    ("write", "viewer", "POST", f"{R}/models/fraud/versions", {"source": "runs:/z/model"}),
    ("write", "viewer", "PATCH", V1, {"description": "d"}),
    ("write", "viewer", "POST", f"{V1}/tags", {"key": "k", "value": "v"}),
    ("write", "viewer", "DELETE", f"{V1}/tags?key=k", None),
    ("write", "viewer", "POST", f"{V1}/reports", {"kind": "evaluation", "json_digest": "0"}),
    ("write", "viewer", "POST", f"{V1}/request-approval", {}),
    ("approve", "deployer", "POST", f"{V1}/approve", {}),
    ("approve", "deployer", "POST", f"{M}/versions/2/reject", {}),
    ("deploy", "approver", "PUT", f"{M}/aliases/staging", {"version": 1}),
    ("deploy", "approver", "DELETE", f"{M}/aliases/staging", None),
    ("admin", "approver,deployer", "PUT", f"{M}/policy", {"approvals": 1}),
    ("admin", "approver,deployer", "DELETE", f"{M}/versions/2", None),
    ("admin", "approver,deployer", "DELETE", M, None),
]
LEAST = {"read": "viewer", "write": "contributor", "approve": "approver", "deploy": "deployer",
         "admin": "admin"}


def test_every_route_checks_the_permission_its_call_needs(app: Any) -> None:
    app.add_middleware(_Principal)
    client = TestClient(app)
    for permission, lacking, method, path, body in NEEDS:
        refused = client.request(method, path, json=body, headers={"X-Test-Roles": lacking})
        message = _error(refused, 403, "PERMISSION_DENIED", None)
        assert f"lacks the '{permission}' permission" in message, (method, path)
        allowed = client.request(method, path, json=body,
                                 headers={"X-Test-Roles": LEAST[permission]})
        assert allowed.status_code < 400, (method, path, allowed.text)
        if path.endswith("/request-approval"):  # alice's v2, for pat to reject and delete
            alice = {"X-Shipyard-User": "alice"}  # no principal: the header names the actor
            client.post(f"{M}/versions", json={"source": "runs:/z/model"}, headers=alice)
            client.post(f"{M}/versions/2/request-approval", headers=alice)
    scoped = client.post(f"{R}/models/fraud/versions/1/request-approval",
                         headers={"X-Test-Roles": "contributor@er-matcher"})
    assert "on model 'fraud'" in _error(scoped, 403, "PERMISSION_DENIED", None)


# -- Retries -----------------------------------------------------------------------------------


class _FailsFirst:
    """The real app behind a proxy that answers 503 to the first attempt of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.calls.append(scope["method"])
        if len(self.calls) % 2 == 1:
            body = {"code": "BACKEND_ERROR", "message": "database busy"}
            await JSONResponse(body, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def test_reads_are_retried_and_writes_are_not(app: Any) -> None:
    proxy = _FailsFirst(app)
    registry = RestRegistry.connect("http://testserver", client=client_as(proxy, "alice"),
                                    retries=1, backoff=0.0)
    assert registry.get_version("er-matcher", 1).version == 1
    assert registry.search_versions("name = 'er-matcher'")[0].version == 1
    assert proxy.calls == ["GET", "GET", "POST", "POST"]
    proxy.calls.clear()
    with pytest.raises(BackendError, match="database busy"):
        registry.set_version_tag("er-matcher", 1, "stage", "dev", actor="alice")
    assert proxy.calls == ["POST"]


# -- The same methods as the service -----------------------------------------------------------


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")}


def test_the_rest_client_has_the_service_methods_and_signatures() -> None:
    service, protocol = _public(RegistryService), _public(ModelRegistry)
    client = {name: sig for name, sig in _public(RestRegistry).items()
              if name not in ("connect", "close")}
    assert service == protocol == client
