"""``shipyard server --auth`` through the real app: tokens on every path but /health and the
API's description, the permission table of tracking and artifact requests, both error shapes,
revocation, the Shipyard SDK with SHIPYARD_TOKEN, the real ``mlflow`` client with
MLFLOW_TRACKING_TOKEN over uvicorn, and, without --auth, X-Shipyard-User as the actor. Also the
server's webhook dispatcher, which starts with the store and stops with the server."""

from __future__ import annotations

import base64
import os

# Set before mlflow is imported (in one test): its telemetry is configured at import time.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request
from sqlalchemy import Engine

from shipyard.entities import Metric
from shipyard.errors import PermissionDeniedError, UnauthenticatedError
from shipyard.server import auth as server_auth
from shipyard.server.app import create_app_from_uris
from shipyard.server.authn import Authenticator, PrincipalCache, token_in
from shipyard.services.auth import AuthService
from shipyard.store.db import create_db_engine
from shipyard.store.rest.client import RestTrackingStore
from shipyard.store.rest.transport import USER_HEADER
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.uvicorn_support import serving
from tests.webhook_support import Receiver, receiver

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

__all__ = ["receiver"]  # fixture

API = "/api/v1"
MLFLOW = "/api/2.0/mlflow"


@dataclass
class Server:
    http: TestClient
    engine: Engine
    auth: AuthService
    tokens: dict[str, str]  # user -> token
    db_url: str
    artifacts: Path

    def as_user(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "test-audit-key-0123456789abcdef")
    monkeypatch.setenv("SHIPYARD_SERVER_AUTH_CACHE_SECONDS", "0")  # revocation is immediate
    monkeypatch.delenv("SHIPYARD_TOKEN", raising=False)
    monkeypatch.delenv("SHIPYARD_USER", raising=False)


def _users(engine: Engine) -> tuple[AuthService, dict[str, str]]:
    service = AuthService(engine)
    tokens = {}
    for name, role in (("ada", "admin"), ("vera", "viewer"), ("carl", "contributor")):
        _user, tokens[name] = service.create_user(name, role=role, actor="ops")
    return service, tokens


def _whoami(request: Request) -> dict[str, Any]:
    """A probe route: the actor the server's contract gives this request."""
    return {"actor": server_auth.actor(request)}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    db_url = f"sqlite:///{tmp_path / 'meta.db'}"
    engine = create_db_engine(db_url)  # users first, on the database the server will open
    service, tokens = _users(engine)
    app = create_app_from_uris(db_url, str(tmp_path / "artifacts"), auth=True)
    app.add_api_route(f"{API}/whoami", _whoami, methods=["GET"])
    with TestClient(app) as http:
        yield Server(http, engine, service, tokens, db_url, tmp_path / "artifacts")
    engine.dispose()


