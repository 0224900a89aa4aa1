"""The dataset service: one object the SDK and the CLI use for everything about datasets."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import settings
from shipyard.artifacts.content import ContentStore
from shipyard.artifacts.paths import safe_artifact_path
from shipyard.entities.dataset import (
    DatasetKind,
    DatasetRole,
    DatasetVersion,
    RunDataset,
    check_dataset_name,
    parse_dataset_ref,
)
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.services.data import packs, tabular
from shipyard.services.data.diff import DatasetDiff, diff_versions
from shipyard.services.data.ingest import AddResult, Ingest
from shipyard.services.data.manifest import Manifest, read_manifest
from shipyard.services.data.scan import Scan
from shipyard.services.data.stat_cache import StatCache
from shipyard.services.data.status import DataStatus, local_status
from shipyard.services.progress import NO_PROGRESS, Progress
from shipyard.store.data.protocol import DatasetStore

if TYPE_CHECKING:
    import pyarrow as pa


class DatasetService:
    """Dataset versions over a metadata store and a content-addressed byte store."""

    def __init__(self, store: DatasetStore, content: ContentStore, *, user: str | None = None,
                 cache: StatCache | None = None, threads: int = 0) -> None:
        self.store = store
        self.content = content
        self.cache = cache or StatCache(settings.cache_dir())
        self.threads = threads or settings.data_threads()
        self._user = user

    @property
    def user(self) -> str:
        return self._user or settings.current_user()

    def _ingest(self) -> Ingest:
        return Ingest(self.store, self.content, self.cache, self.user, self.threads)

    # -- Writing -----------------------------------------------------------------------------

    def add(self, source: Any, name: str, *, description: str | None = None,
            profile: bool = True, progress: Progress | None = None) -> AddResult:
        """A new version of ``name`` from a file or folder path, a DataFrame or Arrow table."""
        if isinstance(source, str | os.PathLike):
            return self._ingest().add_path(source, name, description=description,
                                           profile=profile, progress=progress)
        return self._ingest().add_table(source, name, description=description, profile=profile,
                                        progress=progress)

    # -- Reading -----------------------------------------------------------------------------

    def resolve(self, ref: str) -> DatasetVersion:
        return self.store.resolve(parse_dataset_ref(ref))

    def manifest(self, version: DatasetVersion) -> Manifest:
        return read_manifest(self.content, version.digest)

    def list_datasets(self) -> list[tuple[DatasetVersion, int]]:
        return self.store.list_datasets()

    def list_versions(self, name: str) -> list[DatasetVersion]:
        return self.store.list_versions(check_dataset_name(name))

    def status(self, path: str | os.PathLike[str] | Scan, name: str) -> DataStatus:
        """How a local file or folder (or a finished :func:`scan` of one) differs from the
        latest version of ``name``."""
        latest = self.store.latest_version(check_dataset_name(name))
        return local_status(path, latest, self.manifest, self.cache, self.threads)

    def diff(self, old_ref: str, new_ref: str) -> DatasetDiff:
        old, new = self.resolve(old_ref), self.resolve(new_ref)
        return diff_versions(old, self.manifest(old), new, self.manifest(new))

    def download(self, ref: str, dest: str | os.PathLike[str],
                 progress: Progress | None = None) -> list[Path]:
        """Write a version's files under ``dest`` (created); returns the paths written."""
        version = self.resolve(ref)
        manifest = self.manifest(version)
        root = Path(dest).expanduser()
        if root.exists() and not root.is_dir():
            raise InvalidInputError(f"{dest} exists and is not a folder", field="output")
        targets = [(f.digest, f.size, root.joinpath(*safe_artifact_path(f.path, "path")
                                                    .split("/")))
                   for f in manifest.files]
        progress = progress or NO_PROGRESS
        progress.start("downloading", sum(size for _, size, _ in targets) or None)
        self._fetch(targets, progress)
        return [target for _, _, target in targets]

    def _fetch(self, targets: list[tuple[str, int, Path]], progress: Progress) -> None:
        """Write each (digest, size, path): packed files from their packs, the rest from
        their own blobs, in parallel."""
        for _, _, target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        located = self.store.pack_locations(digest for digest, _, _ in targets)
        by_digest: dict[str, list[Path]] = {}
        for digest, _, target in targets:
            by_digest.setdefault(digest, []).append(target)
        for digest, data in packs.read_packed(self.content, located, list(located)):
            for target in by_digest[digest]:
                packs.write_file(target, data)
                progress.advance(len(data))
        loose = [item for item in targets if item[0] not in located]

        def fetch(item: tuple[str, int, Path]) -> None:
            digest, size, target = item
            self.content.get_file(digest, target)
            progress.advance(size)

        if loose:
            with ThreadPoolExecutor(max(1, min(self.threads, len(loose)))) as pool:
                for _ in pool.map(fetch, loose):
                    pass

    def read_table(self, ref: str) -> pa.Table:
        """A tabular version (a table, or a CSV/Parquet file) as an Arrow table."""
        version = self.resolve(ref)
        files = self.manifest(version).files
        if version.kind is DatasetKind.FOLDER or not tabular.is_tabular_file(files[0].path):
            raise InvalidInputError(
                f"{version.ref} is a {version.kind} of {version.file_count} file(s), not a "
                f"table; `shipyard data get {version.ref} -o DIR` writes its files",
                field="ref")
        import tempfile

        with tempfile.TemporaryDirectory(prefix="shipyard-load-") as folder:
            target = Path(folder) / Path(files[0].path).name
            self._fetch([(files[0].digest, files[0].size, target)], NO_PROGRESS)
            table = tabular.read_table_file(target)
            # CSV/Parquet readers may map the file lazily: copy into memory before it goes.
            return table.combine_chunks() if table.num_rows else table

    # -- Lineage -----------------------------------------------------------------------------

    def log_run_dataset(self, run_id: str, ref: str | DatasetVersion,
                        role: DatasetRole = DatasetRole.INPUT) -> RunDataset:
        version = ref if isinstance(ref, DatasetVersion) else self.resolve(ref)
        try:
            role = DatasetRole(role)
        except ValueError:
            raise InvalidInputError(f"role {role!r} must be 'input' or 'output'",
                                    field="role") from None
        self.store.log_run_dataset(run_id, version.name, version.version, role)
        return RunDataset(run_id, version.name, version.version, version.digest, role)

    def run_datasets(self, run_id: str) -> list[RunDataset]:
        return self.store.run_datasets(run_id)

    def dataset_runs(self, ref: str) -> list[RunDataset]:
        """Runs that used the version ``ref`` names; every version for a bare name."""
        parsed = parse_dataset_ref(ref)
        if "@" not in ref:
            if self.store.latest_version(parsed.name) is None:
                raise NotFoundError(f"dataset {parsed.name!r} does not exist", field="ref")
            return self.store.dataset_runs(parsed.name)
        version = self.store.resolve(parsed)
        return self.store.dataset_runs(version.name, version.version)


def open_dataset_service(tracking_uri: str | None = None,
                         artifacts_uri: str | None = None) -> DatasetService:
    """The service over the stores the URIs (or the settings) name, without opening the
    tracking store: commands that only touch datasets start faster."""
    from shipyard.artifacts import open_content_store
    from shipyard.errors import InvalidStateError
    from shipyard.store.data.sql import SqlDatasetStore
    from shipyard.store.db import create_db_engine

    tracking = tracking_uri or settings.tracking_uri()
    if tracking.startswith(("http://", "https://")):
        raise InvalidStateError(
            "dataset versions are read and written next to the metadata database and artifact "
            "store; the tracking URI names a server, so set SHIPYARD_TRACKING_URI to the "
            "server's database URL and SHIPYARD_ARTIFACTS_URI to its artifact store",
            field="tracking_uri")
    store = SqlDatasetStore(create_db_engine(tracking))
    return DatasetService(store, open_content_store(artifacts_uri or settings.artifacts_uri()))
