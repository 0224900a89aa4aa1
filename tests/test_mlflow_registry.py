"""The real ``mlflow`` client (3.17.2) against Shipyard's MLflow model-registry routes.

One uvicorn server on a loopback port serves the app ``shipyard server`` serves
(``create_app_from_uris``: Shipyard's API, the MLflow routes and ``RpcDispatch``) over a SQLite
file; every test drives it with the unmodified client, then reads the result back through
Shipyard's own :class:`RegistryService` on the same database, rules and audit trail included.
"""

from __future__ import annotations

import os

# Set before mlflow is imported: its telemetry client is configured at import time.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from shipyard.entities.policy import Policy
from shipyard.errors import NotFoundError, PermissionDeniedError
from shipyard.server.app import create_app_from_uris
from shipyard.services.auth import AuthService
from shipyard.services.registry.service import RegistryService
from shipyard.store.db import create_db_engine
from tests.registry_support import audit_actions
from tests.uvicorn_support import serving

API = "/api/2.0/mlflow"
SERVER_USER = "server-user"


@dataclass
class Server:
    url: str
    registry: RegistryService  # Shipyard's own service on the server's database
    http: httpx.Client
    env: dict[str, str]  # the server's settings (read when used, so set for every test)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("mlflow-registry")
    settings = {"SHIPYARD_AUDIT_KEY": "mlflow-registry-test-key-0123456789",
                "SHIPYARD_AUDIT_CHECKPOINT": str(tmp / "audit-checkpoint.json"),
                "SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT": "false", "SHIPYARD_USER": SERVER_USER}
    with pytest.MonkeyPatch.context() as env:
        for key, value in settings.items():
            env.setenv(key, value)
        database = f"sqlite:///{tmp / 'shipyard.db'}"
        engine = create_db_engine(database)
        registry = RegistryService(engine)  # migrates the file before the server opens it
        app = create_app_from_uris(database, str(tmp / "artifacts"))
        with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            yield Server(url, registry, http, settings)
        engine.dispose()


@pytest.fixture(autouse=True)
def server_settings(server: Server, shipyard_home: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """After conftest's ``shipyard_home`` clears SHIPYARD_* for each test: one audit key and
    checkpoint for the whole chain, and the server's own user."""
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """The client as user ``alice`` (HTTP Basic, as MLFLOW_TRACKING_USERNAME sends it)."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a 5xx fails at once
    # Another module's mlflow.set_experiment leaves an experiment of its own server behind.
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-checked-without-auth")
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    yield MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Client mistakes are answered, never logged as server errors."""
    with caplog.at_level(logging.WARNING):
        yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR
              and r.name.startswith(("shipyard", "uvicorn"))]
    assert not errors, [r.getMessage() for r in errors]


def _name(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}"


