"""Bad requests get a 4xx in Shipyard's error shape naming the field, change nothing stored,
and leave no traceback in the server's logs; a server bug is a 500 logged once."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.entities import Metric, Run, ViewType
from shipyard.entities import limits as lim
from shipyard.errors import InvalidInputError
from shipyard.server.app import create_app
from shipyard.store.rest.client import RestTrackingStore
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 on import; its TestClient works the same with httpx.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

API = "/api/v1"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    sql = make_store("sqlite", tmp_path / "server")
    assert isinstance(sql, SqlTrackingStore)
    yield sql
    sql.engine.dispose()


@pytest.fixture
def run(store: SqlTrackingStore) -> Run:
    """A run with one point, param and tag, to prove failed requests change none of it."""
    run = store.create_run(store.create_experiment("bad-input"), run_name="r", tags={"t": "1"})
    store.log_batch(run.run_id, metrics=[Metric("f1", 0.5, 0, 0)], params={"C": "1"})
    return store.get_run(run.run_id)


def _snapshot(store: SqlTrackingStore, run: Run) -> tuple[object, ...]:
    return (store.search_experiments(ViewType.ALL), store.get_run(run.run_id),
            store.get_metric_history(run.run_id, "f1"), store.list_artifacts(run.run_id),
            store.search_runs(None, view=ViewType.ALL).items)


def _client(store: SqlTrackingStore) -> TestClient:
    return TestClient(create_app(store))


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [r for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in caplog.text


CASES: list[tuple[str, str, str, dict[str, Any], int, str, str]] = [
    # (id, method, path, request kwargs, status, code, field); {run} is the run's id
    ("not-json", "POST", "/runs/search", {"content": b"{max_results: 5", "headers": JSON},
     400, "INVALID_INPUT", "body"),
    ("no-content-type", "POST", "/experiments", {"content": b'{"name": "x"}'},
     400, "INVALID_INPUT", "body"),
    ("no-body", "POST", "/experiments", {}, 400, "INVALID_INPUT", "body"),
    ("missing-field", "POST", "/experiments", {"json": {"tags": {}}},
     400, "INVALID_INPUT", "body.name"),
    ("mistyped-field", "POST", "/runs/search", {"json": {"max_results": "ten"}},
     400, "INVALID_INPUT", "body.max_results"),
    ("mistyped-nested", "POST", "/runs/{run}/log-batch",
     {"json": {"metrics": [{"key": "f1", "value": "high", "step": 1, "timestamp": 0}]}},
     400, "INVALID_INPUT", "body.metrics[0].value"),
    ("unknown-field", "POST", "/runs/search", {"json": {"filter_string": "x"}},
     400, "INVALID_INPUT", "body.filter_string"),
    ("bad-enum", "GET", "/experiments", {"params": {"view": "sideways"}},
     400, "INVALID_INPUT", "query.view"),
    ("missing-query", "DELETE", "/runs/{run}/tags", {}, 400, "INVALID_INPUT", "query.key"),
    ("limit-from-store", "POST", "/runs/search", {"json": {"max_results": 0}},
     400, "INVALID_INPUT", "max_results"),
    ("bad-key", "POST", "/runs/{run}/log-batch", {"json": {"params": {"../x": "1"}}},
     400, "INVALID_INPUT", "param key"),
    ("param-changed", "POST", "/runs/{run}/log-batch",
     {"json": {"params": {"C": "2"}, "metrics": [
         {"key": "f1", "value": 0.9, "step": 1, "timestamp": 1}]}},
     409, "CONFLICT", "param value"),
    ("too-many-params", "POST", "/runs/{run}/log-batch",
     {"json": {"params": {f"p{i}": "v" for i in range(lim.MAX_BATCH_PARAMS + 1)}}},
     400, "INVALID_INPUT", "params"),
    ("too-many-points", "POST", "/runs/{run}/log-batch",
     {"json": {"metrics": [{"key": "m", "value": 1, "step": i, "timestamp": 0}
                           for i in range(lim.MAX_BATCH_METRICS + 1)]}},
     400, "INVALID_INPUT", "metrics"),
    ("unknown-experiment", "GET", "/experiments/424242", {}, 404, "NOT_FOUND", "experiment_id"),
    ("unknown-run", "GET", "/runs/" + "0" * 32, {}, 404, "NOT_FOUND", "run_id"),
    ("unknown-run-write", "POST", f"/runs/{'0' * 32}/log-batch", {"json": {"tags": {"a": "b"}}},
     404, "NOT_FOUND", "run_id"),
    ("unknown-artifact", "GET", "/runs/{run}/artifacts/missing.txt", {},
     404, "NOT_FOUND", "artifact path"),
    ("escaping-artifact", "PUT", "/runs/{run}/artifacts/%2E%2E/x.txt", {"content": b"x"},
     400, "INVALID_INPUT", "artifact path"),
    ("unknown-route", "GET", "/nowhere", {}, 404, "NOT_FOUND", "path"),
    ("wrong-method", "PUT", "/runs/search", {}, 405, "INVALID_INPUT", "method"),
    ("bad-status", "PATCH", "/runs/{run}", {"json": {"status": "DONE"}},
     400, "INVALID_INPUT", "body.status"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code", "field"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_request(store: SqlTrackingStore, run: Run, caplog: pytest.LogCaptureFixture,
                     method: str, path: str, kwargs: dict[str, Any], status: int, code: str,
                     field: str) -> None:
    caplog.set_level(logging.DEBUG)
    before = _snapshot(store, run)
    with _client(store) as http:
        response = http.request(method, API + path.format(run=run.run_id), **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body["field"]) == (code, field)
    assert body["message"] and set(body) <= {"code", "message", "field", "details"}
    assert _snapshot(store, run) == before
    _no_traceback(caplog)


def test_malformed_filter_names_the_position(store: SqlTrackingStore, run: Run,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with _client(store) as http:
        response = http.post(f"{API}/runs/search", json={"filter": "metrics.f1 > 0.9 and"})
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"], body["details"]) == (
        "INVALID_FILTER", "filter", {"position": 20})
    assert "^" in body["message"]
    _no_traceback(caplog)


def test_several_faults_are_all_listed(store: SqlTrackingStore) -> None:
    with _client(store) as http:
        body = http.post(f"{API}/runs", json={"run_name": 5, "colour": "red"}).json()
    assert body["field"] == "body.experiment_id"
    fields = [fault["field"] for fault in body["details"]["errors"]]
    assert fields == ["body.experiment_id", "body.run_name", "body.colour"]


def test_json_body_over_the_limit(store: SqlTrackingStore, run: Run,
                                  monkeypatch: pytest.MonkeyPatch,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SHIPYARD_SERVER_MAX_JSON_BYTES", "1000")
    before = _snapshot(store, run)
    with _client(store) as http:
        response = http.post(f"{API}/runs/{run.run_id}/log-batch",
                             json={"tags": {f"t{i}": "x" * 50 for i in range(30)}})
        small = http.post(f"{API}/runs/{run.run_id}/log-batch", json={"tags": {"ok": "1"}})
    assert response.status_code == 413
    body = response.json()
    assert (body["code"], body["field"], body["details"]) == ("INVALID_INPUT", "body",
                                                              {"limit": 1000})
    assert "SHIPYARD_SERVER_MAX_JSON_BYTES" in body["message"]
    assert small.status_code == 204
    assert store.get_run(run.run_id).data.tags == {**before[1].data.tags, "ok": "1"}  # type: ignore[attr-defined]
    _no_traceback(caplog)


def test_upload_over_the_limit_stores_nothing(store: SqlTrackingStore, run: Run,
                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SHIPYARD_SERVER_MAX_UPLOAD_BYTES", "4096")
    url = f"{API}/runs/{run.run_id}/artifacts/big.bin"
    with _client(store) as http:
        declared = http.put(url, content=b"x" * 5000)  # Content-Length says it at once

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b"y" * 1000

        streamed = http.put(url, content=chunks())
        fits = http.put(f"{API}/runs/{run.run_id}/artifacts/small.bin", content=b"z" * 4096)
        big = tmp_path / "big.bin"
        big.write_bytes(b"w" * 10_000)
        with pytest.raises(InvalidInputError) as info:
            RestTrackingStore("http://testserver", client=http).log_artifact_file(
                run.run_id, "big.bin", big)
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        body = response.json()
        assert (body["code"], body["field"]) == ("INVALID_INPUT", "body")
        assert "SHIPYARD_SERVER_MAX_UPLOAD_BYTES" in body["message"]
    assert info.value.field == "body" and "4096" in info.value.message
    assert fits.status_code == 200
    assert [a.path for a in store.list_artifacts(run.run_id)] == ["small.bin"]
    _no_traceback(caplog)


class _BrokenStore(SqlTrackingStore):
    def get_run(self, run_id: str) -> Run:
        raise RuntimeError("a bug in the server")


def test_a_server_bug_is_a_500_logged_once(store: SqlTrackingStore, run: Run,
                                           caplog: pytest.LogCaptureFixture) -> None:
    broken = _BrokenStore(store.engine, store.content)
    with TestClient(create_app(broken)) as http:
        response = http.get(f"{API}/runs/{run.run_id}")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "INTERNAL_ERROR" and "RuntimeError" in body["message"]
    assert "a bug in the server" not in body["message"]  # details stay in the log
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and "a bug in the server" in caplog.text


def test_mlflow_paths_keep_mlflow_s_error_shape(store: SqlTrackingStore) -> None:
    """Without the MLflow router (``create_app`` alone), its paths still answer in MLflow's
    shape, which the ``mlflow`` client reads; Shipyard's paths keep theirs."""
    with _client(store) as http:
        mlflow = http.post("/api/2.0/mlflow/runs/create", json={})
        ours = http.post(f"{API}/nowhere", json={})
    assert mlflow.status_code == 404
    assert mlflow.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                             "message": "no endpoint POST /api/2.0/mlflow/runs/create; the API "
                                        "is listed at /docs"}
    assert ours.status_code == 404 and ours.json()["code"] == "NOT_FOUND"