def _body(response: Any, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


# -- No token, a bad token ----------------------------------------------------------------------


def test_no_token_is_401_in_each_paths_shape(server: Server) -> None:
    body = _body(server.http.get(f"{API}/experiments"), 401)
    assert body["code"] == "UNAUTHENTICATED" and "SHIPYARD_TOKEN" in body["message"]
    assert server.http.get(f"{API}/experiments").headers["WWW-Authenticate"].startswith("Bearer")
    # An MLflow RPC (served by RpcDispatch, which the auth middleware runs ahead of) and the
    # MLflow artifact proxy answer in MLflow's shape.
    body = _body(server.http.post(f"{MLFLOW}/runs/search", json={}), 401)
    assert body["error_code"] == "UNAUTHENTICATED" and "MLFLOW_TRACKING_TOKEN" in body["message"]
    body = _body(server.http.get("/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/a"), 401)
    assert body["error_code"] == "UNAUTHENTICATED"
    # Routes the middleware has no permission for (registry, unknown paths) still need a token.
    assert _body(server.http.get(f"{API}/whoami"), 401)["code"] == "UNAUTHENTICATED"
    assert _body(server.http.get(f"{API}/no-such-thing"), 401)["code"] == "UNAUTHENTICATED"


def test_health_and_the_api_description_stay_open(server: Server) -> None:
    assert _body(server.http.get("/health"), 200)["status"] == "ok"
    assert "/api/v1/runs/search" in _body(server.http.get("/openapi.json"), 200)["paths"]
    assert server.http.get("/docs").status_code == 200


def test_bad_tokens_are_401_and_never_echoed(server: Server) -> None:
    real = server.tokens["carl"]
    token_id = real.split("_")[1]
    wrong_secret = f"shy_{token_id}_{'0' * 64}"
    unknown = f"shy_{'a' * 12}_{'b' * 64}"
    pasted = "hunter2-my-database-password"
    for header in (f"Bearer {wrong_secret}", f"Bearer {unknown}", f"Bearer {pasted}",
                   f"Token {real}", "Bearer", "Basic !!!not-base64!!!"):
        for path in (f"{API}/experiments", f"{MLFLOW}/experiments/search"):
            response = server.http.get(path, headers={"Authorization": header})
            assert response.status_code == 401, (header, response.text)
            text = response.text
            assert "0" * 64 not in text and "b" * 64 not in text and pasted not in text
            assert real.split("_")[2] not in text
    message = _body(server.http.get(f"{API}/experiments",
                                    headers={"Authorization": f"Bearer {wrong_secret}"}),
                    401)["message"]
    assert f"API token {token_id} is not valid" in message


def test_a_revoked_token_is_refused(server: Server) -> None:
    headers = server.as_user("carl")
    _body(server.http.get(f"{API}/experiments", headers=headers), 200)
    token_id = server.tokens["carl"].split("_")[1]
    server.auth.revoke_token(token_id, actor="ada")
    body = _body(server.http.get(f"{API}/experiments", headers=headers), 401)
    assert body["code"] == "UNAUTHENTICATED" and "revoked" in body["message"]
    body = _body(server.http.post(f"{MLFLOW}/runs/search", json={}, headers=headers), 401)
    assert body["error_code"] == "UNAUTHENTICATED" and "revoked" in body["message"]


def test_a_disabled_user_is_refused(server: Server) -> None:
    server.auth.disable_user("vera", actor="ada")
    body = _body(server.http.get(f"{API}/experiments", headers=server.as_user("vera")), 401)
    assert "disabled" in body["message"]


# -- Permissions -------------------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_write(server: Server) -> None:
    carl, vera = server.as_user("carl"), server.as_user("vera")
    experiment_id = _body(server.http.post(f"{API}/experiments", json={"name": "er"},
                                           headers=carl), 201)["experiment_id"]
    run_id = _body(server.http.post(f"{API}/runs", json={"experiment_id": experiment_id},
                                    headers=carl), 201)["run"]["info"]["run_id"]
    _body(server.http.put(f"{API}/runs/{run_id}/artifacts/notes.txt", content=b"hi",
                          headers=carl), 200)

    # Reads, searches included, and artifact downloads.
    runs = _body(server.http.post(f"{API}/runs/search",
                                  json={"experiment_ids": [experiment_id]}, headers=vera), 200)
    assert [r["info"]["run_id"] for r in runs["runs"]] == [run_id]
    _body(server.http.get(f"{API}/runs/{run_id}", headers=vera), 200)
    download = server.http.get(f"{API}/runs/{run_id}/artifacts/notes.txt", headers=vera)
    assert download.status_code == 200 and download.content == b"hi"
    mlflow_runs = _body(server.http.post(f"{MLFLOW}/runs/search",
                                         json={"experiment_ids": [experiment_id]},
                                         headers=vera), 200)
    assert [r["info"]["run_id"] for r in mlflow_runs["runs"]] == [run_id]
    _body(server.http.get(f"{MLFLOW}/experiments/search", params={"max_results": 5},
                          headers=vera), 200)

    # Writes are refused, naming the permission and the grant that would allow it.
    body = _body(server.http.post(f"{API}/runs", json={"experiment_id": experiment_id},
                                  headers=vera), 403)
    assert body["code"] == "PERMISSION_DENIED"
    assert "'write' permission" in body["message"]
    assert "shipyard users grant vera contributor" in body["message"]
    assert body["details"]["permission"] == "write"
    _body(server.http.put(f"{API}/runs/{run_id}/artifacts/evil.txt", content=b"x",
                          headers=vera), 403)
    _body(server.http.delete(f"{API}/runs/{run_id}", headers=vera), 403)
    body = _body(server.http.post(f"{MLFLOW}/runs/create",
                                  json={"experiment_id": experiment_id}, headers=vera), 403)
    assert body["error_code"] == "PERMISSION_DENIED" and "'write'" in body["message"]
    body = _body(server.http.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/evil.txt",
        content=b"x", headers=vera), 403)
    assert body["error_code"] == "PERMISSION_DENIED"
    # Nothing the viewer tried was stored.
    assert _body(server.http.post(f"{API}/runs/search",
                                  json={"experiment_ids": [experiment_id]},
                                  headers=vera), 200)["runs"][0]["info"]["lifecycle_stage"] \
        == "active"
    listing = _body(server.http.get(f"{API}/runs/{run_id}/artifacts", headers=vera), 200)
    assert [f["path"] for f in listing["files"]] == ["notes.txt"]


