"""Every error of the MLflow-compatible routes in MLflow's shape: ``{"error_code", "message"}``.

Shipyard's codes map to MLflow's in :data:`SHIPYARD_TO_MLFLOW`, MLflow's codes to HTTP statuses
in :data:`MLFLOW_STATUS`; nothing else decides a status. :class:`MlflowRoute` renders whatever an
endpoint raises, so no client mistake becomes a 500 or a logged traceback. Only an exception
nobody raised on purpose is logged, with its traceback, as the server bug it is.

The statuses follow MLflow's server with one deliberate change: ``INVALID_STATE`` (a run that
has ended or is deleted) is 400 rather than MLflow's 500, because the ``mlflow`` client retries
every 5xx for minutes and the caller can fix the state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from shipyard.errors import (
    AlreadyExistsError,
    BackendError,
    ConflictError,
    FilterSyntaxError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
    ShipyardError,
    UnauthenticatedError,
)

logger = logging.getLogger("shipyard.server.mlflow")

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID_STATE = "INVALID_STATE"
BAD_REQUEST = "BAD_REQUEST"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
PERMISSION_DENIED = "PERMISSION_DENIED"
UNAUTHENTICATED = "UNAUTHENTICATED"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
INTERNAL_ERROR = "INTERNAL_ERROR"

MLFLOW_STATUS: dict[str, int] = {
    INVALID_PARAMETER_VALUE: 400,
    RESOURCE_DOES_NOT_EXIST: 404,
    RESOURCE_ALREADY_EXISTS: 400,  # as MLflow's server answers it
    INVALID_STATE: 400,  # MLflow: 500, see the module docstring
    BAD_REQUEST: 400,
    ENDPOINT_NOT_FOUND: 404,
    NOT_IMPLEMENTED: 501,
    PERMISSION_DENIED: 403,
    UNAUTHENTICATED: 401,
    TEMPORARILY_UNAVAILABLE: 503,
    INTERNAL_ERROR: 500,
}
"""MLflow's error codes and the HTTP status each is sent with."""

SHIPYARD_TO_MLFLOW: dict[str, str] = {
    InvalidInputError.code: INVALID_PARAMETER_VALUE,
    FilterSyntaxError.code: INVALID_PARAMETER_VALUE,
    NotFoundError.code: RESOURCE_DOES_NOT_EXIST,
    AlreadyExistsError.code: RESOURCE_ALREADY_EXISTS,
    ConflictError.code: INVALID_PARAMETER_VALUE,  # MLflow's answer to changing a logged param
    InvalidStateError.code: INVALID_STATE,
    PermissionDeniedError.code: PERMISSION_DENIED,
    UnauthenticatedError.code: UNAUTHENTICATED,
    BackendError.code: TEMPORARILY_UNAVAILABLE,
    ShipyardError.code: INTERNAL_ERROR,
}
"""Shipyard's error code -> MLflow's. A subclass with a code not listed maps as its parent."""

_HTTP_TO_MLFLOW: dict[int, str] = {
    400: BAD_REQUEST,
    401: UNAUTHENTICATED,
    403: PERMISSION_DENIED,
    404: ENDPOINT_NOT_FOUND,
    405: BAD_REQUEST,
    413: INVALID_PARAMETER_VALUE,
    422: INVALID_PARAMETER_VALUE,
    501: NOT_IMPLEMENTED,
    503: TEMPORARILY_UNAVAILABLE,
}


class MlflowApiError(Exception):
    """An error with an MLflow code, raised by the compatibility layer itself."""

    def __init__(self, error_code: str, message: str, *, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.status = status if status is not None else MLFLOW_STATUS[error_code]
        self.headers = headers


def invalid_parameter(message: str) -> MlflowApiError:
    return MlflowApiError(INVALID_PARAMETER_VALUE, message)


def not_implemented(what: str, hint: str = "") -> MlflowApiError:
    message = f"Shipyard's MLflow-compatible API does not support {what}."
    return MlflowApiError(NOT_IMPLEMENTED, f"{message} {hint}".strip())


def _shipyard_code(exc: ShipyardError) -> str:
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code in SHIPYARD_TO_MLFLOW:
            return SHIPYARD_TO_MLFLOW[code]
    return INTERNAL_ERROR


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validation_message(errors: list[Any]) -> str:
    """MLflow's wording for pydantic or FastAPI validation errors, one sentence per fault."""
    sentences = []
    for error in errors:
        loc = tuple(part for part in error.get("loc", ()) if part not in ("body", "query"))
        path = _field_path(loc) or "request"
        if error.get("type") == "missing":
            sentences.append(f"Missing value for required parameter '{path}'.")
        else:
            value = json.dumps(error.get("input"), default=str)
            if len(value) > 200:
                value = value[:200] + "..."
            sentences.append(f"Invalid value {value} for parameter '{path}' supplied: "
                             f"{error.get('msg', 'invalid')}.")
    return " ".join(sentences) or "Invalid request."


def describe(exc: BaseException) -> MlflowApiError:
    """The MLflow-shaped error for any exception an endpoint raised."""
    if isinstance(exc, MlflowApiError):
        return exc
    if isinstance(exc, ShipyardError):
        return MlflowApiError(_shipyard_code(exc), exc.message)
    if isinstance(exc, ValidationError):
        return invalid_parameter(validation_message(list(exc.errors())))
    if isinstance(exc, RequestValidationError):
        return invalid_parameter(validation_message(list(exc.errors())))
    if isinstance(exc, HTTPException):
        code = _HTTP_TO_MLFLOW.get(exc.status_code, BAD_REQUEST if exc.status_code < 500
                                   else INTERNAL_ERROR)
        return MlflowApiError(code, str(exc.detail), status=exc.status_code,
                              headers=dict(exc.headers or {}))
    if isinstance(exc, ClientDisconnect):
        return MlflowApiError(BAD_REQUEST, "the client disconnected before the request ended")
    logger.error("unexpected error in an MLflow-compatible endpoint", exc_info=exc)
    return MlflowApiError(INTERNAL_ERROR, "internal server error; the server log has details")


def error_response(exc: BaseException) -> Response:
    error = describe(exc)
    body = json.dumps({"error_code": error.error_code, "message": error.message},
                      ensure_ascii=False, separators=(",", ":"))
    return Response(body, status_code=error.status, media_type="application/json",
                    headers=error.headers)


async def answer_in_mlflow_shape(handle: Callable[[Request], Awaitable[Response]],
                                 request: Request) -> Response:
    """``handle``'s response, or whatever it raised as MLflow's error response."""
    try:
        return await handle(request)
    except Exception as exc:
        return error_response(exc)


class MlflowRoute(APIRoute):
    """A route whose every failure is answered in MLflow's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_mlflow_shape(request: Request) -> Response:
            return await answer_in_mlflow_shape(handle, request)

        return handle_in_mlflow_shape
