"""The UI's metric downsampling: at most the points asked for, every extreme kept, order kept,
short series untouched."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.server.ui.downsample import min_max


def test_short_series_come_back_whole_with_gaps_for_non_finite_values() -> None:
    xs, ys = min_max([0, 1, 2, 3], [1.0, math.nan, math.inf, 2.5], 10)
    assert xs == [0, 1, 2, 3] and ys == [1.0, None, None, 2.5]


def test_a_million_points_become_at_most_the_limit_and_keep_the_spike() -> None:
    n = 1_000_000
    ys = [math.sin(i / 1000) for i in range(n)]
    ys[654_321] = 50.0
    ys[123_456] = -50.0
    xs, kept = min_max(list(range(n)), ys, 2000)
    assert len(xs) == len(kept) <= 2000
    assert 50.0 in kept and -50.0 in kept
    assert xs == sorted(xs)


def test_non_finite_values_are_passed_over_when_downsampling() -> None:
    ys = [math.nan] * 50 + [float(i) for i in range(50)] + [math.inf]
    xs, kept = min_max(list(range(len(ys))), ys, 10)
    assert len(xs) <= 10 and all(v is not None and math.isfinite(v) for v in kept)
    assert min(v for v in kept if v is not None) == 0.0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="must match"):
        min_max([1, 2], [1.0], 10)
    with pytest.raises(ValueError, match="at least 2"):
        min_max([1], [1.0], 1)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=400),
       st.integers(min_value=2, max_value=60))
def test_downsampling_keeps_order_extremes_and_the_limit(values: list[float], limit: int
                                                         ) -> None:
    xs, ys = min_max(list(range(len(values))), values, limit)
    assert len(xs) == len(ys) <= max(limit, 0)
    assert xs == sorted(set(xs))  # original order, no point twice
    assert all(values[int(x)] == y for x, y in zip(xs, ys, strict=True))
    if values:
        assert min(values) in ys and max(values) in ys
