"""Request and response bodies of the registry API (``/api/v1/registry``).

As in :mod:`shipyard.server.schemas`: requests are checked here for shape and type only (every
rule and limit is the registry service's, so the API and the embedded registry refuse the same
things with the same messages), unknown fields are refused, and responses wrap the entity
dataclasses. No request carries an actor: who acts is the request's identity (see
:mod:`shipyard.server.auth`), so a body field ``actor`` is refused as unknown.
``shipyard.store.rest.registry_wire`` reads the same JSON without pydantic.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shipyard.entities.registry import (
    AliasChange,
    ApprovalRecord,
    ModelVersion,
    RegisteredModel,
    VersionReport,
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")


# -- Requests ----------------------------------------------------------------------------------


class CreateModel(_Request):
    name: str
    description: str | None = None
    tags: dict[str, str] | None = None


class Search(_Request):
    filter: str | None = Field(default=None, description="see docs/registry.md (search)")
    max_results: int = 100
    page_token: str | None = None


class Describe(_Request):
    description: str | None = Field(description="null or '' clears it")


class SetTag(_Request):
    key: str
    value: str


class CreateVersion(_Request):
    source: str = Field(description="where the model's files are, e.g. runs:/<run id>/model")
    run_id: str | None = None
    digest: str | None = None
    flavor: str | None = None
    description: str | None = None
    tags: dict[str, str] | None = None


class Comment(_Request):
    comment: str | None = None


class AttachReport(_Request):
    kind: str = Field(description="a short word: evaluation, bias, ...")
    json_digest: str
    html_digest: str | None = None
    metrics: dict[str, float | None] = Field(
        default_factory=dict, description='numbers, null, or "NaN", "Infinity", "-Infinity"')


class SetAlias(_Request):
    version: int
    reason: str | None = None


# -- Responses ---------------------------------------------------------------------------------


class ModelOut(_Response):
    model: RegisteredModel


class ModelList(_Response):
    models: list[RegisteredModel]
    next_page_token: str | None = None


class VersionOut(_Response):
    version: ModelVersion


class VersionList(_Response):
    versions: list[ModelVersion]
    next_page_token: str | None = None


class ApprovalList(_Response):
    approvals: list[ApprovalRecord]


class ReportOut(_Response):
    report: VersionReport


class ReportMap(_Response):
    reports: dict[str, VersionReport] = Field(description="the latest report of each kind")


class AliasHistory(_Response):
    changes: list[AliasChange]


class AliasAt(_Response):
    version: int | None = Field(description="null: the alias pointed nowhere then")


class PolicyOut(_Response):
    policy: dict[str, Any] = Field(description="required_reports, thresholds, approvals, "
                                   "protected_aliases")
