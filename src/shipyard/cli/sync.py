"""``shipyard sync``: copy experiments and runs into a Shipyard store, from MLflow or Shipyard.

Run it again at any time: it copies only what the destination lacks, and after an interruption
it carries on where it stopped. See docs/sync.md.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag
from shipyard.services.sync_types import DEFAULT_WORKERS

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from shipyard.services.sync import SyncSummary

app = typer.Typer()

_LABELS = {"experiments": "Experiments", "runs": "Runs", "params": "Params", "tags": "Tags",
           "metric_points": "Metric points", "artifacts": "Artifact files"}


class _ProgressBar:
    """Rich progress on stderr: runs synced out of runs listed, and the current experiment."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress: Progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("runs"), TimeElapsedColumn(), console=output.stderr_console(),
        )
        self._task: TaskID | None = None

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._progress.stop()

    def planned(self, experiments: int, runs: int) -> None:
        self._task = self._progress.add_task("Syncing", total=runs)

    def experiment_started(self, name: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, description=f"Syncing {output.clip(name, 40)}")

    def run_done(self) -> None:
        if self._task is not None:
            self._progress.advance(self._task)


def _print_summary(summary: SyncSummary) -> None:
    first = "To copy" if summary.dry_run else "Copied"
    title = "Dry run: nothing was written" if summary.dry_run else "Sync summary"
    table = output.new_table("", first, "Already present", "Skipped", title=title)
    for name, tally in summary.tallies().items():
        output.add_row(table, _LABELS[name], str(tally.copied), str(tally.present),
                       str(tally.skipped))
    output.print_table(table)
    verb = "to copy" if summary.dry_run else "copied"
    output.done(f"{summary.source} → {summary.destination}: "
                f"{output.size_text(summary.artifact_bytes)} of artifacts {verb}.")
    console = output.stderr_console()
    for warning in summary.warnings:
        console.print(f"Warning: {warning}", style="yellow", markup=False, soft_wrap=True)


@app.command("sync")
def sync_command(
    source: Annotated[str, typer.Option(
        "--from", metavar="SOURCE",
        help="Where to read: a Shipyard folder or database URL, http(s)://… (a Shipyard "
             "server), mlflow+http(s)://host:port (an MLflow server) or mlflow+sqlite:///… / "
             "mlflow+postgresql://… (an MLflow database).")],
    destination: Annotated[str, typer.Option(
        "--to", metavar="DEST",
        help="The Shipyard store to write: a folder (its shipyard.db and artifacts/), a "
             "database URL or http(s)://… (a Shipyard server).")],
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", metavar="NAME",
        help="Only the experiment with this name; repeat for several. Default: all.")] = None,
    include_deleted: Annotated[bool, typer.Option(
        "--include-deleted",
        help="Also copy deleted experiments and runs (they are deleted at the destination "
             "too).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Report what would be copied; write nothing.")] = False,
    from_artifacts: Annotated[str | None, typer.Option(
        "--from-artifacts", metavar="URI",
        help="Artifact store of a Shipyard source given as a database URL. Default: "
             "SHIPYARD_ARTIFACTS_URI, or the folder's artifacts/.")] = None,
    to_artifacts: Annotated[str | None, typer.Option(
        "--to-artifacts", metavar="URI",
        help="Artifact store of the destination when it is a database URL. Default: "
             "SHIPYARD_ARTIFACTS_URI, or the folder's artifacts/.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64, metavar="N",
        help="Runs copied at once (threads); 1 copies them one after the other.",
    )] = DEFAULT_WORKERS,
    as_json: JsonFlag = False,
) -> None:
    """Copy experiments, runs, metric histories and artifacts into a Shipyard store.

    Idempotent and resumable: what is already at the destination is not copied again, so run
    the same command again after an interruption to finish.
    """
    from shipyard.services import sync_uris
    from shipyard.services.sync import SyncOptions, plan_sync, sync

    sync_uris.check_distinct(source, destination)
    exists = sync_uris.destination_exists(destination)  # also rejects a bad address early
    options = SyncOptions(experiments=tuple(experiment or ()),
                          include_deleted=include_deleted, dry_run=dry_run, workers=workers)
    reader = sync_uris.open_source(source, from_artifacts)
    try:
        plan = plan_sync(reader, options)
        writer = None
        if not dry_run or exists:
            writer = sync_uris.open_destination(destination, to_artifacts)
        shown = sync_uris.display_uri(destination)
        if as_json:
            summary = sync(reader, writer, options, destination_uri=shown, plan=plan)
        else:
            with _ProgressBar() as bar:
                summary = sync(reader, writer, options, bar, destination_uri=shown, plan=plan)
    finally:
        reader.close()
    if as_json:
        output.emit_json(summary.to_dict())
    else:
        _print_summary(summary)
