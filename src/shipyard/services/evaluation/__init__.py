"""Evaluation and bias reports: metrics, fairness per sensitive feature, HTML pages and model
cards. See docs/evaluation.md for every metric's name and formula.

    from shipyard.services.evaluation import evaluate_predictions, report_html

    report = evaluate_predictions(y_true, y_score=proba, sensitive={"region": region})
    report.metrics["f1"], report.metrics["demographic_parity_difference"]
    page = report_html(report, title="entity matcher v3")      # one self-contained page
    stored = report.to_json()                                  # canonical, NaN-free JSON

Importing this package loads neither numpy nor scikit-learn; ``evaluate_predictions`` does.
"""

from __future__ import annotations

from shipyard.services.evaluation.evaluate import MIN_GROUP_SIZE, evaluate_predictions
from shipyard.services.evaluation.html_report import report_html
from shipyard.services.evaluation.model_card import model_card_html, model_card_markdown
from shipyard.services.evaluation.report import (
    FAIRNESS_METRICS,
    FORMAT,
    METRIC_NAMES,
    EvaluationReport,
    FeatureFairness,
    GroupStats,
)

__all__ = [
    "FAIRNESS_METRICS",
    "FORMAT",
    "METRIC_NAMES",
    "MIN_GROUP_SIZE",
    "EvaluationReport",
    "FeatureFairness",
    "GroupStats",
    "evaluate_predictions",
    "model_card_html",
    "model_card_markdown",
    "report_html",
]
