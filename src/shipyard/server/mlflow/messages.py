"""The request messages of MLflow's ``service.proto`` that Shipyard serves, as pydantic models.

Field names, optional fields and defaults follow the proto; a field MLflow's server requires
(``_assert_required``) is required here. Requests naming a run accept ``run_uuid`` for
``run_id``, as MLflow does.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from shipyard.entities import ViewType
from shipyard.server.mlflow.proto_json import (
    Double,
    Int64,
    Message,
    RunStatusField,
    Text,
    ViewTypeField,
)


class KeyValue(Message):
    key: Text
    value: str = ""


class _RunMessage(Message):
    run_id: Text
    run_uuid: str | None = None  # MLflow's older name for run_id

    @model_validator(mode="before")
    @classmethod
    def _legacy_run_uuid(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("run_id") and data.get("run_uuid"):
            return {**data, "run_id": data["run_uuid"]}
        return data


# -- Experiments ---------------------------------------------------------------------------


class CreateExperiment(Message):
    name: Text
    artifact_location: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class ExperimentRef(Message):
    """GetExperiment, DeleteExperiment, RestoreExperiment."""

    experiment_id: Text


class GetExperimentByName(Message):
    experiment_name: Text


class SearchExperiments(Message):
    max_results: Int64 = 1000
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    view_type: ViewTypeField = ViewType.ACTIVE_ONLY


class UpdateExperiment(Message):
    experiment_id: Text
    new_name: Text


class SetExperimentTag(Message):
    experiment_id: Text
    key: Text
    value: str = ""


class DeleteExperimentTag(Message):
    experiment_id: Text
    key: Text


# -- Runs ----------------------------------------------------------------------------------


class CreateRun(Message):
    experiment_id: str = "0"
    user_id: str = ""
    run_name: str | None = None
    start_time: Int64 | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class UpdateRun(_RunMessage):
    status: RunStatusField | None = None
    end_time: Int64 | None = None
    run_name: str | None = None


class RunRef(_RunMessage):
    """GetRun, DeleteRun, RestoreRun."""


class SearchRuns(Message):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: ViewTypeField = ViewType.ACTIVE_ONLY
    max_results: Int64 = 1000
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class SetTag(_RunMessage):
    key: Text
    value: str = ""


class DeleteTag(_RunMessage):
    key: Text


class LogParam(_RunMessage):
    key: Text
    value: str = ""


class MetricPoint(Message):
    key: Text
    value: Double
    timestamp: Int64 | None = None  # MLflow requires it; Shipyard takes "now" when absent
    step: Int64 = 0


class LogMetric(_RunMessage):
    key: Text
    value: Double
    timestamp: Int64 | None = None
    step: Int64 = 0


class LogBatch(_RunMessage):
    # Left as sent: the handler reads the common shape of a point directly and validates
    # anything else as a MetricPoint (naming its place in the list), so a 1000-point batch
    # skips 1000 model validations and a copy of each point.
    metrics: list[Any] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class LogInputs(_RunMessage):
    datasets: list[dict[str, Any]] = Field(default_factory=list)
    models: list[dict[str, Any]] = Field(default_factory=list)


class GetMetricHistory(_RunMessage):
    metric_key: Text
    page_token: str | None = None
    max_results: Int64 | None = None


class ListArtifacts(_RunMessage):
    path: str | None = None
    page_token: str | None = None


class ListProxiedArtifacts(Message):
    path: str | None = None

