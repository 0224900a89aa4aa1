"""The Apache DataSketches used by profiles: KLL for quantiles, HLL for distinct counts.

Both merge without the data, which is why profiles keep them (as their serialized bytes) rather
than exact quantiles or sets. Sizes are fixed here so that every profile's sketches merge:
KLL ``k=200`` answers any rank within about 1.3% (99% confidence); HLL ``lg_k=12`` estimates
distinct counts within about 1.6% (1 standard error) and is exact for small counts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import datasketches as ds
import numpy as np
import numpy.typing as npt

KLL_K = 200
HLL_LG_K = 12
HISTOGRAM_BINS = 20
_EMPTY_STRING = -1


def kll_of(values: npt.NDArray[np.float64]) -> bytes:
    """A serialized KLL sketch of finite values."""
    sketch = ds.kll_doubles_sketch(KLL_K)
    if values.size:
        # nanobind takes only writable arrays; Arrow hands out read-only views
        sketch.update(np.require(values, np.float64, ["C_CONTIGUOUS", "WRITEABLE"]))
    return bytes(sketch.serialize())


def load_kll(data: bytes) -> Any:
    """A KLL sketch from its bytes; raises ``ValueError`` when they are not one."""
    try:
        return ds.kll_doubles_sketch.deserialize(data)
    except (ValueError, IndexError, RuntimeError) as exc:
        raise ValueError(f"not a KLL sketch: {exc}") from None


def merge_kll(a: bytes, b: bytes) -> bytes:
    """Both sketches as one; an empty side leaves the other's bytes as they were."""
    sketch, other = load_kll(a), load_kll(b)
    if other.is_empty():
        return a
    if sketch.is_empty():
        return b
    sketch.merge(other)
    return bytes(sketch.serialize())


def kll_rank_error() -> float:
    """The rank error bound of one quantile or CDF value (99% confidence)."""
    return float(ds.kll_doubles_sketch.get_normalized_rank_error(KLL_K, False))


def quantiles(sketch: Any, ranks: Sequence[float]) -> list[float]:
    """Values at normalized ranks; empty when the sketch saw no values."""
    if sketch.is_empty():
        return []
    return [float(v) for v in sketch.get_quantiles(list(ranks))]


def cdf(sketch: Any, points: Sequence[float], *, inclusive: bool) -> list[float]:
    """Share of values below (or at, with ``inclusive``) each point; ``len(points)`` values."""
    if sketch.is_empty() or not points:
        return [0.0] * len(points)
    return [float(v) for v in sketch.get_cdf(list(points), inclusive)[:-1]]


def histogram(sketch: Any, low: float | None, high: float | None
              ) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Equal-width bins from ``low`` to ``high`` with counts read from the sketch.

    Recomputed from the merged sketch on every merge, so charts of merged profiles need no
    data; counts are exact while a sketch holds all its values (up to about 200), otherwise
    within the sketch's rank error. Bins are ``[edge, next edge)``, the last one closed.
    """
    n = int(sketch.n)
    if n == 0 or low is None or high is None:
        return (), ()
    if low == high:
        return (low, high), (n,)
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    below = cdf(sketch, [float(e) for e in edges[1:-1]], inclusive=False)
    cumulative = np.rint(np.asarray([0.0, *below, 1.0]) * n).astype(np.int64)
    counts = np.diff(np.maximum.accumulate(cumulative))
    return tuple(float(e) for e in edges), tuple(int(c) for c in counts)


def hll_of(values: Collection[str]) -> bytes:
    """A serialized HLL sketch of strings (each distinct value need be given only once)."""
    sketch = ds.hll_sketch(HLL_LG_K, ds.HLL_4)
    update = sketch.update
    for value in values:
        update(value)
    if "" in values:
        # DataSketches ignores the empty string, so count it as the int64 -1 instead: its
        # hashed bytes (eight 0xFF) are not UTF-8, so no string can collide with it.
        update(_EMPTY_STRING)
    return bytes(sketch.serialize_compact())


def load_hll(data: bytes) -> Any:
    """An HLL sketch from its bytes; raises ``ValueError`` when they are not one."""
    try:
        return ds.hll_sketch.deserialize(data)
    except (ValueError, IndexError, RuntimeError) as exc:
        raise ValueError(f"not an HLL sketch: {exc}") from None


def merge_hll(a: bytes, b: bytes) -> bytes:
    """Both sketches as one; an empty side leaves the other's bytes as they were."""
    sketch, other = load_hll(a), load_hll(b)
    if other.is_empty():
        return a
    if sketch.is_empty():
        return b
    union = ds.hll_union(HLL_LG_K)
    union.update(sketch)
    union.update(other)
    return bytes(union.get_result(ds.HLL_4).serialize_compact())


def hll_estimate(data: bytes) -> int:
    return round(float(load_hll(data).get_estimate()))
