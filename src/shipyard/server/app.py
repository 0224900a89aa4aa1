"""The FastAPI app of ``shipyard server``: Shipyard's REST API over one tracking store.

``create_app(store)`` serves a store you built (tests wrap a ``SqlTrackingStore`` and talk to
the app in-process); ``create_app_from_uris`` opens the store a database URL and an artifact
URL name, in the background, so the server answers ``/health`` before SQLAlchemy is even
imported. ``create_app_from_settings`` is the factory uvicorn's workers call.

Other routers are passed to ``create_app`` as ``extra_routers`` and included as they are (their
own paths, error shape and body limits); ``create_app_from_uris`` passes the MLflow-compatible
API (:mod:`shipyard.server.mlflow`) that way. Shipyard's own routes live under ``/api/v1``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from shipyard import __version__, settings
from shipyard.errors import InvalidInputError
from shipyard.server import (
    errors,
    routes_artifacts,
    routes_registry,
    routes_tracking,
    schemas,
    ui,
)
from shipyard.server.authn import Authenticator, AuthMiddleware, store_engine
from shipyard.server.deps import StoreSlot
from shipyard.server.mlflow import RpcDispatch, rpc_endpoints
from shipyard.server.mlflow import build_router as build_mlflow_router
from shipyard.server.webhook_task import WebhookTask
from shipyard.store.tracking.protocol import TrackingStore

API_DESCRIPTION = """Shipyard's tracking API: experiments, runs, metrics, params, tags and
artifacts. Every error answers `{"code", "message", "field"?, "details"?}` with a stable
`code`; see docs/server.md."""


def create_app(
    store: TrackingStore | StoreSlot, *, extra_routers: Sequence[APIRouter] = (),
    on_shutdown: Sequence[Callable[[], None]] = (),
) -> FastAPI:
    """The app serving ``store`` on ``/api/v1`` (a :class:`StoreSlot` opens it lazily).

    Each router in ``extra_routers`` is included as it is, after Shipyard's own; each of
    ``on_shutdown`` is called (in the thread pool) when the server stops.
    """
    slot = store if isinstance(store, StoreSlot) else StoreSlot.ready(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        slot.open_in_background()
        yield
        for stop in on_shutdown:
            await run_in_threadpool(stop)

    max_json = settings.SERVER_MAX_JSON_BYTES.get()
    max_upload = settings.SERVER_MAX_UPLOAD_BYTES.get()
    app = FastAPI(
        title="Shipyard",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        responses={"4XX": {"model": schemas.ErrorBody, "description": "an error"}},
    )
    app.state.store_slot = slot
    errors.install(app, max_json=max_json, max_upload=max_upload)

    @app.get("/health", tags=["server"])
    async def health() -> schemas.Health:
        """Liveness: answers as soon as the process serves, touching no store (async: no
        thread-pool hop)."""
        return schemas.Health(status="ok", version=__version__)

    app.include_router(routes_tracking.experiments)
    app.include_router(routes_tracking.runs)
    app.include_router(routes_artifacts.router)
    app.include_router(routes_registry.router)
    for router in extra_routers:
        app.include_router(router)
    ui.install(app)  # the web UI at / and /ui (docs/ui.md)
    return app


def create_app_from_uris(backend_store_uri: str, artifacts_destination: str, *,
                         auth: bool = False) -> FastAPI:
    """``shipyard server``'s app: Shipyard's API and the MLflow-compatible API
    (:mod:`shipyard.server.mlflow`) over the store a database URL and an artifact URL or
    local folder name. The store opens in the background; see :class:`StoreSlot`. Once it is
    open, a webhook dispatcher runs until shutdown (:mod:`shipyard.server.webhook_task`).

    ``auth``: every request needs an API token (:mod:`shipyard.server.authn`)."""
    if backend_store_uri.startswith(("http://", "https://")):
        raise InvalidInputError(  # the URL is not repeated: it may hold a password
            "the server keeps metadata in a database, but backend_store_uri names another "
            "server; give a database URL (sqlite:///..., postgresql+psycopg://...)",
            field="backend_store_uri",
        )
    artifacts = artifacts_uri(artifacts_destination)
    webhooks = WebhookTask()

    def open_store() -> TrackingStore:
        from shipyard.artifacts import open_content_store
        from shipyard.store.db import create_db_engine
        from shipyard.store.tracking.sql import SqlTrackingStore

        store = SqlTrackingStore(create_db_engine(backend_store_uri),
                                 open_content_store(artifacts))
        webhooks.start(store.engine)
        return store

    slot = StoreSlot(open_store)
    app = create_app(slot, extra_routers=[build_mlflow_router(slot.get)],
                     on_shutdown=[webhooks.stop])
    # The same MLflow endpoints, found by one lookup before the framework's routing.
    app.add_middleware(RpcDispatch, endpoints=rpc_endpoints(slot.get))
    app.state.auth_enabled = auth
    if auth:  # added last, so it runs first: RpcDispatch answers without routing further
        app.add_middleware(AuthMiddleware, authenticator=Authenticator(
            lambda: store_engine(slot.get()), settings.SERVER_AUTH_CACHE_SECONDS.get()))
    return app


def create_app_from_settings() -> FastAPI:
    """The app over the store the settings name (``SHIPYARD_TRACKING_URI`` and
    ``SHIPYARD_ARTIFACTS_URI``, else ``SHIPYARD_HOME``; ``SHIPYARD_SERVER_AUTH``): uvicorn's
    factory, called in each worker process."""
    return create_app_from_uris(settings.tracking_uri(), settings.artifacts_uri(),
                                auth=settings.SERVER_AUTH.get())


def artifacts_uri(destination: str) -> str:
    """An artifact URL as given, or a local folder as a ``file://`` URL."""
    if "://" in destination:
        return destination
    return Path(destination).expanduser().resolve().as_uri()
