"""``shipyard gc``: purging long-deleted runs and deleting unreferenced blobs, on real stores.

The scenario runs on SQLite with local artifacts, SQLite with S3 artifacts (a moto server) and
PostgreSQL with S3 artifacts. Dataset versions are inserted as rows, with real manifests.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update

from shipyard.artifacts import ContentStore
from shipyard.artifacts.content import blob_key
from shipyard.entities.dataset import DatasetFile, DatasetKind
from shipyard.errors import BackendError, InvalidInputError, NotFoundError
from shipyard.sdk.client import Client
from shipyard.services.data.manifest import Manifest, read_manifest, write_manifest
from shipyard.services.gc import DAY_MS, HOUR_MS, REFERENCE_SOURCES, collect_garbage
from shipyard.store import schema as t
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.cli_support import as_json, failed, ok
from tests.conftest import make_store


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def add_dataset_version(store: SqlTrackingStore, name: str, version: int,
                        files: dict[str, bytes]) -> Manifest:
    """A dataset version as the data service writes it: file blobs, manifest blob, row."""
    entries = []
    for path, data in files.items():
        blob = store.content.put_bytes(data)
        entries.append(DatasetFile(path, blob.digest, blob.size))
    manifest = Manifest.build(DatasetKind.FOLDER, entries)
    write_manifest(store.content, manifest)
    with store.engine.begin() as conn:
        if version == 1:
            conn.execute(insert(t.datasets).values(name=name, created_time=now_ms()))
        conn.execute(insert(t.dataset_versions).values(
            name=name, version=version, digest=manifest.digest, kind="folder",
            size=manifest.size, file_count=len(entries), created_time=now_ms(),
            created_by="tester"))
    return manifest


def delete_run_days_ago(store: SqlTrackingStore, run_id: str, days: float) -> None:
    Client(store=store).delete_run(run_id)
    with store.engine.begin() as conn:
        conn.execute(update(t.runs).where(t.runs.c.run_id == run_id)
                     .values(deleted_time=now_ms() - int(days * DAY_MS)))


def blob_present(content: ContentStore, data: bytes) -> bool:
    from shipyard.artifacts import hash_bytes

    return content.exists(hash_bytes(data).digest)


@dataclass
class Scenario:
    store: SqlTrackingStore
    names: tuple[str, str]
    kept_run: str
    old_deleted_run: str
    recent_deleted_run: str
    manifests: list[Manifest]


SHARED = b"shared between both dataset versions"
ONLY_V1, ONLY_V2 = b"only in version 1", b"only in version 2"
KEPT_ARTIFACT, COMMON_ARTIFACT = b"artifact of a live run", b"logged by a live and a dead run"
EXCLUSIVE, RECENT = b"only the long-deleted run has this", b"only the recently deleted run"
ORPHAN = b"an upload nobody recorded"


def build(store: SqlTrackingStore) -> Scenario:
    suffix = uuid.uuid4().hex[:8]
    names = (f"addresses-{suffix}", f"other-{suffix}")
    manifests = [
        add_dataset_version(store, names[0], 1, {"a.csv": SHARED, "b.csv": ONLY_V1}),
        add_dataset_version(store, names[0], 2, {"a.csv": SHARED, "c.csv": ONLY_V2}),
        add_dataset_version(store, names[1], 1, {"x/a.csv": SHARED}),
    ]
    client = Client(store=store)
    experiment_id = client.get_or_create_experiment(f"gc-{suffix}").experiment_id
    runs = [client.create_run(experiment_id).run_id for _ in range(3)]
    client.log_text(runs[0], KEPT_ARTIFACT.decode(), "model.txt")
    for run_id in runs:
        client.log_text(run_id, COMMON_ARTIFACT.decode(), "common.txt")
        client.log_batch(run_id, params={"lr": "0.1"})
    client.log_text(runs[1], EXCLUSIVE.decode(), "mine.txt")
    client.log_text(runs[2], RECENT.decode(), "mine.txt")
    delete_run_days_ago(store, runs[1], 10)
    delete_run_days_ago(store, runs[2], 3)
    store.content.put_bytes(ORPHAN)
    return Scenario(store, names, runs[0], runs[1], runs[2], manifests)


def referenced_all_present(s: Scenario) -> None:
    content = s.store.content
    for manifest in s.manifests:
        assert read_manifest(content, manifest.digest) == manifest
        for file in manifest.files:
            assert content.exists(file.digest), file.path
    for data in (SHARED, ONLY_V1, ONLY_V2, KEPT_ARTIFACT, COMMON_ARTIFACT, RECENT):
        assert blob_present(content, data), data
    client = Client(store=s.store)
    assert client.read_artifact_bytes(s.kept_run, "model.txt") == KEPT_ARTIFACT


@pytest.fixture(params=["sqlite", "sqlite+s3", pytest.param("postgres+s3",
                                                            marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTrackingStore]:
    backend, _, artifacts = request.param.partition("+")
    uri = request.getfixturevalue("s3_bucket_url") if artifacts == "s3" else None
    made = make_store(backend, tmp_path, uri)
    assert isinstance(made, SqlTrackingStore)
    if backend == "postgres":
        # The database outlives this test's bucket: rows left by other tests would name
        # blobs this bucket never held.
        with made.engine.begin() as conn:
            conn.execute(delete(t.datasets))
            conn.execute(delete(t.experiments))
    yield made
    made.engine.dispose()


def test_gc_keeps_references_and_purges_old_deleted_runs(store: SqlTrackingStore) -> None:
    s = build(store)
    later = now_ms() + 2 * HOUR_MS  # every blob looks two hours old to gc

    nothing = collect_garbage(store.engine, store.content, now_ms=later)
    assert (nothing.blobs_deleted, nothing.purged_runs) == (1, ())  # the orphan alone
    assert not blob_present(store.content, ORPHAN)
    assert nothing.referenced_missing == ()
    referenced_all_present(s)
    assert blob_present(store.content, EXCLUSIVE)  # its run is deleted, not purged yet

    dry = collect_garbage(store.engine, store.content, purge_deleted_runs_older_than_days=7,
                          dry_run=True, now_ms=later)
    assert dry.purged_runs == (s.old_deleted_run,) and dry.blobs_deleted == 1
    assert dry.bytes_deleted == len(EXCLUSIVE)
    assert blob_present(store.content, EXCLUSIVE)
    assert Client(store=store).get_run(s.old_deleted_run)

    report = collect_garbage(store.engine, store.content, purge_deleted_runs_older_than_days=7,
                             now_ms=later)
    assert report.purged_runs == (s.old_deleted_run,)
    assert (report.blobs_deleted, report.bytes_deleted) == (1, len(EXCLUSIVE))
    assert not blob_present(store.content, EXCLUSIVE)
    with pytest.raises(NotFoundError):
        Client(store=store).get_run(s.old_deleted_run)
    with store.engine.connect() as conn:  # its rows went with it
        for table in (t.params, t.run_artifacts, t.tags):
            count = conn.execute(select(func.count()).select_from(table)
                                 .where(table.c.run_id == s.old_deleted_run)).scalar()
            assert count == 0, table.name
    referenced_all_present(s)
    assert Client(store=store).get_run(s.recent_deleted_run)  # deleted 3 days ago: kept

    again = collect_garbage(store.engine, store.content, purge_deleted_runs_older_than_days=7,
                            now_ms=later)
    assert (again.purged_runs, again.blobs_deleted) == ((), 0)


def test_young_blobs_are_never_deleted(store: SqlTrackingStore) -> None:
    store.content.put_bytes(ORPHAN)  # just written: its metadata row may be on its way
    report = collect_garbage(store.engine, store.content)  # default min age: 1 hour
    assert (report.blobs_deleted, report.blobs_too_young) == (0, 1)
    assert blob_present(store.content, ORPHAN)
    report = collect_garbage(store.engine, store.content,
                             now_ms=now_ms() + 2 * HOUR_MS)
    assert report.blobs_deleted == 1 and not blob_present(store.content, ORPHAN)


def test_min_age_reads_the_real_modification_time(tmp_path: Path) -> None:
    store = make_store("sqlite", tmp_path)
    assert isinstance(store, SqlTrackingStore)
    old, young = store.content.put_bytes(b"old orphan"), store.content.put_bytes(b"new orphan")
    path = tmp_path / "artifacts" / blob_key(old.digest)
    two_hours_ago = time.time() - 2 * 3600
    os.utime(path, (two_hours_ago, two_hours_ago))
    report = collect_garbage(store.engine, store.content, min_age_hours=1)
    assert (report.blobs_deleted, report.blobs_too_young) == (1, 1)
    assert not store.content.exists(old.digest) and store.content.exists(young.digest)
    assert collect_garbage(store.engine, store.content, min_age_hours=0).blobs_deleted == 1


def test_a_missing_manifest_stops_gc_before_it_deletes(tmp_path: Path) -> None:
    store = make_store("sqlite", tmp_path)
    assert isinstance(store, SqlTrackingStore)
    manifest = add_dataset_version(store, "broken", 1, {"a.csv": SHARED})
    store.content.backend.delete(blob_key(manifest.digest))
    store.content.put_bytes(ORPHAN)
    with pytest.raises(BackendError, match="broken@v1"):
        collect_garbage(store.engine, store.content, now_ms=now_ms() + 2 * HOUR_MS)
    assert blob_present(store.content, ORPHAN) and blob_present(store.content, SHARED)


def test_reference_sources_are_one_list() -> None:
    names = [source.__name__ for source in REFERENCE_SOURCES]
    assert names == ["run_artifact_digests", "dataset_digests"]


def test_bad_amounts_are_refused(tmp_path: Path) -> None:
    store = make_store("sqlite", tmp_path)
    assert isinstance(store, SqlTrackingStore)
    for kwargs in ({"purge_deleted_runs_older_than_days": -1.0}, {"min_age_hours": -0.5},
                   {"min_age_hours": float("nan")}):
        with pytest.raises(InvalidInputError):
            collect_garbage(store.engine, store.content, **kwargs)  # type: ignore[arg-type]


# -- The command ------------------------------------------------------------------------------


def test_gc_command_on_the_embedded_store(shipyard_home: Path) -> None:
    client = Client()
    experiment_id = client.create_experiment("gc")
    live, dead = (client.create_run(experiment_id).run_id for _ in range(2))
    client.log_text(live, "keep me", "keep.txt")
    client.log_text(dead, "drop me", "drop.txt")
    store = client.store
    assert isinstance(store, SqlTrackingStore)
    delete_run_days_ago(store, dead, 10)
    blobs = shipyard_home / "artifacts" / "blobs"
    two_hours_ago = time.time() - 2 * 3600
    for path in blobs.rglob("*"):
        if path.is_file():
            os.utime(path, (two_hours_ago, two_hours_ago))

    dry = as_json("gc", "--purge-deleted-runs-older-than", "7", "--dry-run")
    assert dry["dry_run"] is True and dry["purged_runs"]["run_ids"] == [dead]
    assert dry["blobs"]["deleted"] == {"count": 1, "bytes": len("drop me")}
    assert client.get_run(dead)

    text = ok("gc", "--purge-deleted-runs-older-than", "7").stdout
    assert "Purged 1 run " in text and "Deleted 1 of 2 blobs" in text
    with pytest.raises(NotFoundError):
        client.get_run(dead)
    assert client.read_artifact_bytes(live, "keep.txt") == b"keep me"
    assert as_json("gc")["blobs"]["deleted"]["count"] == 0


def test_gc_command_refuses_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    message = failed("gc", "--purge-deleted-runs-older-than", "-3").stderr
    assert "--purge-deleted-runs-older-than" in message and "0 or more" in message
    assert "--min-age" in failed("gc", "--min-age", "-1").stderr
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", "http://127.0.0.1:9")
    assert "server" in failed("gc").stderr
