"""The real ``mlflow`` client (3.17.2) against Shipyard's MLflow-compatible routes.

One uvicorn server on a free loopback port serves ``build_router`` over a SQLite store for the
whole module; every test drives it with the unmodified client (``MlflowClient``, the fluent API,
the artifact repository) or raw httpx, then reads the same data back through Shipyard's own SDK
to prove it landed in Shipyard.
"""

from __future__ import annotations

import os

# Set before mlflow is imported: its telemetry client is configured at import time.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

import asyncio
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pytest
from fastapi import FastAPI
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from shipyard.entities import RunStatus
from shipyard.sdk.client import Client
from shipyard.server.mlflow import RpcDispatch, build_router, rpc_endpoints
from shipyard.store.tracking.protocol import TrackingStore
from tests.conftest import make_store
from tests.uvicorn_support import serving

API = "/api/2.0/mlflow"


@dataclass
class Server:
    url: str
    store: TrackingStore
    sdk: Client  # Shipyard's own SDK over the same store
    http: httpx.Client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    store = make_store("sqlite", tmp_path_factory.mktemp("mlflow-compat"))
    # Composed as `shipyard server` composes it: the RPCs are served by RpcDispatch ahead of
    # the routes (which still serve artifacts and anything the dispatcher passes on).
    app = FastAPI()
    app.include_router(build_router(store))
    app.add_middleware(RpcDispatch, endpoints=rpc_endpoints(lambda: store))
    with serving(app, lifespan="off") as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Server(url, store, Client(store=store), http)
    store.engine.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    # No retries or backoff: an unexpected 5xx fails the test at once instead of after minutes.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    yield MlflowClient(server.url)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Client mistakes are answered, never logged as server errors (tracebacks included)."""
    with caplog.at_level(logging.WARNING):
        yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR
              and r.name.startswith(("shipyard", "uvicorn"))]
    assert not errors, [r.getMessage() for r in errors]


def _name(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}"


def _error_code(excinfo: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(excinfo.value.error_code)


# -- Experiments ---------------------------------------------------------------------------


def test_experiment_lifecycle(client: MlflowClient, server: Server) -> None:
    name = _name("exp")
    experiment_id = client.create_experiment(name, tags={"team": "er"})
    experiment = client.get_experiment(experiment_id)
    assert (experiment.name, experiment.lifecycle_stage) == (name, "active")
    assert experiment.tags == {"team": "er"}
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    by_name = client.get_experiment_by_name(name)
    assert by_name is not None and by_name.experiment_id == experiment_id
    assert client.get_experiment_by_name(_name("missing")) is None

    client.set_experiment_tag(experiment_id, "stage", "dev")
    assert server.sdk.get_experiment(experiment_id).tags == {"team": "er", "stage": "dev"}

    with pytest.raises(MlflowException) as taken:
        client.create_experiment(name)
    assert _error_code(taken) == "RESOURCE_ALREADY_EXISTS"

    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert server.store.get_experiment(experiment_id).lifecycle_stage == "deleted"
    active = {e.experiment_id for e in client.search_experiments()}
    deleted = {e.experiment_id for e in client.search_experiments(view_type=2)}
    assert experiment_id not in active and experiment_id in deleted
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"

    with pytest.raises(MlflowException) as rename:
        client.rename_experiment(experiment_id, name + "-renamed")
    with pytest.raises(MlflowException) as untag:
        client.delete_experiment_tag(experiment_id, "stage")
    assert _error_code(rename) == _error_code(untag) == "NOT_IMPLEMENTED"
    assert server.sdk.get_experiment(experiment_id).name == name


def test_search_experiments_filter_order_and_pages(client: MlflowClient) -> None:
    prefix = _name("search")
    ids = [client.create_experiment(f"{prefix}-{i}", tags={"i": str(i)}) for i in range(5)]
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'",
                                      order_by=["name DESC"])
    assert [e.experiment_id for e in found] == ids[::-1]
    tagged = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.i = '3'")
    assert [e.experiment_id for e in tagged] == [ids[3]]

    page = client.search_experiments(max_results=2, filter_string=f"name LIKE '{prefix}%'",
                                     order_by=["experiment_id ASC"])
    seen = [e.experiment_id for e in page]
    while page.token:
        page = client.search_experiments(max_results=2, page_token=page.token,
                                         filter_string=f"name LIKE '{prefix}%'",
                                         order_by=["experiment_id ASC"])
        seen += [e.experiment_id for e in page]
    assert seen == ids
    assert [e.experiment_id for e in mlflow.search_experiments(
        filter_string=f"name LIKE '{prefix}%'", order_by=["creation_time ASC"])] == ids

    with pytest.raises(MlflowException) as bad:
        client.search_experiments(filter_string="name ~ 'x'")
    assert _error_code(bad) == "INVALID_PARAMETER_VALUE"


