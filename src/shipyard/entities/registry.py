"""The model registry's records: registered models, versions, aliases, approvals, policies.

A version's approval moves ``none -> pending -> approved | rejected``; approved and rejected
are final. Aliases (``production``, ``staging``) point at one version each and keep their full
history; ``latest`` and ``v<N>`` are reserved because ``models:/name@latest`` and
``models:/name/3`` already mean something.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from shipyard.errors import InvalidInputError

MODEL_NAME_MAX = 250
ALIAS_MAX = 100
_ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_RESERVED_ALIAS_RE = re.compile(r"(latest|v[0-9]+)", re.IGNORECASE)
_MODEL_URI_RE = re.compile(r"models:/([^/@]+)(?:/([0-9]+)|@([^/@]+))")


class ApprovalStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Decision(StrEnum):
    REQUEST = "request"
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    created_time: int
    updated_time: int
    created_by: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    source: str
    created_time: int
    created_by: str
    status: ApprovalStatus = ApprovalStatus.NONE
    run_id: str | None = None
    digest: str | None = None
    flavor: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class AliasChange:
    """One move of an alias: it pointed at ``version`` (None: removed) from ``time`` on."""

    name: str
    alias: str
    version: int | None
    actor: str
    time: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    name: str
    version: int
    decision: Decision
    actor: str
    time: int
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class VersionReport:
    """A report attached to a version: its kind (``evaluation``, ``bias``...), the digests of
    its JSON and HTML blobs, and its flat metrics (what policies check)."""

    name: str
    version: int
    kind: str
    json_digest: str
    html_digest: str | None
    metrics: dict[str, float | None]
    created_by: str
    time: int


@dataclass(frozen=True, slots=True)
class ModelURI:
    name: str
    version: int | None = None
    alias: str | None = None


def check_model_name(name: object, field_name: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("a registered model name must not be empty", field=field_name)
    if len(name) > MODEL_NAME_MAX:
        raise InvalidInputError(
            f"model name is {len(name)} characters long; at most {MODEL_NAME_MAX} are allowed",
            field=field_name)
    if name != name.strip() or any(ch in name for ch in "/@:\n\r\t"):
        raise InvalidInputError(
            f"model name {name!r} may not contain '/', '@', ':', line breaks or tabs, nor "
            "start or end with a space (e.g. 'er-matcher')", field=field_name)
    return name


def check_alias(alias: object, field_name: str = "alias") -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias) or len(alias) > ALIAS_MAX:
        raise InvalidInputError(
            f"alias {alias!r} must start with a letter and hold only letters, digits, '_' and "
            f"'-' (at most {ALIAS_MAX} characters), e.g. 'production'", field=field_name)
    if _RESERVED_ALIAS_RE.fullmatch(alias):
        raise InvalidInputError(
            f"alias {alias!r} is reserved: 'latest' and 'v<number>' already name versions in "
            "models:/ URIs; pick another name such as 'champion'", field=field_name)
    return alias


def parse_model_uri(uri: object) -> ModelURI:
    """``models:/name/3``, ``models:/name@alias`` or ``models:/name@latest``."""
    match = _MODEL_URI_RE.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise InvalidInputError(
            f"{uri!r} is not a model URI: write models:/<name>/<version> or "
            "models:/<name>@<alias> (e.g. models:/er-matcher@production)", field="model_uri")
    name, version, alias = match.groups()
    check_model_name(name, "model_uri")
    if version is not None:
        return ModelURI(name, version=int(version))
    if alias == "latest":
        return ModelURI(name)
    return ModelURI(name, alias=check_alias(alias, "model_uri"))
