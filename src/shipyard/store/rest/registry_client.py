"""``RestRegistry``: the registry protocol spoken to a ``shipyard server`` over HTTP.

The server runs the :class:`~shipyard.services.registry.service.RegistryService`; this class
turns each call into one request of ``/api/v1/registry`` (docs/registry.md) and each error
answer back into the :class:`~shipyard.errors.ShipyardError` the service raised there (same
class, code, message and field), so ``sy.registry`` works unchanged against a server.

Who acts: every write keeps the service's ``actor=`` keyword, so code written for one works
with the other, but the keyword is **not sent**. The server takes the actor from the request
itself -- the user of the API token (``SHIPYARD_TOKEN``) under ``shipyard server --auth``, else
the ``X-Shipyard-User`` header -- so a remote caller cannot record a change, or pass the
four-eyes rule, as someone else.

Requests go through the :class:`~shipyard.store.rest.client.RestTrackingStore`'s transport
(its connection pool, headers and retry policy): reads are retried as idempotent; writes
(each appends an audit event) are never sent twice once they may have reached the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from shipyard.entities import Page
from shipyard.entities.policy import Policy
from shipyard.entities.registry import (
    AliasChange,
    ApprovalRecord,
    ModelVersion,
    RegisteredModel,
    VersionReport,
    check_model_name,
)
from shipyard.errors import NotFoundError
from shipyard.store.registry.protocol import ModelRegistry
from shipyard.store.rest import registry_wire as wire
from shipyard.store.rest.client import API, RestTrackingStore, _segment

BASE = f"{API}/registry"


def _model(name: str) -> str:
    if not name or "/" in name:
        # Not a path segment, and a name the registry refuses to create: no such model.
        raise NotFoundError(f"registered model {name!r} does not exist", field="name")
    return f"{BASE}/models/{_segment(name)}"


def _version(name: str, version: int) -> str:
    return f"{_model(name)}/versions/{int(version)}"


def _reason(reason: str | None) -> dict[str, str] | None:
    return None if reason is None else {"reason": reason}


class RestRegistry(ModelRegistry):
    """The model registry of the server ``store`` talks to (see the module docstring)."""

    def __init__(self, store: RestTrackingStore) -> None:
        self.store = store
        self.base_url = store.base_url
        self._api = store._api  # one transport: the same connections, headers and retries
        self._owns_store = False

    @classmethod
    def connect(cls, base_url: str, *, client: httpx.Client | None = None,
                timeout: float | None = None, retries: int | None = None,
                backoff: float | None = None) -> RestRegistry:
        """A registry client of its own for the server at ``base_url``."""
        registry = cls(RestTrackingStore(base_url, client=client, timeout=timeout,
                                         retries=retries, backoff=backoff))
        registry._owns_store = True
        return registry

    def __repr__(self) -> str:
        return f"RestRegistry({self.base_url!r})"

    def close(self) -> None:
        """Close the connections, when :meth:`connect` opened them."""
        if self._owns_store:
            self.store.close()

    def _read(self, path: str, what: str, params: Mapping[str, str] | None = None) -> Any:
        return self._api.call("GET", path, what=what, idempotent=True, params=params)

    def _write(self, method: str, path: str, what: str, body: Mapping[str, Any] | None = None,
               params: Mapping[str, str] | None = None) -> Any:
        return self._api.call(method, path, what=what, idempotent=False, body=body,
                              params=params)

    def _search(self, path: str, what: str, filter_string: str | None, max_results: int,
                page_token: str | None) -> Any:
        # A POST that only reads: safe to retry.
        return self._api.call("POST", path, what=what, idempotent=True, body={
            "filter": filter_string, "max_results": max_results, "page_token": page_token})

    # -- Models ------------------------------------------------------------------------------

    def create_model(self, name: str, *, actor: str, description: str | None = None,
                     tags: Mapping[str, str] | None = None) -> RegisteredModel:
        body = self._write("POST", f"{BASE}/models", "registering a model", body={
            "name": name, "description": description,
            "tags": None if tags is None else dict(tags)})
        return wire.model_in(body["model"])

    def get_model(self, name: str) -> RegisteredModel:
        return wire.model_in(self._read(_model(name), "reading a model")["model"])

    def list_models(self) -> list[RegisteredModel]:
        body = self._read(f"{BASE}/models", "listing models")
        return [wire.model_in(item) for item in body["models"]]

    def search_models(self, filter_string: str | None = None, *, max_results: int = 100,
                      page_token: str | None = None) -> Page[RegisteredModel]:
        body = self._search(f"{BASE}/models/search", "searching models", filter_string,
                            max_results, page_token)
        return Page([wire.model_in(item) for item in body["models"]],
                    body.get("next_page_token"))

    def delete_model(self, name: str, *, actor: str, reason: str | None = None) -> None:
        self._write("DELETE", _model(name), "deleting a model", params=_reason(reason))

    # -- Versions ----------------------------------------------------------------------------

    def create_version(self, name: str, source: str, *, actor: str, run_id: str | None = None,
                       digest: str | None = None, flavor: str | None = None,
                       description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        check_model_name(name)  # the name is a path segment: '/' or '' would miss the route
        body = self._write("POST", f"{_model(name)}/versions", "registering a version", body={
            "source": source, "run_id": run_id, "digest": digest, "flavor": flavor,
            "description": description, "tags": None if tags is None else dict(tags)})
        return wire.version_in(body["version"])

    def get_version(self, name: str, version: int) -> ModelVersion:
        return wire.version_in(self._read(_version(name, version),
                                          "reading a version")["version"])

    def list_versions(self, name: str) -> list[ModelVersion]:
        body = self._read(f"{_model(name)}/versions", "listing versions")
        return [wire.version_in(item) for item in body["versions"]]

    def search_versions(self, filter_string: str | None = None, *, max_results: int = 100,
                        page_token: str | None = None) -> Page[ModelVersion]:
        body = self._search(f"{BASE}/versions/search", "searching versions", filter_string,
                            max_results, page_token)
        return Page([wire.version_in(item) for item in body["versions"]],
                    body.get("next_page_token"))

    def resolve(self, uri: str) -> ModelVersion:
        body = self._read(f"{BASE}/resolve", "resolving a model URI", params={"uri": uri})
        return wire.version_in(body["version"])

    def delete_version(self, name: str, version: int, *, actor: str,
                       reason: str | None = None) -> None:
        self._write("DELETE", _version(name, version), "deleting a version",
                    params=_reason(reason))

    def set_version_tag(self, name: str, version: int, key: str, value: str, *,
                        actor: str) -> None:
        self._write("POST", f"{_version(name, version)}/tags", "setting a version tag",
                    body={"key": key, "value": value})

    # -- Descriptions and model tags ---------------------------------------------------------

    def update_description(self, name: str, description: str | None, *, actor: str,
                           version: int | None = None) -> None:
        path = _model(name) if version is None else _version(name, version)
        self._write("PATCH", path, "updating a description", body={"description": description})

    def set_model_tag(self, name: str, key: str, value: str, *, actor: str) -> None:
        self._write("POST", f"{_model(name)}/tags", "setting a model tag",
                    body={"key": key, "value": value})

    def delete_tag(self, name: str, key: str, *, actor: str,
                   version: int | None = None) -> None:
        path = _model(name) if version is None else _version(name, version)
        self._write("DELETE", f"{path}/tags", "deleting a tag", params={"key": key})

    # -- Policy ------------------------------------------------------------------------------

    def set_policy(self, name: str, policy: Policy, *, actor: str,
                   reason: str | None = None) -> None:
        self._write("PUT", f"{_model(name)}/policy", "setting a policy", body=policy.to_dict(),
                    params=_reason(reason))

    def get_policy(self, name: str) -> Policy:
        return wire.policy_in(self._read(f"{_model(name)}/policy", "reading a policy")["policy"])

    # -- Reports -----------------------------------------------------------------------------

    def attach_report(self, name: str, version: int, kind: str, *, json_digest: str,
                      html_digest: str | None, metrics: Mapping[str, float | None],
                      actor: str) -> VersionReport:
        body = self._write("POST", f"{_version(name, version)}/reports", "attaching a report",
                           body={"kind": kind, "json_digest": json_digest,
                                 "html_digest": html_digest,
                                 "metrics": wire.metrics_out(metrics)})
        return wire.report_in(body["report"])

    def reports(self, name: str, version: int) -> dict[str, VersionReport]:
        body = self._read(f"{_version(name, version)}/reports", "reading reports")
        return {kind: wire.report_in(item) for kind, item in body["reports"].items()}

    # -- Approvals ---------------------------------------------------------------------------

    def _decide(self, name: str, version: int, step: str, what: str,
                comment: str | None) -> ModelVersion:
        body = self._write("POST", f"{_version(name, version)}/{step}", what,
                           body={"comment": comment})
        return wire.version_in(body["version"])

    def request_approval(self, name: str, version: int, *, actor: str,
                         comment: str | None = None) -> ModelVersion:
        return self._decide(name, version, "request-approval", "requesting approval", comment)

    def approve(self, name: str, version: int, *, actor: str,
                comment: str | None = None) -> ModelVersion:
        return self._decide(name, version, "approve", "approving a version", comment)

    def reject(self, name: str, version: int, *, actor: str,
               comment: str | None = None) -> ModelVersion:
        return self._decide(name, version, "reject", "rejecting a version", comment)

    def approvals(self, name: str, version: int) -> list[ApprovalRecord]:
        body = self._read(f"{_version(name, version)}/approvals", "reading approvals")
        return [wire.approval_in(item) for item in body["approvals"]]

    # -- Aliases -----------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, actor: str,
                  reason: str | None = None) -> ModelVersion:
        body = self._write("PUT", f"{_model(name)}/aliases/{_segment(alias)}", "setting an alias",
                           body={"version": version, "reason": reason})
        return wire.version_in(body["version"])

    def delete_alias(self, name: str, alias: str, *, actor: str,
                     reason: str | None = None) -> None:
        self._write("DELETE", f"{_model(name)}/aliases/{_segment(alias)}", "deleting an alias",
                    params=_reason(reason))

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        body = self._read(f"{_model(name)}/alias-history", "reading alias history",
                          params=None if alias is None else {"alias": alias})
        return [wire.change_in(item) for item in body["changes"]]

    def alias_at(self, name: str, alias: str, at_ms: int) -> int | None:
        body = self._read(f"{_model(name)}/alias-at", "reading an alias",
                          params={"alias": alias, "time_ms": str(int(at_ms))})
        found = body["version"]
        return None if found is None else int(found)
