"""Restore an embedded store from a backup archive, whole or not at all.

Everything is extracted into temporary folders beside the targets and checked there: the
manifest, the database (``PRAGMA quick_check``, schema revision, row counts), the number and
bytes of artifact files, and each blob's BLAKE3 digest against its name. Only then are the
targets swapped in by renames on the same filesystem: the artifacts folder first and the
database last, so the database appearing is what completes a restore. A failure at any point
leaves the existing store as it was and removes the temporary folders.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from contextlib import ExitStack, closing
from pathlib import Path, PurePosixPath
from typing import IO

from shipyard.errors import BackendError, InvalidInputError, NotFoundError
from shipyard.services.backup import describe_database
from shipyard.services.backup_format import ARTIFACTS, DATABASE, MANIFEST, BackupManifest
from shipyard.services.local_store import WAL_SUFFIXES, LocalStore, data_in
from shipyard.services.progress import NO_PROGRESS, Progress

_CHUNK = 1 << 20
_BLOB = re.compile(r"blobs/([0-9a-f]{2})/([0-9a-f]{62})")
_STAGING = ".shipyard-restore-"


def _damaged(archive: Path, why: object) -> InvalidInputError:
    return InvalidInputError(f"{archive} is damaged or incomplete: {why}; nothing was restored",
                             field="FILE")


def _check_revision(manifest: BackupManifest, archive: Path) -> None:
    """A backup from a newer schema cannot be opened by this Shipyard; an older one is
    migrated when the store is next opened."""
    from shipyard.store.migrate import HEAD_REVISION

    revision = manifest.schema_revision
    readable = revision is None or revision == HEAD_REVISION or (
        revision.isdigit() and HEAD_REVISION.isdigit() and int(revision) <= int(HEAD_REVISION))
    if not readable:
        raise InvalidInputError(
            f"{archive} holds a store of schema {revision}, made by Shipyard "
            f"{manifest.shipyard_version}; this Shipyard reads up to schema {HEAD_REVISION}: "
            "upgrade Shipyard to restore it", field="FILE")


def _open(archive: Path) -> tarfile.TarFile:
    if not archive.is_file():
        raise NotFoundError(f"backup file {archive} does not exist", field="FILE")
    try:
        return tarfile.open(archive, "r:*")
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        raise InvalidInputError(
            f"{archive} is not a Shipyard backup: it is not a tar archive (plain or gzip); "
            "make one with `shipyard backup -o FILE`", field="FILE") from None


def read_manifest(tar: tarfile.TarFile, archive: Path) -> BackupManifest:
    """The manifest, which must be the archive's first member."""
    try:
        first = tar.next()
        stream = tar.extractfile(first) if first is not None and first.isfile() else None
        data = stream.read() if stream is not None and first is not None and \
            first.name == MANIFEST else None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise InvalidInputError(f"{archive} is not a Shipyard backup: {exc}",
                                field="FILE") from None
    if data is None:
        raise InvalidInputError(
            f"{archive} is not a Shipyard backup: it does not start with {MANIFEST} (make one "
            "with `shipyard backup -o FILE`)", field="FILE")
    return BackupManifest.from_json(data, str(archive))


def _member_target(name: str, database: Path, artifacts: Path) -> Path:
    """Where a member goes in the staging folders; anything unexpected is refused."""
    if name == DATABASE:
        return database
    path = PurePosixPath(name)
    parts = path.parts
    if len(parts) < 2 or parts[0] != ARTIFACTS or path.is_absolute() or \
            any(part in ("", ".", "..") for part in parts):
        raise InvalidInputError(f"backup member {name!r} is not part of a Shipyard store",
                                field="FILE")
    return artifacts.joinpath(*parts[1:])


def _copy(source: IO[bytes], target: Path, digest_name: str | None,
          progress: Progress) -> int:
    """Write a member to ``target``; a blob's content must hash to its name."""
    from blake3 import blake3

    hasher = blake3() if digest_name is not None else None
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            if hasher is not None:
                hasher.update(chunk)
            size += len(chunk)
            progress.advance(len(chunk))
    if hasher is not None and hasher.hexdigest() != digest_name:
        raise ValueError(f"blob {digest_name} holds other content (digest "
                         f"{hasher.hexdigest()})")
    return size


