"""Model pages: registered models, versions, aliases, reports, approvals, audit trail.

Approvals go through the same :class:`~shipyard.services.registry.service.RegistryService`
methods the REST API calls, with the actor and the permission check of
:func:`shipyard.server.auth.require`: four eyes, review states and roles are the service's and
the server's rules, never the page's. A refusal re-renders the page with the rule's message
and its status (403 or 409); a decision redirects back to the page (POST, redirect, GET).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from shipyard.entities.auth import Permission
from shipyard.entities.registry import ApprovalStatus
from shipyard.errors import (
    HTTP_STATUS,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    ShipyardError,
)
from shipyard.server.auth import require
from shipyard.server.deps import Store
from shipyard.server.routes_registry import get_registry
from shipyard.server.ui import runs_pages
from shipyard.server.ui.datasets_pages import version_number
from shipyard.server.ui.models_view import (
    allowed,
    audit_trail,
    model_card,
    report_views,
    signature,
)
from shipyard.server.ui.templating import error_page, render
from shipyard.services.registry.service import RegistryService
from shipyard.store.tracking.protocol import TrackingStore

router = APIRouter(include_in_schema=False, dependencies=[Depends(runs_pages.can_read)])

NO_REGISTRY_STATUS = 501
MAX_COMMENT = 2000
MAX_FORM = 16 * 1024
ACTIONS = {"approve": Permission.APPROVE, "reject": Permission.APPROVE,
           "request-approval": Permission.WRITE}
"""The actions a version page posts and the permission each needs (as the REST routes)."""


NO_REGISTRY = ("The model registry lives in the server's metadata database, and this server's "
               "tracking store has none of its own (it is a client of another server). Open "
               "the UI of the server that owns the database.")


class NoRegistryError(InvalidStateError):
    """The tracking store has no database of its own (rendered as 501)."""


def _registry(request: Request, store: TrackingStore) -> RegistryService:
    if getattr(store, "engine", None) is None:
        raise NoRegistryError(NO_REGISTRY)
    return get_registry(request)


def _failure(request: Request, error: ShipyardError) -> HTMLResponse:
    if isinstance(error, NoRegistryError):  # a kind of store, not a server fault
        return render(request, "error.html", {"error": error, "status": NO_REGISTRY_STATUS},
                      status=NO_REGISTRY_STATUS)
    return error_page(request, error)


@router.get("/ui/models")
def models_page(request: Request, store: Store) -> HTMLResponse:
    """Every registered model: latest version, aliases, description."""
    try:
        models = _registry(request, store).list_models()
    except ShipyardError as error:
        return _failure(request, error)
    return render(request, "models.html", {"models": models})


@router.get("/ui/models/{name}")
def model_page(request: Request, name: str, store: Store) -> HTMLResponse:
    """The versions of one model with their review status, its aliases and their history,
    its policy and its audit trail."""
    try:
        registry = _registry(request, store)
        model = registry.get_model(name)
        versions = sorted(registry.list_versions(name), key=lambda v: v.version, reverse=True)
        history = sorted(registry.alias_history(name), key=lambda c: c.time, reverse=True)
        policy = registry.get_policy(name)
    except ShipyardError as error:
        return _failure(request, error)
    return render(request, "models_model.html", {
        "model": model, "versions": versions, "history": history, "policy": policy,
        "events": audit_trail(registry, name)})


@router.get("/ui/models/{name}/{version}")
def version_page(request: Request, name: str, version: str, store: Store) -> HTMLResponse:
    """One version: facts, signature, reports, model card, approvals, actions, audit trail."""
    try:
        return _version_page(request, store, name, version_number(version, "version"))
    except ShipyardError as error:
        return _failure(request, error)


@router.post("/ui/models/{name}/{version}/{action}")
async def act(request: Request, name: str, version: str, action: str, store: Store
              ) -> Response:
    """Request approval, approve or reject with an optional comment (a form post)."""
    body = await request.body()
    return await run_in_threadpool(_act, request, store, name, version, action, body)


def _act(request: Request, store: TrackingStore, name: str, version: str, action: str,
         body: bytes) -> Response:
    try:
        number = version_number(version, "version")
        if action not in ACTIONS:
            raise NotFoundError(f"a version page has no action {action!r}; it posts "
                                f"{', '.join(ACTIONS)}", field="action")
    except ShipyardError as error:
        return _failure(request, error)
    try:
        comment = _comment(body)
        registry = _registry(request, store)
        actor = require(request, ACTIONS[action], name)
        if action == "approve":
            registry.approve(name, number, actor=actor, comment=comment)
        elif action == "reject":
            registry.reject(name, number, actor=actor, comment=comment)
        else:
            registry.request_approval(name, number, actor=actor, comment=comment)
    except ShipyardError as refusal:
        try:  # the page again, with the rule that refused and the refusal's status
            return _version_page(request, store, name, number, refusal=refusal)
        except ShipyardError as error:
            return _failure(request, error)
    url = f"{request.scope.get('root_path', '')}/ui/models/{_quote(name)}/{number}"
    return RedirectResponse(f"{url}?done={action}", status_code=303)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _comment(body: bytes) -> str | None:
    if len(body) > MAX_FORM:
        raise InvalidInputError(f"the form is larger than {MAX_FORM} bytes; shorten the "
                                "comment", field="comment")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise InvalidInputError("the form is not UTF-8 text", field="comment") from None
    comment = (fields.get("comment") or [""])[0].strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidInputError(f"the comment has {len(comment)} characters; at most "
                                f"{MAX_COMMENT} are allowed", field="comment")
    return comment or None


def _version_page(request: Request, store: TrackingStore, name: str, number: int,
                  refusal: ShipyardError | None = None) -> HTMLResponse:
    registry = _registry(request, store)
    version = registry.get_version(name, number)
    model = registry.get_model(name)
    policy = registry.get_policy(name)
    reports = report_views(store, registry.reports(name, number), policy)
    status = version.status
    context: dict[str, Any] = {
        "model": model, "v": version, "policy": policy, "reports": reports,
        "approvals": registry.approvals(name, number),
        "signature": signature(store, version),
        "card": model_card(request, store, registry, version, reports),
        "events": audit_trail(registry, f"{name}/{number}"),
        "can_review": status is ApprovalStatus.PENDING
        and allowed(request, Permission.APPROVE, name),
        "can_request": status is ApprovalStatus.NONE and allowed(request, Permission.WRITE, name),
        "refusal": refusal, "done": request.query_params.get("done", ""),
    }
    status_code = 200
    if refusal is not None:  # the rule's own status (403, 409, 400); never a 5xx
        code = HTTP_STATUS.get(refusal.code, 409)
        status_code = code if 400 <= code < 500 else 409
    return render(request, "models_version.html", context, status=status_code)
