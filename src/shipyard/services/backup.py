"""Back up the embedded store into one archive while other processes keep writing to it.

Consistency comes from the order: first a snapshot of the SQLite database through SQLite's
online backup API, then the artifact files. Blobs are immutable and written before the metadata
row that names them, so every blob the snapshot names already exists when the files are
copied; blobs written later are copied too and are merely unreferenced in the backup.
"""

from __future__ import annotations

import io
import os
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import BinaryIO, cast

from shipyard import __version__, settings
from shipyard.artifacts.backend import TEMP_MARK
from shipyard.errors import BackendError, InvalidInputError, NotFoundError
from shipyard.services.backup_format import (
    ARTIFACTS,
    DATABASE,
    MANIFEST,
    BackupManifest,
    is_compressed,
)
from shipyard.services.local_store import LocalStore
from shipyard.services.progress import NO_PROGRESS, Progress

_CHUNK = 1 << 20


def snapshot_database(source: Path, target: Path) -> None:
    """Copy the database at ``source`` to a new self-contained file ``target``.

    One backup step copies every page inside one read transaction: a consistent snapshot that
    never blocks writers (WAL). Stepping page by page instead would restart on every write by
    another process and could never finish under a busy writer.
    """
    timeout = settings.SQLITE_BUSY_TIMEOUT.get()
    try:
        with closing(sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True,
                                     timeout=timeout)) as src, \
                closing(sqlite3.connect(target, timeout=timeout)) as dst:
            src.backup(dst)
            # One file without a -wal beside it, whatever the source's journal mode.
            dst.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as exc:
        raise BackendError(f"cannot take a snapshot of the database {source}: {exc}") from exc


def describe_database(path: Path) -> tuple[str | None, dict[str, int]]:
    """The Alembic revision of a database file and the row count of each of its tables."""
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        tables = [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]
        counts = {name: int(db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0])
                  for name in tables}
        revision = None
        if "alembic_version" in tables:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = None if row is None else str(row[0])
    return revision, counts


def artifact_files(root: Path) -> Iterator[tuple[Path, str, int]]:
    """(path, key, size) of every file under the artifacts folder, in key order; in-flight
    writes (temporary files) are left out."""
    if not root.is_dir():
        return
    found: list[tuple[Path, str, int]] = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if name.startswith(TEMP_MARK):
                continue
            path = Path(folder, name)
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # removed while we walked (gc): not part of the store
                continue
            found.append((path, path.relative_to(root).as_posix(), size))
    yield from sorted(found, key=lambda item: item[1])


def _add(tar: tarfile.TarFile, name: str, size: int, stream: BinaryIO,
         progress: Progress) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(time.time()), 0o644
    tar.addfile(info, cast(BinaryIO, _Counting(stream, progress)))


class _Counting:
    """A reader that reports the bytes read to a progress bar."""

    def __init__(self, stream: BinaryIO, progress: Progress) -> None:
        self._stream, self._progress = stream, progress

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._progress.advance(len(data))
        return data


def backup(store: LocalStore, output: Path, progress: Progress = NO_PROGRESS) -> BackupManifest:
    """Write a backup of ``store`` to ``output`` (.tar, .tar.gz or .tgz) and return its manifest.

    The archive appears whole or not at all: it is written beside ``output`` under a temporary
    name and renamed at the end. An existing ``output`` is never overwritten.
    """
    output = Path(output).expanduser().resolve()
    compressed = is_compressed(output.name)
    if output.exists():
        raise InvalidInputError(f"{output} already exists; choose another name or remove it",
                                field="--output")
    if not output.parent.is_dir():
        raise InvalidInputError(f"folder {output.parent} does not exist", field="--output")
    if not store.database.is_file():
        raise NotFoundError(f"there is no store to back up: {store.database} does not exist "
                            "(check SHIPYARD_HOME or SHIPYARD_TRACKING_URI)", field="SHIPYARD_HOME")
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".shipyard-backup-") as staging:
        snapshot = Path(staging, DATABASE)
        progress.start("Snapshot of the database", None)
        snapshot_database(store.database, snapshot)
        revision, tables = describe_database(snapshot)
        files = list(artifact_files(store.artifacts))
        manifest = BackupManifest(
            shipyard_version=__version__, schema_revision=revision,
            created_time_ms=time.time_ns() // 1_000_000,
            database_bytes=snapshot.stat().st_size, tables=tables,
            artifact_files=len(files), artifact_bytes=sum(size for _, _, size in files))
        partial = Path(staging, output.name)
        with (tarfile.open(partial, "w:gz", compresslevel=6) if compressed
              else tarfile.open(partial, "w")) as tar:
            document = manifest.to_json()
            _add(tar, MANIFEST, len(document), io.BytesIO(document), NO_PROGRESS)
            progress.start("Database", manifest.database_bytes)
            with snapshot.open("rb") as stream:
                _add(tar, DATABASE, manifest.database_bytes, stream, progress)
            progress.start("Artifacts", manifest.artifact_bytes)
            for path, key, size in files:
                try:
                    with path.open("rb") as stream:
                        _add(tar, f"{ARTIFACTS}/{key}", size, stream, progress)
                except FileNotFoundError:
                    raise BackendError(
                        f"artifact file {key} disappeared during the backup (was `shipyard gc` "
                        "running?); run the backup again") from None
        os.replace(partial, output)
    return manifest
