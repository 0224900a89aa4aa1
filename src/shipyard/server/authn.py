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

The web UI (``/`` and ``/ui/...``) also takes the session cookie its login page sets
(:mod:`shipyard.server.ui.login_session`): never on other paths, so no API call can ride on a
browser's cookie. A UI page asked for without either is a redirect to ``/ui/login?next=...``;
a UI request that changes something (any method but GET, HEAD and OPTIONS) with the cookie
must carry the session's CSRF token (the form field ``csrf_token`` or the ``X-CSRF-Token``
header), else it is refused with 403. The UI's static files and its login and logout pages
need no credentials.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.entities.auth import Principal
from shipyard.errors import (
    BackendError,
    NotFoundError,
    PermissionDeniedError,
    ShipyardError,
    UnauthenticatedError,
)
from shipyard.server import permissions
from shipyard.server.errors import render
from shipyard.store.tracking.protocol import TrackingStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from shipyard.server.ui.login_session import Session
    from shipyard.services.auth import AuthService

log = logging.getLogger("shipyard.server")

MAX_CACHED = 10_000  # distinct tokens remembered at once; past it the oldest go first
NO_TOKEN = ("this server requires an API token: set SHIPYARD_TOKEN for Shipyard's client or "
            "MLFLOW_TRACKING_TOKEN for the mlflow client (an admin creates one on the server's "
            "host with `shipyard tokens create NAME`)")
BAD_HEADER = ("the Authorization header must be `Bearer <token>`, or HTTP Basic auth with the "
              "token as the password")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="shipyard"'}
UI_OPEN = ("/ui/static/", "/ui/login", "/ui/logout")  # no credentials needed (no data in them)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 1024 * 1024  # a UI form body read to find its CSRF token
NO_CSRF = ("this form's CSRF token is missing or does not match your session: reload the page "
           "and submit the form again (a page from another site cannot act for you here)")
SESSION_ENDED = ("your session has ended (its API token was revoked or expired, or the user "
                 "was disabled): log in again")
_MULTIPART_CSRF = re.compile(rb'name="csrf_token"\r\n\r\n([^\r]*)\r\n')


def is_ui(path: str) -> bool:
    """A path of the web UI, where the session cookie counts."""
    return path in ("/", "/ui") or path.startswith("/ui/")


def is_ui_open(path: str) -> bool:
    return path.startswith(UI_OPEN[0]) or path in UI_OPEN[1:]


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

    def cached_session(self, token_id: str) -> Principal | None:
        return self.cache.get(PrincipalCache.key(f"session:{token_id}"))

    def session_principal(self, token_id: str) -> Principal:
        """The principal of a UI session's token, checked as :meth:`authenticate` checks a
        token, but by its id: the cookie never holds the secret (blocking)."""
        from shipyard.services.auth import rows
        from shipyard.store.db import reading

        try:
            with reading(self._engine()) as conn:
                token = rows.load_token(conn, token_id)
                principal = rows.load_principal(conn, token.user)
        except NotFoundError:
            raise UnauthenticatedError(SESSION_ENDED, field="session") from None
        if token.state(int(time.time() * 1000)) != "active" or principal.user.disabled:
            raise UnauthenticatedError(SESSION_ENDED, field="session")
        self.cache.put(PrincipalCache.key(f"session:{token_id}"), principal)
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
        if kind == "lifespan":
            await self.app(scope, receive, send)
            return
        if kind == "http" and (permissions.is_open(scope["path"]) or is_ui_open(scope["path"])):
            # The login page checks tokens with this same authenticator.
            scope["state"] = {**scope.get("state", {}), "authenticator": self.authenticator}
            await self.app(scope, receive, send)
            return
        if kind != "http":  # no websocket is served; refuse rather than pass one unchecked
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope["path"]
        ui = is_ui(path)
        extra: dict[str, Any] = {}
        try:
            if ui and "authorization" not in Headers(scope=scope):
                from shipyard.server.ui import login_session

                session = login_session.read(_cookie(scope, login_session.COOKIE))
                found = None if session is None else await self._session(session.token_id)
                if session is None or found is None:
                    await _to_login(scope, ended=session is not None)(scope, receive, send)
                    return
                principal = found
                if scope["method"] not in SAFE_METHODS:
                    receive = await _check_csrf(scope, receive, session)
                extra["ui_session"] = session
            else:
                principal = await self._principal(scope)
            permission = permissions.required(scope["method"], path)
            if permission is not None:
                from shipyard.services.auth.access import require

                require(principal, permission)
        except ShipyardError as error:
            if isinstance(error, BackendError):
                log.warning("%s %s: %s", scope["method"], path, error.message)
            headers = CHALLENGE if isinstance(error, UnauthenticatedError) else None
            if ui:
                await _ui_error(scope, error, headers)(scope, receive, send)
            else:
                await render(path, error, headers=headers)(scope, receive, send)
            return
        except Exception as exc:  # a bug here must still answer in the path's shape
            log.exception("unexpected error authenticating %s %s", scope["method"], path)
            bug = ShipyardError(f"internal server error ({type(exc).__name__}); the server "
                                "logged the details")
            await render(path, bug, 500)(scope, receive, send)
            return
        # A fresh dict: the server's per-request copy of the lifespan state is not ours to edit.
        scope["state"] = {**scope.get("state", {}), "principal": principal, **extra}
        await self.app(scope, receive, send)

    async def _session(self, token_id: str) -> Principal | None:
        """The principal of a session's token; None when the token no longer authenticates."""
        found = self.authenticator.cached_session(token_id)
        if found is not None:
            return found
        try:
            return await run_in_threadpool(self.authenticator.session_principal, token_id)
        except UnauthenticatedError:
            return None

    async def _principal(self, scope: Scope) -> Principal:
        authorization = Headers(scope=scope).get("authorization")
        if not authorization:
            raise UnauthenticatedError(NO_TOKEN, field="token")
        token = token_in(authorization)
        found = self.authenticator.cached(token)
        if found is not None:
            return found
        return await run_in_threadpool(self.authenticator.authenticate, token)