# -- Runs ----------------------------------------------------------------------------------


def test_run_lifecycle_and_search(client: MlflowClient, server: Server) -> None:
    experiment_id = client.create_experiment(_name("runs"))
    run = client.create_run(experiment_id, run_name="first", tags={"kind": "baseline"},
                            start_time=1_700_000_000_000)
    info = run.info
    assert (info.run_name, info.experiment_id, info.status) == ("first", experiment_id, "RUNNING")
    assert info.start_time == 1_700_000_000_000 and info.end_time is None
    assert info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{info.run_id}/artifacts"
    assert run.data.tags["kind"] == "baseline" and run.data.tags["mlflow.runName"] == "first"

    client.update_run(info.run_id, name="renamed")
    assert client.get_run(info.run_id).info.run_name == "renamed"
    assert server.store.get_run(info.run_id).info.run_name == "renamed"
    assert client.get_run(info.run_id).data.tags["mlflow.runName"] == "renamed"

    second = client.create_run(experiment_id, run_name="second")
    client.log_param(info.run_id, "blocking", "postcode")
    client.log_metric(info.run_id, "f1", 0.9)
    client.log_metric(second.info.run_id, "f1", 0.95)
    found = client.search_runs([experiment_id], "params.blocking = 'postcode'")
    assert [r.info.run_id for r in found] == [info.run_id]
    ordered = client.search_runs([experiment_id], order_by=["metrics.f1 DESC"])
    assert [r.info.run_id for r in ordered] == [second.info.run_id, info.run_id]
    page = client.search_runs([experiment_id], max_results=1, order_by=["metrics.f1 ASC"])
    assert [r.info.run_id for r in page] == [info.run_id] and page.token
    rest = client.search_runs([experiment_id], max_results=1, order_by=["metrics.f1 ASC"],
                              page_token=page.token)
    assert [r.info.run_id for r in rest] == [second.info.run_id]

    client.set_terminated(second.info.run_id, "FAILED", end_time=1_700_000_000_500)
    ended = client.get_run(second.info.run_id).info
    assert (ended.status, ended.end_time) == ("FAILED", 1_700_000_000_500)
    assert server.store.get_run(second.info.run_id).info.status == RunStatus.FAILED

    client.delete_run(second.info.run_id)
    assert client.get_run(second.info.run_id).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [info.run_id]
    assert len(client.search_runs([experiment_id], run_view_type=3)) == 2
    client.restore_run(second.info.run_id)
    assert len(client.search_runs([experiment_id])) == 2


