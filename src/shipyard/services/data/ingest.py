"""Adding a dataset version: hash, store the missing blobs, store the manifest, then commit.

The order makes an interrupted add harmless: blobs and the manifest are content-addressed and
go up first; the version exists only once its metadata row is committed, in one transaction.
A killed ``data add`` leaves at worst unreferenced blobs, which ``shipyard gc`` removes.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard import settings
from shipyard.artifacts.content import ContentStore, blob_key
from shipyard.entities.dataset import (
    DatasetFile,
    DatasetKind,
    DatasetVersion,
    PackLocation,
    check_dataset_name,
)
from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.services.data import big_files, packs, tabular
from shipyard.services.data.manifest import Manifest, write_manifest
from shipyard.services.data.scan import Scan, changed_since_scan, digest_files, scan
from shipyard.services.data.stat_cache import StatCache
from shipyard.services.progress import NO_PROGRESS, Progress
from shipyard.store.data.protocol import DatasetStore


@dataclass(frozen=True)
class AddResult:
    """What an add did: the version, whether it is new, and what had to be read and sent."""

    version: DatasetVersion
    created: bool
    files_hashed: int
    blobs_stored: int
    bytes_stored: int


@dataclass
class Ingest:
    store: DatasetStore
    content: ContentStore
    cache: StatCache
    user: str
    threads: int = 0

    def __post_init__(self) -> None:
        self.threads = self.threads or settings.data_threads()

    def add_path(self, path: str | os.PathLike[str], name: str, *,
                 description: str | None = None, profile: bool = True,
                 progress: Progress | None = None) -> AddResult:
        check_dataset_name(name)
        progress = progress or NO_PROGRESS
        found = scan(path)
        progress.start("hashing", found.size or None)
        cached = self.cache.under(found.root)
        uncached = [f for f in found.files
                    if (hit := cached.get(f.abspath)) is None or hit[:3] != f.stat]
        early, early_stored = big_files.copy_while_hashing(self.content, uncached)
        files, hashed = digest_files(found, self.cache, self.threads, progress.advance, early,
                                     cached)
        facts = None
        if found.kind is DatasetKind.FILE and tabular.is_tabular_file(found.files[0].abspath):
            progress.start("profiling")
            facts = tabular.facts_of(tabular.read_table_file(found.files[0].abspath),
                                     profile=profile)
        stored, size, placed = self._store_blobs(found, files, progress, early_stored)
        early_set = set(early_stored)
        early_bytes = sum(f.size for f in files if f.digest in early_set)
        return self._commit(name, Manifest.build(found.kind, files), hashed,
                            stored + len(early_stored), size + early_bytes, facts,
                            description, placed)

    def add_table(self, data: Any, name: str, *, description: str | None = None,
                  profile: bool = True, progress: Progress | None = None) -> AddResult:
        check_dataset_name(name)
        progress = progress or NO_PROGRESS
        table = tabular.to_arrow(data)
        progress.start("profiling")
        facts = tabular.facts_of(table, profile=profile)
        with tempfile.TemporaryDirectory(prefix="shipyard-table-") as folder:
            target = Path(folder) / tabular.TABLE_FILE
            tabular.write_parquet(table, target)
            found = scan(target)
            files, hashed = digest_files(found, _NO_CACHE, 1)
            stored, size, placed = self._store_blobs(found, files, progress)
        manifest = Manifest.build(DatasetKind.TABLE, files)
        return self._commit(name, manifest, hashed, stored, size, facts, description, placed)

    def _store_blobs(self, found: Scan, files: list[DatasetFile], progress: Progress,
                     stored_early: list[str] | None = None
                     ) -> tuple[int, int, dict[str, PackLocation]]:
        """Store what is not stored yet: small files in packs, the rest as blobs. Returns the
        number of blobs written, their bytes, and where newly packed files went."""
        by_digest: dict[str, tuple[Path, int]] = {}
        for local, f in zip(found.files, files, strict=True):
            by_digest.setdefault(f.digest, (Path(local.abspath), f.size))
        loose_missing = self.content.missing(by_digest, self.threads)
        packed_before = self.store.pack_locations(loose_missing)
        missing = {d: by_digest[d] for d in loose_missing if d not in packed_before}
        total = sum(size for _, size in missing.values())
        progress.start("storing", total or None)
        to_pack, loose = packs.split_packable(missing)
        placed = packs.write_packs(self.content, missing, to_pack, progress.advance)
        self.content.put_files_as([(d, missing[d][0]) for d in loose], self.threads,
                                  progress.advance)
        changed = changed_since_scan(found)
        if changed:
            self._forget([*loose, *{loc.pack for loc in placed.values()},
                          *(stored_early or [])])
            raise InvalidInputError(
                f"{len(changed)} file(s) changed while the version was being stored (first: "
                f"{changed[0]}); add the dataset again once its files are complete",
                field="path")
        blobs = len(loose) + len({loc.pack for loc in placed.values()})
        return blobs, total, placed

    def _forget(self, digests: list[str]) -> None:
        """Drop blobs this add stored: what went up may not match its digest."""
        for digest in digests:
            with suppress(ShipyardError):
                self.content.backend.delete(blob_key(digest))

    def _commit(self, name: str, manifest: Manifest, hashed: int, stored: int, size: int,
                facts: tabular.TableFacts | None, description: str | None,
                placed: dict[str, PackLocation]) -> AddResult:
        write_manifest(self.content, manifest)
        version, created = self.store.create_version(
            name, digest=manifest.digest, kind=manifest.kind, size=manifest.size,
            file_count=len(manifest.files), created_by=self.user,
            row_count=None if facts is None else facts.row_count,
            columns=None if facts is None else facts.columns,
            profile=None if facts is None else facts.profile,
            description=description, packed=placed,
        )
        return AddResult(version, created, hashed, stored, size)


class _NoCache(StatCache):
    """A cache that remembers nothing, for temporary files."""

    def __init__(self) -> None:
        super().__init__(Path(os.devnull))

    def under(self, root: Path) -> dict[str, Any]:
        return {}

    def remember(self, entries: Any, stat_time_ns: int) -> None:
        return None


_NO_CACHE = _NoCache()
