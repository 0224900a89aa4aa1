"""``shipyard backup``, ``restore`` and ``gc``: keeping a store safe and small.

Backup and restore cover the embedded store (the SQLite file and the local artifacts folder);
gc works on every store Shipyard can open directly (SQLite or PostgreSQL, local or S3 artifacts).
See docs/maintenance.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag
from shipyard.errors import InvalidInputError

if TYPE_CHECKING:
    from rich.progress import Progress as RichBar
    from rich.progress import TaskID

    from shipyard.services.backup_format import BackupManifest
    from shipyard.services.gc import GcReport


class _Bars:
    """The services' progress protocol drawn as rich progress bars on stderr."""

    def __init__(self, bar: RichBar) -> None:
        self._bar = bar
        self._task: TaskID | None = None

    def finish(self) -> None:
        """Show the current step as complete (a step without a total has none to reach)."""
        if self._task is not None:
            done = next(task.completed for task in self._bar.tasks if task.id == self._task)
            self._bar.update(self._task, total=done or 1, completed=done or 1)

    def start(self, description: str, total: float | None = None) -> None:
        self.finish()
        self._task = self._bar.add_task(description, total=total)

    def advance(self, amount: float = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)


@contextmanager
def progress_bars() -> Iterator[_Bars]:
    """Bars on stderr while the job runs, erased at the end; none when stderr is not a
    terminal (a log file would only collect their frames)."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    console = output.stderr_console()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                   TimeElapsedColumn(), console=console, transient=True,
                   disable=not console.is_terminal)
    with bar:
        bars = _Bars(bar)
        yield bars
        bars.finish()


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _counts(manifest: BackupManifest) -> str:
    tables = manifest.tables
    return (f"{_n(tables.get('experiments', 0), 'experiment')}, "
            f"{_n(tables.get('runs', 0), 'run')}, "
            f"{_n(tables.get('metrics', 0), 'metric point')}, "
            f"{_n(tables.get('dataset_versions', 0), 'dataset version')}, "
            f"{_n(manifest.artifact_files, 'artifact file')} "
            f"({output.size_text(manifest.artifact_bytes)})")


def backup(
    out: Annotated[Path, typer.Option(
        "--output", "-o", metavar="FILE",
        help="The archive to write: FILE.tar, or FILE.tar.gz / FILE.tgz to compress it. "
             "An existing file is not overwritten.")],
) -> None:
    """Back up the embedded store (SQLite database and artifacts folder) into one archive.

    Safe while other processes write to the store: the database is copied as one consistent
    snapshot, then the artifact files it names. For PostgreSQL use pg_dump instead."""
    from shipyard.services.backup import backup as run_backup
    from shipyard.services.local_store import local_store

    store = local_store("backup")
    with progress_bars() as bars:
        manifest = run_backup(store, out, bars)
    size = output.size_text(out.expanduser().stat().st_size)
    output.done(f"Backed up {_counts(manifest)} to {out} ({size}).")


def restore(
    archive: Annotated[Path, typer.Argument(metavar="FILE",
                                            help="An archive made by `shipyard backup`.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a store that already holds data (it is deleted).")] = False,
) -> None:
    """Restore the embedded store from a backup, whole or not at all.

    The archive is checked in full before anything is replaced. Stop every process that uses
    the store first."""
    from shipyard.services.local_store import local_store
    from shipyard.services.restore import restore as run_restore

    store = local_store("restore")
    with progress_bars() as bars:
        manifest = run_restore(archive, store, force=force, progress=bars)
    output.done(f"Restored {_counts(manifest)} into {store.database.parent} "
                f"(backup of {output.local_time(manifest.created_time_ms)}, Shipyard "
                f"{manifest.shipyard_version}).")


def _gc_json(report: GcReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "purged_runs": {"count": len(report.purged_runs), "run_ids": list(report.purged_runs)},
        "blobs": {
            "scanned": {"count": report.blobs_scanned, "bytes": report.bytes_scanned},
            "deleted": {"count": report.blobs_deleted, "bytes": report.bytes_deleted},
            "kept_too_young": {"count": report.blobs_too_young, "bytes": report.bytes_too_young},
        },
        "referenced_missing": list(report.referenced_missing),
    }


def gc(
    days: Annotated[float | None, typer.Option(
        "--purge-deleted-runs-older-than", metavar="DAYS",
        help="Also delete for good the runs deleted more than DAYS days ago, with their "
             "params, metrics, tags and artifact records.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Change nothing; report what would be removed.")] = False,
    min_age: Annotated[float, typer.Option(
        "--min-age", metavar="HOURS",
        help="Never delete a blob younger than this: an upload writes its blobs before the "
             "record that names them.")] = 1.0,
    as_json: JsonFlag = False,
) -> None:
    """Delete unreferenced artifact blobs, and optionally purge long-deleted runs first.

    A blob is kept while a run artifact, a dataset version's manifest or a file listed in a
    manifest references it. Works on SQLite and PostgreSQL, local and S3 artifacts."""
    from shipyard.services.gc import collect_garbage
    from shipyard.store.tracking.factory import open_tracking_store
    from shipyard.store.tracking.sql import SqlTrackingStore

    store = open_tracking_store()
    if not isinstance(store, SqlTrackingStore):
        raise InvalidInputError(
            "`shipyard gc` works on the database and artifact store directly, but "
            "SHIPYARD_TRACKING_URI names a server: run it on the server's machine with the "
            "server's settings", field="SHIPYARD_TRACKING_URI")
    with progress_bars() as bars:
        report = collect_garbage(store.engine, store.content,
                                 purge_deleted_runs_older_than_days=days,
                                 min_age_hours=min_age, dry_run=dry_run, progress=bars)
    if as_json:
        output.emit_json(_gc_json(report))
        return
    verb = "Would delete" if dry_run else "Deleted"
    if days is not None:
        output.done(f"{'Would purge' if dry_run else 'Purged'} "
                    f"{_n(len(report.purged_runs), 'run')} deleted more than {days:g} days ago.")
    output.done(f"{verb} {report.blobs_deleted} of {_n(report.blobs_scanned, 'blob')} "
                f"({output.size_text(report.bytes_deleted)} of "
                f"{output.size_text(report.bytes_scanned)}).")
    if report.blobs_too_young:
        output.note(f"Kept {_n(report.blobs_too_young, 'unreferenced blob')} "
                    f"({output.size_text(report.bytes_too_young)}) younger than {min_age:g} h; "
                    "a later gc removes them if they are still unreferenced.")
    if report.referenced_missing:
        shown = ", ".join(report.referenced_missing[:5])
        output.note(f"Warning: {_n(len(report.referenced_missing), 'referenced blob')} missing "
                    f"from the artifact store (e.g. {shown}).")
    if dry_run:
        output.note("Dry run: nothing was changed.")
