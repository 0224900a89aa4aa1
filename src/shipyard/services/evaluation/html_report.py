"""``report_html``: one self-contained HTML page for an :class:`EvaluationReport`."""

from __future__ import annotations

from shipyard.services.evaluation import svg
from shipyard.services.evaluation.htmlkit import bullets, fmt, page, table
from shipyard.services.evaluation.report import EvaluationReport, FeatureFairness, metric_order
from shipyard.services.evaluation.svg import esc

BAR_RATES = {"binary": ("selection_rate", "tpr", "fpr"), "multiclass": ("accuracy",),
             "regression": ("mae",)}
"""The per-group rates drawn as bars; the table lists them all."""


def report_html(report: EvaluationReport, *, title: str = "Evaluation report") -> str:
    """The report as one HTML page: metrics, warnings, charts (inline SVG) and fairness."""
    body = [f"<h1>{esc(title)}</h1>", f'<p class="muted">{esc(summary(report))}</p>',
            "<h2>Metrics</h2>",
            table(["metric", "value"], [(name, report.metrics[name]) for name in
                                        metric_order(list(report.metrics)) if "." not in name])]
    if report.warnings:
        body.append('<div class="warn"><strong>Warnings</strong>'
                    f"{bullets(report.warnings)}</div>")
    body += ["<h2>Charts</h2>", '<div class="charts">', *charts(report), "</div>"]
    if report.per_class:
        body += ["<h2>Per class</h2>", table(
            ["class", "precision", "recall", "f1", "support"],
            [(label, v.get("precision"), v.get("recall"), v.get("f1"), v.get("support"))
             for label, v in report.per_class.items()])]
    if report.fairness:
        body.append("<h2>Fairness by sensitive feature</h2>")
        for feature in report.fairness:
            body += fairness_section(report, feature)
    return page(title, body)


def summary(report: EvaluationReport) -> str:
    parts = [f"{report.task} task", f"{report.n_samples} rows"]
    if report.dataset:
        parts.append(f"data: {report.dataset}")
    if report.positive_label is not None:
        parts.append(f"positive class: {report.positive_label}")
    if report.threshold is not None:
        parts.append(f"predicted positive when score >= {report.threshold:g}")
    return " \u00b7 ".join(parts)


def charts(report: EvaluationReport) -> list[str]:
    """One inline SVG per chart the report's data allows (per-group charts are drawn in
    each feature's fairness section)."""
    curves, out = report.curves, []
    if "roc" in curves:
        out.append(svg.line_chart(
            f"ROC curve (AUC {fmt(report.metrics.get('roc_auc'))})",
            [("model", curves["roc"]["fpr"], curves["roc"]["tpr"])],
            x_label="false positive rate", y_label="true positive rate", diagonal=True))
    if "pr" in curves:
        out.append(svg.line_chart(
            f"Precision-recall curve (AP {fmt(report.metrics.get('pr_auc'))})",
            [("model", curves["pr"]["recall"], curves["pr"]["precision"])],
            x_label="recall", y_label="precision"))
    if "calibration" in curves:
        c = curves["calibration"]
        out.append(svg.line_chart(
            f"Reliability diagram (ECE {fmt(report.metrics.get('ece'))})",
            [("observed", c["mean_predicted"], c["fraction_positive"])],
            x_label="mean predicted probability", y_label="fraction positive",
            diagonal=True, markers=True))
    if "threshold" in curves:
        c = curves["threshold"]
        out.append(svg.line_chart(
            "Metrics by threshold", [(name, c["threshold"], c[name])
                                     for name in ("precision", "recall", "f1")],
            x_label="threshold", y_label="value", markers=True))
    if report.confusion_matrix:
        out.append(svg.heatmap("Confusion matrix", [str(v) for v in report.labels],
                               report.confusion_matrix))
    if "residuals" in curves:
        c = curves["residuals"]
        out.append(svg.histogram("Residuals (y_true - y_pred)", c["edges"], c["counts"],
                                 x_label="residual"))
    return out


def group_chart(report: EvaluationReport, feature: FeatureFairness) -> str:
    rates = BAR_RATES[report.task]
    values = [[g.rates.get(rate) for g in feature.groups] for rate in rates]
    top = max([v for row in values for v in row if v is not None], default=0.0)
    y_max = 1.0 if report.task != "regression" else svg.nice_ceiling(top)
    return svg.bar_chart(f"By {feature.feature}", [g.group for g in feature.groups],
                         list(zip(rates, values, strict=True)), y_label="rate"
                         if report.task != "regression" else "mae", y_max=y_max)


def fairness_section(report: EvaluationReport, feature: FeatureFairness) -> list[str]:
    rates = list(dict.fromkeys(r for g in feature.groups for r in g.rates))
    parts = [f"<h3>{esc(feature.feature)}</h3>", table(
        ["group", "rows", "small", *rates],
        [(g.group, g.count, "yes" if g.small else "", *(g.rates.get(r) for r in rates))
         for g in feature.groups])]
    if feature.metrics:
        parts.append(table(["fairness metric", "value"],
                           [(f"{name}.{feature.feature}", value)
                            for name, value in feature.metrics.items()]))
    parts.append('<div class="charts">' + group_chart(report, feature) + "</div>")
    return parts
