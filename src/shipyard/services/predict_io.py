"""Reading and writing for batch prediction: CSV and Parquet in batches, output written as it
comes.

Parquet is read with ``iter_batches``; CSV with Arrow's streaming reader, its blocks cut into
batches of ``batch_size`` rows. A streaming CSV reader infers each column's type from its first
block only, so the caller passes the types it knows (the model's declared columns, a dataset
version's recorded schema): a column of whole numbers in its first block and decimals later is
then still read as ``double``, and a value that does not fit is an error naming the column.

The output goes to a hidden sibling file that is renamed into place at the end, so a failed
prediction leaves nothing at the output path.
"""

from __future__ import annotations

import contextlib
import csv as text_csv
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_BATCH_SIZE = 10_000
CSV_DELIMITERS = {".csv": ",", ".tsv": "\t"}
PARQUET = (".parquet", ".pq")
OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")
_CSV_ERROR = re.compile(r"In CSV column #(\d+): (.*)", re.DOTALL)


def is_table_file(path: str | os.PathLike[str]) -> bool:
    suffix = Path(path).suffix.lower()
    return suffix in CSV_DELIMITERS or suffix in PARQUET


def check_input_file(path: str | os.PathLike[str]) -> Path:
    found = Path(path).expanduser()
    if not is_table_file(found):
        raise InvalidInputError(f"{found}: read .csv, .tsv or .parquet files, not "
                                f"{found.suffix or 'a file without suffix'}", field="input")
    if not found.is_file():
        raise InvalidInputError(f"{found} does not exist or is not a file", field="input")
    return found


def check_output_file(path: str | os.PathLike[str]) -> Path:
    found = Path(path).expanduser()
    if found.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidInputError(f"{found}: write a .parquet or .csv file", field="output")
    if not found.parent.is_dir():
        raise InvalidInputError(f"{found}: the folder {found.parent} does not exist; create "
                                "it first", field="output")
    if found.is_dir():
        raise InvalidInputError(f"{found} is a folder; name a file", field="output")
    return found


def count_rows(path: Path) -> int | None:
    """Rows of a Parquet file, from its footer; None for CSV (unknown without reading it)."""
    if path.suffix.lower() not in PARQUET:
        return None
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def iter_batches(path: Path, batch_size: int,
                 column_types: Mapping[str, pa.DataType] | None = None) -> Iterator[pa.Table]:
    """``path`` in tables of ``batch_size`` rows (the last one shorter); ``column_types``
    fix the types of CSV columns (Parquet files carry their own)."""
    if batch_size < 1:
        raise InvalidInputError("the batch size must be at least 1", field="batch_size")
    if path.suffix.lower() in PARQUET:
        import pyarrow.parquet as pq

        return _rebatch(pq.ParquetFile(path).iter_batches(batch_size=batch_size), batch_size)
    return _rebatch(_csv_batches(path, dict(column_types or {})), batch_size)


def _csv_batches(path: Path, column_types: dict[str, pa.DataType]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    from pyarrow import csv

    delimiter = CSV_DELIMITERS[path.suffix.lower()]
    try:  # opening reads the first block
        reader = csv.open_csv(path, parse_options=csv.ParseOptions(delimiter=delimiter),
                              convert_options=csv.ConvertOptions(column_types=column_types))
    except pa.ArrowInvalid as exc:
        raise _csv_error(path, _header(path, delimiter), column_types, exc) from None
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise _csv_error(path, reader.schema.names, column_types, exc) from None
        yield batch


def _header(path: Path, delimiter: str) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            return next(text_csv.reader(stream, delimiter=delimiter), [])
    except (OSError, UnicodeDecodeError, text_csv.Error):
        return []


def _csv_error(path: Path, names: Sequence[str], column_types: Mapping[str, pa.DataType],
               exc: Exception) -> InvalidInputError:
    found = _CSV_ERROR.search(str(exc))
    if found is None or int(found.group(1)) >= len(names):
        return InvalidInputError(f"{path.name} is not a readable CSV file: {exc}", field="input")
    name = names[int(found.group(1))]
    detail = found.group(2).strip()
    expected = column_types.get(name)
    if expected is None:
        return InvalidInputError(f"{path.name}: column {name!r}: {detail}", field=name)
    from shipyard.models import dtypes

    return InvalidInputError(
        f"column {name!r} must be {dtypes.name_of_arrow(expected) or expected}; {path.name} "
        f"holds a value that is not: {detail}", field=name)


def _rebatch(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for whole in batches:
        rest = whole
        while rest.num_rows:
            take = min(size - count, rest.num_rows)
            pending.append(rest.slice(0, take))
            count += take
            rest = rest.slice(take)
            if count == size:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


class OutputWriter:
    """Tables appended to a hidden sibling of ``path``; :meth:`commit` renames it into
    place, :meth:`abort` removes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}")
        self.schema: pa.Schema | None = None
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
        import pyarrow as pa

        if self.schema is None:
            self.schema = table.schema
            if self.path.suffix.lower() == ".csv":
                from pyarrow import csv

                self._writer = csv.CSVWriter(self.partial, table.schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.partial, table.schema, compression="zstd")
        elif not table.schema.equals(self.schema, check_metadata=False):
            try:
                table = table.cast(self.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                raise InvalidInputError(
                    f"the predictions of a later batch have the schema {table.schema}, the "
                    f"first batch's were {self.schema}", field="output") from None
        self._writer.write_table(table)

    def commit(self) -> None:
        if self._writer is None:
            raise InvalidInputError("nothing was written", field="output")
        self._writer.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):  # already failing: the first error matters
                self._writer.close()
        self.partial.unlink(missing_ok=True)
