"""Models and data for the model package tests; classes live here so packages can import them
back by path (``tests.model_support:Name``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from shipyard.models import PythonModel

try:
    import torch
except ImportError:  # the torch tests skip themselves
    torch = None  # type: ignore[assignment]


def frame(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """Two informative numeric features, an integer count and a label that depends on them."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.normal(size=rows)
    return pd.DataFrame({"x1": x1, "x2": x2, "count": rng.integers(0, 5, size=rows)})


def labels(data: pd.DataFrame) -> np.ndarray:
    return np.where(data["x1"] + 0.5 * data["x2"] > 0, "match", "other")


class Doubler(TransformerMixin, BaseEstimator):
    """A custom transformer: a type skops does not trust."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x, dtype=float) * 2.0


class MeanModel(PythonModel):
    """Predicts each row's mean plus an offset kept in a .npy file."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def predict(self, data: Any) -> Any:
        return data.to_numpy(dtype=float).mean(axis=1) + self.offset

    def save(self, path: Path) -> None:
        np.save(path / "offset.npy", np.array([self.offset]), allow_pickle=False)

    @classmethod
    def load(cls, path: Path) -> MeanModel:
        return cls(float(np.load(path / "offset.npy", allow_pickle=False)[0]))


class TouchOnUnpickle:
    """A malicious payload: unpickling it runs ``touch <marker>`` through os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def predict(self, data: Any) -> Any:  # looks like a model until it is unpickled
        return data

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


if torch is not None:
    class TinyNet(torch.nn.Module):
        """Two linear layers; its shape comes from constructor arguments."""

        def __init__(self, n_in: int, n_hidden: int = 8) -> None:
            super().__init__()
            self.hidden = torch.nn.Linear(n_in, n_hidden)
            self.out = torch.nn.Linear(n_hidden, 1)

        def forward(self, x: Any) -> Any:
            return self.out(torch.relu(self.hidden(x))).squeeze(-1)
