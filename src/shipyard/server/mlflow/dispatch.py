"""``RpcDispatch``: MLflow's RPCs served by one dictionary lookup, ahead of FastAPI's routing.

The ``mlflow`` client makes one HTTP request per call, so on small calls (``log_metric``) the
framework costs as much as the work: a request to an MLflow RPC otherwise passes some ten
middleware layers and is matched against every route in turn, about 0.15 ms of the server's
0.55 ms CPU time per ``log_metric`` call. This ASGI middleware answers a request whose method
and path are exactly an RPC's (``POST /api/2.0/mlflow/runs/log-batch``) with the very endpoint
:func:`~shipyard.server.mlflow.router.build_router` mounts for it, and renders its errors with
the same :func:`~shipyard.server.mlflow.errors.answer_in_mlflow_shape`; anything else (other
paths and methods, artifact transfers, an app served under a ``root_path``) goes on to the app.
The routes stay mounted, so the OpenAPI document and every other path are unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.server.mlflow.errors import answer_in_mlflow_shape

Endpoint = Callable[[Request], Awaitable[Response]]


class RpcDispatch:
    """ASGI middleware serving ``endpoints`` (``(method, path) -> endpoint``) directly."""

    def __init__(self, app: ASGIApp, endpoints: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.endpoints = dict(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            serve = self.endpoints.get((scope["method"], scope["path"]))
            if serve is not None:
                request = Request(scope, receive, send)
                response = await answer_in_mlflow_shape(serve, request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
