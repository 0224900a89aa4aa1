"""Every error the server answers, rendered in one place.

Shipyard's own paths (``/api/v1/...``, ``/health`` and anything else that is not MLflow's)
answer in one shape, :meth:`ShipyardError.to_dict`::

    {"code": "INVALID_INPUT", "message": "...", "field": "body.max_results", "details": {...}}

with the HTTP status :data:`shipyard.errors.HTTP_STATUS` gives the code. What FastAPI and
Starlette raise is first turned into a ``ShipyardError``:

- a body that is not JSON, a missing or mistyped field: 400 ``INVALID_INPUT``, ``field``
  naming the input (``body.max_results``, ``query.view``, ``body.metrics[2].value``);
- an unknown path: 404 ``NOT_FOUND``; a method the path does not take: 405 ``INVALID_INPUT``;
- a body over the size limit: 413 ``INVALID_INPUT`` naming the limit and its setting;
- any other exception is a server bug: 500 ``INTERNAL_ERROR``, logged once with its traceback.

Client mistakes are not logged (no traceback for a bad request). A ``BACKEND_ERROR`` (the
database or storage failed) is logged as one warning line.

The MLflow-compatible routes (``/api/2.0/mlflow``, ``/api/2.0/mlflow-artifacts``,
``/ajax-api/2.0/mlflow``, ``/api/3.0/mlflow``) render their own errors: their route class
speaks MLflow's shape. Whatever still reaches these handlers on those paths (an unknown MLflow
endpoint, a malformed body, a crash) is rendered in MLflow's shape,
``{"error_code": ..., "message": ...}``, with the codes the MLflow routes use
(``shipyard.server.mlflow.errors.SHIPYARD_TO_MLFLOW``), so an MLflow client always reads an
error it understands.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.errors import (
    HTTP_STATUS,
    BackendError,
    InvalidInputError,
    NotFoundError,
    ShipyardError,
)
from shipyard.server.limits import BodyLimit, RequestTooLarge
from shipyard.server.mlflow.errors import MLFLOW_STATUS, SHIPYARD_TO_MLFLOW

log = logging.getLogger("shipyard.server")

# MLflow's API (/api/2.0/mlflow), its artifact proxy (/api/2.0/mlflow-artifacts), the paths
# its web UI calls (/ajax-api/2.0/mlflow) and its 3.0 API: MLflow clients read these errors.
_MLFLOW_PATH = re.compile(r"^/(ajax-)?api/\d+\.\d+/mlflow(-artifacts)?(/|$)")

def is_mlflow_path(path: str) -> bool:
    return _MLFLOW_PATH.match(path) is not None


def render(path: str, error: ShipyardError, status: int | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    """The response for ``error`` on ``path``, in the shape (and, unless ``status`` is given,
    with the status) that path's clients read."""
    if is_mlflow_path(path):
        code = SHIPYARD_TO_MLFLOW.get(error.code, "INTERNAL_ERROR")
        return JSONResponse({"error_code": code, "message": error.message},
                            status_code=status or MLFLOW_STATUS.get(code, 500), headers=headers)
    return JSONResponse(error.to_dict(), status_code=status or HTTP_STATUS.get(error.code, 500),
                        headers=headers)


