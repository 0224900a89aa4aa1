"""Classification metrics and curves (formulas in docs/evaluation.md).

Counts-based metrics (precision, recall, F1...) are computed from the confusion counts so an
undefined value (a zero denominator) becomes ``None`` with its reason, where scikit-learn
would return 0 and warn; ranking metrics, curves and losses are scikit-learn's own. The tests
check every number against scikit-learn on the same data.
"""

from __future__ import annotations

import warnings as pywarnings
from typing import Any

import numpy as np

from shipyard.services.evaluation.inputs import Array, Prepared
from shipyard.services.evaluation.report import Curve, Label

Metrics = dict[str, float | None]
CALIBRATION_BINS = 10
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))
"""The threshold curve's points: 0.05, 0.10, ..., 0.95."""
CURVE_POINTS = 201
"""ROC and PR curves are thinned to this many points: enough to draw, small to store."""


def ratio(num: float, den: float, name: str, reason: str, notes: list[str]) -> float | None:
    if den == 0:
        notes.append(f"{name} is undefined: {reason}")
        return None
    return float(num / den)


def binary(data: Prepared) -> tuple[Metrics, dict[str, Curve], list[list[int]], list[str]]:
    """Metrics, curves, the 2x2 confusion matrix (negative first) and warnings."""
    t, p = data.y_true.astype(bool), np.asarray(data.y_pred, dtype=bool)
    notes: list[str] = []
    tp, fp = int(np.sum(t & p)), int(np.sum(~t & p))
    fn, tn = int(np.sum(t & ~p)), int(np.sum(~t & ~p))
    n = len(t)
    recall = ratio(tp, tp + fn, "recall", "y_true holds no positive row", notes)
    specificity = ratio(tn, tn + fp, "specificity", "y_true holds no negative row", notes)
    metrics: Metrics = {
        "n_samples": float(n),
        "accuracy": (tp + tn) / n,
        "balanced_accuracy": None if recall is None or specificity is None
        else (recall + specificity) / 2,
        "precision": ratio(tp, tp + fp, "precision", "no row was predicted positive", notes),
        "recall": recall,
        "specificity": specificity,
        "f1": ratio(2 * tp, 2 * tp + fp + fn, "f1",
                    "no row is positive, neither in y_true nor predicted", notes),
        "prevalence": (tp + fn) / n,
        "positive_rate": (tp + fp) / n,
    }
    curves: dict[str, Curve] = {}
    if data.y_score is not None:
        scored, curves = _scored(t, data.y_score, notes)
        metrics.update(scored)
    return metrics, curves, [[tn, fp], [fn, tp]], notes


def _scored(t: Array, score: Array, notes: list[str]) -> tuple[Metrics, dict[str, Curve]]:
    from sklearn import metrics as skm

    metrics: Metrics = {"roc_auc": None, "pr_auc": None}
    curves: dict[str, Curve] = {}
    both = bool(t.any() and not t.all())
    if both:
        metrics["roc_auc"] = float(skm.roc_auc_score(t, score))
        fpr, tpr, _ = skm.roc_curve(t, score)
        curves["roc"] = {"fpr": _thin(fpr), "tpr": _thin(tpr)}
    else:
        notes.append("roc_auc is undefined: y_true holds one class only")
    if t.any():
        metrics["pr_auc"] = float(skm.average_precision_score(t, score))
        precision, recall, _ = skm.precision_recall_curve(t, score)
        curves["pr"] = {"recall": _thin(recall), "precision": _thin(precision)}
    else:
        notes.append("pr_auc is undefined: y_true holds no positive row")
    metrics["log_loss"] = float(skm.log_loss(t, score, labels=[False, True]))
    metrics["brier"] = float(skm.brier_score_loss(t, score, pos_label=True))
    curves["calibration"], metrics["ece"] = calibration(t, score)
    curves["threshold"] = threshold_curve(t, score)
    return metrics, curves


def _thin(values: Array) -> list[float | None]:
    if len(values) > CURVE_POINTS:
        values = values[np.unique(np.linspace(0, len(values) - 1, CURVE_POINTS).round()
                                  .astype(int))]
    return [float(v) for v in values]


