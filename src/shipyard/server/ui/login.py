"""Login with an API token (exchanged for a session cookie) and token management.

Under ``shipyard server --auth``, ``/ui/login`` takes an API token, checks it with the
authenticator the server's auth middleware uses, and sets the session cookie of
:mod:`shipyard.server.ui.login_session` (never the token itself); ``/ui/logout`` clears it.
``/ui/tokens`` lists the user's own API tokens, creates one (its secret shown once) and revokes
them, through :class:`~shipyard.services.auth.AuthService`, as ``shipyard tokens`` does; an
admin also sees, creates and revokes everyone's. Without ``--auth`` there is nothing to log
in to, and the pages say so.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shipyard.entities.auth import Permission, Principal
from shipyard.errors import (
    InvalidInputError,
    PermissionDeniedError,
    ShipyardError,
    UnauthenticatedError,
)
from shipyard.server import auth
from shipyard.server.authn import Authenticator, store_engine
from shipyard.server.deps import Store
from shipyard.server.ui import login_session
from shipyard.server.ui.templating import error_page, render
from shipyard.services.auth import AuthService
from shipyard.services.auth import tokens as token_format

router = APIRouter(include_in_schema=False)

HOME = "/ui/experiments"
MAX_FORM = 64 * 1024
NO_STORE = {"Cache-Control": "no-store"}


async def form_fields(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields (the first value of each)."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


Form = Annotated[dict[str, str], Depends(form_fields)]


def safe_next(wanted: str, root: str = "") -> str:
    """Where to go after logging in: a path of this UI only (never another site)."""
    parts = urlsplit(wanted)
    if parts.scheme or parts.netloc or not wanted.startswith(f"{root}/") or \
            wanted.startswith("//") or "\\" in wanted:
        return f"{root}{HOME}"
    path = parts.path[len(root):]
    if not (path in ("/", "/ui") or path.startswith("/ui/")) or \
            path.startswith(("/ui/login", "/ui/logout")):
        return f"{root}{HOME}"
    return wanted


def _authenticator(request: Request) -> Authenticator | None:
    found = request.scope.get("state", {}).get("authenticator")
    return found if isinstance(found, Authenticator) else None


@router.get("/ui/login")
def login_page(request: Request, next: str = "", ended: bool = False) -> HTMLResponse:
    return render(request, "login.html", {
        "auth": auth.auth_enabled(request), "next": next, "error": None,
        "note": SESSION_NOTE if ended else None})


SESSION_NOTE = "Your session has ended: log in again."


@router.post("/ui/login")
def login(request: Request, form: Form) -> Response:
    """Check the token; on success set the session cookie and go where the user wanted."""
    root = request.scope.get("root_path", "")
    wanted = form.get("next", "")
    authenticator = _authenticator(request)
    if not auth.auth_enabled(request) or authenticator is None:
        return render(request, "login.html", {"auth": False, "next": wanted, "error": None,
                                              "note": None}, status=400)
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.url.netloc:  # a login forged elsewhere
        return error_page(request, PermissionDeniedError(
            "this login form was sent from another site; open the login page here",
            field="origin"))
    token = form.get("token", "").strip()
    try:
        if not token:
            raise UnauthenticatedError("enter an API token (shy_…): `shipyard tokens create "
                                       "YOUR-NAME` prints one on the server's host",
                                       field="token")
        principal = authenticator.authenticate(token)
        token_id, _secret = token_format.parse_token(token)
        engine = store_engine(request.app.state.store_slot.get())
        found = next(t for t in AuthService(engine).list_tokens(principal.name)
                     if t.id == token_id)
    except ShipyardError as error:
        return render(request, "login.html", {"auth": True, "next": wanted, "error": error,
                                              "note": None}, status=401)
    value, seconds = login_session.issue(token_id, found.expires_time)
    response = RedirectResponse(safe_next(wanted, root), 303)
    response.set_cookie(login_session.COOKIE, value, max_age=seconds, path=root or "/",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


@router.get("/ui/logout")
def logout(request: Request) -> RedirectResponse:
    """Forget the session (the API token stays valid: revoke it on the tokens page)."""
    root = request.scope.get("root_path", "")
    response = RedirectResponse(f"{root}/ui/login?logged_out=1", 303)
    response.delete_cookie(login_session.COOKIE, path=root or "/")
    return response


# -- Tokens ----------------------------------------------------------------------------------


def _who(request: Request) -> Principal | None:
    return auth.principal(request)


def _is_admin(principal: Principal) -> bool:
    return principal.allows(Permission.ADMIN)


def _tokens_context(request: Request, service: AuthService, principal: Principal,
                    everyone: bool) -> dict[str, Any]:
    admin = _is_admin(principal)
    shown = service.list_tokens(None if admin and everyone else principal.name)
    shown.sort(key=lambda t: t.created_time, reverse=True)
    users = [p.name for p in service.list_users()] if admin else []
    return {"tokens": shown, "admin": admin, "everyone": admin and everyone,
            "me": principal.name, "users": users, "created": None, "error": None,
            "now": _now_ms(), "session_token": getattr(
                login_session.session_of(request), "token_id", None)}


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


@router.get("/ui/tokens")
def tokens_page(request: Request, store: Store, all: bool = False, revoked: str = ""
                ) -> HTMLResponse:
    principal = _who(request)
    if principal is None:
        return render(request, "tokens.html", {"auth": False})
    try:
        service = AuthService(store_engine(store))
        context = _tokens_context(request, service, principal, all)
    except ShipyardError as error:
        return error_page(request, error)
    return render(request, "tokens.html", {"auth": True, "revoked": revoked, **context},
                  status=200)


@router.post("/ui/tokens")
def create_token(request: Request, store: Store, form: Form) -> HTMLResponse:
    """A new token for the user (an admin may name another user); its secret is shown once."""
    principal = _who(request)
    if principal is None:
        return render(request, "tokens.html", {"auth": False}, status=400)
    owner = form.get("user", "").strip() or principal.name
    service = AuthService(store_engine(store))
    try:
        if owner != principal.name and not _is_admin(principal):
            raise PermissionDeniedError(f"only an admin may create tokens for another user; "
                                        f"{principal.name!r} may create their own",
                                        field="user")
        days_text = form.get("expires_in_days", "").strip()
        try:
            days = float(days_text) if days_text else None
        except ValueError:
            raise InvalidInputError(f"expires in days {days_text[:20]!r} is not a number: "
                                    "give days (fractions allowed) or leave it empty for a "
                                    "token that never expires", field="expires_in_days") from None
        token, secret = service.create_token(owner, actor=principal.name, expires_in_days=days,
                                             description=form.get("description") or None)
    except ShipyardError as error:
        context = _tokens_context(request, service, principal, False)
        status = 403 if isinstance(error, PermissionDeniedError) else 400
        return render(request, "tokens.html", {"auth": True, "revoked": "", **context,
                                               "error": error}, status=status)
    context = _tokens_context(request, service, principal, owner != principal.name)
    response = render(request, "tokens.html", {
        "auth": True, "revoked": "", **context, "created": {"token": token, "secret": secret}},
        status=201)
    response.headers.update(NO_STORE)  # the page holds a secret: no cache may keep it
    return response


@router.post("/ui/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, store: Store) -> Response:
    """Revoke one of the user's tokens (an admin: anyone's)."""
    principal = _who(request)
    if principal is None:
        return render(request, "tokens.html", {"auth": False}, status=400)
    service = AuthService(store_engine(store))
    try:
        token_id = token_format.check_token_id(token_id)
        mine = None if _is_admin(principal) else principal.name
        found = next((t for t in service.list_tokens(mine) if t.id == token_id), None)
        if found is None or (found.user != principal.name and not _is_admin(principal)):
            # Another user's token is as good as unknown: its id says nothing more here.
            raise PermissionDeniedError(f"you have no API token {token_id}; you may revoke "
                                        "your own tokens (an admin: anyone's)",
                                        field="token_id")
        service.revoke_token(token_id, actor=principal.name)
    except ShipyardError as error:
        return error_page(request, error)
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/ui/tokens?revoked={token_id}", 303)
