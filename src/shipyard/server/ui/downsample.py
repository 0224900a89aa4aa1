"""Shrinking a metric series to what a chart can show: min and max per bucket.

A chart a few hundred pixels wide cannot show a million points, and sending them costs the
browser seconds. :func:`min_max` splits the series into equal runs of consecutive points and
keeps, from each, its lowest and its highest point, in their original order. Unlike taking
every n-th point or a bucket's mean, a spike survives: the line drawn through the kept points
reaches every extreme of the full series.

Non-finite values (NaN, ±inf) cannot be drawn; they become ``None`` (a gap) when the series is
short enough to send whole, and are passed over when choosing a bucket's extremes.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_POINTS = 2000
"""The most points per series the UI sends by default."""


def min_max(xs: Sequence[float], ys: Sequence[float], max_points: int = DEFAULT_POINTS
            ) -> tuple[list[float], list[float | None]]:
    """At most ``max_points`` of the points ``(xs[i], ys[i])``, in order.

    A series of ``max_points`` or fewer comes back whole (non-finite values as ``None``).
    A longer one is cut into ``max_points // 2`` buckets of consecutive points, and each
    bucket gives its minimum and maximum finite point (one point when they coincide, none when
    the bucket holds no finite value).
    """
    if len(xs) != len(ys):
        raise ValueError(f"xs has {len(xs)} points and ys {len(ys)}; they must match")
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    import numpy as np  # here, not at import: the server starts without it

    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    n = len(x)
    if n <= max_points:
        finite = np.isfinite(y).tolist()
        return x.tolist(), [v if ok else None for v, ok in zip(y.tolist(), finite, strict=True)]
    buckets = max_points // 2
    size = -(-n // buckets)  # ceil: the last bucket may be shorter
    padded = size * buckets
    finite = np.isfinite(y)
    # Pad to a whole grid; a padded or non-finite cell can never be a bucket's min or max.
    low = np.full(padded, np.inf)
    low[:n] = np.where(finite, y, np.inf)
    high = np.full(padded, -np.inf)
    high[:n] = np.where(finite, y, -np.inf)
    base = np.arange(buckets) * size
    lows = base + low.reshape(buckets, size).argmin(axis=1)
    highs = base + high.reshape(buckets, size).argmax(axis=1)
    keep = np.unique(np.concatenate([lows, highs]))  # sorted: original order
    keep = keep[keep < n]
    keep = keep[finite[keep]]
    return x[keep].tolist(), [float(v) for v in y[keep].tolist()]