# -- Turning framework errors into ShipyardErrors ----------------------------------------------


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    """A pydantic location as a field name: ('body', 'metrics', 2, 'value') ->
    'body.metrics[2].value'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: dict[str, Any]) -> str:
    field = _field(error.get("loc", ()))
    kind = error.get("type", "")
    if kind == "missing":
        return f"{field} is required"
    if kind == "extra_forbidden":
        return f"{field} is not a known field"
    text = f"{field}: {error.get('msg', 'invalid')}"
    value = error.get("input")
    if isinstance(value, str | int | float | bool) and len(repr(value)) <= 80:
        text += f" (got {value!r})"
    return text


def validation_error(exc: RequestValidationError) -> InvalidInputError:
    """One ``INVALID_INPUT`` naming the first field at fault; all faults go in ``details``."""
    errors = list(exc.errors())
    if not errors:
        return InvalidInputError("the request is not valid", field="body")
    first = errors[0]
    if first.get("type") == "json_invalid":
        loc = first.get("loc", ())
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        reason = (first.get("ctx") or {}).get("error", "JSON decode error")
        return InvalidInputError(f"the request body is not valid JSON: {reason}{where}",
                                 field="body")
    if isinstance(exc.body, bytes | bytearray):  # a body FastAPI did not read as JSON
        return InvalidInputError(
            "the request body must be a JSON object sent with Content-Type: application/json",
            field="body")
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") == "missing":
        return InvalidInputError("the request needs a JSON body", field="body")
    messages = [_describe(error) for error in errors]
    message = messages[0] if len(messages) == 1 else "; ".join(messages)
    field = _field(first.get("loc", ())) or "body"
    if len(errors) == 1:
        return InvalidInputError(message, field=field)
    return InvalidInputError(message, field=field, errors=[
        {"field": _field(error.get("loc", ())), "message": _describe(error)} for error in errors])


def http_error(request: Request, exc: HTTPException) -> tuple[ShipyardError, int]:
    """The Shipyard error and status for an HTTP error raised by routing or a limit."""
    method, path, status = request.method, request.url.path, exc.status_code
    if status == 404:
        return NotFoundError(f"no endpoint {method} {path}; the API is listed at /docs",
                             field="path"), 404
    if status == 405:
        allowed = next((v for k, v in (exc.headers or {}).items() if k.lower() == "allow"), "")
        return InvalidInputError(f"{path} does not take {method}"
                                 + (f" (it takes {allowed})" if allowed else ""),
                                 field="method"), 405
    if isinstance(exc, RequestTooLarge):
        return InvalidInputError(
            f"the request body is larger than the limit of {exc.limit} bytes (the server's "
            f"{exc.setting.env})", field="body", limit=exc.limit), 413
    if status >= 500:
        return ShipyardError(str(exc.detail)), status
    return InvalidInputError(str(exc.detail), field="body"), status


# -- Handlers ----------------------------------------------------------------------------------


async def _on_shipyard_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShipyardError)
    if isinstance(exc, BackendError):
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
    return render(request.url.path, exc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return render(request.url.path, validation_error(exc))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    error, status = http_error(request, exc)
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
    return render(request.url.path, error, status, headers or None)


class CatchUnexpected:
    """ASGI middleware, outermost of ours: an exception no handler knows is a server bug. It is
    logged once, with its traceback, and answered 500 ``INTERNAL_ERROR`` in the path's shape.

    Starlette's own last-resort handler re-raises after answering (so servers log it again);
    this one sits inside it and stops the exception, hence one log record per bug. An HTTP
    error raised by a middleware (a body over its limit) is no bug: it is answered as such.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        path = scope.get("path", "")
        try:
            await self.app(scope, receive, send_tracking)
        except HTTPException as exc:
            if started:
                raise
            error, status = http_error(Request(scope), exc)
            await render(path, error, status)(scope, receive, send)
        except Exception as exc:
            log.exception("unexpected error answering %s %s", scope.get("method"), path)
            if started:
                return  # the client sees a cut-off response; nothing more can be sent
            error = ShipyardError(f"internal server error ({type(exc).__name__}); the server "
                                  "logged the details")
            await render(path, error, 500)(scope, receive, send)


def install(app: FastAPI, *, max_json: int, max_upload: int) -> None:
    """Register the handlers, the body limits and the last-resort middleware on ``app``."""
    app.add_exception_handler(ShipyardError, _on_shipyard_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_middleware(BodyLimit, max_json=max_json, max_upload=max_upload,
                       skip=is_mlflow_path)
    app.add_middleware(CatchUnexpected)  # added last: the outermost
