"""Previews of run artifacts: what the run page shows of a file without downloading it.

Each kind reads only what it shows: text and JSON their first :data:`TEXT_BYTES`, CSV its
first :data:`TABLE_ROWS` rows, Parquet its first row group's rows (a Parquet file keeps its
schema at the end, so it is read whole up to :data:`PARQUET_BYTES`). Images are not read
here: the page points an ``<img>`` at the file's URL.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

TEXT_BYTES = 64 * 1024
TABLE_ROWS = 50
PARQUET_BYTES = 64 * 1024 * 1024

Kind = Literal["image", "text", "json", "table", "none"]

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp", ".svg": "image/svg+xml"}
_TEXT_SUFFIXES = frozenset({
    ".txt", ".log", ".md", ".rst", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".diff",
    ".patch", ".lock", ".sh", ".sql", ".xml", ".html", ".ipynb", ".jsonl", ".ndjson",
    ".properties", ".r", ".js", ".ts", ".css", ".env", ".conf", ""})


@dataclass(frozen=True, slots=True)
class Preview:
    """What to show: ``text`` for text and JSON, ``columns``/``rows`` for tables; ``note``
    says what was left out or why nothing is shown."""

    kind: Kind
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def kind_of(path: str) -> Kind:
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in IMAGE_TYPES:
        return "image"
    if suffix == ".json":
        return "json"
    if suffix in (".csv", ".tsv", ".parquet"):
        return "table"
    if suffix in _TEXT_SUFFIXES:
        return "text"
    return "none"


def media_type(path: str) -> str:
    """The type a browser may show the file as; anything else downloads as bytes."""
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in IMAGE_TYPES:
        return IMAGE_TYPES[suffix]
    if kind_of(path) in ("text", "json") or suffix in (".csv", ".tsv"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def preview(path: str, stream: BinaryIO, size: int | None) -> Preview:
    """The preview of the file at ``path`` whose bytes ``stream`` reads."""
    kind = kind_of(path)
    suffix = posixpath.splitext(path)[1].lower()
    if kind == "image":
        return Preview("image")
    if kind == "table":
        return _parquet(stream, size) if suffix == ".parquet" else _csv(
            stream, "\t" if suffix == ".tsv" else ",")
    if kind == "none":
        return Preview("none", note="no preview for this type of file; download it instead")
    head = stream.read(TEXT_BYTES + 1)
    cut = len(head) > TEXT_BYTES
    text = _decode(head[:TEXT_BYTES])
    if text is None:
        return Preview("none", note="the file is not UTF-8 text; download it instead")
    note = f"showing the first {TEXT_BYTES // 1024} KB" if cut else ""
    if kind == "json" and not cut:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            note = "not valid JSON; shown as text"
    return Preview(kind, text=text, note=note)


def _decode(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 3:  # a character cut at the end of the window
            return data[:error.start].decode("utf-8")
        return None


def _csv(stream: BinaryIO, delimiter: str) -> Preview:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    try:
        reader = csv.reader(text, delimiter=delimiter)
        columns = next(reader, [])
        rows: list[list[str]] = []
        for row in reader:
            if len(rows) == TABLE_ROWS:
                return Preview("table", columns=columns, rows=rows,
                               note=f"showing the first {TABLE_ROWS} rows")
            rows.append(row)
        return Preview("table", columns=columns, rows=rows)
    finally:
        text.detach()  # the caller owns (and closes) the stream


def _parquet(stream: BinaryIO, size: int | None) -> Preview:
    if size is not None and size > PARQUET_BYTES:
        return Preview("none", note=f"Parquet files over {PARQUET_BYTES // 2**20} MB are not "
                                    "previewed; download it instead")
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        data = stream.read(PARQUET_BYTES + 1)
        if len(data) > PARQUET_BYTES:
            return Preview("none", note="the Parquet file is too large to preview")
        parquet = pq.ParquetFile(pa.BufferReader(data))
        batch = next(parquet.iter_batches(batch_size=TABLE_ROWS), None)
    except (pa.ArrowException, OSError) as error:
        return Preview("none", note=f"not a readable Parquet file: {error}")
    columns = list(parquet.schema_arrow.names)
    if batch is None:
        return Preview("table", columns=columns)
    values = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
    rows = [["" if v is None else str(v) for v in row] for row in zip(*values, strict=True)]
    total = parquet.metadata.num_rows
    note = f"showing the first {len(rows)} of {total} rows" if total > len(rows) else ""
    return Preview("table", columns=columns, rows=rows, note=note)
