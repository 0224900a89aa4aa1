"""MLflow's model-registry RPCs (``registered-models/...``, ``model-versions/...``) served by
Shipyard's :class:`~shipyard.services.registry.service.RegistryService`.

Every write goes through the service, so its rules hold for the ``mlflow`` client as for
Shipyard's own SDK: four eyes, protected aliases (an MLflow-shaped ``PERMISSION_DENIED``, 403,
naming the rule), no deleting an aliased version or a model with aliases (``INVALID_STATE``),
and an audit event per change. Who acts, and whether they may, is decided by
:func:`shipyard.server.auth.require`, the server's one place for it: without ``--auth`` the
``X-Shipyard-User`` header, else the HTTP Basic user name (``MLFLOW_TRACKING_USERNAME``), else
the server's ``SHIPYARD_USER`` -- no security boundary; with ``--auth`` the API token's user.

The service lives next to the tracking store, on its database engine; :class:`RegistrySlot`
builds it on first use, in the thread pool (it may check the schema).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.entities.auth import Permission
from shipyard.errors import NotFoundError
from shipyard.server import auth
from shipyard.server.mlflow import registry_convert as rc
from shipyard.server.mlflow import registry_messages as msg
from shipyard.server.mlflow.convert import check_max_results
from shipyard.server.mlflow.errors import not_implemented
from shipyard.server.mlflow.proto_json import JSON, M, ProtoJSONResponse, read_message
from shipyard.server.mlflow.rpc import StoreSource
from shipyard.services.registry.service import RegistryService
from shipyard.store.tracking.protocol import TrackingStore

GET, POST, PATCH, DELETE = ("GET",), ("POST",), ("PATCH",), ("DELETE",)
# As Shipyard's own registry routes (server/routes_registry.py): deleting needs admin.
READ, WRITE, DEPLOY, ADMIN = Permission.READ, Permission.WRITE, Permission.DEPLOY, Permission.ADMIN
MAX_MODELS = 1000  # MLflow's SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD
MAX_VERSIONS = rc.MAX_SORTED


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler works with: the registry, the tracking store beside it, the actor."""

    registry: RegistryService
    store: TrackingStore
    actor: str


@dataclass(frozen=True, slots=True)
class RegistryRpc(Generic[M]):
    name: str  # MLflow's method name, e.g. "createRegisteredModel"
    path: str  # below the API prefix, e.g. "/registered-models/create"
    methods: tuple[str, ...]
    message: type[M]
    permission: Permission  # checked on the message's model (``name``), if it has one
    handle: Callable[[Call, M], JSON]


class _Collect:
    def __init__(self) -> None:
        self.rpcs: list[RegistryRpc[Any]] = []

    def __call__(self, name: str, path: str, methods: tuple[str, ...], message: type[M],
                 permission: Permission) -> Callable[[Callable[[Call, M], JSON]],
                                                     Callable[[Call, M], JSON]]:
        def register(handle: Callable[[Call, M], JSON]) -> Callable[[Call, M], JSON]:
            self.rpcs.append(RegistryRpc(name, path, methods, message, permission, handle))
            return handle

        return register


rpc = _Collect()


class RegistrySlot:
    """The registry service over the engine of the store ``source`` gives (built once per
    store; a store without a database engine has no registry to serve)."""

    def __init__(self, source: StoreSource) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._built: tuple[TrackingStore, RegistryService] | None = None

    def get(self) -> tuple[TrackingStore, RegistryService]:
        store = self._source()
        built = self._built
        if built is not None and built[0] is store:
            return built
        with self._lock:
            if self._built is None or self._built[0] is not store:
                engine = getattr(store, "engine", None)
                if engine is None:
                    raise not_implemented("the model registry over this tracking store",
                                          "Serve a database-backed store (sqlite or postgresql).")
                self._built = (store, RegistryService(engine))
            return self._built


def registry_endpoint(slot: RegistrySlot, rpc: RegistryRpc[Any]
                      ) -> Callable[[Request], Awaitable[Response]]:
    def handle(message: Any, actor: str) -> JSON:
        store, registry = slot.get()
        return rpc.handle(Call(registry, store, actor), message)

    async def serve(request: Request) -> Response:
        message = await read_message(request, rpc.message)
        actor = auth.require(request, rpc.permission, getattr(message, "name", None))
        return ProtoJSONResponse(await run_in_threadpool(handle, message, actor))

    serve.__name__ = f"mlflow_{rpc.name}"
    return serve


