"""What an evaluation produces: :class:`EvaluationReport`, a plain value with a JSON form.

The JSON form (``to_dict``/``to_json``) carries ``"format": 1`` and never holds NaN or
infinity: an undefined value (ROC AUC when ``y_true`` holds one class, a ratio over zero) is
``null``, and the reason is listed in ``warnings``. ``metrics`` is flat, ``name -> number``,
with the stable names of docs/evaluation.md; it is what governance policies check
(``f1 >= 0.95``). This module imports neither numpy nor scikit-learn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shipyard.errors import InvalidInputError

FORMAT = 1
"""The report format this Shipyard writes and the newest it reads."""

Task = Literal["binary", "multiclass", "regression"]
Label = str | int | float | bool
"""A class label as JSON keeps it."""
Curve = dict[str, list[float | None]]

CLASSIFICATION_METRICS = (
    "n_samples", "accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1",
    "prevalence", "positive_rate", "roc_auc", "pr_auc", "log_loss", "brier", "ece",
    "precision_macro", "recall_macro", "f1_macro",
    "precision_weighted", "recall_weighted", "f1_weighted",
)
REGRESSION_METRICS = ("n_samples", "mae", "mse", "rmse", "r2", "mape", "max_error")
FAIRNESS_METRICS = (
    "demographic_parity_difference", "demographic_parity_ratio",
    "equalized_odds_difference", "equal_opportunity_difference", "disparate_impact_ratio",
)
METRIC_NAMES = frozenset(CLASSIFICATION_METRICS + REGRESSION_METRICS + FAIRNESS_METRICS)
"""Every base metric name a report may hold; fairness ones also appear as ``name.<feature>``.
Pass it as ``known_metrics`` when parsing a policy."""


@dataclass(frozen=True)
class GroupStats:
    """One group of one sensitive feature. ``small``: fewer rows than the minimum group size,
    so its rates are noisy (it still counts in the feature's fairness metrics)."""

    group: str
    count: int
    small: bool
    rates: dict[str, float | None]
    """Binary: selection_rate, base_rate, tpr, fpr, precision, accuracy. Multiclass:
    accuracy. Regression: mae."""


@dataclass(frozen=True)
class FeatureFairness:
    feature: str
    groups: list[GroupStats]
    metrics: dict[str, float | None]
    """The fairness metrics of this feature (binary tasks; empty otherwise)."""


@dataclass(frozen=True)
class EvaluationReport:
    task: Task
    n_samples: int
    metrics: dict[str, float | None]
    labels: list[Label] = field(default_factory=list)
    """Classes in the order of ``confusion_matrix`` rows and columns (binary: negative first;
    a negative class never seen is shown as ``"not <positive>"``)."""
    positive_label: Label | None = None
    threshold: float | None = None
    """The score threshold that made the binary predictions; None when y_pred was given."""
    confusion_matrix: list[list[int]] = field(default_factory=list)
    """Rows: true class; columns: predicted class."""
    per_class: dict[str, dict[str, float | None]] = field(default_factory=dict)
    curves: dict[str, Curve] = field(default_factory=dict)
    """``roc`` (fpr, tpr), ``pr`` (recall, precision), ``calibration`` (mean_predicted,
    fraction_positive, count), ``threshold`` (threshold, precision, recall, f1),
    ``residuals`` (edges, counts)."""
    fairness: list[FeatureFairness] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dataset: str | None = None
    """What was evaluated (e.g. ``entities-test@v3``), as the caller named it."""

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": FORMAT, "task": self.task, "n_samples": self.n_samples,
            "dataset": self.dataset, "metrics": dict(self.metrics), "labels": list(self.labels),
            "positive_label": self.positive_label, "threshold": self.threshold,
            "confusion_matrix": [list(row) for row in self.confusion_matrix],
            "per_class": {k: dict(v) for k, v in self.per_class.items()},
            "curves": {k: {s: list(v) for s, v in c.items()} for k, c in self.curves.items()},
            "fairness": [{"feature": f.feature, "metrics": dict(f.metrics), "groups": [
                {"group": g.group, "count": g.count, "small": g.small, "rates": dict(g.rates)}
                for g in f.groups]} for f in self.fairness],
            "warnings": list(self.warnings),
        }
        return finite(body)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no NaN): the same report always gives the same bytes,
        so its digest is stable."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> EvaluationReport:
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"an evaluation report must be JSON: {exc}",
                                    field="report") from None
        return cls.from_dict(body)

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> EvaluationReport:
        if not isinstance(body, Mapping):
            raise InvalidInputError("an evaluation report must be a JSON object",
                                    field="report")
        version = body.get("format")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= \
                FORMAT:
            raise InvalidInputError(
                f"evaluation report format {version!r} is not one this Shipyard reads (up to "
                f"{FORMAT}): upgrade shipyard-mlops", field="format")
        try:
            return cls(
                task=_task(body["task"]), n_samples=int(body["n_samples"]),
                dataset=body.get("dataset"), metrics=_numbers(body["metrics"]),
                labels=list(body.get("labels", [])),
                positive_label=body.get("positive_label"), threshold=body.get("threshold"),
                confusion_matrix=[[int(c) for c in row]
                                  for row in body.get("confusion_matrix", [])],
                per_class={str(k): _numbers(v) for k, v in body.get("per_class", {}).items()},
                curves={str(k): {str(s): list(v) for s, v in c.items()}
                        for k, c in body.get("curves", {}).items()},
                fairness=[FeatureFairness(
                    feature=str(f["feature"]), metrics=_numbers(f["metrics"]),
                    groups=[GroupStats(str(g["group"]), int(g["count"]), bool(g["small"]),
                                       _numbers(g["rates"])) for g in f["groups"]])
                    for f in body.get("fairness", [])],
                warnings=[str(w) for w in body.get("warnings", [])],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(f"malformed evaluation report: {exc!r}",
                                    field="report") from None


def _task(value: object) -> Task:
    if value == "binary":
        return "binary"
    if value == "multiclass":
        return "multiclass"
    if value == "regression":
        return "regression"
    raise ValueError(f"unknown task {value!r}")


def _numbers(values: Mapping[str, Any]) -> dict[str, float | None]:
    return {str(k): None if v is None else float(v) for k, v in values.items()}


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, numpy scalars made plain
    (so ``json.dumps(..., allow_nan=False)`` cannot fail)."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [finite(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return finite(item())
    return str(value)


def metric_order(names: Sequence[str]) -> list[str]:
    """``names`` in the documented order: base metrics first, per-feature ones after."""
    known = CLASSIFICATION_METRICS + REGRESSION_METRICS + FAIRNESS_METRICS

    def key(name: str) -> tuple[int, int, str]:
        base, _, feature = name.partition(".")
        rank = known.index(base) if base in known else len(known)
        return (1 if feature else 0, rank, name)

    return sorted(names, key=key)
