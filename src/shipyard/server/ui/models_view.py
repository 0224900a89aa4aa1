"""What the model pages show beyond the registry's own records: report files, the package's
signature, the model card, the audit trail, and which actions the viewer may take.

Reports are stored by digest in the artifact store (``sy.evaluate`` logs them as artifacts of
an evaluation run), so they are read from the tracking store's content store. A missing or
unreadable file leaves a note on the page: it never takes the page down.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from shipyard.entities.audit import AuditEvent
from shipyard.entities.auth import Permission
from shipyard.entities.policy import Policy
from shipyard.entities.registry import ModelVersion, VersionReport
from shipyard.errors import ShipyardError
from shipyard.server.auth import principal
from shipyard.services.registry.service import RegistryService
from shipyard.store.tracking.protocol import TrackingStore

log = logging.getLogger("shipyard.server")

AUDIT_EVENTS = 100
MAX_REPORT_BYTES = 8 * 1024 * 1024
"""A report page larger than this is linked, not inlined."""
_RUNS_URI = re.compile(r"runs:/([0-9a-f]{32})/(.+)")


def allowed(request: Request, permission: Permission, model: str) -> bool:
    """Whether the viewer may act, by the same check :func:`shipyard.server.auth.require`
    makes (without ``--auth`` everyone may; the registry's own rules still apply)."""
    known = principal(request)
    return known is None or known.allows(permission, model)


@dataclass
class ReportView:
    kind: str
    report: VersionReport
    html: str | None = None
    note: str | None = None
    checks: list[tuple[str, float | None, bool]] = field(default_factory=list)
    parsed: Any = None
    same_page_as: str | None = None


def _content(store: TrackingStore) -> Any:
    return getattr(store, "content", None)


def _read(store: TrackingStore, digest: str) -> bytes:
    content = _content(store)
    if content is None:
        raise ShipyardError("this server's tracking store has no artifact store of its own")
    data: bytes = content.read_bytes(digest)
    return data


def report_views(store: TrackingStore, reports: dict[str, VersionReport], policy: Policy
                 ) -> list[ReportView]:
    """Each attached report with its HTML page and the policy's thresholds checked against
    its metrics (the same check that guards protected aliases)."""
    views: list[ReportView] = []
    for kind, report in sorted(reports.items(), key=lambda item: (item[0] != "evaluation",
                                                                   item[0])):
        view = ReportView(kind, report)
        view.checks = [(str(th), report.metrics.get(th.metric), th.holds(
            report.metrics.get(th.metric))) for th in policy.thresholds
            if th.metric in report.metrics]
        try:
            raw = _read(store, report.json_digest)
            from shipyard.services.evaluation import EvaluationReport

            view.parsed = EvaluationReport.from_dict(json.loads(raw))
        except (ShipyardError, ValueError, KeyError, TypeError) as exc:
            view.note = f"The report's JSON could not be read ({_why(exc)})."
        shared = next((v.kind for v in views if report.html_digest
                       and v.report.html_digest == report.html_digest), None)
        if shared is not None:  # sy.evaluate's bias report is a part of the evaluation's
            view.same_page_as = shared
        elif report.html_digest:
            try:
                html = _read(store, report.html_digest)
                if len(html) <= MAX_REPORT_BYTES:
                    view.html = html.decode("utf-8", errors="replace")
                else:
                    view.note = "The report page is too large to show here."
            except ShipyardError as exc:
                view.note = f"The report's page could not be read ({_why(exc)})."
        views.append(view)
    return views


def _why(exc: Exception) -> str:
    return exc.message if isinstance(exc, ShipyardError) else str(exc)


def signature(store: TrackingStore, version: ModelVersion) -> dict[str, Any] | None:
    """The package's signature (``shipyard-model.json``) when the version's source is a
    run's artifact; None when there is none or it cannot be read."""
    match = _RUNS_URI.fullmatch(version.source)
    if match is None:
        return None
    run_id, path = match.groups()
    try:
        with store.open_artifact(run_id, f"{path.rstrip('/')}/shipyard-model.json") as stream:
            manifest = json.loads(stream.read(1024 * 1024))
    except (ShipyardError, OSError, ValueError) as exc:
        log.debug("no signature for %s v%s: %s", version.name, version.version, exc)
        return None
    found = manifest.get("signature") if isinstance(manifest, dict) else None
    return found if isinstance(found, dict) else None


def model_card(request: Request, store: TrackingStore, registry: RegistryService,
               version: ModelVersion, reports: list[ReportView]) -> str | None:
    """The model card the auditor's dossier holds, as HTML."""
    try:
        from shipyard.server.ui.datasets_pages import dataset_service
        from shipyard.services.evaluation import model_card_html
        from shipyard.services.registry.dossier import _lineage

        policy = registry.get_policy(version.name)
        lineage = _lineage(store, dataset_service(request, store), version.run_id)
        card = {"flavor": version.flavor, "digest": version.digest, "source": version.source,
                "run_id": version.run_id, "created_by": version.created_by,
                "created_time": version.created_time}
        by_digest: dict[str, Any] = {}  # evaluation and bias may share one report
        for view in reports:
            if view.parsed is not None:
                by_digest.setdefault(view.report.json_digest, view.parsed)
        parsed = list(by_digest.values())
        return model_card_html(name=version.name, version=version.version,
                               description=version.description, manifest=card, reports=parsed,
                               lineage=lineage, thresholds=[str(t) for t in policy.thresholds])
    except ShipyardError as exc:
        log.warning("the model card of %s v%s failed: %s", version.name, version.version,
                    exc.message)
        return None


def audit_trail(registry: RegistryService, entity: str) -> list[AuditEvent]:
    """The audit events about ``entity`` (a model also finds its versions), newest first."""
    try:
        return registry.audit.events(entity=entity, limit=AUDIT_EVENTS)
    except ShipyardError as exc:
        log.warning("the audit trail of %s could not be read: %s", entity, exc.message)
        return []
