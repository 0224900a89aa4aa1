"""The model dossier an auditor gets with ``shipyard audit export MODEL``: for every version,
its model card (Markdown and HTML), attached reports (JSON and HTML, as stored, by digest),
approvals, and lineage (source run, params, dataset versions with digests); plus the alias
history and the policy. Everything is plain JSON, Markdown or HTML -- readable without
Shipyard."""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from shipyard.artifacts.content import ContentStore
from shipyard.errors import NotFoundError
from shipyard.services.data.service import DatasetService
from shipyard.store.registry.protocol import ModelRegistry
from shipyard.store.tracking.protocol import TrackingStore


def add_model_dossier(bundle: Path, name: str, registry: ModelRegistry,
                      tracking: TrackingStore, datasets: DatasetService,
                      content: ContentStore) -> int:
    """Append the dossier of model ``name`` to the zip ``bundle``; returns files added."""
    from shipyard.services.evaluation import EvaluationReport, model_card_html, model_card_markdown

    model = registry.get_model(name)
    policy = registry.get_policy(name)
    thresholds = [str(t) for t in policy.thresholds]
    files: dict[str, bytes] = {}
    for version in registry.list_versions(name):
        base = f"model/{name}/v{version.version}"
        lineage = _lineage(tracking, datasets, version.run_id)
        reports = registry.reports(name, version.version)
        parsed: list[EvaluationReport] = []
        for kind, report in reports.items():
            try:
                raw = content.read_bytes(report.json_digest)
            except NotFoundError:
                continue
            files[f"{base}/reports/{kind}.json"] = raw
            if report.html_digest:
                files[f"{base}/reports/{kind}.html"] = content.read_bytes(report.html_digest)
            if all(p.to_json() != raw.decode() for p in parsed):
                parsed.append(EvaluationReport.from_dict(json.loads(raw)))
        card = {"flavor": version.flavor, "digest": version.digest, "source": version.source,
                "run_id": version.run_id, "created_by": version.created_by,
                "created_time": version.created_time}
        for suffix, render in (("md", model_card_markdown), ("html", model_card_html)):
            files[f"{base}/model-card.{suffix}"] = render(
                name=name, version=version.version, description=version.description,
                manifest=card, reports=parsed, lineage=lineage, thresholds=thresholds).encode()
        files[f"{base}/version.json"] = _json({
            **asdict(version), "status": str(version.status),
            "approvals": [{**asdict(a), "decision": str(a.decision)}
                          for a in registry.approvals(name, version.version)],
            "reports": {k: asdict(r) for k, r in reports.items()}, "lineage": lineage})
    files[f"model/{name}/model.json"] = _json({
        **asdict(model), "policy": policy.to_dict(),
        "alias_history": [asdict(c) for c in registry.alias_history(name)]})
    with zipfile.ZipFile(bundle, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return len(files)


def _lineage(tracking: TrackingStore, datasets: DatasetService, run_id: str | None
             ) -> dict[str, Any]:
    if run_id is None:
        return {}
    try:
        run = tracking.get_run(run_id)
    except NotFoundError:
        return {"run_id": run_id, "note": "the source run no longer exists"}
    return {"run_id": run_id, "experiment_id": run.info.experiment_id,
            "params": dict(run.data.params),
            "datasets": [{"ref": u.ref, "role": str(u.role), "digest": u.digest}
                         for u in datasets.run_datasets(run_id)]}


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True, default=str).encode()