# -- Registered models ---------------------------------------------------------------------


@rpc("createRegisteredModel", "/registered-models/create", POST, msg.CreateRegisteredModel, WRITE)
def create_model(call: Call, request: msg.CreateRegisteredModel) -> JSON:
    if request.deployment_job_id:
        raise not_implemented("deployment jobs")
    model = call.registry.create_model(request.name, actor=call.actor,
                                       description=request.description or None,
                                       tags=rc.tag_map(request.tags))
    return {"registered_model": rc.model_json(call.registry, model)}


@rpc("getRegisteredModel", "/registered-models/get", GET, msg.ModelRef, READ)
def get_model(call: Call, request: msg.ModelRef) -> JSON:
    return {"registered_model": rc.model_json(call.registry,
                                              call.registry.get_model(request.name))}


@rpc("renameRegisteredModel", "/registered-models/rename", POST, msg.RenameRegisteredModel,
     WRITE)
def rename_model(call: Call, request: msg.RenameRegisteredModel) -> JSON:
    model = call.registry.get_model(request.name)
    if request.new_name != request.name:
        # A model's name is the key of its versions, aliases, approvals and audit trail.
        raise not_implemented("renaming registered models",
                              "Register versions under the new name instead; the old model "
                              "keeps its history.")
    return {"registered_model": rc.model_json(call.registry, model)}


@rpc("updateRegisteredModel", "/registered-models/update", PATCH, msg.UpdateRegisteredModel,
     WRITE)
def update_model(call: Call, request: msg.UpdateRegisteredModel) -> JSON:
    if request.deployment_job_id:
        raise not_implemented("deployment jobs")
    if request.description is not None:  # absent: unchanged (MLflow would clear it)
        call.registry.update_description(request.name, request.description, actor=call.actor)
    return get_model(call, msg.ModelRef(name=request.name))


@rpc("deleteRegisteredModel", "/registered-models/delete", DELETE, msg.ModelRef, ADMIN)
def delete_model(call: Call, request: msg.ModelRef) -> JSON:
    call.registry.delete_model(request.name, actor=call.actor)
    return {}


@rpc("searchRegisteredModels", "/registered-models/search", GET, msg.SearchRegisteredModels,
     READ)
