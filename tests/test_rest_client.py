"""The REST client's retries and error mapping.

Every answer comes from the real app, in-process. Network failures cannot happen in-process, so
:class:`Flaky` (an httpx transport in front of the app) simulates them: it fails the first
requests with a transport error or a bare 5xx answer, as a dead server or a proxy would, then
passes requests on to the app. Nothing else about HTTP is mocked.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.entities import Metric, RunStatus
from shipyard.errors import (
    AlreadyExistsError,
    BackendError,
    ConflictError,
    FilterSyntaxError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    ShipyardError,
)
from shipyard.server.app import create_app
from shipyard.store.rest.client import RestTrackingStore
from shipyard.store.rest.retry import RetryPolicy, retry_after
from shipyard.store.tracking.protocol import TrackingStore
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 on import; its TestClient works the same with httpx.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

Failure = Exception | int | Callable[[httpx.Request], httpx.Response]


class Flaky(httpx.BaseTransport):
    """Fails the first requests as ``failures`` say (an exception to raise, a bare status to
    answer, or a function making the answer), then hands requests to the real app."""

    def __init__(self, app: TestClient, failures: list[Failure]) -> None:
        self.app = app
        self.failures = list(failures)
        self.calls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            if isinstance(failure, int):
                return httpx.Response(failure, text="<html>bad gateway</html>")
            return failure(request)
        request.read()
        answer = self.app.send(request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


@pytest.fixture
def sql(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    store = make_store("sqlite", tmp_path / "server")
    assert isinstance(store, SqlTrackingStore)
    yield store
    store.engine.dispose()


@pytest.fixture
def app(sql: SqlTrackingStore) -> Iterator[TestClient]:
    with TestClient(create_app(sql)) as client:
        yield client


def _store(app: TestClient, failures: list[Failure], retries: int = 3
           ) -> tuple[RestTrackingStore, Flaky]:
    flaky = Flaky(app, failures)
    http = httpx.Client(transport=flaky)
    return RestTrackingStore("http://testserver", client=http, retries=retries,
                             backoff=0.0), flaky


def test_idempotent_calls_survive_failures(app: TestClient, sql: SqlTrackingStore) -> None:
    run_id = sql.create_run(sql.create_experiment("retries")).run_id
    store, flaky = _store(app, [httpx.ConnectError("refused"), 503,
                                httpx.ReadTimeout("slow"), 504], retries=4)
    assert store.get_run(run_id).run_id == run_id
    assert len(flaky.calls) == 5

    flaky.failures = [httpx.RemoteProtocolError("reset"), 502]
    assert [r.run_id for r in store.search_runs(None)] == [run_id]  # a POST, but idempotent
    flaky.failures = [503]
    store.update_run(run_id, status=RunStatus.FINISHED)
    flaky.failures = [httpx.ReadError("reset")]
    store.delete_run(run_id)
    flaky.failures = [503]
    store.restore_run(run_id)
    flaky.failures = [httpx.WriteTimeout("slow")]
    with pytest.raises(BackendError):  # not idempotent: see the next test
        store.log_batch(run_id, tags={"a": "b"})
    assert sql.get_run(run_id).data.tags == {}


def test_non_idempotent_calls_are_not_retried(app: TestClient, sql: SqlTrackingStore) -> None:
    experiment_id = sql.create_experiment("once")
    run_id = sql.create_run(experiment_id).run_id
    cases: list[tuple[Failure, Callable[[RestTrackingStore], object], str]] = [
        (503, lambda s: s.create_run(experiment_id), "creating a run"),
        (httpx.ReadTimeout("slow"), lambda s: s.create_experiment("x"),
         "creating an experiment"),
        (httpx.RemoteProtocolError("reset"),
         lambda s: s.log_batch(run_id, metrics=[Metric("m", 1.0, 0, 0)]), "logging a batch"),
    ]
    for failure, call, what in cases:
        store, flaky = _store(app, [failure, failure, failure])
        with pytest.raises(BackendError) as info:
            call(store)
        assert len(flaky.calls) == 1, what  # sent once, never again
        message = info.value.message
        assert what in message and "not retried" in message and "http://testserver" in message
        assert info.value.details["attempts"] == 1
    assert [r.run_id for r in sql.search_runs([experiment_id])] == [run_id]
    assert sql.get_metric_history(run_id, "m") == []
    assert sql.get_experiment_by_name("x") is None


def test_a_connection_never_opened_is_retried_for_any_call(app: TestClient,
                                                           sql: SqlTrackingStore) -> None:
    """Nothing reached the server, so even creating a run cannot happen twice."""
    experiment_id = sql.create_experiment("refused")
    store, flaky = _store(app, [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
    run = store.create_run(experiment_id)
    assert len(flaky.calls) == 3
    assert [r.run_id for r in sql.search_runs([experiment_id])] == [run.run_id]


def test_giving_up_names_the_url_and_the_attempts(app: TestClient) -> None:
    store, flaky = _store(app, [httpx.ConnectError("refused")] * 5, retries=2)
    with pytest.raises(BackendError) as info:
        store.get_experiment("1")
    assert len(flaky.calls) == 3
    assert "3 attempts" in info.value.message
    assert "http://testserver/api/v1/experiments/1" in info.value.message
    assert info.value.details == {"url": "http://testserver/api/v1/experiments/1",
                                  "attempts": 3}

    store, _ = _store(app, [503] * 5, retries=1)
    with pytest.raises(BackendError) as info:
        store.get_experiment("1")
    assert "503" in info.value.message and "2 attempts" in info.value.message


def test_a_server_backend_error_keeps_its_message(app: TestClient) -> None:
    def locked(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"code": "BACKEND_ERROR",
                                         "message": "metadata database read failed: locked"})

    store, flaky = _store(app, [locked] * 3, retries=2)
    with pytest.raises(BackendError) as info:
        store.search_experiments()
    assert info.value.message == "metadata database read failed: locked"
    assert len(flaky.calls) == 3


def test_an_answer_not_from_shipyard(app: TestClient) -> None:
    def proxy_404(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>nginx: not found</html>")

    store, _ = _store(app, [proxy_404])
    with pytest.raises(BackendError) as info:
        store.get_experiment("1")
    assert "Shipyard server" in info.value.message and "nginx" in info.value.message


def test_uploads_are_resent_whole_and_downloads_restart(app: TestClient, sql: SqlTrackingStore,
                                                        tmp_path: Path) -> None:
    run_id = sql.create_run(sql.create_experiment("bytes")).run_id
    source = tmp_path / "weights.bin"
    source.write_bytes(bytes(range(256)) * 10_000)
    store, flaky = _store(app, [httpx.WriteError("reset"), 503])
    info = store.log_artifact_file(run_id, "model/weights.bin", source)
    assert info.size == source.stat().st_size and len(flaky.calls) == 3
    with sql.open_artifact(run_id, "model/weights.bin") as stream:
        assert stream.read() == source.read_bytes()

    class CutOff(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"partial"
            raise httpx.ReadError("connection reset")

    flaky.failures = [lambda request: httpx.Response(200, stream=CutOff())]
    out = store.download_artifacts(run_id, "model", tmp_path / "out")
    assert (out / "weights.bin").read_bytes() == source.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["weights.bin"]  # no partial file left


def _failure(call: Callable[[TrackingStore], object], store: TrackingStore) -> ShipyardError:
    with pytest.raises(ShipyardError) as info:
        call(store)
    return info.value


def test_errors_keep_class_code_message_and_field(app: TestClient,
                                                  sql: SqlTrackingStore) -> None:
    rest = RestTrackingStore("http://testserver", client=app)
    missing = uuid.uuid4().hex
    experiment_id = sql.create_experiment("errors")
    run_id = sql.create_run(experiment_id).run_id
    sql.log_batch(run_id, params={"C": "1"})
    ended = sql.create_run(experiment_id).run_id
    sql.update_run(ended, status=RunStatus.FINISHED)
    calls: list[Callable[[TrackingStore], object]] = [
        lambda s: s.get_experiment("999"),
        lambda s: s.get_run(missing),
        lambda s: s.create_experiment("errors"),
        lambda s: s.log_batch(run_id, params={"C": "2"}),
        lambda s: s.log_batch(ended, metrics=[Metric("m", 1.0, 0, 0)]),
        lambda s: s.search_runs(None, "params.model = 'lr"),
        lambda s: s.create_experiment("   "),
        lambda s: s.log_artifact_bytes(run_id, "../x", b""),
        lambda s: s.delete_tag(run_id, "missing"),
    ]
    kinds = set()
    for call in calls:
        local, remote = _failure(call, sql), _failure(call, rest)
        assert type(remote) is type(local)
        assert (remote.code, remote.message, remote.field) == (
            local.code, local.message, local.field)
        assert remote.details == local.details
        kinds.add(type(local))
    assert kinds == {NotFoundError, AlreadyExistsError, ConflictError, InvalidStateError,
                     FilterSyntaxError, InvalidInputError}
    syntax = _failure(calls[5], rest)
    assert isinstance(syntax, FilterSyntaxError) and syntax.position == 15


def test_bad_urls_are_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        RestTrackingStore("localhost:5000")
    assert info.value.field == "tracking_uri"


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(retries=10, backoff=0.5, max_backoff=4.0)
    for retry, cap in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)):
        waits = [policy.delay(retry) for _ in range(200)]
        assert all(0 <= w <= cap for w in waits) and len(set(waits)) > 1
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=60.0) == 4.0  # never past the cap
    assert retry_after(httpx.Response(503, headers={"Retry-After": "2"})) == 2.0
    assert retry_after(httpx.Response(503, headers={
        "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) is None
