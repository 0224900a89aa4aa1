"""``shipyard webhooks``: post registry events to URLs, and read the delivery log.

Adding, pausing and removing a webhook acts as SHIPYARD_USER (or the OS user) and is audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag
from shipyard.entities.webhook import DeliveryStatus

if TYPE_CHECKING:
    from shipyard.entities.webhook import DeliveryResult, Webhook, WebhookDelivery
    from shipyard.services.webhooks.service import WebhookService

app = typer.Typer(name="webhooks", help="Post signed registry events to URLs; the delivery log.",
                  no_args_is_help=True)

HookId = Annotated[int, typer.Argument(help="The webhook's id (`shipyard webhooks list`).",
                                       min=1)]
_EVENTS = ("model_version.created, model_version.approval_requested, model_version.approved, "
           "model_version.rejected, alias.moved")


def service() -> WebhookService:
    from shipyard.errors import InvalidStateError
    from shipyard.sdk.fluent import client
    from shipyard.services.webhooks.service import WebhookService

    engine = getattr(client().store, "engine", None)
    if engine is None:
        raise InvalidStateError(
            "webhooks are managed next to the metadata database and the tracking URI names a "
            "server: run this on the server's machine, or set SHIPYARD_TRACKING_URI to the "
            "server's database URL", field="tracking_uri")
    return WebhookService(engine)


def webhook_json(w: Webhook) -> dict[str, Any]:
    return {"id": w.id, "url": w.url, "events": list(w.events), "model": w.model,
            "active": w.active, "created_by": w.created_by,
            **output.time_fields("created", w.created_time)}


def delivery_json(d: WebhookDelivery) -> dict[str, Any]:
    return {"id": d.id, "webhook_id": d.webhook_id, "event": d.event_type,
            "status": str(d.status), "attempts": d.attempts,
            "last_status_code": d.last_status_code, "last_error": d.last_error,
            **output.time_fields("created", d.created_time),
            **output.time_fields("next_attempt",
                                 d.next_attempt_time if d.status is DeliveryStatus.PENDING
                                 else None),
            **output.time_fields("delivered", d.delivered_time), "body": d.body()}


def result_json(r: DeliveryResult) -> dict[str, Any]:
    return {"id": r.delivery_id, "webhook_id": r.webhook_id, "event": r.event_type,
            "url": r.url, "status": str(r.status), "attempts": r.attempts,
            "status_code": r.status_code, "error": r.error}


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where to POST, e.g. https://ci.example.com/hook")],
    event: Annotated[list[str] | None, typer.Option(
        "--event", "-e", help=f"An event to send (repeatable; default: all): {_EVENTS}.")
    ] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Only this registered model's events (default: every model).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a webhook; prints its id and signing secret, which is not shown again."""
    from shipyard import settings

    created = service().add(url, actor=settings.current_user(), events=event, model=model)
    if as_json:
        output.emit_json({**webhook_json(created.webhook), "secret": created.secret})
        return
    w = created.webhook
    output.done(f"webhook {w.id}: {', '.join(w.events)} of {w.model or 'every model'} -> "
                f"{w.url}\nsecret: {created.secret}")
    output.note("Keep the secret now (e.g. in the receiver's secret store): it is not shown "
                "again. Receivers check X-Shipyard-Signature with it (docs/webhooks.md).")


@app.command("list")
def list_webhooks(as_json: JsonFlag = False) -> None:
    """List webhooks (never their secrets)."""
    found = service().list_webhooks()
    if as_json:
        output.emit_json({"webhooks": [webhook_json(w) for w in found]})
        return
    table = output.new_table("id", "url", "events", "model", "active", "by", "created",
                             no_wrap=("id",))
    for w in found:
        output.add_row(table, str(w.id), w.url, ", ".join(w.events), w.model or "*",
                       "yes" if w.active else "paused", w.created_by,
                       output.local_time(w.created_time, seconds=False))
    output.print_table(table)


@app.command("rm")
def remove(webhook_id: HookId) -> None:
    """Remove a webhook with its delivery log; queued deliveries are dropped."""
    from shipyard import settings

    service().remove(webhook_id, actor=settings.current_user())
    output.done(f"removed webhook {webhook_id}")


@app.command("disable")
def disable(webhook_id: HookId) -> None:
    """Pause a webhook: no new deliveries; queued ones wait until it is enabled."""
    from shipyard import settings

    service().set_active(webhook_id, False, actor=settings.current_user())
    output.done(f"webhook {webhook_id} paused")


@app.command("enable")
def enable(webhook_id: HookId) -> None:
    """Resume a paused webhook."""
    from shipyard import settings

    service().set_active(webhook_id, True, actor=settings.current_user())
    output.done(f"webhook {webhook_id} active")


@app.command("deliveries")
def deliveries(
    status: Annotated[DeliveryStatus | None, typer.Option(
        "--status", case_sensitive=False, help="Only deliveries in this state.")] = None,
    webhook: Annotated[int | None, typer.Option("--webhook", help="Only this webhook's.")
                       ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest shown.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """The delivery log, newest first: each event, its attempts and the last answer.

    The table shows the first 8 characters of a delivery id; --json has it whole, with the
    body and the time of the next attempt.
    """
    found = service().deliveries(status=None if status is None else str(status),
                                 webhook_id=webhook, limit=limit)
    if as_json:
        output.emit_json({"deliveries": [delivery_json(d) for d in found]})
        return
    table = output.new_table("id", "hook", "event", "status", "tries", "created", "answer",
                             no_wrap=("id", "hook", "status", "tries"))
    for d in found:
        answer = d.last_error or ("" if d.last_status_code is None else str(d.last_status_code))
        output.add_row(table, d.id[:output.SHORT_ID], str(d.webhook_id), d.event_type,
                       str(d.status), str(d.attempts),
                       output.local_time(d.created_time, seconds=False), output.clip(answer, 80))
    output.print_table(table)


@app.command("deliver")
def deliver(as_json: JsonFlag = False) -> None:
    """Send every delivery that is due now (new ones and retries whose wait is over)."""
    from shipyard.services.webhooks.dispatcher import Dispatcher

    dispatcher, batch = Dispatcher(service().engine), 100
    results: list[DeliveryResult] = []
    while True:
        sent = dispatcher.deliver_due(batch)
        results += sent
        if len(sent) < batch:
            break
    if as_json:
        output.emit_json({"results": [result_json(r) for r in results]})
        return
    counts = {s: sum(r.status is s for r in results) for s in DeliveryStatus}
    output.done(f"{len(results)} attempt(s): {counts[DeliveryStatus.DELIVERED]} delivered, "
                f"{counts[DeliveryStatus.PENDING]} to retry, "
                f"{counts[DeliveryStatus.FAILED]} failed")
    for r in results:
        if r.error is not None:
            output.note(f"{r.delivery_id} -> {r.url}: {r.error}")
