"""Shipyard's REST API (``/api/v1``) through the real app: every endpoint, the health check, the
OpenAPI document, and the SDK working unchanged against a server (in-process and over a real
uvicorn socket)."""

from __future__ import annotations

import math
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import shipyard as sy
from shipyard.entities import LifecycleStage, RunStatus, ViewType
from shipyard.errors import InvalidInputError
from shipyard.sdk.client import Client
from shipyard.server.app import create_app, create_app_from_uris
from shipyard.store.rest.client import RestTrackingStore
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 on import; its TestClient works the same with httpx.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

API = "/api/v1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    sql = make_store("sqlite", tmp_path / "server")
    assert isinstance(sql, SqlTrackingStore)
    yield sql
    sql.engine.dispose()


@pytest.fixture
def http(store: SqlTrackingStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_health_and_openapi(http: TestClient) -> None:
    assert _ok(http.get("/health")) == {"status": "ok", "version": sy.__version__}
    spec = _ok(http.get("/openapi.json"))
    for path in ("/api/v1/experiments", "/api/v1/experiments/{experiment_id}",
                 "/api/v1/runs", "/api/v1/runs/search", "/api/v1/runs/{run_id}/log-batch",
                 "/api/v1/runs/{run_id}/metric-history", "/api/v1/runs/{run_id}/artifacts",
                 "/api/v1/runs/{run_id}/artifacts/{artifact_path}", "/health"):
        assert path in spec["paths"], path
    assert "Run" in spec["components"]["schemas"]
    docs = http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_experiment_endpoints(http: TestClient, store: SqlTrackingStore) -> None:
    created = _ok(http.post(f"{API}/experiments", json={"name": "er", "tags": {"team": "a"}}),
                  201)
    eid = created["experiment_id"]
    got = _ok(http.get(f"{API}/experiments/{eid}"))["experiment"]
    assert (got["name"], got["tags"], got["lifecycle_stage"]) == ("er", {"team": "a"}, "active")
    assert _ok(http.post(f"{API}/experiments/{eid}/tags", json={"key": "team", "value": "b"}),
               204) is None
    assert store.get_experiment(eid).tags == {"team": "b"}
    by_name = _ok(http.get(f"{API}/experiments", params={"name": "er"}))["experiments"]
    assert [e["experiment_id"] for e in by_name] == [eid]
    assert _ok(http.get(f"{API}/experiments", params={"name": "nope"})) == {"experiments": []}
    like = _ok(http.get(f"{API}/experiments", params={"name_like": "e%"}))["experiments"]
    assert [e["name"] for e in like] == ["er"]

    _ok(http.delete(f"{API}/experiments/{eid}"), 204)
    assert store.get_experiment(eid).lifecycle_stage == LifecycleStage.DELETED
    assert _ok(http.get(f"{API}/experiments", params={"name": "er"})) == {"experiments": []}
    deleted = _ok(http.get(f"{API}/experiments", params={"name": "er", "view": "deleted"}))
    assert [e["experiment_id"] for e in deleted["experiments"]] == [eid]
    _ok(http.post(f"{API}/experiments/{eid}/restore"), 204)
    assert [e.experiment_id for e in store.search_experiments()] == [eid]


def test_run_endpoints(http: TestClient, store: SqlTrackingStore) -> None:
    eid = store.create_experiment("runs")
    run = _ok(http.post(f"{API}/runs", json={"experiment_id": eid, "run_name": "lr",
                                             "user": "ana", "start_time": 1000,
                                             "tags": {"t": "1"}}), 201)["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["status"] == "RUNNING" and run["data"]["tags"] == {"t": "1"}

    points = [{"key": "f1", "value": 0.5, "step": 0, "timestamp": 1},
              {"key": "f1", "value": "NaN", "step": 1, "timestamp": 2},
              {"key": "loss", "value": "-Infinity", "timestamp": 3}]
    _ok(http.post(f"{API}/runs/{run_id}/log-batch", json={
        "metrics": points, "params": {"C": "1.0"}, "tags": {"stage": "dev"}}), 204)
    history = _ok(http.get(f"{API}/runs/{run_id}/metric-history", params={"key": "f1"}))
    assert [(m["step"], m["value"]) for m in history["metrics"]] == [(0, 0.5), (1, "NaN")]
    assert math.isnan(store.get_metric_history(run_id, "f1")[1].value)
    got = _ok(http.get(f"{API}/runs/{run_id}"))["run"]
    assert got["data"]["params"] == {"C": "1.0"}
    assert got["data"]["metrics"] == {"f1": "NaN", "loss": "-Infinity"}

    _ok(http.delete(f"{API}/runs/{run_id}/tags", params={"key": "stage"}), 204)
    assert store.get_run(run_id).data.tags == {"t": "1"}

    info = _ok(http.patch(f"{API}/runs/{run_id}", json={"status": "FINISHED",
                                                         "run_name": "lr-final"}))["run_info"]
    assert (info["status"], info["run_name"]) == ("FINISHED", "lr-final")
    assert info["end_time"] >= 1000

    page = _ok(http.post(f"{API}/runs/search", json={
        "experiment_ids": [eid], "filter": "params.C = '1.0'", "order_by": ["start_time DESC"],
        "max_results": 10}))
    assert [r["info"]["run_id"] for r in page["runs"]] == [run_id]
    assert page["next_page_token"] is None

    _ok(http.delete(f"{API}/runs/{run_id}"), 204)
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    deleted = _ok(http.post(f"{API}/runs/search", json={"view": "deleted"}))["runs"]
    assert [r["info"]["run_id"] for r in deleted] == [run_id]
    _ok(http.post(f"{API}/runs/{run_id}/restore"), 204)
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_artifact_endpoints(http: TestClient, store: SqlTrackingStore) -> None:
    run_id = store.create_run(store.create_experiment("art")).run_id
    body = bytes(range(256)) * 5000  # > one streaming chunk
    uploaded = _ok(http.put(f"{API}/runs/{run_id}/artifacts/model/weights.bin", content=body))
    assert uploaded["artifact"] == {"path": "model/weights.bin", "is_dir": False,
                                    "size": len(body),
                                    "digest": store.list_artifacts(run_id, "model")[0].digest}
    _ok(http.put(f"{API}/runs/{run_id}/artifacts/notes%20v1.txt", content=b"hi"))
    root = _ok(http.get(f"{API}/runs/{run_id}/artifacts"))["files"]
    assert [(f["path"], f["is_dir"]) for f in root] == [("model", True), ("notes v1.txt", False)]
    inside = _ok(http.get(f"{API}/runs/{run_id}/artifacts", params={"path": "model"}))
    assert [f["path"] for f in inside["files"]] == ["model/weights.bin"]

    download = http.get(f"{API}/runs/{run_id}/artifacts/model/weights.bin")
    assert download.status_code == 200 and download.content == body
    assert download.headers["content-type"] == "application/octet-stream"
    text = http.get(f"{API}/runs/{run_id}/artifacts/notes%20v1.txt")
    assert text.content == b"hi" and text.headers["content-type"].startswith("text/plain")


def test_sdk_client_over_rest(http: TestClient, store: SqlTrackingStore, tmp_path: Path) -> None:
    remote = Client(store=RestTrackingStore("http://testserver", client=http))
    experiment = remote.get_or_create_experiment("sdk")
    run = remote.create_run(experiment.experiment_id, run_name="remote", tags={"team": "er"})
    remote.log_params(run.run_id, {"C": 1.0})
    for step in range(5):
        remote.log_metric(run.run_id, "f1", 0.9 + step / 100, step=step)
    remote.log_metric(run.run_id, "odd", math.inf)
    (tmp_path / "plot.png").write_bytes(b"png bytes")
    remote.log_artifact(run.run_id, tmp_path / "plot.png", "plots")
    remote.log_dict(run.run_id, {"a": 1}, "config.json")
    remote.set_terminated(run.run_id)

    (found,) = remote.search_runs([experiment.experiment_id], "metrics.f1 > 0.9")
    assert found.info.status == RunStatus.FINISHED and found.data.params == {"C": "1.0"}
    assert found.data.metrics == {"f1": 0.9 + 4 / 100, "odd": math.inf}
    assert [m.step for m in remote.get_metric_history(run.run_id, "f1")] == list(range(5))
    assert remote.read_artifact_bytes(run.run_id, "plots/plot.png") == b"png bytes"
    out = remote.download_artifacts(run.run_id, None, tmp_path / "out")
    assert (out / "config.json").read_text() == '{\n  "a": 1\n}'
    # The server's store holds it all.
    assert store.get_run(run.run_id).data.tags == {"team": "er"}
    assert [a.path for a in store.list_artifacts(run.run_id)] == ["config.json", "plots"]


@pytest.fixture
def live_server(store: SqlTrackingStore) -> Iterator[str]:
    """The app on a real uvicorn socket (127.0.0.1, a free port), in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: uvicorn's records reach the root logger (and caplog).
    config = uvicorn.Config(create_app(store), log_config=None, access_log=False, ws="none",
                            lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_fluent_api_against_a_live_server(live_server: str, store: SqlTrackingStore,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", live_server)
    source = tmp_path / "report.txt"
    source.write_text("all good")
    try:
        with sy.start_run(experiment="fluent-remote", run_name="over-http") as run:
            sy.log_params({"blocking": "postcode"})
            for step in range(20):
                sy.log_metric("f1", step / 20, step=step)
            sy.log_artifact(source, "reports")
        runs = sy.search_runs("params.blocking = 'postcode'", experiments="fluent-remote")
        assert [r.run_id for r in runs] == [run.run_id]
        assert runs[0].info.status == RunStatus.FINISHED
        assert runs[0].data.metrics["f1"] == 19 / 20
        assert len(sy.get_metric_history(run.run_id, "f1")) == 20
    finally:
        from shipyard.store.tracking.factory import forget_open_stores, open_tracking_store

        assert isinstance(open_tracking_store(), RestTrackingStore)  # the URI chose it
        forget_open_stores()  # closes its connections while the server still runs
    # It all landed in the server's store.
    stored = store.get_run(run.run_id)
    assert stored.data.params == {"blocking": "postcode"}
    with store.open_artifact(run.run_id, "reports/report.txt") as stream:
        assert stream.read() == b"all good"
    (experiment,) = store.search_experiments(ViewType.ALL, "fluent-remote")
    assert stored.info.experiment_id == experiment.experiment_id
    history = store.get_metric_history(run.run_id, "f1")
    assert [(m.step, m.value) for m in history] == [(i, i / 20) for i in range(20)]


def test_a_store_that_cannot_open_answers_503(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    app = create_app_from_uris(f"sqlite:///{blocker / 'meta.db'}", str(tmp_path / "artifacts"))
    with TestClient(app) as http:
        assert _ok(http.get("/health"))["status"] == "ok"  # alive, though the store is not
        response = http.get(f"{API}/experiments")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "BACKEND_ERROR" and "could not be opened" in body["message"]
    assert "unexpected" not in caplog.text  # reported as the store's state, not a server bug
    with pytest.raises(InvalidInputError) as info:
        create_app_from_uris("http://elsewhere:5000", str(tmp_path))
    assert info.value.field == "backend_store_uri"