def test_the_token_names_the_actor_not_the_header(server: Server) -> None:
    headers = {**server.as_user("vera"), USER_HEADER: "mallory"}
    assert _body(server.http.get(f"{API}/whoami", headers=headers), 200) == {"actor": "vera"}
    basic = base64.b64encode(f"mallory:{server.tokens['carl']}".encode()).decode()
    assert _body(server.http.get(f"{API}/whoami", headers={"Authorization": f"Basic {basic}"}),
                 200) == {"actor": "carl"}


def test_registry_boundaries_through_the_server(server: Server) -> None:
    """The registry's routes check their own permissions on the model (the middleware only
    authenticates them): a contributor cannot approve, a viewer cannot register, an approver
    cannot approve their own version, and a grant scoped to the model is enough."""
    from shipyard.services.registry.service import RegistryService

    server.auth.create_user("ana", role="approver", actor="ops")  # unscoped approver
    _bob, bob_token = server.auth.create_user("bob", role="approver", model="er-matcher",
                                              actor="ops")
    registry = RegistryService(server.engine)
    registry.create_version("er-matcher", "runs:/r1/model", actor="ana")
    registry.request_approval("er-matcher", 1, actor="ana")
    approve = f"{API}/registry/models/er-matcher/versions/1/approve"

    body = _body(server.http.post(approve, json={}, headers=server.as_user("carl")), 403)
    assert body["details"]["permission"] == "approve" and "--model er-matcher" in body["message"]
    body = _body(server.http.post(f"{API}/registry/models/er-matcher/versions",
                                  json={"source": "runs:/r2/model"},
                                  headers=server.as_user("vera")), 403)
    assert body["details"]["permission"] == "write"
    ana = server.auth.create_token("ana", actor="ops")[1]
    body = _body(server.http.post(approve, json={}, headers={"Authorization": f"Bearer {ana}"}),
                 403)
    assert body["code"] == "PERMISSION_DENIED" and "ana" in body["message"]  # four eyes
    _body(server.http.post(approve, json={"comment": "reviewed"},
                           headers={"Authorization": f"Bearer {bob_token}"}), 200)
    decisions = [(r.decision, r.actor) for r in registry.approvals("er-matcher", 1)]
    assert decisions == [("request", "ana"), ("approve", "bob")]  # the token's user acted


@pytest.mark.parametrize(("method", "path", "needed"), [
    ("GET", "/api/v1/experiments", "read"),
    ("POST", "/api/v1/experiments", "write"),
    ("POST", "/api/v1/runs/search", "read"),
    ("POST", "/api/v1/runs/abc/log-batch", "write"),
    ("GET", "/api/v1/runs/abc/artifacts/a.txt", "read"),
    ("PUT", "/api/v1/runs/abc/artifacts/a.txt", "write"),
    ("POST", "/api/2.0/mlflow/runs/search", "read"),
    ("POST", "/api/2.0/mlflow/experiments/search", "read"),
    ("GET", "/api/2.0/mlflow/metrics/get-history", "read"),
    ("POST", "/ajax-api/2.0/mlflow/runs/log-metric", "write"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a", "read"),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a", "write"),
    ("GET", "/api/3.0/mlflow/server-info", "read"),
    # The registry's routes check their own permission on the model.
    ("POST", "/api/2.0/mlflow/registered-models/create", None),
    ("POST", "/api/2.0/mlflow/model-versions/create", None),
    ("POST", "/api/v1/registry/models/m/versions/1/approve", None),
    ("GET", "/api/v1/runsearch", None),
])
def test_the_permission_table(method: str, path: str, needed: str | None) -> None:
    from shipyard.server.permissions import required

    assert required(method, path) == needed


