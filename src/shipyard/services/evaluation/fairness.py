"""Per-group rates and fairness metrics for each sensitive feature (docs/evaluation.md).

For a binary task each group gets its selection rate (share predicted positive), base rate,
TPR, FPR, precision and accuracy, and each feature gets:

- demographic_parity_difference = max - min selection rate over its groups
- demographic_parity_ratio = disparate_impact_ratio = min / max selection rate
- equal_opportunity_difference = max - min TPR
- equalized_odds_difference = max(TPR gap, FPR gap)

Every group counts, small ones too (as fairlearn does): a small group is flagged and warned
about, never dropped, so a policy cannot pass by leaving a group out. Multiclass and
regression tasks get per-group accuracy or MAE only.
"""

from __future__ import annotations

import numpy as np

from shipyard.services.evaluation.inputs import Array, Prepared
from shipyard.services.evaluation.report import FAIRNESS_METRICS, FeatureFairness, GroupStats

Metrics = dict[str, float | None]
DIFFERENCES = ("demographic_parity_difference", "equalized_odds_difference",
               "equal_opportunity_difference")
"""Smaller is fairer: the worst over features is the largest. For ratios it is the smallest."""


def fairness(data: Prepared, min_group_size: int) -> tuple[list[FeatureFairness], Metrics,
                                                           list[str]]:
    """Per feature results, the flat metrics (``name`` = worst over features, and
    ``name.<feature>``), and warnings."""
    features: list[FeatureFairness] = []
    flat: Metrics = {}
    notes: list[str] = []
    for feature, groups in data.sensitive.items():
        stats = [_group(data, groups == g, str(g), min_group_size)
                 for g in sorted(set(groups.tolist()))]
        small = [f"{g.group!r} ({g.count})" for g in stats if g.small]
        if small:
            notes.append(f"sensitive feature {feature!r}: group(s) {', '.join(small)} have "
                         f"fewer than {min_group_size} rows; their rates are noisy")
        metrics: Metrics = {}
        if data.task == "binary":
            metrics = _feature_metrics(feature, stats, notes)
            flat.update({f"{name}.{feature}": value for name, value in metrics.items()})
        features.append(FeatureFairness(feature, stats, metrics))
    if data.sensitive and data.task != "binary":
        notes.append("fairness metrics (demographic parity, equalized odds) need a binary "
                     f"task; a {data.task} report lists per-group results only")
    if data.task == "binary":
        for name in FAIRNESS_METRICS:
            values = [f.metrics[name] for f in features]
            if values:
                flat[name] = _worst(name, values)
    return features, flat, notes


def _group(data: Prepared, mask: Array, group: str, min_group_size: int) -> GroupStats:
    count = int(mask.sum())
    t, p = data.y_true[mask], data.y_pred[mask] if data.y_pred is not None else None
    assert p is not None
    if data.task == "regression":
        rates: Metrics = {"mae": float(np.mean(np.abs(t - p)))}
    elif data.task == "multiclass":
        rates = {"accuracy": float(np.mean(t == p))}
    else:
        t, p = t.astype(bool), p.astype(bool)
        tp, fp = int(np.sum(t & p)), int(np.sum(~t & p))
        fn, tn = int(np.sum(t & ~p)), int(np.sum(~t & ~p))
        rates = {"selection_rate": (tp + fp) / count, "base_rate": (tp + fn) / count,
                 "tpr": _div(tp, tp + fn), "fpr": _div(fp, fp + tn),
                 "precision": _div(tp, tp + fp), "accuracy": (tp + tn) / count}
    return GroupStats(group, count, count < min_group_size, rates)


def _div(num: int, den: int) -> float | None:
    return num / den if den else None


def _gap(stats: list[GroupStats], rate: str) -> float | None:
    values = [v for g in stats if (v := g.rates[rate]) is not None]
    return max(values) - min(values) if len(values) >= 2 else None


def _feature_metrics(feature: str, stats: list[GroupStats], notes: list[str]) -> Metrics:
    selection = [g.rates["selection_rate"] or 0.0 for g in stats]
    if len(stats) < 2:
        notes.append(f"sensitive feature {feature!r} has one group only: its differences are "
                     "0 and ratios 1 by definition")
    low, high = min(selection), max(selection)
    ratio = low / high if high > 0 else None
    if ratio is None:
        notes.append(f"demographic_parity_ratio.{feature} is undefined: no group has a "
                     "positive prediction")
    tpr_gap, fpr_gap = _gap(stats, "tpr"), _gap(stats, "fpr")
    for rate, gap in (("tpr", tpr_gap), ("fpr", fpr_gap)):
        missing = [g.group for g in stats if g.rates[rate] is None]
        if missing and len(stats) >= 2:
            notes.append(f"sensitive feature {feature!r}: {rate} is undefined for group(s) "
                         f"{', '.join(map(repr, missing))} (no "
                         f"{'positive' if rate == 'tpr' else 'negative'} row in y_true); "
                         f"{'the gap leaves them out' if gap is not None else 'no gap'}")
    gaps = [g for g in (tpr_gap, fpr_gap) if g is not None]
    one = len(stats) < 2
    return {
        "demographic_parity_difference": high - low,
        "demographic_parity_ratio": ratio,
        "equalized_odds_difference": 0.0 if one else max(gaps) if gaps else None,
        "equal_opportunity_difference": 0.0 if one else tpr_gap,
        "disparate_impact_ratio": ratio,
    }


def _worst(name: str, values: list[float | None]) -> float | None:
    # an undefined value for any feature leaves the worst case undefined: a policy fails
    # closed rather than pass on the features that could be measured
    if any(v is None for v in values):
        return None
    defined = [v for v in values if v is not None]
    return max(defined) if name in DIFFERENCES else min(defined)
