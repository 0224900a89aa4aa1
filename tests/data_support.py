"""Dataset-versioning fixtures: the service over each backend, and small folders to version."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from shipyard.services.data.service import DatasetService
from shipyard.services.data.stat_cache import StatCache
from shipyard.store import schema as t
from shipyard.store.data.sql import SqlDatasetStore
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store


@pytest.fixture(params=["sqlite", "sqlite+s3",
                        pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path
           ) -> Iterator[tuple[SqlTrackingStore, DatasetService]]:
    """A tracking store and the dataset service sharing its database and artifact store:
    SQLite with local artifacts, SQLite with S3 artifacts (moto server), PostgreSQL."""
    backend, _, artifacts = request.param.partition("+")
    uri = request.getfixturevalue("s3_bucket_url") if artifacts == "s3" else None
    tracking = make_store(backend, tmp_path, uri)
    assert isinstance(tracking, SqlTrackingStore)
    with tracking.engine.begin() as conn:  # PostgreSQL outlives a test: start empty
        for table in (t.run_datasets, t.dataset_versions, t.datasets):
            conn.execute(delete(table))
    service = DatasetService(SqlDatasetStore(tracking.engine), tracking.content, user="alice",
                             cache=StatCache(tmp_path / "cache"))
    yield tracking, service
    service.cache.close()
    tracking.engine.dispose()


def write_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(data)
        old = target.stat().st_mtime_ns - 10**9  # older than the racy window: cacheable
        os.utime(target, ns=(old, old))
    return root


def blob_files(artifacts: Path) -> set[Path]:
    return {p for p in (artifacts / "blobs").rglob("*") if p.is_file()}
