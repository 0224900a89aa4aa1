"""The JSON form of the registry's records on Shipyard's REST API, read by hand.

The server renders them with pydantic (``shipyard.server.registry_schemas``); the client must
not need pydantic, so it decodes the same JSON here. As for metrics in tracking, a report
metric that is NaN or infinite travels as ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``. The
registry conformance suite run through the REST client keeps both sides in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.entities.policy import Policy
from shipyard.entities.registry import (
    AliasChange,
    ApprovalRecord,
    ApprovalStatus,
    Decision,
    ModelVersion,
    RegisteredModel,
    VersionReport,
)
from shipyard.store.rest.wire import float_in, float_out

JSON = Mapping[str, Any]


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def model_in(body: JSON) -> RegisteredModel:
    return RegisteredModel(
        name=body["name"], created_time=int(body["created_time"]),
        updated_time=int(body["updated_time"]), created_by=body["created_by"],
        description=body.get("description"), tags=dict(body.get("tags") or {}),
        latest_version=_int_or_none(body.get("latest_version")),
        aliases={k: int(v) for k, v in (body.get("aliases") or {}).items()})


def version_in(body: JSON) -> ModelVersion:
    return ModelVersion(
        name=body["name"], version=int(body["version"]), source=body["source"],
        created_time=int(body["created_time"]), created_by=body["created_by"],
        status=ApprovalStatus(body["status"]), run_id=body.get("run_id"),
        digest=body.get("digest"), flavor=body.get("flavor"),
        description=body.get("description"), tags=dict(body.get("tags") or {}),
        aliases=tuple(body.get("aliases") or ()))


def change_in(body: JSON) -> AliasChange:
    return AliasChange(name=body["name"], alias=body["alias"],
                       version=_int_or_none(body.get("version")), actor=body["actor"],
                       time=int(body["time"]), reason=body.get("reason"))


def approval_in(body: JSON) -> ApprovalRecord:
    return ApprovalRecord(name=body["name"], version=int(body["version"]),
                          decision=Decision(body["decision"]), actor=body["actor"],
                          time=int(body["time"]), comment=body.get("comment"))


def report_in(body: JSON) -> VersionReport:
    return VersionReport(
        name=body["name"], version=int(body["version"]), kind=body["kind"],
        json_digest=body["json_digest"], html_digest=body.get("html_digest"),
        metrics={k: None if v is None else float_in(v)
                 for k, v in (body.get("metrics") or {}).items()},
        created_by=body["created_by"], time=int(body["time"]))


def metrics_out(metrics: Mapping[str, float | None]) -> dict[str, Any]:
    """Report metrics as JSON allows them: non-finite floats as strings; anything else as it
    is, for the server to judge (it names the metric it refuses)."""
    return {k: float_out(v) if isinstance(v, float) else v for k, v in metrics.items()}


def policy_in(body: JSON) -> Policy:
    return Policy.from_dict(body)
