"""``sy.predict``: score a dataset version or a CSV/Parquet file with a model, in batches, and
record it as a run: which model (URI, version, digest), which data went in, and -- with
``output_dataset`` -- the dataset version that came out.

    sy.predict("models:/er-matcher@production", "property-records@v3", "scores.parquet",
               output_dataset="er-scores")

The input is a file when that path exists; otherwise a dataset reference (``name@v3``,
``name@latest``, ``name``). Bad input (an unknown model, a version that is not a table, columns
that do not fit the model's signature, an output folder that does not exist) fails before a run
is created or any output is written.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.entities.dataset import (
    DatasetKind,
    DatasetRole,
    DatasetVersion,
    check_dataset_name,
)
from shipyard.entities.registry import ModelVersion
from shipyard.errors import InvalidInputError
from shipyard.sdk.fluent import client, start_run
from shipyard.services.predict import DEFAULT_BATCH_SIZE, BatchPrediction, declared_types
from shipyard.services.predict_io import check_input_file, check_output_file, is_table_file
from shipyard.services.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.models.loaded import LoadedModel

PREDICTIONS_EXPERIMENT = "predictions"


@dataclass(frozen=True)
class PredictionRun:
    """What a prediction did, and the run that records it."""

    run_id: str
    model_uri: str
    model_version: ModelVersion | None
    model_digest: str
    rows: int
    batches: int
    output: Path
    columns: tuple[str, ...]
    input_dataset: DatasetVersion | None
    output_dataset: DatasetVersion | None


@dataclass(frozen=True)
class _Input:
    path: Path
    version: DatasetVersion | None
    column_types: dict[str, pa.DataType]


def predict(model_uri: str, data: str | os.PathLike[str], output: str | os.PathLike[str], *,
            proba: bool = False, batch_size: int = DEFAULT_BATCH_SIZE,
            keep: Sequence[str] = (), experiment: str | None = None,
            output_dataset: str | None = None, trust: bool = False,
            progress: Progress | None = None) -> PredictionRun:
    """Predict ``data`` (a dataset reference or a CSV/Parquet path) with the model
    ``model_uri`` names into ``output`` (.parquet or .csv), ``batch_size`` rows at a time.

    ``proba`` adds ``proba_<class>`` columns; ``keep`` copies input columns (ids) into the
    output. The run goes to ``experiment`` (default ``predictions``); with ``output_dataset``
    the output is stored as a new version of that dataset, recorded as the run's output.
    """
    target = check_output_file(output)
    if output_dataset is not None:
        check_dataset_name(output_dataset, "output_dataset")
    model, version = _load(model_uri, trust)
    with tempfile.TemporaryDirectory(prefix="shipyard-predict-") as folder:
        source = _open_input(str(data), Path(folder), model)
        job = BatchPrediction(model, source.path, target, batch_size=batch_size, proba=proba,
                              keep=keep, column_types=source.column_types)
        if source.version is not None and source.version.row_count is not None:
            job.total_rows = source.version.row_count
        name = f"predict-{version.name}-v{version.version}" if version else "predict"
        with start_run(experiment=experiment or PREDICTIONS_EXPERIMENT, run_name=name) as run:
            sdk = client()
            sdk.log_params(run.run_id, _params(model_uri, model, version, source, target,
                                               batch_size, proba, keep))
            if source.version is not None:
                sdk.datasets.log_run_dataset(run.run_id, source.version, DatasetRole.INPUT)
            started = time.perf_counter()
            result = job.run(progress or NO_PROGRESS)
            seconds = time.perf_counter() - started
            sdk.log_metrics(run.run_id, {"rows": result.rows, "batches": result.batches,
                                         "seconds": seconds,
                                         "rows_per_second": result.rows / max(seconds, 1e-9)})
            written = None
            if output_dataset is not None:
                written = sdk.datasets.add(target, output_dataset, description=(
                    f"predictions of {model_uri} on {_input_label(source)}")).version
                sdk.datasets.log_run_dataset(run.run_id, written, DatasetRole.OUTPUT)
    return PredictionRun(run.run_id, model_uri, version, model.digest, result.rows,
                         result.batches, target, result.columns, source.version, written)


def _load(model_uri: str, trust: bool) -> tuple[LoadedModel, ModelVersion | None]:
    from shipyard.models import load_model as load_package
    from shipyard.sdk.models import load_model, package_path

    folder, version = package_path(model_uri)
    # with trust, the SDK's loader also writes the choice to the audit log
    model = load_model(model_uri, trust=True) if trust else load_package(folder)
    return model, version


def _open_input(data: str, folder: Path, model: LoadedModel) -> _Input:
    """A local file to read: the path itself, or a tabular dataset version's file."""
    local = Path(data).expanduser()
    if local.exists():
        return _Input(check_input_file(local), None, declared_types(model))
    if "@" not in data and (is_table_file(data) or "/" in data or os.sep in data):
        raise InvalidInputError(f"{data} does not exist: give a CSV or Parquet file, or a "
                                "dataset version such as name@v3", field="input")
    service = client().datasets
    version = service.resolve(data)
    files = service.manifest(version).files
    if version.kind is DatasetKind.FOLDER or len(files) != 1 \
            or not is_table_file(files[0].path):
        raise InvalidInputError(
            f"{version.ref} is a {version.kind} of {version.file_count} file(s), not a table: "
            "predict reads tabular versions (a table, or a CSV or Parquet file)", field="input")
    path = service.download(version.ref, folder)[0]
    # a CSV is read in blocks: the types recorded for the whole file keep blocks consistent
    return _Input(path, version, {**_recorded_types(version), **declared_types(model)})


def _recorded_types(version: DatasetVersion) -> dict[str, pa.DataType]:
    import pyarrow as pa

    found = {}
    for column in version.columns or ():
        try:
            found[column.name] = pa.type_for_alias(column.type)
        except (ValueError, KeyError):  # parameterised types (timestamps): let Arrow infer
            continue
    return found


def _input_label(source: _Input) -> str:
    return source.version.ref if source.version is not None else str(source.path.resolve())


def _params(model_uri: str, model: LoadedModel, version: ModelVersion | None, source: _Input,
            target: Path, batch_size: int, proba: bool, keep: Sequence[str]) -> dict[str, Any]:
    from shipyard.artifacts.content import hash_file

    params: dict[str, Any] = {
        "model_uri": model_uri, "model_digest": model.digest, "model_flavor": model.flavor,
        "input": _input_label(source),
        "input_digest": (source.version.digest if source.version is not None
                         else hash_file(source.path).digest),
        "output": str(target.resolve()), "batch_size": batch_size,
        "method": "predict+predict_proba" if proba else "predict"}
    if version is not None:
        params.update(model_name=version.name, model_version=version.version)
    if keep:
        params["keep"] = ",".join(keep)
    return params
