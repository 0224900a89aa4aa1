"""Tabular input in one shape: named Arrow columns, whatever the caller handed in.

A pandas DataFrame, a pyarrow Table or RecordBatch, a dict of column arrays or lists, or a list
of records (dicts) all become a :class:`ColumnBatch`, column by column, so an error can name the
column that failed. Floating NaN counts as a missing value, as it does in pandas.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

TABLE_KINDS = "a pandas DataFrame, a pyarrow Table, a dict of columns or a list of records"


@dataclass(frozen=True, slots=True)
class ColumnBatch:
    """Named columns of equal length, in the order a model expects them."""

    table: pa.Table

    @property
    def column_names(self) -> list[str]:
        return list(self.table.column_names)

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def to_pandas(self) -> pd.DataFrame:
        """A pandas DataFrame (for models fitted on one: scikit-learn with feature names)."""
        try:
            import pandas  # noqa: F401 - only to say clearly that it is missing
        except ImportError:
            raise InvalidInputError(
                "this model was fitted on a pandas DataFrame: install pandas to score it",
                field="data") from None
        return self.table.to_pandas()

    def to_matrix(self, dtype: np.dtype[Any] | None = None) -> np.ndarray[Any, Any]:
        """A 2-D array, one column per signature column (for models fitted on arrays)."""
        arrays = [column_to_numpy(col) for col in self.table.columns]
        if not arrays:
            return np.empty((self.num_rows, 0), dtype=dtype or np.float64)
        matrix = np.column_stack(arrays)
        return matrix if dtype is None else matrix.astype(dtype, copy=False)


def column_to_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, Any]:
    """A column as numpy; nulls become NaN in numeric columns and None elsewhere."""
    return np.asarray(column.to_numpy(zero_copy_only=False))


def to_arrow_column(name: str, values: Any) -> pa.Array | pa.ChunkedArray:
    """One column of any accepted kind as Arrow, NaN counted as null."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray | pa.Array):
        return values
    try:
        if isinstance(values, np.ndarray):
            if values.ndim != 1:
                raise InvalidInputError(
                    f"column {name!r} must be one-dimensional, got shape {values.shape}",
                    field=name)
            return pa.array(values, from_pandas=True)
        if hasattr(values, "to_numpy") and hasattr(values, "dtype"):  # a pandas Series
            return pa.array(values, from_pandas=True)
        return pa.array(list(values), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError) as exc:
        raise InvalidInputError(
            f"column {name!r} holds values of mixed or unsupported types: {exc}",
            field=name) from None


def iter_columns(data: Any) -> Iterator[tuple[str, Any]] | None:
    """``(name, values)`` of every column of tabular ``data``; None when it is not tabular."""
    import pyarrow as pa

    if isinstance(data, pa.Table | pa.RecordBatch):
        return ((str(n), data.column(i)) for i, n in enumerate(data.schema.names))
    if _is_pandas_frame(data):
        return ((str(n), data[n]) for n in data.columns)
    if isinstance(data, Mapping):
        return ((str(n), v) for n, v in data.items())
    if isinstance(data, Sequence) and data and all(isinstance(r, Mapping) for r in data):
        names = list(dict.fromkeys(k for record in data for k in record))
        return ((str(n), [record.get(n) for record in data]) for n in names)
    return None


def columns_of(data: Any) -> dict[str, Any]:
    """The columns of tabular ``data`` by name (not yet converted)."""
    found = iter_columns(data)
    if found is None:
        raise InvalidInputError(
            f"expected a table ({TABLE_KINDS}), got {type(data).__name__}", field="data")
    return dict(found)


def to_column_batch(columns: Mapping[str, pa.Array | pa.ChunkedArray]) -> ColumnBatch:
    import pyarrow as pa

    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(f"columns differ in length: {lengths}", field="data")
    return ColumnBatch(pa.table(dict(columns)))


def _is_pandas_frame(data: Any) -> bool:
    # no pandas import: a caller without pandas never hands in a DataFrame
    return type(data).__name__ == "DataFrame" and type(data).__module__.startswith("pandas")
