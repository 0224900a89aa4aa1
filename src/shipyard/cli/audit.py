"""``shipyard audit``: verify the tamper-evident audit chain, read it, export it for auditors.

``verify`` exits 1 and names the first broken link when the chain does not verify; ``export``
writes the bundle either way and exits 1 when the chain it exported did not verify.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag

if TYPE_CHECKING:
    from shipyard.entities.audit import AuditEvent
    from shipyard.services.audit import AuditLog, VerifyReport

app = typer.Typer(name="audit", help="Verify, read and export the tamper-evident audit log.",
                  no_args_is_help=True)

TypeOption = Annotated[str | None, typer.Option(
    "--type", help="Only entities of this type (e.g. registered_model, model_version).")]


def audit_log() -> AuditLog:
    from shipyard.services.audit import open_audit_log

    return open_audit_log()


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {"seq": event.seq, **output.time_fields("time", event.time), "actor": event.actor,
            "action": event.action, "entity_type": event.entity_type,
            "entity_id": event.entity_id, "before": event.before_value(),
            "after": event.after_value(), "reason": event.reason, "mac": event.mac}


def _broken(report: VerifyReport) -> str:
    where = "" if report.first_bad_seq is None else f" at event {report.first_bad_seq}"
    return f"the audit chain is broken{where}: {report.reason}"


@app.command("verify")
def verify(as_json: JsonFlag = False) -> None:
    """Check every link of the chain with the key, and its length against the checkpoint.

    Exit code 1 when it does not verify, naming the first missing or altered event.
    """
    report = audit_log().verify()
    if as_json:
        output.emit_json(report.to_dict())
    elif report.ok:
        head = "" if report.head_mac is None else \
            f"; head: event {report.head_seq}, MAC {report.head_mac[:16]}…"
        behind = "" if report.checkpoint is None else \
            f"; checkpoint at event {report.checkpoint.seq}"
        output.done(f"OK: {report.events} event(s) verified{head}{behind}")
    if not report.ok:
        if not as_json:
            typer.secho(f"Error: {_broken(report)}", fg="red", err=True)
        raise typer.Exit(1)


@app.command("log")
def log(
    entity: Annotated[str | None, typer.Option(
        "--entity", help="Only this entity and those under it (a model name also shows its "
                         "versions name/N and aliases name@alias).")] = None,
    entity_type: TypeOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest events shown.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Show the newest events: who did what to which entity, when and why."""
    events = audit_log().events(entity=entity, entity_type=entity_type, limit=limit)
    if as_json:
        output.emit_json({"events": [event_json(e) for e in events]})
        return
    if not events:
        output.note("No audit events.")
        return
    table = output.new_table("seq", "time", "actor", "action", "entity", "reason",
                             title="Audit log (newest first)", no_wrap=("seq", "time"))
    for e in events:
        output.add_row(table, str(e.seq), output.local_time(e.time), e.actor, e.action,
                       f"{e.entity_type} {e.entity_id}", output.clip(e.reason or "", 80))
    output.print_table(table)


def _model_dossier(bundle: Path, name: str) -> int:
    """Model cards, reports, approvals and lineage when ``name`` is a registered model."""
    from shipyard.errors import NotFoundError
    from shipyard.sdk.client import Client
    from shipyard.services.registry.dossier import add_model_dossier

    client = Client()
    try:
        client.registry.get_model(name)
    except NotFoundError:
        return 0
    datasets = client.datasets
    return add_model_dossier(bundle, name, client.registry, client.store, datasets,
                             datasets.content)


@app.command("export")
def export(
    entity: Annotated[str | None, typer.Argument(
        metavar="[ENTITY]", help="Only this entity's events (a model name includes its "
                                 "versions and aliases); all events when left out.")] = None,
    out: Annotated[Path, typer.Option("--output", "-o", help="The zip file to write.")] = Path(
        "audit-export.zip"),
    entity_type: TypeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a zip an auditor can check without Shipyard: events.jsonl, manifest.json with
    the verification result, the checkpoint, a README and a standalone verify.py; for a
    registered model also its model cards, reports, approvals and lineage.
    """
    result = audit_log().export(out, entity=entity, entity_type=entity_type)
    added = _model_dossier(out, entity) if entity else 0
    report = result.verification
    if as_json:
        output.emit_json({"path": str(result.path), "events": result.events,
                          "verification": report.to_dict()})
    else:
        dossier = f" and the model dossier ({added} files)" if added else ""
        output.done(f"Wrote {result.events} event(s){dossier} to {result.path}")
    if not report.ok:
        if not as_json:
            typer.secho(f"Error: the bundle was written, but {_broken(report)}", fg="red",
                        err=True)
        raise typer.Exit(1)
