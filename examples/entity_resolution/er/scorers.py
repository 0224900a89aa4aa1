"""What a trained matcher needs to score pairs, as plain numbers: no pickle, no code in the
files, so the registered model loads anywhere the example's code is installed.

Each scorer maps the feature matrix (columns ``features.FEATURES``) to a match probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

Matrix = np.ndarray[Any, np.dtype[np.float64]]


def _sigmoid(z: Matrix) -> Matrix:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


class Scorer(Protocol):
    kind: ClassVar[str]

    def match_probability(self, x: Matrix) -> Matrix: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LogisticScorer:
    """A logistic regression: sigmoid(x . weights + intercept)."""

    weights: list[float]
    intercept: float
    kind: ClassVar[str] = "logistic"

    @classmethod
    def from_estimator(cls, estimator: Any) -> LogisticScorer:
        return cls([float(w) for w in estimator.coef_[0]], float(estimator.intercept_[0]))

    def match_probability(self, x: Matrix) -> Matrix:
        return _sigmoid(x @ np.asarray(self.weights) + self.intercept)

    def to_json(self) -> dict[str, Any]:
        return {"weights": self.weights, "intercept": self.intercept}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> LogisticScorer:
        return cls([float(w) for w in body["weights"]], float(body["intercept"]))


@dataclass(frozen=True)
class BoostedTreesScorer:
    """Binary gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier, numeric
    features): sigmoid(baseline + the sum of each tree's leaf value). Each tree is parallel
    arrays indexed by node; a node sends a row left when its feature is <= the threshold."""

    baseline: float
    trees: list[dict[str, list[Any]]]
    kind: ClassVar[str] = "boosted-trees"
    _ARRAYS: ClassVar[tuple[str, ...]] = ("feature", "threshold", "left", "right", "value",
                                          "is_leaf", "missing_left")

    @classmethod
    def from_estimator(cls, estimator: Any) -> BoostedTreesScorer:
        # Why the private _predictors: scikit-learn has no public export of the fitted trees,
        # and skops refuses to load them without trust (a crafted node index could read
        # outside the array); plain lists are checked on load instead.
        if estimator.n_trees_per_iteration_ != 1:
            raise ValueError("only binary classifiers are supported")
        trees = []
        for (predictor,) in estimator._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported")
            trees.append({
                "feature": nodes["feature_idx"].tolist(),
                "threshold": nodes["num_threshold"].tolist(),
                "left": nodes["left"].tolist(), "right": nodes["right"].tolist(),
                "value": nodes["value"].tolist(), "is_leaf": nodes["is_leaf"].tolist(),
                "missing_left": nodes["missing_go_to_left"].tolist()})
        return cls(float(np.ravel(estimator._baseline_prediction)[0]), trees)

    def match_probability(self, x: Matrix) -> Matrix:
        raw = np.full(len(x), self.baseline)
        rows = np.arange(len(x))
        for tree in self.trees:
            arrays = {k: np.asarray(v) for k, v in tree.items()}
            node = np.zeros(len(x), dtype=np.int64)
            for _ in range(len(arrays["value"])):  # at most one step per node: no endless loop
                inner = ~arrays["is_leaf"][node].astype(bool)
                if not inner.any():
                    break
                values = x[rows, arrays["feature"][node]]
                go_left = np.where(np.isnan(values), arrays["missing_left"][node].astype(bool),
                                   values <= arrays["threshold"][node])
                step = np.where(go_left, arrays["left"][node], arrays["right"][node])
                node = np.where(inner, step, node)
            raw += arrays["value"][node]
        return _sigmoid(raw)

    def to_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "trees": self.trees}

    @classmethod
    def from_json(cls, body: dict[str, Any], n_features: int) -> BoostedTreesScorer:
        trees = [{k: list(tree[k]) for k in cls._ARRAYS} for tree in body["trees"]]
        for i, tree in enumerate(trees):  # a bad index must fail here, not read out of bounds
            size = len(tree["value"])
            if any(len(tree[k]) != size for k in cls._ARRAYS):
                raise ValueError(f"tree {i}: arrays of different lengths")
            inner = [j for j in range(size) if not tree["is_leaf"][j]]
            if any(not 0 <= tree["feature"][j] < n_features for j in inner) or any(
                    not 0 < tree[side][j] < size for j in inner for side in ("left", "right")):
                raise ValueError(f"tree {i}: a node points outside the tree or the features")
        return cls(float(body["baseline"]), trees)


@dataclass(frozen=True)
class FellegiSunterScorer:
    """The Fellegi-Sunter model on binarised features (similarity >= ``cutoff`` counts as
    agreement): ``m`` = P(agree | match), ``u`` = P(agree | non-match) per feature, ``prior`` =
    P(match) among candidate pairs; the posterior follows from Bayes' rule."""

    m: list[float]
    u: list[float]
    prior: float
    cutoff: float
    kind: ClassVar[str] = "fellegi-sunter"

    def match_probability(self, x: Matrix) -> Matrix:
        agree = (x >= self.cutoff).astype(np.float64)
        m, u = np.clip(self.m, 1e-9, 1 - 1e-9), np.clip(self.u, 1e-9, 1 - 1e-9)
        weights = agree @ np.log(m / u) + (1 - agree) @ np.log((1 - m) / (1 - u))
        return _sigmoid(np.log(self.prior / (1 - self.prior)) + weights)

    def to_json(self) -> dict[str, Any]:
        return {"m": self.m, "u": self.u, "prior": self.prior, "cutoff": self.cutoff}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FellegiSunterScorer:
        return cls([float(v) for v in body["m"]], [float(v) for v in body["u"]],
                   float(body["prior"]), float(body["cutoff"]))


@dataclass(frozen=True)
class NearestCentroidScorer:
    """Two clusters of feature vectors; a pair in the ``match_cluster`` is a match."""

    centroids: list[list[float]]
    match_cluster: int
    kind: ClassVar[str] = "kmeans"

    def match_probability(self, x: Matrix) -> Matrix:
        distances = ((x[:, None, :] - np.asarray(self.centroids)[None]) ** 2).sum(axis=2)
        return np.asarray(distances.argmin(axis=1) == self.match_cluster, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {"centroids": self.centroids, "match_cluster": self.match_cluster}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> NearestCentroidScorer:
        return cls([[float(v) for v in c] for c in body["centroids"]], int(body["match_cluster"]))


def scorer_from_json(kind: str, body: dict[str, Any], n_features: int) -> Scorer:
    if kind == BoostedTreesScorer.kind:
        return BoostedTreesScorer.from_json(body, n_features)
    readers: dict[str, Any] = {LogisticScorer.kind: LogisticScorer.from_json,
                               FellegiSunterScorer.kind: FellegiSunterScorer.from_json,
                               NearestCentroidScorer.kind: NearestCentroidScorer.from_json}
    if kind not in readers:
        raise ValueError(f"unknown scorer kind {kind!r}")
    scorer: Scorer = readers[kind](body)
    return scorer
