"""``evaluate_predictions``: labels, scores and sensitive features in, a report out.

numpy and scikit-learn are imported when it runs, not when this package is imported.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal

from shipyard.errors import InvalidInputError
from shipyard.services.evaluation.report import EvaluationReport, finite, metric_order

MIN_GROUP_SIZE = 30
"""Groups with fewer rows are flagged ``small``: a rate over fewer rows is mostly noise."""


def evaluate_predictions(
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    *,
    task: Literal["classification", "regression"] | None = None,
    sensitive: Any = None,
    positive_label: Any = None,
    threshold: float = 0.5,
    min_group_size: int = MIN_GROUP_SIZE,
    dataset: str | None = None,
) -> EvaluationReport:
    """Evaluate predictions against the truth.

    ``y_true``, ``y_pred``: one label (or value) per row: lists, numpy arrays, pandas Series.
    ``y_score``: binary tasks, the positive class's probability per row (an ``(n, 2)``
    ``predict_proba`` array also works); multiclass, an ``(n, classes)`` array whose columns
    follow the sorted labels. Without ``y_pred``, binary predictions are
    ``y_score >= threshold`` and multiclass ones the most probable class.
    ``task``: None infers it (text, booleans or at most 20 distinct whole numbers make a
    classification; other numbers a regression).
    ``sensitive``: feature name -> group label per row (a dict of arrays or a DataFrame).
    ``positive_label``: needed when binary labels are not numbers; otherwise the greater one.
    ``dataset``: a name for what was evaluated, shown in reports and model cards.

    Raises ``InvalidInputError`` (with ``field``) for input it cannot evaluate.
    """
    from shipyard.services.evaluation import classification, fairness, inputs, regression

    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise InvalidInputError(f"threshold must be a number, not {threshold!r}",
                                field="threshold")
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, int) \
            or min_group_size < 1:
        raise InvalidInputError(f"min_group_size must be a whole number >= 1, not "
                                f"{min_group_size!r}", field="min_group_size")
    data = inputs.prepare(y_true, y_pred, y_score, task, sensitive, positive_label,
                          float(threshold))
    notes = list(data.warnings)
    per_class: dict[str, dict[str, float | None]] = {}
    matrix: list[list[int]] = []
    if data.task == "regression":
        metrics, curves, more = regression.regression(data)
    elif data.task == "binary":
        metrics, curves, matrix, more = classification.binary(data)
    else:
        metrics, per_class, matrix, more = classification.multiclass(data)
        curves = {}
    notes.extend(more)
    groups, fair, more = fairness.fairness(data, min_group_size)
    metrics.update(fair)
    metrics = {name: metrics[name] for name in metric_order(list(metrics))}
    notes.extend(more)
    return EvaluationReport(
        task=data.task, n_samples=len(data.y_true), dataset=dataset,
        metrics=finite(metrics), labels=finite(data.labels),
        positive_label=finite(data.positive_label), threshold=data.threshold,
        confusion_matrix=matrix, per_class=finite(per_class), curves=finite(curves),
        fairness=groups, warnings=notes)