def test_logging_lands_in_shipyard(client: MlflowClient, server: Server) -> None:
    experiment_id = client.create_experiment(_name("logging"))
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "lr", "0.01")
    for step, value in enumerate([0.5, 0.25, math.nan, math.inf]):
        client.log_metric(run_id, "loss", value, timestamp=1000 + step, step=step)
    client.set_tag(run_id, "team", "er")
    client.set_tag(run_id, "scratch", "x")
    client.delete_tag(run_id, "scratch")
    client.log_batch(run_id,
                     metrics=[Metric("acc", 0.8, 2000, 0), Metric("acc", 0.9, 2001, 1)],
                     params=[Param("depth", "6")], tags=[RunTag("source", "batch")])

    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp) for m in history] == [(0, 1000), (1, 1001), (2, 1002),
                                                        (3, 1003)]
    assert history[0].value == 0.5 and math.isnan(history[2].value)
    assert history[3].value == math.inf
    run = client.get_run(run_id)
    assert run.data.params == {"lr": "0.01", "depth": "6"}
    assert run.data.metrics["acc"] == 0.9 and run.data.metrics["loss"] == math.inf
    assert "scratch" not in run.data.tags and run.data.tags["source"] == "batch"

    # The same data, read through Shipyard's own SDK.
    mine = server.sdk.get_run(run_id)
    assert mine.data.params == {"lr": "0.01", "depth": "6"}
    assert {k: v for k, v in mine.data.tags.items() if not k.startswith("mlflow.")} == {
        "team": "er", "source": "batch"}
    points = server.sdk.get_metric_history(run_id, "loss")
    assert [p.value for p in points[:2]] == [0.5, 0.25] and math.isnan(points[2].value)
    assert [(p.step, p.value) for p in server.sdk.get_metric_history(run_id, "acc")] == [
        (0, 0.8), (1, 0.9)]

    client.set_terminated(run_id)
    assert server.store.get_run(run_id).info.status == RunStatus.FINISHED

    # MLflow's paged history API, driven through the client's REST store.
    rest = client._tracking_client.store
    first = rest.get_metric_history(run_id, "loss", max_results=3)
    assert len(first) == 3 and first.token
    second = rest.get_metric_history(run_id, "loss", max_results=3, page_token=first.token)
    assert [m.step for m in second] == [3] and second.token is None


def test_log_batch_limits(client: MlflowClient, server: Server) -> None:
    run_id = client.create_run(client.create_experiment(_name("limits"))).info.run_id
    rest = client._tracking_client.store  # the client's RestStore sends one request as given
    for metrics, params, tags in ([Metric("m", 1.0, 1, i) for i in range(1001)], [], []), \
            ([], [Param(f"p{i}", "v") for i in range(101)], []), \
            ([], [], [RunTag(f"t{i}", "v") for i in range(101)]):
        with pytest.raises(MlflowException) as too_many:
            rest.log_batch(run_id, metrics=metrics, params=params, tags=tags)
        assert _error_code(too_many) == "INVALID_PARAMETER_VALUE"
        assert "at most" in str(too_many.value)
    with pytest.raises(MlflowException) as too_big:  # within the counts, over 1 MB of JSON
        rest.log_batch(run_id, metrics=[],
                       params=[Param(f"p{i}", "x" * 6000) for i in range(100)],
                       tags=[RunTag(f"t{i}", "y" * 8000) for i in range(100)])
    assert _error_code(too_big) == "INVALID_PARAMETER_VALUE"
    assert "1000000 bytes" in str(too_big.value)
    assert server.sdk.get_run(run_id).data.params == {}

    # MlflowClient.log_batch splits a large batch into requests within the limits.
    client.log_batch(run_id, metrics=[Metric("m", float(i), 1, i) for i in range(2500)],
                     params=[Param(f"p{i}", str(i)) for i in range(150)])
    assert len(server.sdk.get_metric_history(run_id, "m")) == 2500
    assert len(server.sdk.get_run(run_id).data.params) == 150


