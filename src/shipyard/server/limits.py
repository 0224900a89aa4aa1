"""Request body limits: JSON bodies up to ``SHIPYARD_SERVER_MAX_JSON_BYTES``, artifact uploads
up to ``SHIPYARD_SERVER_MAX_UPLOAD_BYTES``, refused with 413 before they are read whole.

Written as a small ASGI middleware rather than with FastAPI's ``max_body_size`` because the
answer must be Shipyard's error shape in every case (Starlette's limit swaps any answer to a
body with a Content-Length over the limit for a plain-text 413). A body whose Content-Length is
over the limit is refused before the endpoint runs; one that turns out too long while it
streams (chunked, or longer than it said) raises :class:`RequestTooLarge` from ``receive``.
Either way :mod:`shipyard.server.errors` renders it.

Paths the ``skip`` function names (the MLflow-compatible API, which applies MLflow's own
limits) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard import settings
from shipyard.settings import Setting

_UPLOAD = re.compile(r"^/api/v1/runs/[^/]+/artifacts/")


class RequestTooLarge(HTTPException):
    """A request body over its limit. An ``HTTPException`` so that FastAPI's body parsing
    passes it on untouched (it turns other exceptions into a vague 400)."""

    def __init__(self, limit: int, setting: Setting[int]) -> None:
        super().__init__(status_code=413, detail="the request body is too large")
        self.limit = limit
        self.setting = setting


class BodyLimit:
    """ASGI middleware enforcing the limits above; they are read once, when the app is made."""

    def __init__(self, app: ASGIApp, *, max_json: int, max_upload: int,
                 skip: Callable[[str], bool]) -> None:
        self.app = app
        self.max_json = max_json
        self.max_upload = max_upload
        self.skip = skip

    def _limit(self, scope: Scope) -> tuple[int, Setting[int]] | None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or self.skip(path):
            return None
        if scope.get("method") == "PUT" and _UPLOAD.match(path):
            return self.max_upload, settings.SERVER_MAX_UPLOAD_BYTES
        return self.max_json, settings.SERVER_MAX_JSON_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._limit(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        limit, setting = found
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(limit, setting)
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(limit, setting)
            return message

        await self.app(scope, receive_limited, send)
