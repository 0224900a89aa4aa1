"""Every error Shipyard raises on purpose.

The whole tree, one root::

    ShipyardError                      code               HTTP
    ├── InvalidInputError              INVALID_INPUT       400   a value the caller can fix
    │   └── FilterSyntaxError          INVALID_FILTER      400   a search filter that does not parse
    ├── NotFoundError                  NOT_FOUND           404   an id or name that does not exist
    ├── AlreadyExistsError             ALREADY_EXISTS      409   a unique name taken
    ├── ConflictError                  CONFLICT            409   contradicts stored data
    ├── InvalidStateError              INVALID_STATE       409   e.g. logging to a finished run
    ├── UnauthenticatedError           UNAUTHENTICATED     401   no valid API token
    ├── PermissionDeniedError          PERMISSION_DENIED   403   a known user lacking a role
    └── BackendError                   BACKEND_ERROR       503   database or storage failed

Codes are stable: clients, the REST API and the CLI switch on ``code``, never on the message.
The HTTP status of each code lives in :data:`HTTP_STATUS`, the one place that maps them.
"""

from __future__ import annotations

from typing import Any


class ShipyardError(Exception):
    """Root of all Shipyard errors. ``field`` names the input at fault, where there is one."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The one JSON shape of an error on Shipyard's own API."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class InvalidInputError(ShipyardError):
    code = "INVALID_INPUT"


class FilterSyntaxError(InvalidInputError):
    """A filter string that does not parse; ``position`` is the 0-based offset of the fault."""

    code = "INVALID_FILTER"

    def __init__(self, message: str, *, text: str, position: int, field: str = "filter") -> None:
        pointer = f"\n  {text}\n  {' ' * position}^"
        super().__init__(
            f"{message} at position {position}{pointer}", field=field, position=position
        )
        self.position = position


class NotFoundError(ShipyardError):
    code = "NOT_FOUND"


class AlreadyExistsError(ShipyardError):
    code = "ALREADY_EXISTS"


class ConflictError(ShipyardError):
    code = "CONFLICT"


class InvalidStateError(ShipyardError):
    code = "INVALID_STATE"


class UnauthenticatedError(ShipyardError):
    code = "UNAUTHENTICATED"


class PermissionDeniedError(ShipyardError):
    code = "PERMISSION_DENIED"


class BackendError(ShipyardError):
    code = "BACKEND_ERROR"


HTTP_STATUS: dict[str, int] = {
    ShipyardError.code: 500,
    InvalidInputError.code: 400,
    FilterSyntaxError.code: 400,
    NotFoundError.code: 404,
    AlreadyExistsError.code: 409,
    ConflictError.code: 409,
    InvalidStateError.code: 409,
    UnauthenticatedError.code: 401,
    PermissionDeniedError.code: 403,
    BackendError.code: 503,
}
