"""MLflow's logging RPCs: metrics, params, batches, inputs and metric history.

``log-batch`` enforces MLflow's per-request limits (1000 metrics, 100 params, 100 tags, 1000
entities, 1 MB of JSON) so a client that works here works against MLflow too; Shipyard's own
limits are wider.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from shipyard.entities import Metric
from shipyard.server.mlflow import messages as msg
from shipyard.server.mlflow.convert import RUN_NAME_TAG, decode_offset, encode_offset, metric_json
from shipyard.server.mlflow.errors import (
    invalid_parameter,
    not_implemented,
    validation_message,
)
from shipyard.server.mlflow.proto_json import JSON
from shipyard.server.mlflow.rpc import Registry
from shipyard.store.tracking.protocol import TrackingStore

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_LOG_REQUEST_SIZE = 1_000_000  # bytes

rpc = Registry()
GET, POST = ("GET",), ("POST",)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _metric(point: msg.MetricPoint | msg.LogMetric, now: int) -> Metric:
    timestamp = point.timestamp if point.timestamp is not None else now
    return Metric(key=point.key, value=point.value, step=point.step, timestamp=timestamp)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _batch_points(items: list[Any], now: int) -> list[Metric]:
    """The points of a batch. The shape clients send (a string key, a float value, integer
    step and timestamp) is read directly; anything else goes through MetricPoint, which
    converts what MLflow accepts ("NaN", numeric strings) and names what it refuses."""
    points: list[Metric] = []
    append = points.append
    for index, item in enumerate(items):
        if type(item) is dict:
            key, value = item.get("key"), item.get("value")
            step, timestamp = item.get("step", 0), item.get("timestamp", now)
            if (type(key) is str and key and type(value) is float
                    and type(step) is int and _INT64_MIN <= step <= _INT64_MAX
                    and type(timestamp) is int and _INT64_MIN <= timestamp <= _INT64_MAX):
                append(Metric(key, value, step, timestamp))
                continue
        append(_validated_point(item, index, now))
    return points


def _validated_point(item: object, index: int, now: int) -> Metric:
    try:
        point = msg.MetricPoint.model_validate(item)
    except ValidationError as exc:  # named as the client sent it: metrics[3].value
        raise invalid_parameter(validation_message([
            {**error, "loc": ("metrics", index, *error["loc"])} for error in exc.errors()
        ])) from None
    return _metric(point, now)


@rpc("logMetric", "/runs/log-metric", POST, msg.LogMetric)
def log_metric(store: TrackingStore, request: msg.LogMetric) -> JSON:
    store.log_batch(request.run_id, metrics=[_metric(request, _now_ms())])
    return {}


@rpc("logParam", "/runs/log-parameter", POST, msg.LogParam)
def log_param(store: TrackingStore, request: msg.LogParam) -> JSON:
    store.log_batch(request.run_id, params={request.key: request.value})
    return {}


def _check_limit(what: str, count: int, limit: int) -> None:
    if count > limit:
        raise invalid_parameter(
            f"A batch logging request can contain at most {limit} {what}. Got {count} {what}. "
            f"Please split up {what} across multiple requests and try again.")


def _params(items: list[msg.KeyValue]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        if params.get(item.key, item.value) != item.value:
            raise invalid_parameter(
                f"Duplicate parameter keys have been submitted: '{item.key}' with the values "
                f"'{params[item.key]}' and '{item.value}'. Please ensure the request contains "
                "only one param value per param key.")
        params[item.key] = item.value
    return params


@rpc("logBatch", "/runs/log-batch", POST, msg.LogBatch, max_body=MAX_BATCH_LOG_REQUEST_SIZE)
def log_batch(store: TrackingStore, request: msg.LogBatch) -> JSON:
    _check_limit("metrics", len(request.metrics), MAX_METRICS_PER_BATCH)
    _check_limit("params", len(request.params), MAX_PARAMS_TAGS_PER_BATCH)
    _check_limit("tags", len(request.tags), MAX_PARAMS_TAGS_PER_BATCH)
    _check_limit("metrics, params, and tags",
                 len(request.metrics) + len(request.params) + len(request.tags),
                 MAX_ENTITIES_PER_BATCH)
    now = _now_ms()
    tags = {tag.key: tag.value for tag in request.tags}
    params = _params(request.params)
    metrics = _batch_points(request.metrics, now)
    if RUN_NAME_TAG in tags:  # renames the run, as in MLflow
        store.update_run(request.run_id, run_name=tags[RUN_NAME_TAG])
    store.log_batch(request.run_id, metrics=metrics, params=params, tags=tags)
    return {}


@rpc("logInputs", "/runs/log-inputs", POST, msg.LogInputs)
def log_inputs(store: TrackingStore, request: msg.LogInputs) -> JSON:
    store.get_run(request.run_id)
    if request.datasets or request.models:
        raise not_implemented(
            "logging dataset or model inputs",
            "Nothing was stored. Version datasets with Shipyard's data versioning instead.")
    return {}


@rpc("getMetricHistory", "/metrics/get-history", GET, msg.GetMetricHistory)
def get_metric_history(store: TrackingStore, request: msg.GetMetricHistory) -> JSON:
    if request.max_results is not None and request.max_results <= 0:
        raise invalid_parameter(f"Invalid value {request.max_results} for parameter "
                                "'max_results' supplied. It must be a positive integer.")
    history = store.get_metric_history(request.run_id, request.metric_key)
    start = decode_offset(request.page_token)
    end = len(history) if request.max_results is None else start + request.max_results
    body: JSON = {"metrics": [metric_json(point) for point in history[start:end]]}
    if end < len(history):
        body["next_page_token"] = encode_offset(end)
    return body
