"""The client of ``benchmarks/tracking_server.py``: the MLflow client, driving any server.

Run with the Python of ``.bench/mlflow-*`` (the full benchmark) or imported into ``.venv``'s
Python, whose ``mlflow-skinny`` is the same client (``--quick``). Every request names the
server's tracking URI, so one worker drives every server in turn. Every timed section is the
public ``MlflowClient`` API a user calls, one HTTP request per call; set-up and read-back checks
are not timed.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _tracking_data as data
import mlflow
from _harness import serve
from mlflow import MlflowClient
from mlflow.entities import Metric

BATCH_LIMIT = 1000  # metrics per MlflowClient.log_batch call, MLflow's limit
WARM_UP_CALLS = 5  # untimed log_metric calls (another key) before each timed series
METRIC_KEY = "m"

_clients: dict[str, MlflowClient] = {}


def client(tracking_uri: str) -> MlflowClient:
    """One client per server, kept for the worker's life like a user's process keeps it."""
    if tracking_uri not in _clients:
        _clients[tracking_uri] = MlflowClient(tracking_uri)
    return _clients[tracking_uri]


def info() -> dict[str, Any]:
    from importlib.metadata import version

    return {"mlflow_client": mlflow.__version__, "requests": version("requests"),
            "python": sys.version.split()[0]}


def create_run(tracking_uri: str, experiment: str) -> str:
    """A fresh run in ``experiment`` (created on first use, with the server's artifact root)."""
    sdk = client(tracking_uri)
    found = sdk.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else sdk.create_experiment(
        experiment)
    return str(sdk.create_run(experiment_id).info.run_id)


def _milliseconds(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
            "max_ms": round(ordered[-1] * 1000, 3)}


def log_metric(tracking_uri: str, run_id: str, n: int) -> dict[str, Any]:
    """``n`` single ``MlflowClient.log_metric`` calls (one request each), timed in total and
    one by one, after a few untimed calls under another key."""
    sdk = client(tracking_uri)
    for i in range(WARM_UP_CALLS):
        sdk.log_metric(run_id, "warm-up", float(i), step=i)
    latencies = []
    clock = time.perf_counter
    start = clock()
    for i in range(n):
        before = clock()
        sdk.log_metric(run_id, METRIC_KEY, i * 0.001, step=i)
        latencies.append(clock() - before)
    seconds = clock() - start
    return {"seconds": seconds, "calls": n, "points": n, "keys": [METRIC_KEY],
            "latency": _milliseconds(latencies)}


def log_batch(tracking_uri: str, run_id: str, points: int) -> dict[str, Any]:
    """``points`` metric points through ``MlflowClient.log_batch``, in chunks of MLflow's limit
    of 1000 metrics per call (ten series, as in ``benchmarks/tracking.py``)."""
    sdk = client(tracking_uri)
    metrics = [Metric(k, v, t, s) for k, v, s, t in data.batch_points(points)]
    chunks = [metrics[i : i + BATCH_LIMIT] for i in range(0, len(metrics), BATCH_LIMIT)]
    sdk.log_metric(run_id, "warm-up", 0.0, step=0)
    start = time.perf_counter()
    for chunk in chunks:
        sdk.log_batch(run_id, metrics=chunk)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "calls": len(chunks), "points": points,
            "keys": sorted({m.key for m in metrics})}


@contextlib.contextmanager
def _no_network() -> Iterator[None]:
    """The MLflow client with its HTTP send stubbed out: a request is still built as
    ``requests`` builds it (its JSON body encoded), and answered ``200 {}`` without a socket."""
    import requests
    from mlflow.utils import rest_utils

    def http_request(host_creds: Any, endpoint: str, method: str, **kwargs: Any) -> Any:
        requests.Request(method, f"{host_creds.host}{endpoint}", json=kwargs.get("json"),
                         params=kwargs.get("params")).prepare()
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response.encoding = "utf-8"
        response._content = b"{}"
        return response

    sent = rest_utils.http_request
    rest_utils.http_request = http_request
    try:
        yield
    finally:
        rest_utils.http_request = sent


def log_batch_client_only(points: int) -> dict[str, Any]:
    """The client's own cost of the ``log_batch`` workload: the same calls on a client whose
    HTTP send is stubbed out (see :func:`_no_network`), so only building, serializing and
    reading back remain. No server is involved; it is the floor of any server's time."""
    sdk = MlflowClient("http://127.0.0.1:9")  # never contacted
    metrics = [Metric(k, v, t, s) for k, v, s, t in data.batch_points(points)]
    chunks = [metrics[i : i + BATCH_LIMIT] for i in range(0, len(metrics), BATCH_LIMIT)]
    run_id = "0" * 32
    with _no_network():
        sdk.log_batch(run_id, metrics=chunks[0])  # warm-up, untimed
        start = time.perf_counter()
        for chunk in chunks:
            sdk.log_batch(run_id, metrics=chunk)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "calls": len(chunks), "points": points}


def history_count(tracking_uri: str, run_id: str, keys: list[str]) -> int:
    """How many points of ``keys`` the server returns for the run (``get_metric_history``,
    which pages through the whole history)."""
    sdk = client(tracking_uri)
    return sum(len(sdk.get_metric_history(run_id, key)) for key in keys)


HANDLERS: dict[str, Callable[..., Any]] = {
    "info": info, "create_run": create_run, "log_metric": log_metric, "log_batch": log_batch,
    "history_count": history_count, "log_batch_client_only": log_batch_client_only,
}

if __name__ == "__main__":
    serve(HANDLERS)
