"""Who is asking, and may they: the one place every route gets its actor and its permission.

Without ``--auth`` the server trusts its network, like the embedded store trusts its user:
the actor is the ``X-Shipyard-User`` header the Shipyard client sends (``SHIPYARD_USER``), else
the user name of HTTP Basic auth (what the ``mlflow`` client sends with
``MLFLOW_TRACKING_USERNAME``), else the server's own user. That names who acts in the audit log
and for four eyes; it is no security boundary. With ``--auth`` every request must carry an API
token (``Authorization: Bearer shy_…``, or as the Basic password) and the actor is the token's
user; the header and Basic user name are ignored. The token is checked by the middleware in
:mod:`shipyard.server.authn`, which puts the principal on the request before any route runs.
"""

from __future__ import annotations

import base64
import binascii

from starlette.requests import HTTPConnection

from shipyard import settings
from shipyard.entities.auth import Permission, Principal
from shipyard.errors import InvalidInputError, UnauthenticatedError

USER_HEADER = "X-Shipyard-User"
_MAX_USER = 256


def principal(request: HTTPConnection) -> Principal | None:
    """The authenticated principal, set on the request by the auth middleware (``--auth``)."""
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else None


def auth_enabled(request: HTTPConnection) -> bool:
    return bool(getattr(request.app.state, "auth_enabled", False))


def actor(request: HTTPConnection) -> str:
    """Who acts for this request (see the module docstring)."""
    known = principal(request)
    if known is not None:
        return known.name
    if auth_enabled(request):
        raise UnauthenticatedError("this server requires an API token: set SHIPYARD_TOKEN "
                                   "(or MLFLOW_TRACKING_TOKEN for the mlflow client)")
    claimed = request.headers.get(USER_HEADER) or basic_user(request)
    if claimed:
        if len(claimed) > _MAX_USER or not claimed.isprintable():
            raise InvalidInputError(f"{USER_HEADER} must be a printable name of at most "
                                    f"{_MAX_USER} characters", field=USER_HEADER)
        return claimed
    return settings.current_user()


def require(request: HTTPConnection, permission: Permission, model: str | None = None) -> str:
    """The actor, once ``permission`` (on ``model``) is checked. Without ``--auth`` every
    request may do everything; the registry's own rules (four eyes, policies) still apply."""
    known = principal(request)
    if known is None:
        return actor(request)
    from shipyard.services.auth.access import require as check

    check(known, permission, model=model)
    return known.name


def basic_user(request: HTTPConnection) -> str | None:
    credentials = basic_credentials(request)
    return credentials[0] if credentials else None


def basic_credentials(request: HTTPConnection) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
