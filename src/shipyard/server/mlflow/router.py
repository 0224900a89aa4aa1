"""``build_router``: every MLflow-compatible route, served from one TrackingStore (and the
model registry on its database).

Each RPC is mounted under ``/api/2.0/mlflow`` (what the ``mlflow`` client calls) and
``/ajax-api/2.0/mlflow`` (what MLflow's web UI calls), with the HTTP methods MLflow's
``service.proto`` gives it. Any other path under MLflow's prefixes gets ENDPOINT_NOT_FOUND in
MLflow's shape, so a client learns what is unsupported instead of reading an HTML page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from shipyard.server.mlflow import (
    artifacts,
    registry_routes,
    routes_experiments,
    routes_logging,
    routes_runs,
)
from shipyard.server.mlflow.dispatch import Endpoint
from shipyard.server.mlflow.errors import (
    BAD_REQUEST,
    ENDPOINT_NOT_FOUND,
    MlflowApiError,
    MlflowRoute,
)
from shipyard.server.mlflow.proto_json import ProtoJSONResponse
from shipyard.server.mlflow.registry_routes import RegistryRpc
from shipyard.server.mlflow.rpc import Rpc, StoreSource, endpoint
from shipyard.store.tracking.protocol import TrackingStore

API_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
UNSERVED_PREFIXES = (*API_PREFIXES, *artifacts.ARTIFACT_PREFIXES, "/api/3.0/mlflow",
                     "/ajax-api/3.0/mlflow")
SERVER_INFO_PATHS = ("/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
UNSERVED = "mlflow_unserved"

RPCS: tuple[Rpc[Any], ...] = (
    *routes_experiments.rpc.rpcs,
    *routes_runs.rpc.rpcs,
    *routes_logging.rpc.rpcs,
    *artifacts.rpc.rpcs,
)


def server_info() -> dict[str, Any]:
    """What ``/api/3.0/mlflow/server-info`` tells the client: no multipart or presigned
    transfers, no workspaces (the client probes this before every proxied download)."""
    return {
        "store_type": None,
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
    }


def _search_logged_models() -> dict[str, Any]:
    """Shipyard has no MLflow logged models; the client searches them when it lists or
    downloads ``runs:/`` artifacts, so the truthful answer is an empty page."""
    return {"models": []}


def _unserved(router: APIRouter, prefix: str) -> Callable[[Request, str], Awaitable[Response]]:
    """ENDPOINT_NOT_FOUND for a path none of the router's routes serves; 405 with ``Allow``
    for a path served under other methods."""

    async def unserved(request: Request, rest: str) -> Response:
        local = f"{prefix}/{rest}"  # the path relative to wherever the router is mounted
        allowed = sorted({
            method for route in router.routes
            if isinstance(route, APIRoute) and route.name != UNSERVED
            and route.path_regex.match(local) for method in route.methods or ()
        })
        if allowed:
            methods = ", ".join(allowed)
            raise MlflowApiError(BAD_REQUEST, f"{request.url.path} accepts {methods}, not "
                                              f"{request.method}.",
                                 status=405, headers={"Allow": methods})
        raise MlflowApiError(ENDPOINT_NOT_FOUND,
                             "Shipyard does not serve the MLflow endpoint "
                             f"{request.method} {request.url.path}; "
                             "docs/mlflow-compatibility.md lists what it serves.")

    return unserved


def _source(store: TrackingStore | StoreSource) -> StoreSource:
    return (lambda: store) if isinstance(store, TrackingStore) else store


def _served(source: StoreSource) -> list[tuple[Rpc[Any] | RegistryRpc[Any], Endpoint]]:
    """Every RPC with its endpoint: the tracking RPCs over the store, the model registry's
    over the RegistryService on the store's database (:mod:`.registry_routes`)."""
    registry = registry_routes.RegistrySlot(source)
    return [*((rpc, endpoint(source, rpc)) for rpc in RPCS),
            *((rpc, registry_routes.registry_endpoint(registry, rpc))
              for rpc in registry_routes.RPCS)]


def rpc_endpoints(store: TrackingStore | StoreSource) -> dict[tuple[str, str], Endpoint]:
    """Every RPC's endpoint by HTTP method and full path, under both prefixes: what
    :class:`~shipyard.server.mlflow.dispatch.RpcDispatch` serves ahead of the routes."""
    endpoints: dict[tuple[str, str], Endpoint] = {}
    for rpc, serve in _served(_source(store)):
        for prefix in API_PREFIXES:
            for method in rpc.methods:
                endpoints[method, prefix + rpc.path] = serve
    return endpoints


def build_router(store: TrackingStore | StoreSource) -> APIRouter:
    """The MLflow-compatible API over ``store``; mount it on any FastAPI app.

    ``store`` may also be a function that returns the store (such as a ``StoreSlot``'s
    ``get``): it is called for every request, in the thread pool, so a store still opening
    does not block the event loop.
    """
    source = _source(store)
    router = APIRouter(route_class=MlflowRoute, default_response_class=ProtoJSONResponse)
    for rpc, serve in _served(source):
        for prefix in API_PREFIXES:
            public = prefix.startswith("/api/")
            for method in rpc.methods:  # one route per method: one OpenAPI operation id each
                suffix = f"_{method.lower()}" if len(rpc.methods) > 1 else ""
                router.add_api_route(
                    prefix + rpc.path, serve, methods=[method], include_in_schema=public,
                    name=f"mlflow_{rpc.name}", tags=["mlflow"], summary=f"MLflow {rpc.name}",
                    description=rpc.handle.__doc__ or "",
                    operation_id=f"mlflow_{rpc.name}{suffix}" if public else None)
    artifacts.add_artifact_routes(router, source)
    for path in SERVER_INFO_PATHS:
        router.add_api_route(path, server_info, methods=["GET"], include_in_schema=False)
    for prefix in API_PREFIXES:
        router.add_api_route(prefix + "/logged-models/search", _search_logged_models,
                             methods=["POST"], include_in_schema=False)

    for prefix in UNSERVED_PREFIXES:
        router.add_api_route(prefix + "/{rest:path}", _unserved(router, prefix),
                             methods=ALL_METHODS, include_in_schema=False, name=UNSERVED)
    return router
