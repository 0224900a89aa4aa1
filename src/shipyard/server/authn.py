"""``shipyard server --auth``: who sends each request, checked before anything else runs.

:class:`AuthMiddleware` is the app's outermost layer, ahead of ``RpcDispatch``, so MLflow's RPCs
are checked too. Every request but ``/health`` and the API's description
(:data:`~shipyard.server.permissions.OPEN_PATHS`) must carry an API token, as
``Authorization: Bearer shy_…`` (the Shipyard client sends ``SHIPYARD_TOKEN`` so, the ``mlflow``
client ``MLFLOW_TRACKING_TOKEN``) or as the password of HTTP Basic auth (the ``mlflow`` client's
``MLFLOW_TRACKING_USERNAME``/``PASSWORD``; the user name is ignored). The token's principal is
put on the request (``request.state.principal``, read by :mod:`shipyard.server.auth`), and the
permission :mod:`shipyard.server.permissions` gives tracking and artifact requests is checked
here; other routes check their own. A missing or refused token is 401, a missing permission
403, each in the shape of the path (MLflow's on MLflow's paths).

Checking a token reads the database, so a principal is reused for
``SHIPYARD_SERVER_AUTH_CACHE_SECONDS`` (5 s) per token: a revoked token, a disabled user or a
changed role takes effect within that time. Tokens are never logged, echoed or kept in memory
longer than the request; the cache is keyed by their SHA-256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.entities.auth import Principal
from shipyard.errors import BackendError, ShipyardError, UnauthenticatedError
from shipyard.server import permissions
from shipyard.server.errors import render
from shipyard.store.tracking.protocol import TrackingStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from shipyard.services.auth import AuthService

log = logging.getLogger("shipyard.server")

MAX_CACHED = 10_000  # distinct tokens remembered at once; past it the oldest go first
NO_TOKEN = ("this server requires an API token: set SHIPYARD_TOKEN for Shipyard's client or "
            "MLFLOW_TRACKING_TOKEN for the mlflow client (an admin creates one on the server's "
            "host with `shipyard tokens create NAME`)")
BAD_HEADER = ("the Authorization header must be `Bearer <token>`, or HTTP Basic auth with the "
              "token as the password")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="shipyard"'}


def store_engine(store: TrackingStore) -> Engine:
    """The database engine of the server's store, where users and tokens live."""
    engine = getattr(store, "engine", None)
    if engine is None:
        raise BackendError(f"{type(store).__name__} has no database, so it cannot check API "
                           "tokens; serve a SQL store to use --auth")
    return engine  # type: ignore[no-any-return]


def token_in(authorization: str) -> str:
    """The token an ``Authorization`` header carries; ``UnauthenticatedError`` without one."""
    scheme, _, value = authorization.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            _user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep, password = "", ""
        if sep and password:
            return password
    raise UnauthenticatedError(BAD_HEADER, field="token")  # never echoes the header


class PrincipalCache:
    """Principals by the SHA-256 of their token, each kept ``ttl`` seconds (0: none kept)."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_CACHED) -> None:
        self.ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()

    def get(self, key: str) -> Principal | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if self._clock() >= found[0]:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return found[1]

    def put(self, key: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        now = self._clock()
        with self._lock:
            if len(self._entries) >= self._max:
                self._evict(now)
            self._entries[key] = (now + self.ttl, principal)

    def _evict(self, now: float) -> None:
        for stale in [k for k, (until, _) in self._entries.items() if until <= now]:
            del self._entries[stale]
        while len(self._entries) >= self._max:  # still full: drop the oldest (insertion order)
            del self._entries[next(iter(self._entries))]


class Authenticator:
    """Turns a token into its principal: from the cache, else with :class:`AuthService` over
    the store's database (built on first use, once the store is open)."""

    def __init__(self, engine: Callable[[], Engine], ttl: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._service: AuthService | None = None
        self._lock = threading.Lock()
        self.cache = PrincipalCache(ttl, clock=clock)

    def cached(self, token: str) -> Principal | None:
        """The principal remembered for ``token``; no I/O, so the event loop may call it."""
        return self.cache.get(PrincipalCache.key(token))

    def authenticate(self, token: str) -> Principal:
        """Check ``token`` in the database (blocking: call it in the thread pool)."""
        principal = self._auth_service().authenticate(token)
        self.cache.put(PrincipalCache.key(token), principal)
        return principal

    def _auth_service(self) -> AuthService:
        with self._lock:
            if self._service is None:
                from shipyard.services.auth import AuthService

                self._service = AuthService(self._engine())
            return self._service


class AuthMiddleware:
    """ASGI middleware: authenticate, check the path's permission, then pass the request on
    with its principal in ``scope["state"]`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan" or (kind == "http" and permissions.is_open(scope["path"])):
            await self.app(scope, receive, send)
            return
        if kind != "http":  # no websocket is served; refuse rather than pass one unchecked
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope["path"]
        try:
            principal = await self._principal(scope)
            permission = permissions.required(scope["method"], path)
            if permission is not None:
                from shipyard.services.auth.access import require

                require(principal, permission)
        except ShipyardError as error:
            if isinstance(error, BackendError):
                log.warning("%s %s: %s", scope["method"], path, error.message)
            headers = CHALLENGE if isinstance(error, UnauthenticatedError) else None
            await render(path, error, headers=headers)(scope, receive, send)
            return
        except Exception as exc:  # a bug here must still answer in the path's shape
            log.exception("unexpected error authenticating %s %s", scope["method"], path)
            bug = ShipyardError(f"internal server error ({type(exc).__name__}); the server "
                                "logged the details")
            await render(path, bug, 500)(scope, receive, send)
            return
        # A fresh dict: the server's per-request copy of the lifespan state is not ours to edit.
        scope["state"] = {**scope.get("state", {}), "principal": principal}
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope) -> Principal:
        authorization = Headers(scope=scope).get("authorization")
        if not authorization:
            raise UnauthenticatedError(NO_TOKEN, field="token")
        token = token_in(authorization)
        found = self.authenticator.cached(token)
        if found is not None:
            return found
        return await run_in_threadpool(self.authenticator.authenticate, token)
