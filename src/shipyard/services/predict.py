"""Batch prediction: a model over a CSV or Parquet file, batch by batch, the predictions
written as they come, so memory holds about one batch whatever the file's size.

:class:`BatchPrediction` reads and scores the first batch when it is made, so bad input (a
missing column, a wrong type, a column to keep that is not there) fails before anything is
written or recorded; :meth:`BatchPrediction.run` then writes every batch. Reading and writing
are in :mod:`shipyard.services.predict_io`. Lineage (runs, dataset versions) is the SDK's
(:mod:`shipyard.sdk.predict`): this module only knows files and a loaded model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.services.predict_io import (
    DEFAULT_BATCH_SIZE,
    OutputWriter,
    count_rows,
    iter_batches,
)
from shipyard.services.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.models.loaded import LoadedModel

__all__ = ["DEFAULT_BATCH_SIZE", "BatchPrediction", "BatchResult", "Predictions",
           "declared_types"]


@dataclass(frozen=True)
class BatchResult:
    rows: int
    batches: int
    output: Path
    columns: tuple[str, ...]


def declared_types(model: LoadedModel) -> dict[str, pa.DataType]:
    """The Arrow types of the columns the model's signature declares (none for tensors)."""
    from shipyard.models import dtypes

    signature = model.signature
    if signature is None:
        return {}
    return {c.name: dtypes.arrow_type(c.type) for c in signature.inputs.columns}


class Predictions:
    """A batch's output table: the kept input columns, ``prediction`` (``prediction_0``...
    for 2-D output) and, with ``proba``, one ``proba_<class>`` column per class."""

    def __init__(self, model: LoadedModel, *, proba: bool = False,
                 keep: Sequence[str] = ()) -> None:
        if proba and not model.has_predict_proba:
            raise InvalidInputError(f"this {model.flavor} model ({type(model.raw).__name__}) has "
                                    "no predict_proba", field="proba")
        self.model, self.proba, self.keep = model, proba, tuple(dict.fromkeys(keep))

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        from shipyard.models.score import predictions_table

        for name in self.keep:
            if name not in batch.column_names:
                raise InvalidInputError(f"cannot keep column {name!r}: the input has "
                                        f"{batch.column_names}", field="keep")
        data = batch if self.model.signature is not None else _native(batch)
        columns: dict[str, Any] = {name: batch.column(name) for name in self.keep}
        predicted = predictions_table(self.model.predict(data), batch.num_rows)
        for name, column in zip(predicted.column_names, predicted.columns, strict=True):
            columns[_free(name, columns)] = column
        if self.proba:
            found = np.asarray(self.model.predict_proba(data))
            found = found.reshape(-1, 1) if found.ndim == 1 else found
            for label, values in zip(self._labels(found.shape[1]), found.T, strict=True):
                columns[_free(f"proba_{label}", columns)] = values
        return pa.table(columns)

    def _labels(self, width: int) -> list[str]:
        """Class labels where the model knows them (and they make distinct names)."""
        classes = getattr(self.model.raw, "classes_", None)
        if classes is None:
            classes = self.model.manifest.loader.get("classes")
        labels = [] if classes is None else [str(c) for c in np.asarray(classes).tolist()]
        if len(labels) != width or len(set(labels)) != width:
            labels = [str(i) for i in range(width)]
        return labels


def _free(name: str, taken: Mapping[str, Any]) -> str:
    if name in taken:
        raise InvalidInputError(f"the kept column {name!r} has the name of an output column",
                                field="keep")
    return name


def _native(table: pa.Table) -> Any:
    """For a package without signature: a DataFrame where pandas is installed, else an array."""
    try:
        return table.to_pandas()
    except ImportError:
        return np.column_stack([c.to_numpy(zero_copy_only=False) for c in table.columns])


class BatchPrediction:
    """Predict ``input_path`` into ``output_path`` in batches of ``batch_size`` rows.

    ``column_types`` fix the types of CSV columns; by default the model's declared columns.
    """

    def __init__(self, model: LoadedModel, input_path: Path, output_path: Path, *,
                 batch_size: int = DEFAULT_BATCH_SIZE, proba: bool = False,
                 keep: Sequence[str] = (),
                 column_types: Mapping[str, pa.DataType] | None = None) -> None:
        self.predictions = Predictions(model, proba=proba, keep=keep)
        self.output = output_path
        types = declared_types(model) if column_types is None else column_types
        self._batches = iter_batches(input_path, batch_size, types)
        first = next(self._batches, None)
        if first is None:
            raise InvalidInputError(f"{input_path.name} has no rows to predict", field="input")
        self._first = (first, self.predictions(first))  # bad input fails here, early
        self.total_rows = count_rows(input_path)

    def run(self, progress: Progress = NO_PROGRESS) -> BatchResult:
        """Write every batch's predictions; the output appears only when all are written."""
        writer = OutputWriter(self.output)
        rows = batches = 0
        progress.start("predicting", self.total_rows)
        try:
            batch: pa.Table | None
            batch, scored = self._first
            while batch is not None:
                writer.write(scored)
                rows += batch.num_rows
                batches += 1
                progress.advance(batch.num_rows)
                batch = next(self._batches, None)
                if batch is not None:
                    scored = self.predictions(batch)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        columns = tuple(writer.schema.names) if writer.schema is not None else ()
        return BatchResult(rows, batches, self.output, columns)
