"""The registry protocol: everything the SDK asks of the model registry.

Implemented locally by :class:`~shipyard.services.registry.service.RegistryService` (which owns
the database transaction, the rules and the audit log) and, for a team server, by
:class:`~shipyard.store.rest.registry_client.RestRegistry`, whose server runs that same
service. :mod:`shipyard.testing.registry_conformance` holds both to this contract.

It lives beside the registry's rows, below both implementations, so the REST client (in
``store/``) need not import the service layer. It is a structural protocol: the service does
not inherit from it; mypy checks that it fits wherever the SDK hands one out.

Contract:
- Every write takes ``actor=``: who acts, for the audit log and the four-eyes rule. The local
  service records it as given. A server takes the actor from the request instead (its API
  token, or the ``X-Shipyard-User`` header of a server without ``--auth``) and the keyword is
  ignored, so a remote caller can never act as someone else.
- Every rule (four eyes, approval states, policies, protected aliases, deletion rules) runs
  where the database is, and every change appends its audit event in the same transaction.
- Errors are :class:`~shipyard.errors.ShipyardError` subclasses: ``InvalidInputError`` for a
  bad name, alias, URI or policy; ``NotFoundError`` for an unknown model, version, alias or
  tag; ``AlreadyExistsError`` for a model name taken; ``InvalidStateError`` for a transition
  the rules forbid (approving twice, deleting an aliased version); ``PermissionDeniedError``
  for the four-eyes rule and protected aliases.
- Returned objects are frozen snapshots. Times are milliseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from shipyard.entities import Page
from shipyard.entities.policy import Policy
from shipyard.entities.registry import (
    AliasChange,
    ApprovalRecord,
    ModelVersion,
    RegisteredModel,
    VersionReport,
)


class ModelRegistry(Protocol):
    # -- Models ------------------------------------------------------------------------------

    def create_model(self, name: str, *, actor: str, description: str | None = None,
                     tags: Mapping[str, str] | None = None) -> RegisteredModel: ...

    def get_model(self, name: str) -> RegisteredModel: ...

    def list_models(self) -> list[RegisteredModel]: ...

    def search_models(self, filter_string: str | None = None, *, max_results: int = 100,
                      page_token: str | None = None) -> Page[RegisteredModel]: ...

    def delete_model(self, name: str, *, actor: str, reason: str | None = None) -> None: ...

    # -- Versions ----------------------------------------------------------------------------

    def create_version(self, name: str, source: str, *, actor: str, run_id: str | None = None,
                       digest: str | None = None, flavor: str | None = None,
                       description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion: ...

    def get_version(self, name: str, version: int) -> ModelVersion: ...

    def list_versions(self, name: str) -> list[ModelVersion]: ...

    def search_versions(self, filter_string: str | None = None, *, max_results: int = 100,
                        page_token: str | None = None) -> Page[ModelVersion]: ...

    def resolve(self, uri: str) -> ModelVersion: ...

    def delete_version(self, name: str, version: int, *, actor: str,
                       reason: str | None = None) -> None: ...

    def set_version_tag(self, name: str, version: int, key: str, value: str, *,
                        actor: str) -> None: ...

    # -- Descriptions and model tags ---------------------------------------------------------

    def update_description(self, name: str, description: str | None, *, actor: str,
                           version: int | None = None) -> None: ...

    def set_model_tag(self, name: str, key: str, value: str, *, actor: str) -> None: ...

    def delete_tag(self, name: str, key: str, *, actor: str,
                   version: int | None = None) -> None: ...

    # -- Policy ------------------------------------------------------------------------------

    def set_policy(self, name: str, policy: Policy, *, actor: str,
                   reason: str | None = None) -> None: ...

    def get_policy(self, name: str) -> Policy: ...

    # -- Reports -----------------------------------------------------------------------------

    def attach_report(self, name: str, version: int, kind: str, *, json_digest: str,
                      html_digest: str | None, metrics: Mapping[str, float | None],
                      actor: str) -> VersionReport: ...

    def reports(self, name: str, version: int) -> dict[str, VersionReport]: ...

    # -- Approvals ---------------------------------------------------------------------------

    def request_approval(self, name: str, version: int, *, actor: str,
                         comment: str | None = None) -> ModelVersion: ...

    def approve(self, name: str, version: int, *, actor: str,
                comment: str | None = None) -> ModelVersion: ...

    def reject(self, name: str, version: int, *, actor: str,
               comment: str | None = None) -> ModelVersion: ...

    def approvals(self, name: str, version: int) -> list[ApprovalRecord]: ...

    # -- Aliases -----------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, actor: str,
                  reason: str | None = None) -> ModelVersion: ...

    def delete_alias(self, name: str, alias: str, *, actor: str,
                     reason: str | None = None) -> None: ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]: ...

    def alias_at(self, name: str, alias: str, at_ms: int) -> int | None: ...
