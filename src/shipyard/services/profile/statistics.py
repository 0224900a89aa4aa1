"""Distance between two profiles of a column, computed from the profiles alone.

No raw data is needed: numeric bins come from the reference's KLL sketch (its deciles), and
each side's share of every bin is read from its own sketch's CDF. That is what lets
monitoring compare a production window against the training data's stored profile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from shipyard.services.profile import sketches
from shipyard.services.profile.model import ColumnProfile, NumericStats

PSI_FLOOR = 1e-4
"""Shares below this count as this in PSI, so an empty bin gives a large but finite term."""

DECILES = [i / 10 for i in range(1, 10)]
KS_GRID = [i / 100 for i in range(101)]

Shares = tuple[list[float], list[float]]


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """Population stability index: sum of (current - reference) * ln(current / reference)."""
    total = 0.0
    for ref, cur in zip(reference, current, strict=True):
        r, c = max(ref, PSI_FLOOR), max(cur, PSI_FLOOR)
        total += (c - r) * math.log(c / r)
    return total


def total_variation(reference: Sequence[float], current: Sequence[float]) -> float:
    """Half the L1 distance between two distributions: the largest difference in any event."""
    return 0.5 * sum(abs(r - c) for r, c in zip(reference, current, strict=True))


def numeric_shares(reference: NumericStats, current: NumericStats) -> Shares | None:
    """Both sides' shares of the bins cut at the reference's deciles (merged where tied).

    Bins are ``(-inf, d1), [d1, d2), ..., [d9, inf)``, so current values outside the
    reference's range still land in the outer bins.
    """
    ref, cur = sketches.load_kll(reference.sketch), sketches.load_kll(current.sketch)
    if ref.is_empty() or cur.is_empty():
        return None
    edges = sorted(set(sketches.quantiles(ref, DECILES)))
    return _bin_shares(ref, edges), _bin_shares(cur, edges)


def _bin_shares(sketch: object, edges: list[float]) -> list[float]:
    below = sketches.cdf(sketch, edges, inclusive=False)
    return [float(s) for s in np.diff([0.0, *below, 1.0])]


def ks_statistic(reference: NumericStats, current: NumericStats) -> float | None:
    """Kolmogorov-Smirnov D (largest CDF gap), read from both sketches on a shared grid.

    The grid is each side's percentiles, so the gap is found to within about a percent plus
    the sketches' rank error.
    """
    ref, cur = sketches.load_kll(reference.sketch), sketches.load_kll(current.sketch)
    if ref.is_empty() or cur.is_empty():
        return None
    grid = sorted(set(sketches.quantiles(ref, KS_GRID)) | set(sketches.quantiles(cur, KS_GRID)))
    gaps = np.abs(np.subtract(sketches.cdf(ref, grid, inclusive=True),
                              sketches.cdf(cur, grid, inclusive=True)))
    return float(gaps.max())


def categorical_shares(reference: ColumnProfile, current: ColumnProfile) -> Shares | None:
    """Both sides' shares of the union of their listed values, plus one bin for the rest.

    Exact when both sides list all their values (fewer than 100 distinct); otherwise a value
    listed on one side only counts as 0 on the other, whose count of it is inside ``other``.
    """
    ref, cur = _counts(reference), _counts(current)
    if ref is None or cur is None:
        return None
    (ref_counts, ref_other), (cur_counts, cur_other) = ref, cur
    ref_total = sum(ref_counts.values()) + ref_other
    cur_total = sum(cur_counts.values()) + cur_other
    if ref_total == 0 or cur_total == 0:
        return None
    keys = list(ref_counts) + [k for k in cur_counts if k not in ref_counts]
    ref_shares = [ref_counts.get(k, 0) / ref_total for k in keys] + [ref_other / ref_total]
    cur_shares = [cur_counts.get(k, 0) / cur_total for k in keys] + [cur_other / cur_total]
    return ref_shares, cur_shares


def _counts(column: ColumnProfile) -> tuple[dict[str, int], int] | None:
    if column.boolean is not None:
        return {"true": column.boolean.true, "false": column.boolean.false}, 0
    if column.strings is not None:
        return column.strings.categories.as_dict(), column.strings.categories.other
    return None
