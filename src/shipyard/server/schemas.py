"""Request and response bodies of Shipyard's REST API (``/api/v1``), as pydantic models.

Requests are validated here only for shape and type (a missing field, a string where a number
belongs); every limit and rule is the store's, so the API and the embedded store refuse the
same things with the same messages. Unknown fields are refused, so a misspelt one is an error
rather than silently ignored.

Responses wrap the entity dataclasses themselves (pydantic reads them), so the OpenAPI schema
is the entities' own. Floats that are NaN or infinite travel as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (JSON has no such numbers); request models accept them too.
``shipyard.store.rest.wire`` reads the same JSON without pydantic.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shipyard import entities as e
from shipyard.entities import RunStatus, ViewType


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")


# -- Requests ----------------------------------------------------------------------------------


class CreateExperiment(_Request):
    name: str
    tags: dict[str, str] | None = None


class SetTag(_Request):
    key: str
    value: str


class CreateRun(_Request):
    experiment_id: str
    run_name: str | None = None
    user: str = ""
    start_time: int | None = Field(default=None, description="ms since the epoch; default now")
    tags: dict[str, str] | None = None
    parent_run_id: str | None = None
    run_id: str | None = Field(default=None, description="keep this id (32 lowercase hex "
                               "characters), e.g. when copying a run; null: a new random id")


class UpdateRun(_Request):
    status: RunStatus | None = None
    end_time: int | None = Field(default=None, description="a terminal status without it: now")
    run_name: str | None = None


class MetricPoint(_Request):
    key: str
    value: float = Field(description='a number, or "NaN", "Infinity", "-Infinity"')
    step: int = 0
    timestamp: int = Field(description="ms since the epoch")


class LogBatch(_Request):
    metrics: list[MetricPoint] = Field(default_factory=list)
    params: dict[str, str] | None = None
    tags: dict[str, str] | None = None


class SearchRuns(_Request):
    experiment_ids: list[str] | None = Field(default=None, description="null: every experiment")
    filter: str | None = Field(default=None, description="see docs/search.md")
    order_by: list[str] | None = None
    max_results: int = 1000
    page_token: str | None = None
    view: ViewType = ViewType.ACTIVE_ONLY


# -- Responses ---------------------------------------------------------------------------------


class Health(_Response):
    status: str
    version: str


class ExperimentCreated(_Response):
    experiment_id: str


class ExperimentOut(_Response):
    experiment: e.Experiment


class ExperimentList(_Response):
    experiments: list[e.Experiment]


class RunOut(_Response):
    run: e.Run


class RunInfoOut(_Response):
    run_info: e.RunInfo


class RunPage(_Response):
    runs: list[e.Run]
    next_page_token: str | None = None


class MetricHistory(_Response):
    metrics: list[e.Metric]


class ArtifactOut(_Response):
    artifact: e.ArtifactInfo


class ArtifactList(_Response):
    files: list[e.ArtifactInfo]


class ErrorBody(BaseModel):
    """The one error shape of Shipyard's API (``ShipyardError.to_dict()``)."""

    code: str = Field(description="stable: INVALID_INPUT, NOT_FOUND, ... (see errors.py)")
    message: str
    field: str | None = Field(default=None, description="the input at fault, where there is one")
    details: dict[str, object] | None = None
