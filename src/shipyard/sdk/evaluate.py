"""``sy.evaluate``: score a registered version on held-out data and attach the reports.

The metrics go to an ``evaluation`` report and, when sensitive features are given, the
fairness metrics to a ``bias`` report; both point at the same JSON and self-contained HTML
page in the artifact store (by digest), so a policy's ``required_reports: [evaluation, bias]``
and thresholds such as ``f1 >= 0.95`` are checked against exactly what was computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard import settings
from shipyard.entities.registry import ModelVersion
from shipyard.errors import InvalidInputError
from shipyard.sdk.fluent import client

if TYPE_CHECKING:
    from shipyard.services.evaluation import EvaluationReport


def evaluate(version: ModelVersion | str, data: Any, target: str, *,
             sensitive_features: Sequence[str] = (), threshold: float = 0.5,
             dataset: str | None = None) -> EvaluationReport:
    """Evaluate ``version`` (a :class:`ModelVersion` or a ``models:/`` URI) on the pandas
    DataFrame ``data`` whose column ``target`` holds the truth; attach the reports."""
    from shipyard.sdk.models import load_model
    from shipyard.services.evaluation import (
        FAIRNESS_METRICS,
        evaluate_predictions,
        report_html,
    )

    uri = version.uri if isinstance(version, ModelVersion) else version
    missing = [c for c in (target, *sensitive_features) if c not in getattr(data, "columns", ())]
    if missing:
        raise InvalidInputError(f"data has no column(s) {', '.join(map(repr, missing))}",
                                field="data")
    model = load_model(uri)
    registry = client().registry
    mv = registry.resolve(uri)
    features = _model_inputs(model, data, target)
    y_pred = model.predict(features)
    y_score = None
    if model.has_predict_proba and data[target].nunique() <= 2:
        proba = model.predict_proba(features)
        y_score = proba[:, -1] if getattr(proba, "ndim", 1) == 2 else proba
    sensitive = {f: data[f].to_numpy() for f in sensitive_features} or None
    report = evaluate_predictions(data[target].to_numpy(), y_pred, y_score,
                                  sensitive=sensitive, threshold=threshold, dataset=dataset)
    json_digest, html_digest = _store_report(mv, report,
                                             report_html(report, title=f"{mv.name} v{mv.version}"))
    actor = settings.current_user()
    quality = {k: v for k, v in report.metrics.items()
               if k.split(".", 1)[0] not in FAIRNESS_METRICS}
    registry.attach_report(mv.name, mv.version, "evaluation", json_digest=json_digest,
                           html_digest=html_digest, metrics=quality, actor=actor)
    if sensitive:
        fairness = {k: v for k, v in report.metrics.items() if k not in quality}
        registry.attach_report(mv.name, mv.version, "bias", json_digest=json_digest,
                               html_digest=html_digest, metrics=fairness, actor=actor)
    return report


def _store_report(mv: ModelVersion, report: EvaluationReport, html: str) -> tuple[str, str]:
    """Keep the report as artifacts of an evaluation run (nested in the active run, if any):
    the files get their digests from the artifact store, embedded or through a server, and
    the run makes the evaluation searchable by its metrics."""
    import math

    from shipyard.sdk.fluent import start_run

    sdk = client()
    tags = {"shipyard.model.name": mv.name, "shipyard.model.version": str(mv.version)}
    with start_run(experiment=EVALUATION_EXPERIMENT, run_name=f"evaluate {mv.name} v{mv.version}",
                   tags=tags) as run:
        stored_json = sdk.log_text(run.run_id, report.to_json(), "report/evaluation.json")
        stored_html = sdk.log_text(run.run_id, html, "report/evaluation.html")
        finite = {k: float(v) for k, v in report.metrics.items()
                  if isinstance(v, int | float) and math.isfinite(v)}
        if finite:
            sdk.log_metrics(run.run_id, finite)
    assert stored_json.digest is not None and stored_html.digest is not None
    return stored_json.digest, stored_html.digest


EVALUATION_EXPERIMENT = "evaluations"
"""Experiment of the runs ``sy.evaluate`` starts when no run is active."""


def _model_inputs(model: Any, data: Any, target: str) -> Any:
    """The columns the model's signature names (sensitive features are often not inputs);
    without a column signature, everything but the target."""
    signature = getattr(model, "signature", None)
    columns = getattr(getattr(signature, "inputs", None), "columns", None)
    if columns:
        return data[[c.name for c in columns]]
    return data.drop(columns=[target])
