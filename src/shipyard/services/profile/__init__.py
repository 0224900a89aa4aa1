"""Mergeable column profiles: computed once per dataset version, reused by monitoring.

    from shipyard.services.profile import compare, merge, profile_table

    reference = profile_table(training_table)
    window = merge(profile_table(part_1), profile_table(part_2))   # e.g. per Dask partition
    drifts = compare(reference, window)                            # needs no raw data

A profile holds, per column, counts of missing values, exact moments (Chan's mergeable form),
a KLL quantile sketch and a chart histogram for numbers and times, and top-value counts, an
HLL distinct-count sketch and string-length moments for text. See docs/profiles.md.

Importing this package imports numpy, pyarrow and datasketches; ``import shipyard`` does not.
"""

from __future__ import annotations

from shipyard.services.profile.categories import TOP_CATEGORIES, Categories
from shipyard.services.profile.compute import profile_column, profile_dataframe, profile_table
from shipyard.services.profile.drift import (
    ColumnDrift,
    DriftThresholds,
    compare,
    compare_columns,
)
from shipyard.services.profile.merge import merge, merge_columns
from shipyard.services.profile.model import (
    BooleanStats,
    ColumnProfile,
    Histogram,
    Kind,
    NumericStats,
    StringStats,
    TableProfile,
)
from shipyard.services.profile.moments import Moments

__all__ = [
    "TOP_CATEGORIES",
    "BooleanStats",
    "Categories",
    "ColumnDrift",
    "ColumnProfile",
    "DriftThresholds",
    "Histogram",
    "Kind",
    "Moments",
    "NumericStats",
    "StringStats",
    "TableProfile",
    "compare",
    "compare_columns",
    "merge",
    "merge_columns",
    "profile_column",
    "profile_dataframe",
    "profile_table",
]
