"""Garbage collection: purge long-deleted runs, then delete blobs nothing references.

A blob is referenced when a *reference source* names its digest. Each source is one function
in :data:`REFERENCE_SOURCES`; a feature that keeps blobs (models, say) adds its function there
and gc keeps its blobs. A source that cannot tell what it references (a dataset manifest that
is missing) raises, and gc then deletes no blob at all.

Safety against writers running at the same time:

- A blob is written before the metadata row that names it, so a blob younger than
  ``min_age_hours`` is never deleted: its row may be on its way.
- Blobs are listed before references are read, so a row written meanwhile is seen.
- Just before deleting, the references created since gc started are read again, so a new row
  that reuses an old unreferenced blob (the store writes each content once) saves it. What
  remains is the short window between that second read and the delete itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, and_, delete, not_, select
from sqlalchemy.sql.elements import ColumnElement

from shipyard.artifacts import ContentStore
from shipyard.artifacts.listing import StoredFile, delete_files, list_files
from shipyard.entities.run import LifecycleStage
from shipyard.errors import BackendError, InvalidInputError, NotFoundError
from shipyard.services.progress import NO_PROGRESS, Progress
from shipyard.store import schema as t
from shipyard.store.db import SQLITE_BEGIN

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_CHUNK = 500  # rows or keys per statement or delete request
_RECHECK_MARGIN_MS = 10 * 60_000  # clock skew allowed between writers and gc


@dataclass(frozen=True, slots=True)
class GcScope:
    """What a reference source sees.

    ``purge_before_ms``: runs deleted before this time count as gone (so a dry run reports
    the blobs a purge would free). ``created_since_ms``: when set, only references created
    at or after it are wanted (the re-check before deleting).
    """

    conn: Connection
    content: ContentStore
    purge_before_ms: int | None = None
    created_since_ms: int | None = None


ReferenceSource = Callable[[GcScope], Iterable[str]]


def purgeable(purge_before_ms: int) -> ColumnElement[bool]:
    """Runs deleted before ``purge_before_ms``; runs without a deletion time are kept."""
    r = t.runs.c
    return and_(r.lifecycle_stage == str(LifecycleStage.DELETED), r.deleted_time.is_not(None),
                r.deleted_time < purge_before_ms)


def run_artifact_digests(scope: GcScope) -> Iterator[str]:
    """Blobs of run artifacts, of every run that is kept."""
    a = t.run_artifacts.c
    query = select(a.digest).distinct()
    if scope.purge_before_ms is not None:
        query = query.select_from(t.run_artifacts.join(t.runs, t.runs.c.run_id == a.run_id)) \
            .where(not_(purgeable(scope.purge_before_ms)))
    if scope.created_since_ms is not None:
        query = query.where(a.created_time >= scope.created_since_ms)
    for (digest,) in scope.conn.execute(query):
        yield str(digest)


def dataset_digests(scope: GcScope) -> Iterator[str]:
    """Dataset version manifests, every file each manifest lists, and the packs that hold
    any of those files (small files live inside pack blobs; see services/data/packs.py)."""
    from shipyard.services.data.manifest import read_manifest

    v = t.dataset_versions.c
    query = select(v.digest, v.name, v.version).order_by(v.digest)
    if scope.created_since_ms is not None:
        query = query.where(v.created_time >= scope.created_since_ms)
    seen: set[str] = set()
    files: set[str] = set()
    for digest, name, version in scope.conn.execute(query):
        if digest in seen:
            continue
        seen.add(digest)
        yield str(digest)
        try:
            manifest = read_manifest(scope.content, digest)
        except NotFoundError:
            raise BackendError(
                f"the manifest {digest} of dataset version {name}@v{version} is missing from "
                f"the artifact store; gc deleted no blobs, since the files it lists are unknown"
            ) from None
        for file in manifest.files:
            files.add(file.digest)
            yield file.digest
    pe = t.pack_entries.c
    for digest, pack in scope.conn.execute(select(pe.digest, pe.pack)):
        if digest in files:
            yield str(pack)


def packed_digests(engine: Engine) -> set[str]:
    """Digests stored inside packs (not missing although they have no blob of their own)."""
    with engine.connect() as conn:
        return set(conn.execute(select(t.pack_entries.c.digest)).scalars())


REFERENCE_SOURCES: list[ReferenceSource] = [run_artifact_digests, dataset_digests]
"""Everything that keeps blobs alive; add one function per new kind of reference."""


@dataclass(frozen=True, slots=True)
class GcReport:
    """What gc removed, or would remove in a dry run (``dry_run``)."""

    dry_run: bool
    purged_runs: tuple[str, ...] = ()
    blobs_scanned: int = 0
    bytes_scanned: int = 0
    blobs_deleted: int = 0
    bytes_deleted: int = 0
    blobs_too_young: int = 0
    bytes_too_young: int = 0
    referenced_missing: tuple[str, ...] = field(default=())
    """Digests something references that are not in the store: damage worth knowing about."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_amount(value: float | None, name: str, unit: str) -> None:
    if value is not None and (not math.isfinite(value) or value < 0):
        raise InvalidInputError(f"{name} must be a number of {unit} of 0 or more, got {value}",
                                field=name)