# -- The web UI's side --------------------------------------------------------------------------


def _cookie(scope: Scope, name: str) -> str:
    from http.cookies import SimpleCookie

    raw = Headers(scope=scope).get("cookie", "")
    try:
        jar: SimpleCookie = SimpleCookie(raw)
    except Exception:  # a malformed Cookie header is no session
        return ""
    found = jar.get(name)
    return found.value if found is not None else ""


def _to_login(scope: Scope, *, ended: bool) -> Response:
    """Where an unauthenticated UI request goes: a page asked for by a browser is sent to
    the login page with the way back; anything else is told to log in."""
    from shipyard.server.ui import login_session

    root = scope.get("root_path", "")
    headers = Headers(scope=scope)
    wanted = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}"
                              if scope.get("query_string") else "")
    current = headers.get("hx-current-url")
    if headers.get("hx-request") == "true" and current:  # the page, not the fragment's URL
        parts = urlsplit(current)
        wanted = parts.path + (f"?{parts.query}" if parts.query else "")
    login = f"{root}/ui/login?next={quote(wanted, safe='')}" + ("&ended=1" if ended else "")
    response: Response
    if headers.get("hx-request") == "true":
        response = Response(status_code=401, headers={"HX-Redirect": login})
    elif scope["method"] in ("GET", "HEAD"):
        response = RedirectResponse(login, 303)
    else:
        return _ui_error(scope, UnauthenticatedError(
            "log in first: this server requires a session or an API token",
            field="session"), CHALLENGE)
    if ended:
        response.delete_cookie(login_session.COOKIE, path=root or "/")
    return response


async def _check_csrf(scope: Scope, receive: Receive, session: Session) -> Receive:
    """Refuse a cookie-authenticated change without the session's CSRF token; the body read
    to find the form field is replayed to the route."""
    from shipyard.server.ui import login_session

    headers = Headers(scope=scope)
    sent = headers.get(login_session.CSRF_HEADER)
    replay = receive
    if sent is None:
        kind = headers.get("content-type", "")
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_FORM_BYTES:
                raise PermissionDeniedError(NO_CSRF, field="csrf_token")
        if kind.startswith("application/x-www-form-urlencoded"):
            values = parse_qs(body.decode("latin-1")).get(login_session.CSRF_FIELD, [])
            sent = values[0] if values else None
        elif kind.startswith("multipart/form-data"):
            match = _MULTIPART_CSRF.search(body)
            sent = match.group(1).decode("latin-1") if match else None
        replay = _replaying(body)
    if not login_session.csrf_ok(session, sent):
        raise PermissionDeniedError(NO_CSRF, field="csrf_token")
    return replay


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _ui_error(scope: Scope, error: ShipyardError, headers: dict[str, str] | None
              ) -> Response:
    """An error on a UI path as a page (JSON only when the UI cannot render: no Jinja2)."""
    try:
        from shipyard.server.ui.templating import error_page

        response: Response = error_page(Request(scope), error)
    except ImportError:
        return render(scope["path"], error, headers=headers)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response