def _extract(tar: tarfile.TarFile, archive: Path, database: Path, artifacts: Path,
             progress: Progress) -> tuple[int, int]:
    """Extract every member after the manifest; (artifact files, artifact bytes)."""
    files = size = 0
    try:
        for member in tar:
            if member.name == MANIFEST:
                continue
            if member.isdir():
                continue
            target = _member_target(member.name, database, artifacts)
            source = tar.extractfile(member) if member.isfile() else None
            if source is None:
                raise InvalidInputError(f"backup member {member.name!r} is not a plain file",
                                        field="FILE")
            key = member.name.partition("/")[2]
            blob = _BLOB.fullmatch(key)
            written = _copy(source, target, blob[1] + blob[2] if blob else None, progress)
            if target != database:
                files, size = files + 1, size + written
    except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the disk, not the archive
            raise BackendError(f"restore could not write beside {database.parent.parent} "
                               f"({exc}); nothing was restored") from exc
        raise _damaged(archive, exc) from None
    return files, size


def _check(archive: Path, manifest: BackupManifest, database: Path,
           files: int, size: int) -> None:
    if not database.is_file():
        raise _damaged(archive, f"it holds no {DATABASE}")
    if (files, size) != (manifest.artifact_files, manifest.artifact_bytes):
        raise _damaged(archive, f"it holds {files} artifact files ({size} bytes), its manifest "
                                f"lists {manifest.artifact_files} ({manifest.artifact_bytes} "
                                "bytes)")
    try:
        with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        revision, tables = describe_database(database)
    except sqlite3.Error as exc:
        raise _damaged(archive, f"its database cannot be read ({exc})") from None
    if verdict != "ok":
        raise _damaged(archive, f"its database fails SQLite's check: {verdict}")
    if (revision, tables) != (manifest.schema_revision, manifest.tables):
        raise _damaged(archive, "its database does not match its manifest")


def _staging(stack: ExitStack, target: Path) -> Path:
    """A temporary folder beside ``target`` (same filesystem, so a rename moves it), removed
    when ``stack`` closes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(stack.enter_context(tempfile.TemporaryDirectory(dir=target.parent,
                                                                prefix=_STAGING)))


Move = tuple[Path | None, Path, Path]
"""(staged path or None, target, graveyard): put ``staged`` at ``target`` (None: only clear
``target``), moving what was there into ``graveyard``, a staging folder on its filesystem."""


def _swap_in(moves: list[Move]) -> None:
    """Apply the moves in order by renames; on a failure every rename is undone."""
    done: list[tuple[Path, Path | None, bool]] = []  # (target, its old content, filled)
    try:
        for staged, target, graveyard in moves:
            old = None
            if target.exists() or target.is_symlink():
                old = graveyard / f"old-{len(done)}-{target.name}"
                os.rename(target, old)
            done.append((target, old, False))
            if staged is not None:
                os.rename(staged, target)
                done[-1] = (target, old, True)
    except BaseException as exc:  # an interrupt too: never leave half a swap
        for target, old, filled in reversed(done):
            if filled and target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            elif filled:
                target.unlink(missing_ok=True)
            if old is not None:
                os.rename(old, target)
        if isinstance(exc, OSError):
            raise BackendError(f"restore could not move the store into place ({exc}); the "
                               "store was left as it was") from exc
        raise


def restore(archive: Path, store: LocalStore, *, force: bool = False,
            progress: Progress = NO_PROGRESS) -> BackupManifest:
    """Replace ``store`` with the backup in ``archive`` and return the backup's manifest.

    Refuses a store that holds data unless ``force``. Stop every process using the store
    first: a process that keeps the old database open would go on writing to it.
    """
    archive = Path(archive).expanduser().resolve()
    with _open(archive) as tar, ExitStack() as stack:
        manifest = read_manifest(tar, archive)
        _check_revision(manifest, archive)
        existing = data_in(store)
        if existing and not force:
            raise InvalidInputError(
                f"the store in {store.database.parent} already holds {', '.join(existing)}; "
                "restore into an empty SHIPYARD_HOME, or pass --force to replace it",
                field="--force")
        db_stage = _staging(stack, store.database)
        artifacts_stage = _staging(stack, store.artifacts)
        database = db_stage / DATABASE
        artifacts = artifacts_stage / store.artifacts.name
        artifacts.mkdir()
        progress.start("Restoring", manifest.database_bytes + manifest.artifact_bytes)
        files, size = _extract(tar, archive, database, artifacts, progress)
        _check(archive, manifest, database, files, size)
        # Artifacts first, the database last: a store is only there once its database is.
        # The old database's WAL files go first, so the new database never meets them.
        moves: list[Move] = [(artifacts, store.artifacts, artifacts_stage)]
        moves += [(None, Path(f"{store.database}{suffix}"), db_stage) for suffix in WAL_SUFFIXES]
        moves.append((database, store.database, db_stage))
        _swap_in(moves)
    return manifest
