"""The UI's session cookie and CSRF tokens under ``shipyard server --auth``.

Logging in exchanges an API token for a cookie that never holds the token's secret: the
cookie is ``<token id>.<expiry>.<nonce>.<signature>``, the signature an HMAC-SHA256 of the
rest with the server's session secret. Each request with the cookie checks the signature and
the expiry, then the token itself (revoked, expired, its user disabled), so revoking the token
ends the session too. The secret is ``SHIPYARD_UI_SESSION_SECRET``, or random bytes drawn when
the server starts (sessions then end with the process, and every worker process of a server
must be given the setting to share them).

The CSRF token of a session is an HMAC of the cookie's value under another label: forms that
change something carry it (``csrf_token(request)`` in the templates, as the field
``csrf_token``, or the ``X-CSRF-Token`` header), and a cross-site page cannot read it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from shipyard.settings import UI_SESSION_SECRET

COOKIE = "shipyard_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
SESSION_SECRET = UI_SESSION_SECRET
MIN_SECRET = 32
_secrets: dict[str, bytes] = {}  # "current": this process's secret, once drawn or read
_lock = threading.Lock()


def secret() -> bytes:
    """The session secret: the setting's, else random for this process."""
    with _lock:
        found = _secrets.get("current")
        if found is None:
            configured = SESSION_SECRET.get()
            if configured and len(configured) < MIN_SECRET:
                from shipyard.errors import InvalidInputError

                raise InvalidInputError(f"{SESSION_SECRET.env} must be at least {MIN_SECRET} "
                                        "characters; `openssl rand -hex 32` makes one",
                                        field=SESSION_SECRET.env)
            found = _secrets["current"] = (configured.encode() if configured
                                           else secrets.token_bytes(32))
        return found


def forget_secret() -> None:
    """Read the setting again on next use (tests that change it)."""
    with _lock:
        _secrets.clear()


def _sign(label: str, payload: str) -> str:
    return hmac.new(secret(), f"{label}:{payload}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Session:
    """A valid session cookie: the API token it stands for, when it ends, its CSRF token."""

    token_id: str
    expires: int  # seconds since the epoch
    value: str

    @property
    def csrf(self) -> str:
        return _sign("csrf", self.value)


def issue(token_id: str, token_expires_ms: int | None, *, now: float | None = None
          ) -> tuple[str, int]:
    """A cookie value for ``token_id`` and its lifetime in seconds (12 hours, or less when
    the token expires sooner)."""
    start = int(time.time() if now is None else now)
    end = start + SESSION_SECONDS
    if token_expires_ms is not None:
        end = min(end, token_expires_ms // 1000)
    payload = f"{token_id}.{end}.{secrets.token_hex(8)}"
    return f"{payload}.{_sign('session', payload)}", max(0, end - start)


def read(value: str, *, now: float | None = None) -> Session | None:
    """The session a cookie value holds; None when it is malformed, forged or expired."""
    parts = value.split(".")
    if len(parts) != 4 or len(value) > 200:
        return None
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_sign("session", payload), parts[3]):
        return None
    try:
        expires = int(parts[1])
    except ValueError:
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return Session(parts[0], expires, value)


def session_of(request: HTTPConnection) -> Session | None:
    """The session the auth middleware found on this request (None: a Bearer token, or no
    ``--auth``)."""
    found = request.scope.get("state", {}).get("ui_session")
    return found if isinstance(found, Session) else None


def csrf_token(request: HTTPConnection) -> str:
    """The CSRF token forms of this request's page must send back (empty when the request
    was not authenticated by a session cookie: then there is nothing to forge)."""
    session = session_of(request)
    return "" if session is None else session.csrf


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent or "")
