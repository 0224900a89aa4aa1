"""The base class of custom Python models: code in an installed module, state in files.

    class Ranker(PythonModel):
        def __init__(self, weights): self.weights = weights
        def predict(self, data): return data.to_numpy() @ self.weights
        def save(self, path): np.save(path / "weights.npy", self.weights)
        @classmethod
        def load(cls, path): return cls(np.load(path / "weights.npy"))

The package records the class as ``module:Class`` and calls ``load`` on a folder holding what
``save`` wrote. Loading accepts only subclasses of :class:`PythonModel`, so a manifest can never
name an arbitrary callable. ``input_format`` says what ``predict`` receives when the package
has a column signature: ``"pandas"`` (a DataFrame, the default) or ``"arrow"`` (a pyarrow
Table); a tensor signature gives a numpy array (or a dict of them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal, Self


class PythonModel(ABC):
    input_format: ClassVar[Literal["pandas", "arrow"]] = "pandas"

    @abstractmethod
    def predict(self, data: Any) -> Any:
        """Predictions for ``data``, one per row."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the model's state into the existing, empty folder ``path``; no pickle."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> Self:
        """The model whose state :meth:`save` wrote into ``path``."""