def _code(excinfo: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(excinfo.value.error_code)


def _model_with_run(client: MlflowClient) -> tuple[str, str]:
    """A registered model whose version 1 comes from a run, registered by the fluent API."""
    with mlflow.start_run() as run:
        mlflow.log_text("artifact_path: model\nflavors: {}\n", "model/MLmodel")
    name = _name("er-matcher")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    return name, run.info.run_id


# -- The acceptance path -------------------------------------------------------------------


def test_register_a_version_from_a_run_and_set_an_alias(client: MlflowClient,
                                                         server: Server) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("artifact_path: model\nflavors: {}\n", "model/MLmodel")
    run_id, name = run.info.run_id, _name("er-matcher")
    mv = mlflow.register_model(f"runs:/{run_id}/model", name, tags={"data": "v3"})
    assert (mv.name, mv.version, mv.status, mv.run_id) == (name, "1", "READY", run_id)
    assert str(mv.source).startswith("mlflow-artifacts:/")
    assert str(mv.source).endswith(f"/{run_id}/artifacts/model")
    assert mv.tags == {"data": "v3"} and mv.creation_timestamp > 0

    client.set_registered_model_alias(name, "champion", "1")
    by_alias = client.get_model_version_by_alias(name, "champion")
    assert (by_alias.version, by_alias.aliases, by_alias.run_id) == ("1", ["champion"], run_id)
    assert client.get_registered_model(name).aliases == {"champion": "1"}
    # The files are reachable through the registry, as the client resolves models:/ URIs.
    assert client.get_model_version_download_uri(name, "1") == mv.source
    local = mlflow.artifacts.download_artifacts(f"models:/{name}@champion")
    assert "flavors" in (Path(local) / "MLmodel").read_text()

    # Read back through Shipyard: the Basic-auth user is the actor of every change.
    version = server.registry.get_version(name, 1)
    assert (version.source, version.run_id, version.created_by) == (mv.source, run_id, "alice")
    assert version.aliases == ("champion",) and version.flavor is None
    assert server.registry.resolve(f"models:/{name}@champion").version == 1
    changes = [(actor, action) for actor, action, entity in audit_actions(server.registry)
               if entity.split("/")[0] == name]
    assert changes == [("alice", "model.create"), ("alice", "version.create"),
                       ("alice", "alias.set")]
    assert server.registry.audit.verify().ok


def test_actor_without_credentials_is_the_server_user(client: MlflowClient, server: Server,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    name = _name("anon")
    client.create_registered_model(name)
    assert server.registry.get_model(name).created_by == SERVER_USER
    header = server.http.post(f"{API}/model-versions/create", headers={"X-Shipyard-User": "carl"},
                              json={"name": name, "source": "s3://bucket/model"})
    assert header.status_code == 200 and header.json()["model_version"]["user_id"] == "carl"


# -- Tags, descriptions, versions ----------------------------------------------------------


def test_tags_descriptions_and_latest_versions(client: MlflowClient, server: Server) -> None:
    name = _name("tagged")
    created = client.create_registered_model(name, tags={"team": "er"}, description="first")
    assert (created.name, created.description, created.tags) == (name, "first", {"team": "er"})
    client.set_registered_model_tag(name, "domain", "property")
    client.delete_registered_model_tag(name, "team")
    client.update_registered_model(name, description="matches property records")
    v1 = client.create_model_version(name, "s3://bucket/er/1", description="baseline")
    v2 = client.create_model_version(name, "/models/er/2", tags={"k": "v"})
    assert (v1.version, v2.version, v1.description, v2.source) == (
        "1", "2", "baseline", "/models/er/2")
    client.set_model_version_tag(name, "2", "stage", "candidate")
    client.delete_model_version_tag(name, "2", "k")
    client.update_model_version(name, "2", description="tuned")

    model = client.get_registered_model(name)
    assert (model.description, model.tags) == ("matches property records",
                                               {"domain": "property"})
    assert [v.version for v in model.latest_versions] == ["2"]
    got = client.get_model_version(name, "2")
    assert (got.tags, got.description, got.current_stage) == ({"stage": "candidate"}, "tuned",
                                                              "None")
    with pytest.warns(FutureWarning, match="stages"):  # deprecated by MLflow; still served
        assert [v.version for v in client.get_latest_versions(name)] == ["2"]
        assert client.get_latest_versions(name, stages=["Production"]) == []

    shipyard_model = server.registry.get_model(name)
    assert (shipyard_model.tags, shipyard_model.description) == (
        {"domain": "property"}, "matches property records")
    assert server.registry.get_version(name, 2).tags == {"stage": "candidate"}
    assert server.registry.get_version(name, 2).description == "tuned"

    with pytest.raises(MlflowException) as missing:
        client.delete_model_version_tag(name, "2", "never-set")
    assert _code(missing) == "RESOURCE_DOES_NOT_EXIST"


# -- Search --------------------------------------------------------------------------------


def test_search_models_and_versions(client: MlflowClient, server: Server) -> None:
    prefix = _name("srch")
    names = [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    for i, name in enumerate(names):
        client.create_registered_model(name, tags={"team": "er" if i < 2 else "fraud"})
    run_id = client.create_run(client.create_experiment(prefix)).info.run_id
    client.create_model_version(names[0], f"runs:/{run_id}/model", run_id=run_id)
    client.create_model_version(names[0], "s3://b/a2", tags={"k": "v"})
    client.create_model_version(names[1], "s3://b/b1", tags={"k": "v"})

    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'")
    assert [m.name for m in found] == names
    assert found[0].latest_versions[0].version == "2"
    tagged = mlflow.search_registered_models(
        filter_string=f"name LIKE '{prefix}%' AND tags.team = 'er'")
    assert [m.name for m in tagged] == names[:2]
    page = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'",
                                           order_by=["name DESC"], max_results=2)
    assert [m.name for m in page] == names[:0:-1] and page.token
    rest = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'",
                                           order_by=["name DESC"], max_results=2,
                                           page_token=page.token)
    assert [m.name for m in rest] == [names[0]] and not rest.token

    by_name = client.search_model_versions(f"name='{names[0]}'")
    assert [(v.name, v.version) for v in by_name] == [(names[0], "2"), (names[0], "1")]
    by_tag = client.search_model_versions(f"name LIKE '{prefix}%' AND tags.k = 'v'")
    assert {(v.name, v.version) for v in by_tag} == {(names[0], "2"), (names[1], "1")}
    by_run = mlflow.search_model_versions(filter_string=f"run_id = '{run_id}'")
    assert [(v.name, v.version, v.run_id) for v in by_run] == [(names[0], "1", run_id)]
    newest_first = client.search_model_versions(
        f"name IN ('{names[0]}', '{names[1]}') AND version_number >= 1",
        order_by=["creation_timestamp DESC"])
    assert [(v.name, v.version) for v in newest_first] == [
        (names[1], "1"), (names[0], "2"), (names[0], "1")]
    assert [v.version for v in server.registry.search_versions(
        f"name = '{names[0]}' AND tags.k = 'v'")] == [2]

    with pytest.raises(MlflowException) as bad:
        client.search_model_versions("name ~ 'x'")
    assert _code(bad) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as bad_order:
        client.search_registered_models(order_by=["colour ASC"])
    assert _code(bad_order) == "INVALID_PARAMETER_VALUE"


# -- The registry's rules ------------------------------------------------------------------


def test_protected_alias_four_eyes_and_deletion_rules(client: MlflowClient,
                                                      server: Server) -> None:
    name, _ = _model_with_run(client)
    server.registry.set_policy(name, Policy(protected_aliases=("production",)), actor="admin")

    with pytest.raises(MlflowException) as refused:
        client.set_registered_model_alias(name, "production", "1")
    assert _code(refused) == "PERMISSION_DENIED"
    assert "protected alias" in refused.value.message and "rule:" in refused.value.message
    raw = server.http.post(f"{API}/registered-models/alias",
                           json={"name": name, "alias": "production", "version": "1"})
    assert (raw.status_code, raw.json()["error_code"]) == (403, "PERMISSION_DENIED")
    assert server.registry.get_model(name).aliases == {}

    # alice registered v1 through MLflow, so four eyes keeps her from approving it.
    server.registry.request_approval(name, 1, actor="alice")
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        server.registry.approve(name, 1, actor="alice")
    server.registry.approve(name, 1, actor="bob")
    client.set_registered_model_alias(name, "production", "1")
    assert server.registry.get_model(name).aliases == {"production": 1}

    with pytest.raises(MlflowException) as aliased:
        client.delete_model_version(name, "1")
    assert _code(aliased) == "INVALID_STATE"
    with pytest.raises(MlflowException) as model_aliased:
        client.delete_registered_model(name)
    assert _code(model_aliased) == "INVALID_STATE"
    assert server.registry.get_version(name, 1).aliases == ("production",)

    client.delete_registered_model_alias(name, "production")
    client.delete_registered_model_alias(name, "production")  # already gone: a no-op
    client.delete_model_version(name, "1")
    client.delete_registered_model(name)
    with pytest.raises(NotFoundError):
        server.registry.get_model(name)
    actions = [action for actor, action, entity in audit_actions(server.registry)
               if entity.split("/")[0] == name]
    assert actions[-3:] == ["alias.delete", "version.delete", "model.delete"]
    assert server.registry.audit.verify().ok


# -- Bad input and unsupported operations --------------------------------------------------


def test_bad_input_answers_mlflow_errors(client: MlflowClient, server: Server) -> None:
    name, _ = _model_with_run(client)
    unknown = _name("missing")
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model(unknown)
    assert _code(missing) == "RESOURCE_DOES_NOT_EXIST"
    raw = server.http.get(f"{API}/registered-models/get", params={"name": unknown})
    assert (raw.status_code, raw.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")

    with pytest.raises(MlflowException) as reserved:
        client.set_registered_model_alias(name, "latest", "1")
    assert _code(reserved) == "INVALID_PARAMETER_VALUE"
    assert "reserved" in reserved.value.message
    raw = server.http.post(f"{API}/registered-models/alias",
                           json={"name": name, "alias": "v2", "version": "1"})
    assert (raw.status_code, raw.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")

    with pytest.raises(MlflowException) as taken:
        client.create_registered_model(name)
    assert _code(taken) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as no_model:
        client.create_model_version(unknown, "s3://b/m")
    assert _code(no_model) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_version:
        client.get_model_version(name, "7")
    assert _code(no_version) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_alias:
        client.get_model_version_by_alias(name, "nowhere")
    assert _code(no_alias) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_model_version_by_alias(name, "latest").version == "1"
    bad_version = server.http.get(f"{API}/model-versions/get",
                                  params={"name": name, "version": "one"})
    assert (bad_version.status_code, bad_version.json()["error_code"]) == (
        400, "INVALID_PARAMETER_VALUE")
    assert "version" in bad_version.json()["message"]
    huge = server.http.get(f"{API}/model-versions/get", params={"name": name, "version": 2**40})
    assert (huge.status_code, huge.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    bad_token = server.http.get(f"{API}/registered-models/search", params={"page_token": "x"})
    assert (bad_token.status_code, bad_token.json()["error_code"]) == (
        400, "INVALID_PARAMETER_VALUE")

    with pytest.raises(MlflowException) as rename:
        client.rename_registered_model(name, f"{name}-renamed")
    assert _code(rename) == "NOT_IMPLEMENTED"
    with pytest.raises(MlflowException) as stage, pytest.warns(FutureWarning, match="stages"):
        client.transition_model_version_stage(name, "1", "Production")
    assert _code(stage) == "NOT_IMPLEMENTED"
    assert server.registry.get_model(name).latest_version == 1  # nothing changed


def test_wire_prefixes_and_methods(client: MlflowClient, server: Server) -> None:
    name, _ = _model_with_run(client)
    ajax = server.http.get("/ajax-api/2.0/mlflow/registered-models/get", params={"name": name})
    api = server.http.get(f"{API}/registered-models/get", params={"name": name})
    assert ajax.status_code == 200 and ajax.json() == api.json()
    body = api.json()["registered_model"]
    assert body["latest_versions"][0]["version"] == "1" and body["user_id"] == "alice"
    wrong = server.http.put(f"{API}/registered-models/alias", json={"name": name})
    assert wrong.status_code == 405 and wrong.headers["allow"] == "DELETE, GET, POST"
    uri = server.http.get(f"{API}/model-versions/get-download-uri",
                          params={"name": name, "version": 1}).json()["artifact_uri"]
    assert uri == server.registry.get_version(name, 1).source


def test_with_auth_the_actor_is_the_token_user(server: Server, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``shipyard server --auth`` the API token names the actor (a Basic user name is
    ignored) and each registry endpoint needs its permission: moving an alias needs deploy."""
    database = f"sqlite:///{tmp_path / 'auth.db'}"
    engine = create_db_engine(database)
    registry, users = RegistryService(engine), AuthService(engine)
    _, alice = users.create_user("alice", role="contributor", actor="ops")
    _, bob = users.create_user("bob", role="deployer", actor="ops")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "mallory")  # not who acts
    with serving(create_app_from_uris(database, str(tmp_path / "artifacts"), auth=True)) as url:
        client = MlflowClient(tracking_uri=url, registry_uri=url)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", alice)  # the token as Basic password
        client.create_registered_model("er-matcher")
        client.create_model_version("er-matcher", "s3://bucket/er/1")
        with pytest.raises(MlflowException) as no_deploy:
            client.set_registered_model_alias("er-matcher", "champion", "1")
        assert _code(no_deploy) == "PERMISSION_DENIED" and "deploy" in no_deploy.value.message
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", bob)
        client.set_registered_model_alias("er-matcher", "champion", "1")
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
        with pytest.raises(MlflowException) as anonymous:
            client.get_registered_model("er-matcher")
        assert _code(anonymous) == "UNAUTHENTICATED"
    assert registry.get_version("er-matcher", 1).created_by == "alice"
    assert [(c.alias, c.actor) for c in registry.alias_history("er-matcher")] == [
        ("champion", "bob")]
    engine.dispose()
