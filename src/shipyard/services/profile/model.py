"""What a column profile holds: plain frozen values, every part mergeable.

Sketches are kept as their serialized bytes so a profile is hashable, comparable with ``==``
and cheap to carry between processes (Dask workers); they are opened only to merge or query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shipyard.services.profile import sketches
from shipyard.services.profile.categories import Categories
from shipyard.services.profile.moments import Moments


class Kind(StrEnum):
    """What a column's values are, which decides what its profile holds."""

    NUMERIC = "numeric"  # ints, floats, decimals (as floats)
    BOOLEAN = "boolean"
    STRING = "string"  # string, large_string, dictionary (categorical)
    TEMPORAL = "temporal"  # timestamp and date, profiled as epoch seconds
    OTHER = "other"  # anything else: counts only
    NULL = "null"  # a column of only nulls (Arrow type null); merges into any kind
    MIXED = "mixed"  # merged from profiles of different kinds: counts only


@dataclass(frozen=True)
class Histogram:
    """Counts in ``len(edges) - 1`` bins ``[edges[i], edges[i+1])``, the last one closed."""

    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()


@dataclass(frozen=True)
class NumericStats:
    """Numbers (or epoch seconds): exact moments, a KLL quantile sketch, a chart histogram."""

    moments: Moments
    sketch: bytes
    histogram: Histogram

    @classmethod
    def build(cls, moments: Moments, sketch: bytes) -> NumericStats:
        edges, counts = sketches.histogram(sketches.load_kll(sketch), moments.min, moments.max)
        return cls(moments, sketch, Histogram(edges, counts))

    def merge(self, other: NumericStats) -> NumericStats:
        return NumericStats.build(self.moments.merge(other.moments),
                                  sketches.merge_kll(self.sketch, other.sketch))

    def quantiles(self, ranks: list[float]) -> list[float]:
        """Approximate values at ranks in [0, 1]; empty when there were no values."""
        return sketches.quantiles(sketches.load_kll(self.sketch), ranks)


@dataclass(frozen=True)
class BooleanStats:
    true: int = 0
    false: int = 0

    def merge(self, other: BooleanStats) -> BooleanStats:
        return BooleanStats(self.true + other.true, self.false + other.false)


@dataclass(frozen=True)
class StringStats:
    """Top value counts, an HLL sketch of distinct values, and moments of string lengths."""

    categories: Categories
    distinct_sketch: bytes
    lengths: Moments

    @property
    def distinct(self) -> int:
        """Estimated number of distinct values (exact for small counts)."""
        return sketches.hll_estimate(self.distinct_sketch)

    def merge(self, other: StringStats) -> StringStats:
        return StringStats(self.categories.merge(other.categories),
                           sketches.merge_hll(self.distinct_sketch, other.distinct_sketch),
                           self.lengths.merge(other.lengths))


@dataclass(frozen=True)
class ColumnProfile:
    """One column. ``count`` is every row the column had, missing ones included.

    ``missing`` counts nulls, ``nan`` and ``inf`` count float NaN and +-infinity; none of them
    enter the moments, sketch or histogram. ``absent`` counts rows of merged tables that did
    not have this column at all, so ``count + absent`` is always the table's row count.
    """

    name: str
    kind: Kind
    dtype: str
    count: int
    missing: int = 0
    nan: int = 0
    inf: int = 0
    absent: int = 0
    numeric: NumericStats | None = None  # NUMERIC and TEMPORAL
    boolean: BooleanStats | None = None
    strings: StringStats | None = None

    @property
    def present(self) -> int:
        """Values that are neither null nor NaN."""
        return self.count - self.missing - self.nan

    @property
    def missing_rate(self) -> float:
        """Share of the column's rows that are null or NaN (0 for an empty column)."""
        return (self.missing + self.nan) / self.count if self.count else 0.0

    @property
    def min_text(self) -> str | None:
        """For temporal columns, the earliest value as ISO 8601 text."""
        return self._iso(self.numeric.moments.min if self.numeric else None)

    @property
    def max_text(self) -> str | None:
        """For temporal columns, the latest value as ISO 8601 text."""
        return self._iso(self.numeric.moments.max if self.numeric else None)

    def _iso(self, seconds: float | None) -> str | None:
        if self.kind is not Kind.TEMPORAL or seconds is None:
            return None
        types = self.dtype.split(" | ")
        try:
            if all(t.startswith("date") for t in types):
                return (date(1970, 1, 1) + timedelta(seconds=seconds)).isoformat()
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        except OverflowError:  # Arrow reaches years Python's datetime cannot show
            return None
        if not any("tz=" in t for t in types):
            moment = moment.replace(tzinfo=None)  # a naive timestamp stays naive
        return moment.isoformat()


@dataclass(frozen=True)
class TableProfile:
    """The profile of a table: its row count and one profile per column, in table order."""

    num_rows: int
    columns: tuple[ColumnProfile, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnProfile:
        """The profile of column ``name``; ``KeyError`` when the table has none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"the profile has no column {name!r}; it has {self.names}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only, with ``"format": 1`` (see docs/profiles.md)."""
        from shipyard.services.profile.codec import profile_to_dict

        return profile_to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> TableProfile:
        """The profile ``to_dict`` wrote; ``InvalidInputError`` names a damaged field."""
        from shipyard.services.profile.codec import profile_from_dict

        return profile_from_dict(data)
