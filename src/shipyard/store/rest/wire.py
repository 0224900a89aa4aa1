"""The JSON form of the tracking entities on Shipyard's REST API, read and written by hand.

The server renders entities with pydantic (``shipyard.server.schemas``); the client must not
need pydantic (it is a server extra), so it decodes the same JSON here. One convention differs
from plain JSON: a float that is NaN or infinite travels as the string ``"NaN"``,
``"Infinity"`` or ``"-Infinity"``, because JSON has no such numbers and metrics may hold them.
The conformance suite run through the REST client keeps both sides in step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from shipyard.entities import (
    ArtifactInfo,
    Experiment,
    LifecycleStage,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunStatus,
)
from shipyard.errors import FilterSyntaxError, ShipyardError

JSON = dict[str, Any]


def float_out(value: float) -> float | str:
    """A float as JSON allows it: non-finite values become strings."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def float_in(value: float | int | str) -> float:
    """The inverse of :func:`float_out` (``float`` reads 'NaN' and '±Infinity')."""
    return float(value)


def metric_out(metric: Metric) -> JSON:
    return {"key": metric.key, "value": float_out(metric.value), "step": metric.step,
            "timestamp": metric.timestamp}


def metric_in(body: Mapping[str, Any]) -> Metric:
    return Metric(key=body["key"], value=float_in(body["value"]), step=int(body["step"]),
                  timestamp=int(body["timestamp"]))


def experiment_in(body: Mapping[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=str(body["experiment_id"]),
        name=body["name"],
        lifecycle_stage=LifecycleStage(body["lifecycle_stage"]),
        creation_time=int(body["creation_time"]),
        last_update_time=int(body["last_update_time"]),
        tags=dict(body.get("tags") or {}),
    )


def run_info_in(body: Mapping[str, Any]) -> RunInfo:
    end_time = body.get("end_time")
    return RunInfo(
        run_id=body["run_id"],
        experiment_id=str(body["experiment_id"]),
        run_name=body["run_name"],
        user=body.get("user", ""),
        status=RunStatus(body["status"]),
        start_time=int(body["start_time"]),
        end_time=None if end_time is None else int(end_time),
        lifecycle_stage=LifecycleStage(body["lifecycle_stage"]),
        parent_run_id=body.get("parent_run_id"),
    )


def run_in(body: Mapping[str, Any]) -> Run:
    data = body.get("data") or {}
    return Run(
        info=run_info_in(body["info"]),
        data=RunData(
            params=dict(data.get("params") or {}),
            metrics={k: float_in(v) for k, v in (data.get("metrics") or {}).items()},
            tags=dict(data.get("tags") or {}),
        ),
    )


def artifact_in(body: Mapping[str, Any]) -> ArtifactInfo:
    size = body.get("size")
    return ArtifactInfo(path=body["path"], is_dir=bool(body["is_dir"]),
                        size=None if size is None else int(size), digest=body.get("digest"))


def error_in(body: Mapping[str, Any]) -> ShipyardError:
    """The :class:`ShipyardError` a server's error body describes: the same class (found by its
    ``code``), message, field and details, as if the store had raised it in this process."""
    cls = _ERROR_CLASSES.get(body["code"], ShipyardError)
    details = dict(body.get("details") or {})
    error = cls.__new__(cls)
    # Not cls(...): subclasses may take other arguments (FilterSyntaxError builds its message
    # from the filter text); the server already sent the finished message.
    ShipyardError.__init__(error, body["message"], field=body.get("field"), **details)
    if isinstance(error, FilterSyntaxError):
        error.position = int(details.get("position", 0))
    return error


def is_error_body(body: object) -> bool:
    """Whether a decoded JSON body has the shape of :meth:`ShipyardError.to_dict`."""
    return (isinstance(body, dict) and isinstance(body.get("code"), str)
            and isinstance(body.get("message"), str))


def _error_classes() -> dict[str, type[ShipyardError]]:
    found: dict[str, type[ShipyardError]] = {}
    pending: list[type[ShipyardError]] = [ShipyardError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


_ERROR_CLASSES = _error_classes()
