"""The webhook event types, the checks on a webhook's settings, and the payload of each event
as it is derived from the registry's audit event (so the registry service need not know about
webhooks beyond one call)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from shipyard.entities.audit import AuditEvent
from shipyard.entities.registry import check_model_name
from shipyard.errors import InvalidInputError

VERSION_CREATED = "model_version.created"
APPROVAL_REQUESTED = "model_version.approval_requested"
APPROVED = "model_version.approved"
REJECTED = "model_version.rejected"
ALIAS_MOVED = "alias.moved"
EVENT_TYPES = (VERSION_CREATED, APPROVAL_REQUESTED, APPROVED, REJECTED, ALIAS_MOVED)
ALL_EVENTS = "*"
MAX_URL = 2000

# Registry audit action -> webhook event type.
_ACTIONS = {"version.create": VERSION_CREATED, "version.request": APPROVAL_REQUESTED,
            "version.approve": APPROVED, "version.reject": REJECTED,
            "alias.set": ALIAS_MOVED, "alias.delete": ALIAS_MOVED}


def check_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("a webhook needs a URL such as https://ci.example.com/hook",
                                field="url")
    if len(url) > MAX_URL:
        raise InvalidInputError(f"webhook URL is {len(url)} characters; at most {MAX_URL}",
                                field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidInputError(f"webhook URL {url!r} does not parse: {exc}",
                                field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or \
            any(ch.isspace() for ch in url):
        raise InvalidInputError(
            f"webhook URL {url!r} must be an http:// or https:// URL with a host, such as "
            "https://ci.example.com/hook", field="url")
    return url


def check_events(events: Iterable[str] | None) -> tuple[str, ...]:
    """The event list to store: known types, deduplicated in a fixed order, or ``("*",)``."""
    chosen = list(events or [])
    if not chosen or ALL_EVENTS in chosen:
        if len(set(chosen)) > 1:
            raise InvalidInputError("'*' already means every event; give it alone",
                                    field="events")
        return (ALL_EVENTS,)
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise InvalidInputError(
            f"unknown webhook event type(s) {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(EVENT_TYPES)} or '*'", field="events")
    return tuple(e for e in EVENT_TYPES if e in chosen)


def check_model(model: str | None) -> str | None:
    return None if model is None else check_model_name(model, "model")


def wants(events: Iterable[str], event_type: str) -> bool:
    return any(e in (ALL_EVENTS, event_type) for e in events)


def redacted_url(url: str) -> str:
    """The URL without credentials or query string, for the audit log (they may hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def from_audit_event(event: AuditEvent) -> tuple[str, str, dict[str, Any]] | None:
    """``(event_type, model, payload)`` for a registry audit event that webhooks announce, or
    None. Every payload has the same keys (null where they do not apply); a created version's
    also has its source, run_id and flavor."""
    event_type = _ACTIONS.get(event.action)
    if event_type is None:
        return None
    before, after = event.before_value() or {}, event.after_value() or {}
    model, _, number = event.entity_id.partition("/")
    data: dict[str, Any] = {"model": model, "version": int(number) if number else None,
                            "alias": None, "previous_version": None, "status": None,
                            "actor": event.actor, "time": event.time,
                            "comment": event.reason, "audit_seq": event.seq}
    if event_type == ALIAS_MOVED:
        alias = next(iter(after), None)
        data.update(alias=alias, version=after.get(alias), previous_version=before.get(alias))
    else:
        data["status"] = after.get("status")
        if event_type == APPROVED and data["status"] != "approved":
            return None  # one of several approvals a policy asks for: not approved yet
        if event_type == VERSION_CREATED:
            data.update(source=after.get("source"), run_id=after.get("run_id"),
                        flavor=after.get("flavor"))
    return event_type, model, data
