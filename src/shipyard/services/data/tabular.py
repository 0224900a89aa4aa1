"""Tables in dataset versions: Parquet storage, Arrow schema, row count and column profile.

A pandas DataFrame or Arrow table is stored as one Parquet file (``data.parquet``). A CSV, TSV
or Parquet file added as a dataset is read the same way so its version records schema, rows and
profile too. pyarrow is imported only here, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.entities.dataset import ColumnType
from shipyard.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

TABLE_FILE = "data.parquet"
_CSV = {".csv": ",", ".tsv": "\t"}
_PARQUET = {".parquet", ".pq"}


@dataclass(frozen=True)
class TableFacts:
    row_count: int
    columns: tuple[ColumnType, ...]
    profile: dict[str, Any] | None


def is_tabular_file(path: str) -> bool:
    suffix = Path(path).suffix.lower()
    return suffix in _CSV or suffix in _PARQUET


def to_arrow(data: object, field: str = "data") -> pa.Table:
    """A pandas DataFrame or Arrow table as an Arrow table; a clear error names a bad column."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if type(data).__module__.split(".", 1)[0] == "pandas" and hasattr(data, "columns"):
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(_bad_column(data, exc), field=field) from None
    raise InvalidInputError(
        f"cannot store a {type(data).__name__} as a dataset table; pass a pandas DataFrame, a "
        "pyarrow Table, or a path to a file or folder", field=field)


def _bad_column(frame: Any, exc: Exception) -> str:
    import pyarrow as pa

    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as col_exc:
            kinds = sorted({type(v).__name__ for v in frame[name].dropna().head(1000)})
            return (f"column {name!r} cannot be stored as a table column ({col_exc}); it holds "
                    f"values of types {', '.join(kinds)}: convert it to one type, e.g. "
                    f"df[{name!r}] = df[{name!r}].astype(str)")
    return f"the DataFrame cannot be converted to an Arrow table: {exc}"


def write_parquet(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd")


def read_table_file(path: str | Path) -> pa.Table:
    """A CSV/TSV/Parquet file as an Arrow table; a clear error when it does not parse."""
    import pyarrow as pa

    suffix = Path(path).suffix.lower()
    try:
        if suffix in _PARQUET:
            import pyarrow.parquet as pq

            return pq.read_table(path)
        from pyarrow import csv

        return csv.read_csv(path, parse_options=csv.ParseOptions(delimiter=_CSV[suffix]))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"{Path(path).name} is not a readable {suffix[1:]} file: {exc}",
                                field="path") from None


def columns_of(table: pa.Table) -> tuple[ColumnType, ...]:
    return tuple(ColumnType(f.name, str(f.type), f.nullable) for f in table.schema)


def facts_of(table: pa.Table, *, profile: bool = True) -> TableFacts:
    summary = None
    if profile:
        from shipyard.services.profile import profile_table

        summary = profile_table(table).to_dict()
    return TableFacts(table.num_rows, columns_of(table), summary)
