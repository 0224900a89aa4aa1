"""The request messages of MLflow's ``model_registry.proto`` that Shipyard serves.

Field names and defaults follow the proto (MLflow 3.17); a field MLflow's server requires is
required here. A version travels as a string in MLflow's API; :data:`VersionNumber` reads it
(a string or a number) as a positive integer, so a bad one is INVALID_PARAMETER_VALUE naming
``version`` before any handler runs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from shipyard.server.mlflow.messages import KeyValue
from shipyard.server.mlflow.proto_json import Int64, Message, Text

SEARCH_MODELS_DEFAULT = 100  # MLflow's SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT
SEARCH_VERSIONS_DEFAULT = 10_000  # MLflow's SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT
MAX_VERSION = 2**31 - 1  # model_versions.version is a 32-bit integer column


def _version_number(value: object) -> object:
    if value is None or value == "":
        raise PydanticCustomError("missing", "Field required")
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise PydanticCustomError("version", "a version is a positive whole number such as '3'")
    if not 1 <= number <= MAX_VERSION:
        raise PydanticCustomError("version", "a version is a positive whole number such as '3'")
    return number


VersionNumber = Annotated[int, BeforeValidator(_version_number)]


class ModelRef(Message):
    """GetRegisteredModel, DeleteRegisteredModel."""

    name: Text


class CreateRegisteredModel(Message):
    name: Text
    tags: list[KeyValue] = Field(default_factory=list)
    description: str | None = None
    deployment_job_id: str | None = None


class RenameRegisteredModel(Message):
    name: Text
    new_name: Text


class UpdateRegisteredModel(Message):
    name: Text
    description: str | None = None
    deployment_job_id: str | None = None


class SearchRegisteredModels(Message):
    filter: str | None = None
    max_results: Int64 = SEARCH_MODELS_DEFAULT
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class GetLatestVersions(Message):
    name: Text
    stages: list[str] = Field(default_factory=list)


class SetRegisteredModelTag(Message):
    name: Text
    key: Text
    value: str = ""


class DeleteRegisteredModelTag(Message):
    name: Text
    key: Text


class SetRegisteredModelAlias(Message):
    name: Text
    alias: Text
    version: VersionNumber


class AliasRef(Message):
    """DeleteRegisteredModelAlias, GetModelVersionByAlias."""

    name: Text
    alias: Text


class CreateModelVersion(Message):
    name: Text
    source: Text
    run_id: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None


class VersionRef(Message):
    """GetModelVersion, DeleteModelVersion, GetModelVersionDownloadUri."""

    name: Text
    version: VersionNumber


class UpdateModelVersion(VersionRef):
    description: str | None = None


class TransitionModelVersionStage(VersionRef):
    stage: Text
    archive_existing_versions: bool = False


class SearchModelVersions(Message):
    filter: str | None = None
    max_results: Int64 = SEARCH_VERSIONS_DEFAULT
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class SetModelVersionTag(VersionRef):
    key: Text
    value: str = ""


class DeleteModelVersionTag(VersionRef):
    key: Text