def test_fluent_run_with_artifacts(client: MlflowClient, server: Server, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model.txt").write_text("weights")
    folder = tmp_path / "report"
    (folder / "plots").mkdir(parents=True)
    (folder / "summary.json").write_text('{"f1": 0.9}')
    (folder / "plots" / "roc.bin").write_bytes(bytes(range(256)) * 10)

    with mlflow.start_run(run_name="fluent") as run:  # no experiment set: MLflow's "0"
        mlflow.log_param("alpha", 0.5)
        mlflow.log_metrics({"f1": 0.91, "recall": 0.8}, step=3)
        mlflow.set_tags({"owner": "ana"})
        mlflow.log_artifact(str(tmp_path / "model.txt"))
        mlflow.log_artifacts(str(folder), artifact_path="report")
        mlflow.log_text("hello", "notes/readme.txt")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("inner", 1.0)
    run_id = run.info.run_id

    mine = server.store.get_run(run_id)
    assert mine.info.status == RunStatus.FINISHED and mine.info.run_name == "fluent"
    assert server.store.get_experiment(mine.info.experiment_id).name == "Default"
    assert mine.data.params == {"alpha": "0.5"} and mine.data.tags["owner"] == "ana"
    assert server.store.get_run(child.info.run_id).info.parent_run_id == run_id
    # The mlflow client (and its UI) find the parent through this tag.
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == run_id

    listed = {(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id)}
    assert listed == {("model.txt", False, 7), ("report", True, None), ("notes", True, None)}
    assert {f.path for f in client.list_artifacts(run_id, "report")} == {
        "report/summary.json", "report/plots"}
    assert client.list_artifacts(run_id, "report/summary.json") == []
    assert client.list_artifacts(run_id, "nowhere") == []

    got = Path(client.download_artifacts(run_id, "report/plots/roc.bin", str(tmp_path / "a")))
    assert got.read_bytes() == bytes(range(256)) * 10
    tree = Path(client.download_artifacts(run_id, "report", str(tmp_path / "b")))
    assert (tree / "summary.json").read_text() == '{"f1": 0.9}'
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "hello"

    # mlflow.set_experiment creates the experiment by name, and later runs go there.
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)  # restored after
    experiment = mlflow.set_experiment(name := _name("fluent"))
    with mlflow.start_run() as later:
        mlflow.log_metric("x", 1.0)
    assert server.store.get_experiment_by_name(name) is not None
    assert server.store.get_run(later.info.run_id).info.experiment_id == (
        experiment.experiment_id)

    # The bytes are Shipyard artifacts of the run.
    with server.store.open_artifact(run_id, "report/plots/roc.bin") as stream:
        assert stream.read() == bytes(range(256)) * 10
    assert {a.path for a in server.store.list_artifacts(run_id)} == {"model.txt", "report",
                                                                     "notes"}


# -- Errors in MLflow's shape --------------------------------------------------------------


