"""Profiling an Arrow table: one vectorised pass per column with pyarrow.compute and numpy.

Nothing here loops over rows in Python; the one per-value Python loop feeds the distinct-count
sketch with each *distinct* string once (after Arrow has counted them).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.errors import InvalidInputError
from shipyard.services.profile import sketches
from shipyard.services.profile.categories import top_categories
from shipyard.services.profile.model import (
    BooleanStats,
    ColumnProfile,
    Kind,
    NumericStats,
    StringStats,
    TableProfile,
)
from shipyard.services.profile.moments import Moments

_SECONDS_PER = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def profile_table(table: pa.Table) -> TableProfile:
    """The profile of every column of an Arrow table (or record batch)."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise InvalidInputError(
            f"cannot profile a {type(table).__name__}; pass a pyarrow Table "
            "(or a pandas DataFrame to profile_dataframe)", field="table")
    names = table.column_names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInputError(
            f"the table has duplicate column names {duplicates}; rename them before profiling",
            field="table")
    columns = tuple(profile_column(name, table.column(i)) for i, name in enumerate(names))
    return TableProfile(table.num_rows, columns)


def profile_dataframe(frame: Any) -> TableProfile:
    """The profile of a pandas DataFrame (its index is left out)."""
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InvalidInputError(f"cannot convert the DataFrame to Arrow: {exc}",
                                field="frame") from None
    return profile_table(table)


def profile_column(name: str, column: pa.ChunkedArray) -> ColumnProfile:
    """The profile of one column, by its Arrow type."""
    kind, values = _classify(column)
    base = ColumnProfile(name, kind, str(column.type), len(column), column.null_count)
    if kind is Kind.NUMERIC:
        return _numeric(base, values)
    if kind is Kind.TEMPORAL:
        return _temporal(base, values)
    if kind is Kind.BOOLEAN:
        true = int(pc.sum(values).as_py() or 0)
        return _with(base, boolean=BooleanStats(true, base.count - base.missing - true))
    if kind is Kind.STRING:
        return _with(base, strings=_strings(values))
    return base


def _classify(column: pa.ChunkedArray) -> tuple[Kind, pa.ChunkedArray]:
    """The column's kind, and its values in the type the kind is profiled in."""
    kind_of = pa.types
    type_ = column.type
    if kind_of.is_null(type_):
        return Kind.NULL, column
    if kind_of.is_boolean(type_):
        return Kind.BOOLEAN, column
    if kind_of.is_integer(type_) or kind_of.is_floating(type_):
        return Kind.NUMERIC, column
    if kind_of.is_decimal(type_):
        return Kind.NUMERIC, pc.cast(column, pa.float64())
    if kind_of.is_timestamp(type_) or kind_of.is_date(type_):
        return Kind.TEMPORAL, column
    if kind_of.is_string(type_) or kind_of.is_large_string(type_):
        return Kind.STRING, column
    if kind_of.is_dictionary(type_) or _is_string_view(type_):
        # decoded to plain strings: few compute kernels take views or dictionaries
        try:
            return Kind.STRING, pc.cast(pc.cast(column, _value_type(type_)), pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return Kind.OTHER, column
    return Kind.OTHER, column


def _value_type(type_: pa.DataType) -> pa.DataType:
    return type_.value_type if pa.types.is_dictionary(type_) else type_


def _is_string_view(type_: pa.DataType) -> bool:
    is_view = getattr(pa.types, "is_string_view", None)  # pyarrow >= 16
    return bool(is_view is not None and is_view(type_))


def _numeric(base: ColumnProfile, values: pa.ChunkedArray) -> ColumnProfile:
    numbers = _floats(values)
    nan = inf = 0
    if pa.types.is_floating(values.type):
        nan_mask = np.isnan(numbers)
        inf_mask = np.isinf(numbers)
        nan, inf = int(nan_mask.sum()), int(inf_mask.sum())
        if nan or inf:
            numbers = numbers[~(nan_mask | inf_mask)]
    return _with(base, nan=nan, inf=inf, numeric=_numeric_stats(numbers))


def _temporal(base: ColumnProfile, values: pa.ChunkedArray) -> ColumnProfile:
    type_ = values.type
    if pa.types.is_date32(type_):
        scale, ints = 86400.0, pc.cast(values, pa.int32())
    elif pa.types.is_date64(type_):
        scale, ints = 1e-3, pc.cast(values, pa.int64())
    else:
        scale, ints = _SECONDS_PER[type_.unit], pc.cast(values, pa.int64())
    return _with(base, numeric=_numeric_stats(_floats(ints) * scale))


def _numeric_stats(numbers: npt.NDArray[np.float64]) -> NumericStats:
    return NumericStats.build(Moments.of(numbers), sketches.kll_of(numbers))


def _floats(values: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    """The non-null values as one float64 array (NaN kept: it is a value, not a null)."""
    if values.null_count:
        values = pc.drop_null(values)
    if values.num_chunks == 0:
        return np.empty(0, dtype=np.float64)
    return np.asarray(values.to_numpy(), dtype=np.float64)


def _strings(values: pa.ChunkedArray) -> StringStats:
    if values.null_count:
        values = pc.drop_null(values)
    counted = pc.value_counts(values)
    distinct = counted.field("values").to_pylist()
    counts = np.asarray(counted.field("counts").to_numpy(), dtype=np.int64)
    lengths = _floats(pc.utf8_length(values)) if len(values) else np.empty(0)
    return StringStats(top_categories(distinct, counts), sketches.hll_of(distinct),
                       Moments.of(lengths))


def _with(base: ColumnProfile, **changes: Any) -> ColumnProfile:
    return replace(base, **changes)
