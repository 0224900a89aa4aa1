"""The four matchers, each fitted on the feature matrix of training pairs and turned into a
plain-number scorer (see scorers.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from er.features import FEATURES
from er.scorers import (
    BoostedTreesScorer,
    FellegiSunterScorer,
    LogisticScorer,
    Matrix,
    NearestCentroidScorer,
)

AGREEMENT_CUTOFF = 0.85
"""A Jaro-Winkler similarity from which two values count as agreeing (Fellegi-Sunter)."""


def fit_logistic_regression(x: Matrix, y: np.ndarray[Any, Any], *, c: float,
                            seed: int) -> LogisticScorer:
    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(x, y)
    return LogisticScorer.from_estimator(estimator)


def fit_gradient_boosting(x: Matrix, y: np.ndarray[Any, Any], params: dict[str, Any],
                          seed: int) -> BoostedTreesScorer:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    # Why no early stopping: it holds out a random tenth of the rows, which would make the
    # tuning trials noisier; the number of trees is a tuned parameter instead.
    estimator = HistGradientBoostingClassifier(**params, early_stopping=False,
                                               random_state=seed)
    # Why one thread: on a few thousand rows OpenMP's threads cost more than they save, and
    # on a busy machine they wait for each other for seconds per fit.
    with threadpool_limits(limits=1, user_api="openmp"):
        estimator.fit(x, y)
    return BoostedTreesScorer.from_estimator(estimator)


def fit_fellegi_sunter(x: Matrix, *, cutoff: float = AGREEMENT_CUTOFF,
                       max_iter: int = 100) -> FellegiSunterScorer:
    """Unsupervised: the EM algorithm (recordlinkage's ECMClassifier) estimates m, u and the
    match rate from the agreement patterns alone; the labels are never read."""
    import recordlinkage

    agreement = pd.DataFrame((x >= cutoff).astype(np.int64), columns=list(FEATURES))
    ecm = recordlinkage.ECMClassifier(binarize=None, max_iter=max_iter)
    ecm.fit(agreement)
    m = [float(ecm.m_probs[f].get(1, 0.0)) for f in FEATURES]
    u = [float(ecm.u_probs[f].get(1, 0.0)) for f in FEATURES]
    return FellegiSunterScorer(m, u, float(ecm.p), cutoff)


def fit_kmeans(x: Matrix, *, seed: int) -> NearestCentroidScorer:
    """Unsupervised: two clusters of feature vectors; the one whose centre agrees more on
    every feature on average is the matches."""
    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(x)
    centroids = kmeans.cluster_centers_
    return NearestCentroidScorer(centroids.tolist(), int(centroids.mean(axis=1).argmax()))
