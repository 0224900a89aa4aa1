"""One MLflow RPC: its path, HTTP methods, request message and handler, and how it is served.

A handler is a plain function ``(store, message) -> JSON`` run in the thread pool (the store is
synchronous); :func:`endpoint` reads the request into the message first and writes the handler's
answer as proto JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.server.mlflow.proto_json import (
    JSON,
    MAX_BODY,
    M,
    ProtoJSONResponse,
    read_message,
)
from shipyard.store.tracking.protocol import TrackingStore

Handler = Callable[[TrackingStore, M], JSON]


@dataclass(frozen=True, slots=True)
class Rpc(Generic[M]):
    name: str  # MLflow's method name, e.g. "createRun"
    path: str  # below the API prefix, e.g. "/runs/create"
    methods: tuple[str, ...]
    message: type[M]
    handle: Handler[M]
    max_body: int = MAX_BODY  # bytes; a larger request is INVALID_PARAMETER_VALUE


class Registry:
    """The RPCs of one routes module, collected by decorating their handlers."""

    def __init__(self) -> None:
        self.rpcs: list[Rpc[Any]] = []

    def __call__(self, name: str, path: str, methods: tuple[str, ...], message: type[M],
                 max_body: int = MAX_BODY) -> Callable[[Handler[M]], Handler[M]]:
        def register(handle: Handler[M]) -> Handler[M]:
            self.rpcs.append(Rpc(name, path, methods, message, handle, max_body))
            return handle

        return register


StoreSource = Callable[[], TrackingStore]
"""Gives the store for a request: a ready store's getter, or one that opens it on first use
(it may block, so it is only called in the thread pool)."""


def endpoint(store: StoreSource, rpc: Rpc[Any]) -> Callable[[Request], Awaitable[Response]]:
    def handle(message: Any) -> JSON:
        return rpc.handle(store(), message)

    async def serve(request: Request) -> Response:
        message = await read_message(request, rpc.message, rpc.max_body)
        return ProtoJSONResponse(await run_in_threadpool(handle, message))

    serve.__name__ = f"mlflow_{rpc.name}"
    return serve
