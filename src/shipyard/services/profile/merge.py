"""Merging two table profiles into the profile of both tables stacked (row-wise union).

This is what lets Dask profile each partition on its own worker and lets monitoring roll
hourly windows into a day. Counts, moments, min and max come out exactly as profiling the
whole table would give (up to float rounding); quantiles and distinct counts within their
sketches' error bounds; top-value counts as described in :mod:`.categories`.
"""

from __future__ import annotations

from dataclasses import replace

from shipyard.services.profile.model import ColumnProfile, Kind, TableProfile


def merge(a: TableProfile, b: TableProfile) -> TableProfile:
    """The profile of ``a``'s table and ``b``'s table together, in ``a``'s column order.

    A column only one side has is kept with ``absent`` counting the other side's rows; a
    column whose kinds differ becomes kind ``mixed`` with counts only -- never blended stats.
    """
    theirs = {c.name: c for c in b.columns}
    mine = {c.name: c for c in a.columns}
    columns: list[ColumnProfile] = []
    for column in a.columns:
        other = theirs.get(column.name)
        if other is None:
            columns.append(replace(column, absent=column.absent + b.num_rows))
        else:
            columns.append(merge_columns(column, other))
    columns.extend(replace(c, absent=c.absent + a.num_rows)
                   for c in b.columns if c.name not in mine)
    return TableProfile(a.num_rows + b.num_rows, tuple(columns))


def merge_columns(a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
    """Two profiles of the same column, from different rows, as one."""
    if a.kind is Kind.NULL and b.kind is not Kind.NULL:
        a, b = b, a  # an all-null part adds only counts to whatever the other part is
    counts = ColumnProfile(a.name, a.kind, _union_dtype(a, b), a.count + b.count,
                           a.missing + b.missing, a.nan + b.nan, a.inf + b.inf,
                           a.absent + b.absent)
    if b.kind is Kind.NULL:
        return replace(counts, numeric=a.numeric, boolean=a.boolean, strings=a.strings)
    if a.kind is not b.kind or a.kind is Kind.MIXED:
        return replace(counts, kind=Kind.MIXED)
    if a.numeric is not None and b.numeric is not None:
        return replace(counts, numeric=a.numeric.merge(b.numeric))
    if a.boolean is not None and b.boolean is not None:
        return replace(counts, boolean=a.boolean.merge(b.boolean))
    if a.strings is not None and b.strings is not None:
        return replace(counts, strings=a.strings.merge(b.strings))
    return counts


def _union_dtype(a: ColumnProfile, b: ColumnProfile) -> str:
    """Both sides' Arrow types, ``" | "``-joined when they differ (e.g. ``int64 | double``)."""
    parts = {t for c in (a, b) if c.kind is not Kind.NULL for t in c.dtype.split(" | ")}
    if not parts:
        parts = {a.dtype}
    return " | ".join(sorted(parts))
