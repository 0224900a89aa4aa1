"""``sy.registry``: the model registry as the person running the code.

The actor of every write is ``SHIPYARD_USER`` (or the OS user) in the embedded store -- a
single-user store, where this names who acts but is no security boundary (DESIGN.md).
Against a server (an ``http(s)://`` tracking URI) the same calls go to its registry API and
the server names the actor from the request: the API token's user under ``--auth``, else the
``X-Shipyard-User`` header. Every rule (four eyes, policies, protected aliases) is enforced by
the registry service underneath, on the side that owns the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard import settings
from shipyard.entities.policy import Policy
from shipyard.entities.registry import (
    AliasChange,
    ApprovalRecord,
    ModelVersion,
    RegisteredModel,
    VersionReport,
)
from shipyard.sdk.fluent import client
from shipyard.store.registry.protocol import ModelRegistry


def _policy(policy: Policy | Mapping[str, Any] | str) -> Policy:
    """A policy whose thresholds name metrics that evaluation reports provide."""
    from shipyard.services.evaluation import METRIC_NAMES

    if isinstance(policy, Policy):
        return Policy.from_dict(policy.to_dict(), METRIC_NAMES)
    if isinstance(policy, str):
        return Policy.from_yaml(policy, METRIC_NAMES)
    return Policy.from_dict(policy, METRIC_NAMES)


class Registry:
    """Registered models, versions, approvals, aliases and policies."""

    @property
    def service(self) -> ModelRegistry:
        return client().registry

    @staticmethod
    def _actor() -> str:
        return settings.current_user()

    def create_model(self, name: str, *, description: str | None = None,
                     tags: Mapping[str, str] | None = None) -> RegisteredModel:
        return self.service.create_model(name, actor=self._actor(), description=description,
                                         tags=tags)

    def get_model(self, name: str) -> RegisteredModel:
        return self.service.get_model(name)

    def list_models(self) -> list[RegisteredModel]:
        return self.service.list_models()

    def delete_model(self, name: str, *, reason: str | None = None) -> None:
        self.service.delete_model(name, actor=self._actor(), reason=reason)

    def register_version(self, name: str, source: str, *, run_id: str | None = None,
                         digest: str | None = None, flavor: str | None = None,
                         description: str | None = None,
                         tags: Mapping[str, str] | None = None) -> ModelVersion:
        return self.service.create_version(name, source, actor=self._actor(), run_id=run_id,
                                           digest=digest, flavor=flavor,
                                           description=description, tags=tags)

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self.service.get_version(name, version)

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self.service.list_versions(name)

    def resolve(self, uri: str) -> ModelVersion:
        return self.service.resolve(uri)

    def delete_version(self, name: str, version: int, *, reason: str | None = None) -> None:
        self.service.delete_version(name, version, actor=self._actor(), reason=reason)

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self.service.set_version_tag(name, version, key, value, actor=self._actor())

    def request_approval(self, name: str, version: int, *,
                         comment: str | None = None) -> ModelVersion:
        return self.service.request_approval(name, version, actor=self._actor(),
                                             comment=comment)

    def approve(self, name: str, version: int, *, comment: str | None = None) -> ModelVersion:
        return self.service.approve(name, version, actor=self._actor(), comment=comment)

    def reject(self, name: str, version: int, *, comment: str | None = None) -> ModelVersion:
        return self.service.reject(name, version, actor=self._actor(), comment=comment)

    def approvals(self, name: str, version: int) -> list[ApprovalRecord]:
        return self.service.approvals(name, version)

    def set_alias(self, name: str, alias: str, version: int, *,
                  reason: str | None = None) -> ModelVersion:
        return self.service.set_alias(name, alias, version, actor=self._actor(), reason=reason)

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        self.service.delete_alias(name, alias, actor=self._actor(), reason=reason)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        return self.service.alias_history(name, alias)

    def alias_at(self, name: str, alias: str, at_ms: int) -> int | None:
        return self.service.alias_at(name, alias, at_ms)

    def set_policy(self, name: str, policy: Policy | Mapping[str, Any] | str, *,
                   reason: str | None = None) -> Policy:
        checked = _policy(policy)
        self.service.set_policy(name, checked, actor=self._actor(), reason=reason)
        return checked

    def get_policy(self, name: str) -> Policy:
        return self.service.get_policy(name)

    def reports(self, name: str, version: int) -> dict[str, VersionReport]:
        return self.service.reports(name, version)


registry = Registry()
