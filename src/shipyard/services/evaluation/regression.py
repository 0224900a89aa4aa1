"""Regression metrics and the residual histogram (formulas in docs/evaluation.md)."""

from __future__ import annotations

import numpy as np

from shipyard.services.evaluation.inputs import Prepared
from shipyard.services.evaluation.report import Curve

RESIDUAL_BINS = 20


def regression(data: Prepared) -> tuple[dict[str, float | None], dict[str, Curve], list[str]]:
    """Metrics, the ``residuals`` histogram (residual = y_true - y_pred) and warnings."""
    from sklearn import metrics as skm

    truth, pred = data.y_true, data.y_pred
    assert pred is not None
    notes: list[str] = []
    mse = float(skm.mean_squared_error(truth, pred))
    metrics: dict[str, float | None] = {
        "n_samples": float(len(truth)),
        "mae": float(skm.mean_absolute_error(truth, pred)),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "max_error": float(skm.max_error(truth, pred)),
    }
    if len(truth) < 2 or np.all(truth == truth[0]):
        # R² divides by the variance of y_true; scikit-learn would print 0 or 1 here
        metrics["r2"] = None
        notes.append("r2 is undefined: y_true is constant")
    else:
        metrics["r2"] = float(skm.r2_score(truth, pred))
    # scikit-learn's MAPE divides by max(|y|, eps) and explodes on zeros: leave zeros out
    nonzero = truth != 0
    if not nonzero.any():
        metrics["mape"] = None
        notes.append("mape is undefined: every y_true is 0")
    else:
        metrics["mape"] = float(skm.mean_absolute_percentage_error(truth[nonzero],
                                                                   pred[nonzero]))
        if not nonzero.all():
            notes.append(f"mape leaves out the {int((~nonzero).sum())} row(s) where y_true "
                         "is 0")
    counts, edges = np.histogram(truth - pred, bins=RESIDUAL_BINS)
    curves: dict[str, Curve] = {"residuals": {"edges": [float(e) for e in edges],
                                              "counts": [float(c) for c in counts]}}
    return metrics, curves, notes
