"""The audit log page: searchable events and the chain's verification status.

Verifying walks the whole chain (one HMAC per event), so the page does it for chains up to
:data:`AUTO_VERIFY_EVENTS` events and keeps the result :data:`VERIFY_TTL_S` seconds; a longer
chain is verified when someone presses **Verify now** (``?verify=now``, a read: it changes
nothing), which also bypasses the kept result. The status says which events were checked and
when.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.server.deps import Store
from shipyard.server.ui import audit_query
from shipyard.server.ui.runs_pages import can_read
from shipyard.server.ui.templating import error_page, render
from shipyard.services.audit.log import AuditLog
from shipyard.services.audit.verifier import VerifyReport

router = APIRouter(include_in_schema=False, dependencies=[Depends(can_read)])

AUTO_VERIFY_EVENTS = 20_000
VERIFY_TTL_S = 30.0
_lock = threading.Lock()


@dataclass(frozen=True)
class Verified:
    """A verify's report, when it ran and how many events the chain held then."""

    report: VerifyReport | None
    error: str | None
    at: float
    total: int


_verified: dict[int, Verified] = {}  # by id(engine): one entry per served database


def _verify(log: AuditLog, total: int, *, now: bool) -> Verified | None:
    key = id(log.engine)
    with _lock:
        kept = _verified.get(key)
    fresh = kept is not None and time.time() - kept.at < VERIFY_TTL_S and kept.total == total
    if fresh and not now:
        return kept
    if not now and total > AUTO_VERIFY_EVENTS:
        return kept  # too long to walk on every visit: the button does it
    try:
        result = Verified(log.verify(), None, time.time(), total)
    except ShipyardError as error:  # no key here: say so, the events still show
        result = Verified(None, error.message, time.time(), total)
    with _lock:
        _verified[key] = result
    return result


@router.get("/ui/audit")
def audit_page(
    request: Request,
    store: Store,
    actor: str = "",
    action: str = "",
    kind: str = "",
    entity: str = "",
    since: str = "",
    until: str = "",
    before: str = "",
    verify: Annotated[str, Query(description="`now` verifies the chain again")] = "",
) -> HTMLResponse:
    """The events, newest first, a page at a time, with the chain's status on top. A filter
    that is not valid is shown beside the form with a 400."""
    engine = getattr(store, "engine", None)
    if engine is None:
        return error_page(request, InvalidInputError(
            "the audit log lives in the server's database, and this store has none"))
    filters = audit_query.Filters(actor, action, kind, entity, since, until, before)
    log = AuditLog(engine)
    refused: InvalidInputError | None = None
    events: list[Any] = []
    next_before: int | None = None
    try:
        total = log.count()
        with engine.connect() as conn:
            choices = audit_query.choices(conn)
            try:
                events, next_before = audit_query.page(conn, filters)
            except InvalidInputError as error:
                refused = error
        verified = _verify(log, total, now=verify == "now")
    except ShipyardError as error:
        return error_page(request, error)
    context = {"filters": filters, "events": events, "next_before": next_before,
               "refused": refused, "total": total, "verified": verified,
               "verified_age": None if verified is None else int(time.time() - verified.at),
               "auto_limit": AUTO_VERIFY_EVENTS, **choices}
    return render(request, "audit.html", context, status=400 if refused else 200)
