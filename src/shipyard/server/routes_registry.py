"""``/api/v1/registry``: one endpoint per method of the registry service.

Endpoints only translate HTTP to a :class:`RegistryService` call and back. The service runs here,
on the side that owns the database, so every rule (four eyes, approval states, policies,
protected aliases, deletion rules) and its audit event run in the server's transaction and a
remote client cannot skip one. The actor of every write is what
:func:`~shipyard.server.auth.require` answers for the request -- never a body field -- after it
checks the permission the write needs (``read``, ``write``, ``approve``, ``deploy``, ``admin``;
see docs/registry.md). Endpoints are plain ``def``: the service blocks, FastAPI runs them in its
thread pool.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from shipyard.entities.auth import Permission
from shipyard.entities.policy import Policy
from shipyard.entities.registry import parse_model_uri
from shipyard.errors import BackendError
from shipyard.server import registry_schemas as s
from shipyard.server.auth import require
from shipyard.server.deps import StoreSlot
from shipyard.services.registry.service import RegistryService

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
_building = threading.Lock()

READ, WRITE, APPROVE = Permission.READ, Permission.WRITE, Permission.APPROVE
DEPLOY, ADMIN = Permission.DEPLOY, Permission.ADMIN


def get_registry(request: Request) -> RegistryService:
    """The app's one registry service, built on first use over the tracking store's engine
    (the store itself opens lazily: see :class:`~shipyard.server.deps.StoreSlot`)."""
    state = request.app.state
    found: RegistryService | None = getattr(state, "registry_service", None)
    if found is not None:
        return found
    with _building:
        found = getattr(state, "registry_service", None)
        if found is None:
            slot: StoreSlot = state.store_slot
            engine = getattr(slot.get(), "engine", None)
            if engine is None:  # a store with no database of its own (not a server's)
                raise BackendError("the model registry needs the server's metadata database, "
                                   "and this server's tracking store has none")
            found = state.registry_service = RegistryService(engine)
    return found


Registry = Annotated[RegistryService, Depends(get_registry)]
Reason = Annotated[str | None, Query(description="why, for the audit log")]
OptionalComment = Annotated[s.Comment | None, Body()]


# -- Models ------------------------------------------------------------------------------------


@router.post("/models", status_code=201)
def create_model(body: s.CreateModel, request: Request, registry: Registry) -> s.ModelOut:
    """Register a model; 409 ``ALREADY_EXISTS`` if the name is taken."""
    actor = require(request, WRITE, body.name)
    return s.ModelOut(model=registry.create_model(body.name, actor=actor,
                                                  description=body.description, tags=body.tags))


@router.get("/models")
def list_models(request: Request, registry: Registry) -> s.ModelList:
    """Every registered model, by name."""
    require(request, READ)
    return s.ModelList(models=registry.list_models())


@router.post("/models/search")
def search_models(body: s.Search, request: Request, registry: Registry) -> s.ModelList:
    """One page of models matching a filter (POST, because filters are long)."""
    require(request, READ)
    page = registry.search_models(body.filter, max_results=body.max_results,
                                  page_token=body.page_token)
    return s.ModelList(models=page.items, next_page_token=page.next_page_token)


@router.get("/models/{name}")
def get_model(name: str, request: Request, registry: Registry) -> s.ModelOut:
    require(request, READ, name)
    return s.ModelOut(model=registry.get_model(name))


@router.patch("/models/{name}", status_code=204)
def describe_model(name: str, body: s.Describe, request: Request, registry: Registry) -> None:
    registry.update_description(name, body.description, actor=require(request, WRITE, name))


@router.delete("/models/{name}", status_code=204)
def delete_model(name: str, request: Request, registry: Registry, reason: Reason = None
                 ) -> None:
    """Delete a model and its versions; 409 ``INVALID_STATE`` while aliases point at it."""
    registry.delete_model(name, actor=require(request, ADMIN, name), reason=reason)


@router.post("/models/{name}/tags", status_code=204)
def set_model_tag(name: str, body: s.SetTag, request: Request, registry: Registry) -> None:
    registry.set_model_tag(name, body.key, body.value, actor=require(request, WRITE, name))


@router.delete("/models/{name}/tags", status_code=204)
def delete_model_tag(name: str, key: Annotated[str, Query()], request: Request,
                     registry: Registry) -> None:
    registry.delete_tag(name, key, actor=require(request, WRITE, name))


# -- Versions ----------------------------------------------------------------------------------


@router.post("/models/{name}/versions", status_code=201)
def create_version(name: str, body: s.CreateVersion, request: Request, registry: Registry
                   ) -> s.VersionOut:
    """Register the next version of ``name`` (the model is created on first use)."""
    actor = require(request, WRITE, name)
    return s.VersionOut(version=registry.create_version(
        name, body.source, actor=actor, run_id=body.run_id, digest=body.digest,
        flavor=body.flavor, description=body.description, tags=body.tags))


@router.get("/models/{name}/versions")
def list_versions(name: str, request: Request, registry: Registry) -> s.VersionList:
    require(request, READ, name)
    return s.VersionList(versions=registry.list_versions(name))


@router.post("/versions/search")
def search_versions(body: s.Search, request: Request, registry: Registry) -> s.VersionList:
    """One page of versions of any model matching a filter, by model then newest first."""
    require(request, READ)
    page = registry.search_versions(body.filter, max_results=body.max_results,
                                    page_token=body.page_token)
    return s.VersionList(versions=page.items, next_page_token=page.next_page_token)


@router.get("/resolve")
def resolve(uri: Annotated[str, Query(description="models:/name/3, models:/name@alias")],
            request: Request, registry: Registry) -> s.VersionOut:
    """The version a ``models:/`` URI names."""
    require(request, READ, parse_model_uri(uri).name)
    return s.VersionOut(version=registry.resolve(uri))


@router.get("/models/{name}/versions/{version}")
def get_version(name: str, version: int, request: Request, registry: Registry
                ) -> s.VersionOut:
    require(request, READ, name)
    return s.VersionOut(version=registry.get_version(name, version))


@router.patch("/models/{name}/versions/{version}", status_code=204)
def describe_version(name: str, version: int, body: s.Describe, request: Request,
                     registry: Registry) -> None:
    registry.update_description(name, body.description, actor=require(request, WRITE, name),
                                version=version)


@router.delete("/models/{name}/versions/{version}", status_code=204)
def delete_version(name: str, version: int, request: Request, registry: Registry,
                   reason: Reason = None) -> None:
    """409 ``INVALID_STATE`` while an alias points at the version."""
    registry.delete_version(name, version, actor=require(request, ADMIN, name), reason=reason)


@router.post("/models/{name}/versions/{version}/tags", status_code=204)
def set_version_tag(name: str, version: int, body: s.SetTag, request: Request,
                    registry: Registry) -> None:
    registry.set_version_tag(name, version, body.key, body.value,
                             actor=require(request, WRITE, name))


@router.delete("/models/{name}/versions/{version}/tags", status_code=204)
def delete_version_tag(name: str, version: int, key: Annotated[str, Query()],
                       request: Request, registry: Registry) -> None:
    registry.delete_tag(name, key, actor=require(request, WRITE, name), version=version)


# -- Approvals ---------------------------------------------------------------------------------


@router.post("/models/{name}/versions/{version}/request-approval")
def request_approval(name: str, version: int, request: Request, registry: Registry,
                     body: OptionalComment = None) -> s.VersionOut:
    """``none -> pending``; 409 ``INVALID_STATE`` once requested."""
    actor = require(request, WRITE, name)
    return s.VersionOut(version=registry.request_approval(
        name, version, actor=actor, comment=None if body is None else body.comment))


@router.post("/models/{name}/versions/{version}/approve")
def approve(name: str, version: int, request: Request, registry: Registry,
            body: OptionalComment = None) -> s.VersionOut:
    """403 ``PERMISSION_DENIED`` for the version's author (four eyes); 409 ``INVALID_STATE``
    for a version not pending, or an approver who already approved it."""
    actor = require(request, APPROVE, name)
    return s.VersionOut(version=registry.approve(
        name, version, actor=actor, comment=None if body is None else body.comment))


@router.post("/models/{name}/versions/{version}/reject")
def reject(name: str, version: int, request: Request, registry: Registry,
           body: OptionalComment = None) -> s.VersionOut:
    actor = require(request, APPROVE, name)
    return s.VersionOut(version=registry.reject(
        name, version, actor=actor, comment=None if body is None else body.comment))


@router.get("/models/{name}/versions/{version}/approvals")
def approvals(name: str, version: int, request: Request, registry: Registry
              ) -> s.ApprovalList:
    require(request, READ, name)
    return s.ApprovalList(approvals=registry.approvals(name, version))


# -- Reports -----------------------------------------------------------------------------------


@router.post("/models/{name}/versions/{version}/reports", status_code=201)
def attach_report(name: str, version: int, body: s.AttachReport, request: Request,
                  registry: Registry) -> s.ReportOut:
    """Attach a report already stored by digest; its metrics are what policies check."""
    actor = require(request, WRITE, name)
    return s.ReportOut(report=registry.attach_report(
        name, version, body.kind, json_digest=body.json_digest, html_digest=body.html_digest,
        metrics=body.metrics, actor=actor))


@router.get("/models/{name}/versions/{version}/reports")
def reports(name: str, version: int, request: Request, registry: Registry) -> s.ReportMap:
    require(request, READ, name)
    return s.ReportMap(reports=registry.reports(name, version))


# -- Aliases -----------------------------------------------------------------------------------
# ``{alias:path}``: a malformed alias ('a/b', '') still reaches the service, which names the
# rule it breaks, instead of matching no route. Reads take the alias as a query parameter.


@router.get("/models/{name}/alias-history")
def alias_history(name: str, request: Request, registry: Registry,
                  alias: Annotated[str | None, Query(description="absent: every alias")] = None
                  ) -> s.AliasHistory:
    require(request, READ, name)
    return s.AliasHistory(changes=registry.alias_history(name, alias))


@router.get("/models/{name}/alias-at")
def alias_at(name: str, alias: Annotated[str, Query()],
             time_ms: Annotated[int, Query(description="ms since the epoch")],
             request: Request, registry: Registry) -> s.AliasAt:
    """The version ``alias`` pointed at, at ``time_ms``."""
    require(request, READ, name)
    return s.AliasAt(version=registry.alias_at(name, alias, time_ms))


@router.put("/models/{name}/aliases/{alias:path}")
def set_alias(name: str, alias: str, body: s.SetAlias, request: Request, registry: Registry
              ) -> s.VersionOut:
    """Point ``alias`` at a version; 403 ``PERMISSION_DENIED`` when the policy protects the
    alias and the version is not approved, lacks a required report or misses a threshold."""
    actor = require(request, DEPLOY, name)
    return s.VersionOut(version=registry.set_alias(name, alias, body.version, actor=actor,
                                                   reason=body.reason))


@router.delete("/models/{name}/aliases/{alias:path}", status_code=204)
def delete_alias(name: str, alias: str, request: Request, registry: Registry,
                 reason: Reason = None) -> None:
    registry.delete_alias(name, alias, actor=require(request, DEPLOY, name), reason=reason)


# -- Policy ------------------------------------------------------------------------------------


@router.get("/models/{name}/policy")
def get_policy(name: str, request: Request, registry: Registry) -> s.PolicyOut:
    require(request, READ, name)
    return s.PolicyOut(policy=registry.get_policy(name).to_dict())


@router.put("/models/{name}/policy", status_code=204)
def set_policy(name: str, policy: Annotated[dict[str, Any], Body(
        description="Policy fields: required_reports, thresholds, approvals, "
                    "protected_aliases")],
               request: Request, registry: Registry, reason: Reason = None) -> None:
    """Replace the model's policy; a bad field is a 400 naming it (``policy.thresholds``)."""
    actor = require(request, ADMIN, name)
    registry.set_policy(name, Policy.from_dict(policy), actor=actor, reason=reason)
