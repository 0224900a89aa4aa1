"""``shipyard models predict``: score a dataset version or a file in batches, recorded as a run.

Registered on the ``models`` group by :mod:`shipyard.cli.models`.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag
from shipyard.services.predict_io import DEFAULT_BATCH_SIZE  # no numpy: the CLI starts fast

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class RowProgress:
    """A rows bar on stderr, silent when stderr is not a terminal (scripts, pipes)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = output.stderr_console()
        self._progress: Progress = Progress(
            TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("rows"), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
            transient=True, disable=not console.is_terminal)
        self._task: TaskID | None = None

    def __enter__(self) -> RowProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._progress.stop()

    def start(self, description: str, total: float | None = None) -> None:
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: float = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


def predict(
    uri: Annotated[str, typer.Argument(metavar="MODEL_URI", help="models:/name/3, "
                                       "models:/name@alias, runs:/<run id>/model or a folder.")],
    input_ref: Annotated[str, typer.Option(
        "--input", "-i", metavar="DATASET_REF|PATH",
        help="A dataset version (name@v3, name@latest) or a .csv/.tsv/.parquet file.")],
    output_path: Annotated[Path, typer.Option(
        "--output", "-o", help="A .parquet or .csv file, in a folder that exists.")],
    proba: Annotated[bool, typer.Option(
        "--proba", help="Also write class probabilities (proba_<class> columns).")] = False,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Rows per batch: memory holds about one batch.")] = DEFAULT_BATCH_SIZE,
    keep: Annotated[list[str] | None, typer.Option(
        "--keep", help="Copy this input column (an id) into the output; repeatable.")] = None,
    experiment: Annotated[str | None, typer.Option(
        help="The run's experiment (default: predictions).")] = None,
    output_dataset: Annotated[str | None, typer.Option(
        help="Store the output as a new version of this dataset, recorded as the run's "
             "output.")] = None,
    trust: Annotated[bool, typer.Option(
        help="Allow a package that runs its own code when loaded (a pickle).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Score a dataset version or a CSV/Parquet file with a model, in batches.

    Writes a Parquet or CSV file; a run records the model, the input version and any output
    version."""
    from shipyard.sdk.predict import predict as run_predict

    with RowProgress() as progress:
        done = run_predict(uri, input_ref, output_path, proba=proba, batch_size=batch_size,
                           keep=keep or (), experiment=experiment,
                           output_dataset=output_dataset, trust=trust, progress=progress)
    if as_json:
        output.emit_json({
            "run_id": done.run_id, "model_uri": done.model_uri,
            "model_version": None if done.model_version is None else done.model_version.uri,
            "model_digest": done.model_digest, "rows": done.rows, "batches": done.batches,
            "output": str(done.output), "columns": list(done.columns),
            "input_dataset": None if done.input_dataset is None else done.input_dataset.ref,
            "output_dataset": None if done.output_dataset is None else done.output_dataset.ref})
        return
    message = (f"predicted {done.rows} rows with {done.model_uri} into {done.output} "
               f"(run {done.run_id})")
    if done.output_dataset is not None:
        message += f"; stored as {done.output_dataset.ref}"
    output.done(message)