def search_models(call: Call, request: msg.SearchRegisteredModels) -> JSON:
    check_max_results(request.max_results, MAX_MODELS)
    text = rc.translate_filter(request.filter, rc.MODEL_GRAMMAR)
    order = (rc.parse_order(request.order_by, rc.MODEL_ORDER, rc.MODEL_TIES)
             if request.order_by else None)
    page = rc.search(lambda size, token: call.registry.search_models(
        text, max_results=size, page_token=token), request.max_results, request.page_token,
        order)
    body: JSON = {"registered_models": [rc.model_json(call.registry, m) for m in page]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


@rpc("getLatestVersions", "/registered-models/get-latest-versions", ("POST", "GET"),
     msg.GetLatestVersions, READ)
def get_latest_versions(call: Call, request: msg.GetLatestVersions) -> JSON:
    return {"model_versions": rc.latest_versions(call.registry, request.name, request.stages)}


@rpc("setRegisteredModelTag", "/registered-models/set-tag", POST, msg.SetRegisteredModelTag,
     WRITE)
def set_model_tag(call: Call, request: msg.SetRegisteredModelTag) -> JSON:
    call.registry.set_model_tag(request.name, request.key, request.value, actor=call.actor)
    return {}


@rpc("deleteRegisteredModelTag", "/registered-models/delete-tag", DELETE,
     msg.DeleteRegisteredModelTag, WRITE)
def delete_model_tag(call: Call, request: msg.DeleteRegisteredModelTag) -> JSON:
    call.registry.delete_tag(request.name, request.key, actor=call.actor)
    return {}


# -- Aliases -------------------------------------------------------------------------------


@rpc("setRegisteredModelAlias", "/registered-models/alias", POST, msg.SetRegisteredModelAlias,
     DEPLOY)
def set_alias(call: Call, request: msg.SetRegisteredModelAlias) -> JSON:
    call.registry.set_alias(request.name, request.alias, request.version, actor=call.actor)
    return {}


@rpc("deleteRegisteredModelAlias", "/registered-models/alias", DELETE, msg.AliasRef, DEPLOY)
def delete_alias(call: Call, request: msg.AliasRef) -> JSON:
    try:
        call.registry.delete_alias(request.name, request.alias, actor=call.actor)
    except NotFoundError:
        call.registry.get_model(request.name)  # an unknown model is still an error
        # An alias that points nowhere is already deleted: a no-op, as in MLflow.
    return {}


@rpc("getModelVersionByAlias", "/registered-models/alias", GET, msg.AliasRef, READ)
def get_version_by_alias(call: Call, request: msg.AliasRef) -> JSON:
    alias = "latest" if request.alias.lower() == "latest" else request.alias
    version = call.registry.resolve(f"models:/{request.name}@{alias}")
    return {"model_version": rc.version_json(version)}


# -- Model versions ------------------------------------------------------------------------


@rpc("createModelVersion", "/model-versions/create", POST, msg.CreateModelVersion, WRITE)
def create_version(call: Call, request: msg.CreateModelVersion) -> JSON:
    if request.model_id:
        raise not_implemented("logged models (model_id)",
                              "Register the model's files by a runs:/ or artifact URI.")
    call.registry.get_model(request.name)  # MLflow: the registered model must exist
    # The source is kept as given (runs:/, mlflow-artifacts:/, models:/, a path); Shipyard
    # does not know the flavor or digest of files it did not write. run_link is not kept.
    version = call.registry.create_version(
        request.name, request.source, actor=call.actor, run_id=request.run_id or None,
        description=request.description or None, tags=rc.tag_map(request.tags))
    return {"model_version": rc.version_json(version)}


@rpc("getModelVersion", "/model-versions/get", GET, msg.VersionRef, READ)
def get_version(call: Call, request: msg.VersionRef) -> JSON:
    return {"model_version": rc.version_json(
        call.registry.get_version(request.name, request.version))}


@rpc("updateModelVersion", "/model-versions/update", PATCH, msg.UpdateModelVersion, WRITE)
def update_version(call: Call, request: msg.UpdateModelVersion) -> JSON:
    if request.description is not None:
        call.registry.update_description(request.name, request.description, actor=call.actor,
                                         version=request.version)
    return get_version(call, request)


@rpc("deleteModelVersion", "/model-versions/delete", DELETE, msg.VersionRef, ADMIN)
def delete_version(call: Call, request: msg.VersionRef) -> JSON:
    call.registry.delete_version(request.name, request.version, actor=call.actor)
    return {}


@rpc("searchModelVersions", "/model-versions/search", GET, msg.SearchModelVersions, READ)
def search_versions(call: Call, request: msg.SearchModelVersions) -> JSON:
    check_max_results(request.max_results, MAX_VERSIONS)
    text = rc.translate_filter(request.filter, rc.VERSION_GRAMMAR)
    order = (rc.parse_order(request.order_by, rc.VERSION_ORDER, rc.VERSION_TIES)
             if request.order_by else None)
    page = rc.search(lambda size, token: call.registry.search_versions(
        text, max_results=size, page_token=token), request.max_results, request.page_token,
        order)
    body: JSON = {"model_versions": [rc.version_json(v) for v in page]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


@rpc("setModelVersionTag", "/model-versions/set-tag", POST, msg.SetModelVersionTag, WRITE)
def set_version_tag(call: Call, request: msg.SetModelVersionTag) -> JSON:
    call.registry.set_version_tag(request.name, request.version, request.key, request.value,
                                  actor=call.actor)
    return {}


@rpc("deleteModelVersionTag", "/model-versions/delete-tag", DELETE, msg.DeleteModelVersionTag,
     WRITE)
def delete_version_tag(call: Call, request: msg.DeleteModelVersionTag) -> JSON:
    call.registry.delete_tag(request.name, request.key, actor=call.actor,
                             version=request.version)
    return {}


@rpc("getModelVersionDownloadUri", "/model-versions/get-download-uri", GET, msg.VersionRef,
     READ)
def get_download_uri(call: Call, request: msg.VersionRef) -> JSON:
    version = call.registry.get_version(request.name, request.version)
    return {"artifact_uri": rc.download_uri(call.store, call.registry, version)}


@rpc("transitionModelVersionStage", "/model-versions/transition-stage", POST,
     msg.TransitionModelVersionStage, DEPLOY)
def transition_stage(call: Call, request: msg.TransitionModelVersionStage) -> JSON:
    call.registry.get_version(request.name, request.version)
    raise not_implemented("model version stages (deprecated in MLflow)",
                          "Use aliases: MlflowClient.set_registered_model_alias(name, "
                          "'production', version).")


RPCS: tuple[RegistryRpc[Any], ...] = tuple(rpc.rpcs)
