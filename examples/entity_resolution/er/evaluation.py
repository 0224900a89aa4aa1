"""Pairwise precision, recall and F1 of a linkage: every true link the blocking dropped is a
false negative, so the numbers describe blocking and matching together."""

from __future__ import annotations

from typing import Any

import numpy as np


def pairwise_scores(truth: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any],
                    true_links: int) -> dict[str, float]:
    """Scores of ``predicted`` (0/1 per candidate pair) against ``truth`` (0/1 per candidate
    pair), where ``true_links`` counts all true links, found by blocking or not."""
    truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    tp = int((truth & predicted).sum())
    fp = int((~truth & predicted).sum())
    fn = true_links - tp  # missed by the matcher, or never a candidate
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / true_links if true_links else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "true_positives": float(tp), "false_positives": float(fp),
            "false_negatives": float(fn)}