def calibration(t: Array, score: Array) -> tuple[Curve, float]:
    """The reliability curve over 10 equal-width bins (empty bins left out, as scikit-learn's
    ``calibration_curve`` does) and the expected calibration error."""
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    # the same binning as sklearn.calibration.calibration_curve(strategy="uniform")
    bins = np.searchsorted(edges[1:-1], score)
    counts = np.bincount(bins, minlength=CALIBRATION_BINS)
    sums = np.bincount(bins, weights=score, minlength=CALIBRATION_BINS)
    hits = np.bincount(bins, weights=t.astype(float), minlength=CALIBRATION_BINS)
    full = counts > 0
    mean_predicted = sums[full] / counts[full]
    fraction_positive = hits[full] / counts[full]
    ece = float(np.sum(counts[full] / len(t) * np.abs(fraction_positive - mean_predicted)))
    curve: Curve = {"mean_predicted": [float(v) for v in mean_predicted],
                    "fraction_positive": [float(v) for v in fraction_positive],
                    "count": [float(v) for v in counts[full]]}
    return curve, ece


def threshold_curve(t: Array, score: Array) -> Curve:
    """Precision, recall and F1 when rows with ``score >= threshold`` are predicted positive;
    None where a value is undefined (no predicted positive for precision)."""
    curve: Curve = {"threshold": list(THRESHOLDS), "precision": [], "recall": [], "f1": []}
    positives = int(t.sum())
    for threshold in THRESHOLDS:
        p = score >= threshold
        tp, predicted = int(np.sum(t & p)), int(p.sum())
        curve["precision"].append(tp / predicted if predicted else None)
        curve["recall"].append(tp / positives if positives else None)
        total = predicted + positives
        curve["f1"].append(2 * tp / total if total else None)
    return curve


def multiclass(data: Prepared) -> tuple[Metrics, dict[str, Metrics], list[list[int]],
                                        list[str]]:
    """Metrics, per-class precision/recall/F1/support, the confusion matrix, warnings."""
    from sklearn import metrics as skm

    truth, pred, labels = data.y_true, np.asarray(data.y_pred), data.labels
    notes: list[str] = []
    keys: list[Any] = list(labels)
    with pywarnings.catch_warnings():
        # undefined per-class values are reported below, not as scikit-learn warnings
        pywarnings.simplefilter("ignore")
        precision, recall, f1, support = skm.precision_recall_fscore_support(
            truth, pred, labels=keys, zero_division=np.nan)
        metrics: Metrics = {"n_samples": float(len(truth)),
                            "accuracy": float(skm.accuracy_score(truth, pred))}
        for average in ("macro", "weighted"):
            scores = skm.precision_recall_fscore_support(truth, pred, labels=keys,
                                                         average=average, zero_division=0.0)
            metrics.update({f"precision_{average}": float(scores[0]),
                            f"recall_{average}": float(scores[1]),
                            f"f1_{average}": float(scores[2])})
    present = support > 0
    metrics["balanced_accuracy"] = float(np.mean(recall[present]))
    per_class = {str(label): _clean({"precision": precision[i], "recall": recall[i],
                                     "f1": f1[i], "support": support[i]})
                 for i, label in enumerate(labels)}
    undefined = [str(label) for i, label in enumerate(labels)
                 if np.isnan(precision[i]) or np.isnan(recall[i])]
    if undefined:
        notes.append(f"precision or recall is undefined for class(es) {', '.join(undefined)} "
                     "(never predicted, or absent from y_true); macro and weighted averages "
                     "count them as 0")
    if data.y_score is not None:
        metrics.update(_multiclass_scored(truth, data.y_score, keys, present, notes))
    matrix = skm.confusion_matrix(truth, pred, labels=keys)
    return metrics, per_class, [[int(c) for c in row] for row in matrix], notes


def _multiclass_scored(truth: Array, score: Array, keys: list[Label], present: Array,
                       notes: list[str]) -> Metrics:
    from sklearn import metrics as skm

    metrics: Metrics = {"log_loss": float(skm.log_loss(truth, score, labels=keys))}
    if present.all():
        metrics["roc_auc"] = float(skm.roc_auc_score(truth, score, multi_class="ovr",
                                                     average="macro", labels=keys))
    else:
        metrics["roc_auc"] = None
        notes.append("roc_auc is undefined: not every class occurs in y_true")
    return metrics


def _clean(values: dict[str, Any]) -> Metrics:
    return {k: None if np.isnan(v) else float(v) for k, v in values.items()}