def test_unknown_run_is_resource_does_not_exist(client: MlflowClient, server: Server) -> None:
    with pytest.raises(MlflowException) as missing:
        client.get_run("0" * 32)
    assert _error_code(missing) == "RESOURCE_DOES_NOT_EXIST"
    response = server.http.get(f"{API}/runs/get", params={"run_id": "nope"})
    assert response.status_code == 404
    assert response.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                               "message": "run 'nope' does not exist"}
    upload = server.http.put("/api/2.0/mlflow-artifacts/artifacts/1/nope/artifacts/x.txt",
                             content=b"x")
    assert (upload.status_code, upload.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_client_mistakes_are_4xx_in_mlflow_shape(client: MlflowClient, server: Server) -> None:
    experiment_id = client.create_experiment(_name("errors"))
    run_id = client.create_run(experiment_id).info.run_id
    with pytest.raises(MlflowException) as bad_filter:
        client.search_runs([experiment_id], "metrics.f1 >> 3")
    assert _error_code(bad_filter) == "INVALID_PARAMETER_VALUE"

    def post(path: str, **kwargs: object) -> tuple[int, dict[str, object]]:
        response = server.http.post(API + path, **kwargs)  # type: ignore[arg-type]
        return response.status_code, response.json()

    status, body = post("/runs/search", json={"experiment_ids": [experiment_id],
                                              "filter": "params.x = "})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, body = post("/runs/create", content=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert (status, body["error_code"]) == (400, "BAD_REQUEST")
    assert "not valid JSON" in str(body["message"])
    status, body = post("/runs/log-metric", json={"run_id": run_id, "key": "k"})
    assert (status, body) == (400, {"error_code": "INVALID_PARAMETER_VALUE",
                                    "message": "Missing value for required parameter 'value'."})
    status, body = post("/runs/log-metric", json={"run_id": run_id, "key": "k", "value": "x"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    good = {"key": "k", "value": 1.0, "timestamp": 1, "step": 0}
    status, body = post("/runs/log-batch", json={"run_id": run_id, "metrics": [
        good, good, good, {**good, "value": "high"}]})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "metrics[3]" in str(body["message"])
    assert server.sdk.get_metric_history(run_id, "k") == []  # nothing of the batch is kept
    status, body = post("/runs/update", json={"run_id": run_id, "status": "DONE"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, body = post("/runs/log-parameter", json={"run_id": run_id, "key": "bad key!"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")

    dataset = DatasetInput(Dataset("train", "abc123", "local", "{}"))
    with pytest.raises(MlflowException) as inputs:
        client.log_inputs(run_id, [dataset])
    assert _error_code(inputs) == "NOT_IMPLEMENTED"
    client.log_inputs(run_id, [])  # nothing to store: accepted

    client.log_param(run_id, "p", "1")
    with pytest.raises(MlflowException) as changed:
        client.log_param(run_id, "p", "2")
    assert _error_code(changed) == "INVALID_PARAMETER_VALUE"
    client.set_terminated(run_id)
    status, body = post("/runs/log-metric", json={"run_id": run_id, "key": "k", "value": 1,
                                                  "timestamp": 1})
    assert (status, body["error_code"]) == (400, "INVALID_STATE")
    with mlflow.start_run(run_id=run_id):  # resuming the run makes it take metrics again
        mlflow.log_metric("k", 2.0)
    assert [p.value for p in server.sdk.get_metric_history(run_id, "k")] == [2.0]

    unknown = server.http.get(f"{API}/metrics/get-history-bulk-interval",
                              params={"run_ids": run_id, "metric_key": "k"})
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    wrong_method = server.http.get(f"{API}/runs/create")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error_code"] == "BAD_REQUEST"
    climb = server.http.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/../../x",
        content=b"x")
    assert (climb.status_code, climb.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    elsewhere = server.http.get("/api/2.0/mlflow-artifacts/artifacts",
                                params={"path": f"999/{run_id}/artifacts"})
    assert (elsewhere.status_code, elsewhere.json()["error_code"]) == (
        404, "RESOURCE_DOES_NOT_EXIST")


def test_wire_forms(client: MlflowClient, server: Server) -> None:
    """GET query and POST JSON forms, the ajax-api prefix, and non-finite doubles as strings."""
    name = _name("wire")
    experiment_id = client.create_experiment(name)
    by_get = server.http.get(f"{API}/experiments/search",
                             params={"filter": f"name = '{name}'", "max_results": "5"})
    by_post = server.http.post("/ajax-api/2.0/mlflow/experiments/search",
                               json={"filter": f"name = '{name}'", "max_results": 5})
    assert by_get.json() == by_post.json()
    assert [e["experiment_id"] for e in by_get.json()["experiments"]] == [experiment_id]

    run_id = client.create_run(experiment_id).info.run_id
    for value in ("NaN", "-Infinity", 2.5):
        logged = server.http.post(f"{API}/runs/log-metric",
                                  json={"run_id": run_id, "key": "v", "value": value,
                                        "timestamp": "1", "step": "0"})
        assert logged.status_code == 200, logged.text
    history = server.http.get(f"{API}/metrics/get-history",
                              params={"run_id": run_id, "metric_key": "v"})
    assert [m["value"] for m in history.json()["metrics"]] == ["NaN", "-Infinity", 2.5]
    run = server.http.get(f"{API}/runs/get", params={"run_uuid": run_id}).json()["run"]
    assert run["info"]["run_uuid"] == run["info"]["run_id"] == run_id
    assert run["data"]["metrics"] == [{"key": "v", "value": 2.5, "timestamp": 0, "step": 0}]

    server.store.log_artifact_bytes(run_id, "dir/a.txt", b"abc")
    listed = server.http.get(f"{API}/artifacts/list", params={"run_id": run_id}).json()
    assert listed == {"root_uri": f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts",
                      "files": [{"path": "dir", "is_dir": True}]}
    info = server.http.get("/api/3.0/mlflow/server-info").json()
    assert info["multipart_uploads_enabled"] is info["multipart_downloads_enabled"] is False


def test_router_takes_a_store_getter(server: Server) -> None:
    """``build_router`` also takes a function giving the store (a lazily opened one)."""
    server.store.create_experiment(_name("getter"))
    calls: list[int] = []

    def get_store() -> TrackingStore:
        calls.append(1)
        return server.store

    app = FastAPI()
    app.include_router(build_router(get_store))

    async def requests() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shipyard") as http:
            return (await http.get(f"{API}/experiments/search", params={"max_results": "1"}),
                    await http.get("/api/2.0/mlflow-artifacts/artifacts",
                                   params={"path": "1/x/artifacts"}))

    found, missing = asyncio.run(requests())
    assert found.status_code == 200 and len(found.json()["experiments"]) == 1
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert len(calls) == 2
    schema = app.openapi()  # no duplicate operation ids (a warning, an error in this suite)
    assert "/api/2.0/mlflow/runs/log-batch" in schema["paths"]
    assert not any(path.startswith("/ajax-api") for path in schema["paths"])


def test_experiment_filter_grammar() -> None:
    """MLflow's experiment filter and order_by, evaluated in memory (no server)."""
    from shipyard.entities import Experiment, LifecycleStage
    from shipyard.server.mlflow.errors import MlflowApiError
    from shipyard.server.mlflow.experiment_search import filter_experiments, sort_experiments

    def exp(eid: str, name: str, created: int, **tags: str) -> Experiment:
        return Experiment(eid, name, LifecycleStage.ACTIVE, created, created, dict(tags))

    experiments = [exp("1", "Alpha", 30, team="er"), exp("2", "beta", 10),
                   exp("10", "alpha-2", 20, team="ops")]

    def ids(text: str, order_by: tuple[str, ...] = ("experiment_id",)) -> list[str]:
        found = filter_experiments(experiments, text)
        return [e.experiment_id for e in sort_experiments(found, order_by)]

    assert ids("") == ["1", "2", "10"]  # ids sort as numbers
    assert ids("name LIKE 'a%'") == ["10"] and ids("name ILIKE 'a%'") == ["1", "10"]
    assert ids("attribute.name = 'beta'") == ["2"]
    assert ids("tags.team = 'er' and creation_time > 5") == ["1"]
    assert ids("tags.`team` IS NULL") == ["2"] and ids('tags."team" != \'er\'') == ["10"]
    assert ids("experiment_id IN ('1', '2')") == ["1", "2"]
    assert ids("creation_time <= 20", ("creation_time DESC",)) == ["10", "2"]
    assert ids("", ()) == ["1", "10", "2"]  # MLflow's default: newest first
    for bad in ("name", "name = ", "name > 'a'", "params.x = '1'", "creation_time = 'x'",
                "name = 'a' OR name = 'b'", "tags.t = 'unterminated"):
        with pytest.raises(MlflowApiError, match="Invalid filter") as raised:
            filter_experiments(experiments, bad)
        assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowApiError, match="Invalid order_by"):
        sort_experiments(experiments, ["tags.team"])
