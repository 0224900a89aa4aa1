from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Metric:
    """One point of a metric series. ``value`` may be NaN or ±inf; they are stored as such."""

    key: str
    value: float
    step: int
    timestamp: int  # milliseconds since the epoch