# -- The Shipyard SDK --------------------------------------------------------------------------


def test_the_sdk_works_with_shipyard_token(server: Server,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = RestTrackingStore("http://testserver", client=server.http, retries=0)
    with pytest.raises(UnauthenticatedError) as missing:
        store.create_experiment("sdk")
    assert "SHIPYARD_TOKEN" in missing.value.message

    monkeypatch.setenv("SHIPYARD_TOKEN", server.tokens["carl"])
    experiment_id = store.create_experiment("sdk")
    run = store.create_run(experiment_id)
    store.log_batch(run.run_id, [Metric("f1", 0.9, 1, 1_700_000_000_000)], {"alpha": "0.5"})
    store.log_artifact_bytes(run.run_id, "model/weights.bin", b"\x00\x01")
    with store.open_artifact(run.run_id, "model/weights.bin") as stream:
        assert stream.read() == b"\x00\x01"
    logged = store.get_run(run.run_id).data
    assert logged.params == {"alpha": "0.5"} and logged.metrics["f1"] == 0.9

    monkeypatch.setenv("SHIPYARD_TOKEN", server.tokens["vera"])
    assert [r.run_id for r in store.search_runs([experiment_id]).items] == [run.run_id]
    with pytest.raises(PermissionDeniedError) as denied:
        store.create_run(experiment_id)
    assert "'write'" in denied.value.message

    server.auth.revoke_token(server.tokens["vera"].split("_")[1], actor="ada")
    with pytest.raises(UnauthenticatedError) as revoked:
        store.get_run(run.run_id)
    assert "revoked" in revoked.value.message and "SHIPYARD_TOKEN" in revoked.value.message


# -- The token cache ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_principal_lasts_at_most_the_ttl(server: Server) -> None:
    clock = FakeClock()
    authenticator = Authenticator(lambda: server.engine, 5.0, clock=clock)
    token = server.tokens["carl"]
    assert authenticator.cached(token) is None
    assert authenticator.authenticate(token).name == "carl"
    server.auth.revoke_token(token.split("_")[1], actor="ada")
    clock.now += 4.9  # within the TTL the server may still accept it...
    found = authenticator.cached(token)
    assert found is not None and found.name == "carl"
    clock.now += 0.1  # ...and from the TTL on it reads the database again and refuses it
    assert authenticator.cached(token) is None
    with pytest.raises(UnauthenticatedError, match="revoked"):
        authenticator.authenticate(token)


def test_the_cache_stays_bounded() -> None:
    clock = FakeClock()
    cache = PrincipalCache(60.0, clock=clock, max_entries=3)
    principal = AuthService.__new__(AuthService)  # any object: the cache does not look inside
    for n in range(5):
        cache.put(PrincipalCache.key(f"t{n}"), principal)  # type: ignore[arg-type]
    assert [cache.get(PrincipalCache.key(f"t{n}")) is not None for n in range(5)] == [
        False, False, True, True, True]
    assert PrincipalCache.key("t0") != "t0"  # tokens are not kept as given
    no_cache = PrincipalCache(0.0, clock=clock)
    no_cache.put("k", principal)  # type: ignore[arg-type]
    assert no_cache.get("k") is None


def test_reading_the_authorization_header() -> None:
    assert token_in("Bearer shy_x") == "shy_x"
    assert token_in("bearer   shy_x ") == "shy_x"
    assert token_in("Basic " + base64.b64encode(b"anyone:shy_y").decode()) == "shy_y"
    for header in ("Basic " + base64.b64encode(b"no-password:").decode(), "Digest abc", ""):
        with pytest.raises(UnauthenticatedError) as refused:
            token_in(header)
        assert "abc" not in refused.value.message


# -- Without --auth ----------------------------------------------------------------------------


def test_without_auth_the_header_names_the_actor(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app_from_uris(f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "a"))
    app.add_api_route(f"{API}/whoami", _whoami, methods=["GET"])
    assert USER_HEADER == server_auth.USER_HEADER
    with TestClient(app) as http:
        assert _body(http.get(f"{API}/whoami", headers={USER_HEADER: "alice"}), 200) == {
            "actor": "alice"}
        _body(http.post(f"{API}/experiments", json={"name": "open"}), 201)  # no token needed
        monkeypatch.setenv("SHIPYARD_USER", "bob")  # what the SDK sends
        store = RestTrackingStore("http://testserver", client=http, retries=0)
        assert store._api.call("GET", f"{API}/whoami", what="asking", idempotent=True) == {
            "actor": "bob"}
        assert store.get_experiment_by_name("open") is not None


# -- Webhooks in server mode -------------------------------------------------------------------


def test_the_server_delivers_webhooks_in_the_background(
        server: Server, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.services.registry.service import RegistryService
    from shipyard.services.webhooks import background
    from shipyard.services.webhooks.service import WebhookService

    # Inline delivery off: whatever arrives was sent by the server's dispatcher thread.
    monkeypatch.setenv("SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT", "false")
    _body(server.http.get(f"{API}/experiments", headers=server.as_user("vera")), 200)
    deadline = time.monotonic() + 10
    while not background.wake(server.engine):  # started once the store is open
        assert time.monotonic() < deadline, "no webhook dispatcher started"
        time.sleep(0.01)
    WebhookService(server.engine).add(receiver.url(), actor="ada")
    RegistryService(server.engine).create_version("er-matcher", "runs:/r1/model", actor="carl")
    [request] = receiver.wait_for(1)
    assert request.headers["X-Shipyard-Event"] == "model_version.created"


def test_the_dispatcher_stops_with_the_server(tmp_path: Path) -> None:
    from shipyard.services.webhooks import background

    db_url = f"sqlite:///{tmp_path / 'meta.db'}"
    engine = create_db_engine(db_url)
    with TestClient(create_app_from_uris(db_url, str(tmp_path / "a"))) as http:
        _body(http.get(f"{API}/experiments"), 200)
        deadline = time.monotonic() + 10
        while not background.wake(engine):
            assert time.monotonic() < deadline, "no webhook dispatcher started"
            time.sleep(0.01)
    assert not background.wake(engine)
    engine.dispose()


# -- The real mlflow client over uvicorn --------------------------------------------------------


@pytest.fixture
def served(server: Server) -> Iterator[str]:
    """The same database served by uvicorn on a free loopback port, with --auth."""
    app = create_app_from_uris(server.db_url, str(server.artifacts), auth=True)
    with serving(app) as url:
        yield url


def test_the_mlflow_client_logs_with_its_tracking_token(
        server: Server, served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    with pytest.raises(MlflowException) as refused:
        MlflowClient(served).search_experiments()
    assert refused.value.error_code == "UNAUTHENTICATED"

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.tokens["carl"])
    (tmp_path / "model.txt").write_text("weights")
    carl = MlflowClient(served)  # no fluent API: it would leave an active experiment behind
    experiment_id = carl.create_experiment("mlflow-with-token")
    run = carl.create_run(experiment_id)
    carl.log_param(run.info.run_id, "alpha", 0.5)
    carl.log_metric(run.info.run_id, "f1", 0.91, step=2)
    carl.log_artifact(run.info.run_id, str(tmp_path / "model.txt"))
    carl.set_terminated(run.info.run_id)

    # The viewer's token reads it; Basic auth with the token as password works too.
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "vera")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", server.tokens["vera"])
    viewer = MlflowClient(served)
    assert viewer.get_run(run.info.run_id).data.params == {"alpha": "0.5"}
    with pytest.raises(MlflowException) as denied:
        viewer.create_experiment("not-allowed")
    assert denied.value.error_code == "PERMISSION_DENIED"

    from shipyard.artifacts import open_content_store

    stored = SqlTrackingStore(server.engine, open_content_store(server.artifacts.as_uri()))
    landed = stored.get_run(run.info.run_id)
    assert landed.data.params == {"alpha": "0.5"} and landed.data.metrics["f1"] == 0.91
    with stored.open_artifact(run.info.run_id, "model.txt") as stream:
        assert stream.read() == b"weights"
