"""The registered model: a record-pair matcher that takes both records' raw fields, computes
the comparison features and scores them, so a serving layer sends pairs, not features.

    model = sy.load_model("models:/er-matcher@production")
    model.predict(pairs)   # pairs: columns given_name_a, given_name_b, ..., 1 = same person
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from er.features import FEATURES, PAIR_COLUMNS, pair_features
from er.scorers import Scorer, scorer_from_json
from shipyard.models import PythonModel

STATE_FILE = "matcher.json"


class PairMatcher(PythonModel):
    """Features of each pair, then a scorer; a probability >= ``threshold`` is a match."""

    def __init__(self, scorer: Scorer, threshold: float = 0.5, name: str = "") -> None:
        self.scorer = scorer
        self.threshold = threshold
        self.name = name or scorer.kind

    def match_probability(self, pairs: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        features = pair_features(pairs).to_numpy(dtype=np.float64)
        return self.scorer.match_probability(features)

    def predict(self, data: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.int64]]:
        return (self.match_probability(data) >= self.threshold).astype(np.int64)

    def save(self, path: Path) -> None:
        state = {"format": 1, "name": self.name, "kind": self.scorer.kind,
                 "threshold": self.threshold, "features": list(FEATURES),
                 "inputs": list(PAIR_COLUMNS), "scorer": self.scorer.to_json()}
        (path / STATE_FILE).write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, path: Path) -> Self:
        state = json.loads((path / STATE_FILE).read_text())
        if state.get("format") != 1 or state.get("features") != list(FEATURES):
            # Why: the scorer's numbers mean nothing with other features or another order.
            raise ValueError(f"{path / STATE_FILE} was written for other features: "
                             f"{state.get('features')}")
        scorer = scorer_from_json(state["kind"], state["scorer"], len(FEATURES))
        return cls(scorer, float(state["threshold"]), str(state["name"]))
