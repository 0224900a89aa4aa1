"""Count, mean, spread, min, max and sum of numbers, in a form that merges exactly.

The spread is kept as ``m2`` (the sum of squared deviations from the mean), not as a variance,
because two ``(n, mean, m2)`` triples combine into the triple of the union with Chan et al.'s
parallel formula -- so per-partition profiles add up to the whole table's without the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Moments:
    """Moments of finite values; ``min``/``max`` are ``None`` while ``n`` is 0."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float | None = None
    max: float | None = None
    sum: float = 0.0

    @classmethod
    def of(cls, values: npt.NDArray[np.float64]) -> Moments:
        """Moments of finite values, in two passes (the second keeps ``m2`` accurate)."""
        n = int(values.size)
        if n == 0:
            return cls()
        mean = float(values.mean())
        deviations = values - mean
        return cls(n, mean, float(np.dot(deviations, deviations)), float(values.min()),
                   float(values.max()), float(values.sum()))

    @property
    def variance(self) -> float | None:
        """Sample variance (ddof=1, as pandas reports it); ``None`` below two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation (ddof=1); ``None`` below two values."""
        variance = self.variance
        return math.sqrt(variance) if variance is not None else None

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets of values together (Chan's parallel update)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        low = min(_known(self.min), _known(other.min))
        high = max(_known(self.max), _known(other.max))
        return Moments(n, mean, m2, low, high, self.sum + other.sum)


def _known(value: float | None) -> float:
    if value is None:  # only when n == 0, which merge() rules out before calling
        raise ValueError("moments with values must have a min and a max")
    return value