def references(engine: Engine, content: ContentStore, *, purge_before_ms: int | None = None,
               created_since_ms: int | None = None) -> set[str]:
    """Every digest the reference sources name, read in one transaction."""
    found: set[str] = set()
    with engine.connect() as conn, conn.begin():
        scope = GcScope(conn, content, purge_before_ms, created_since_ms)
        for source in REFERENCE_SOURCES:
            found.update(source(scope))
    return found


def purge_runs(engine: Engine, purge_before_ms: int, *, dry_run: bool) -> tuple[str, ...]:
    """Delete the runs deleted before ``purge_before_ms`` (their rows cascade); the ids."""
    with engine.connect() as conn:
        ids = tuple(str(row[0]) for row in conn.execute(
            select(t.runs.c.run_id).where(purgeable(purge_before_ms)).order_by(t.runs.c.run_id)))
    if dry_run:
        return ids
    writer = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
    for start in range(0, len(ids), _CHUNK):  # short transactions: writers wait less
        with writer.begin() as conn:
            conn.execute(delete(t.runs).where(t.runs.c.run_id.in_(ids[start:start + _CHUNK]),
                                              purgeable(purge_before_ms)))
    return ids


def _forget_packs(engine: Engine, digests: list[str]) -> None:
    """Drop the pack entries of blobs about to be deleted, first: an entry must never point
    into a pack that is gone."""
    pe = t.pack_entries
    with engine.begin() as conn:
        conn.execute(pe.delete().where(pe.c.pack.in_(digests)))


def _digest(file: StoredFile) -> str | None:
    """The digest a blob key names, or None for a file that is not a blob."""
    parts = file.key.split("/")
    if len(parts) != 3 or len(parts[1]) != 2 or len(parts[2]) != 62:
        return None
    digest = parts[1] + parts[2]
    return digest if all(ch in "0123456789abcdef" for ch in digest) else None


def collect_garbage(
    engine: Engine,
    content: ContentStore,
    *,
    purge_deleted_runs_older_than_days: float | None = None,
    min_age_hours: float = 1.0,
    dry_run: bool = False,
    now_ms: int | None = None,
    progress: Progress = NO_PROGRESS,
) -> GcReport:
    """Purge runs deleted more than the given days ago (when given), then delete every blob
    older than ``min_age_hours`` that no reference source names. ``dry_run`` changes
    nothing and reports what would go."""
    _check_amount(purge_deleted_runs_older_than_days, "--purge-deleted-runs-older-than", "days")
    _check_amount(min_age_hours, "--min-age", "hours")
    started = _now_ms() if now_ms is None else now_ms
    purge_before = None
    purged: tuple[str, ...] = ()
    if purge_deleted_runs_older_than_days is not None:
        purge_before = started - round(purge_deleted_runs_older_than_days * DAY_MS)
        progress.start("Purging deleted runs", None)
        purged = purge_runs(engine, purge_before, dry_run=dry_run)
    progress.start("Listing blobs", None)
    blobs = {d: f for f in list_files(content.backend, "blobs") if (d := _digest(f))}
    progress.start("Reading references", None)
    referenced = references(engine, content, purge_before_ms=purge_before)
    young_before = (started - round(min_age_hours * HOUR_MS)) / 1000
    candidates, young = [], []
    for digest, file in blobs.items():
        if digest in referenced:
            continue
        if file.modified is None or file.modified >= young_before:
            young.append(file)  # an upload whose metadata row may be on its way
        else:
            candidates.append(file)
    if candidates and not dry_run:
        progress.start("Re-checking new references", None)
        since = started - _RECHECK_MARGIN_MS
        again = references(engine, content, created_since_ms=since)
        candidates = [f for f in candidates if _digest(f) not in again]
        progress.start("Deleting blobs", len(candidates))
        for start in range(0, len(candidates), _CHUNK):
            chunk = candidates[start:start + _CHUNK]
            _forget_packs(engine, [d for f in chunk if (d := _digest(f))])
            delete_files(content.backend, [f.key for f in chunk])
            progress.advance(len(chunk))
    return GcReport(
        dry_run=dry_run, purged_runs=purged,
        blobs_scanned=len(blobs), bytes_scanned=sum(f.size for f in blobs.values()),
        blobs_deleted=len(candidates), bytes_deleted=sum(f.size for f in candidates),
        blobs_too_young=len(young), bytes_too_young=sum(f.size for f in young),
        referenced_missing=tuple(sorted(referenced - blobs.keys() - packed_digests(engine))),
    )
