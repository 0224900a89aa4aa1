"""``data status``: how a local file or folder differs from a dataset's latest version."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from shipyard.entities.dataset import DatasetVersion
from shipyard.services.data.manifest import Manifest
from shipyard.services.data.scan import Scan, digest_files, scan
from shipyard.services.data.stat_cache import StatCache


@dataclass(frozen=True)
class DataStatus:
    """Paths added, removed and modified relative to ``version`` (None: no version yet)."""

    version: DatasetVersion | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    unchanged: int = 0
    files_hashed: int = 0

    @property
    def clean(self) -> bool:
        return self.version is not None and not (self.added or self.removed or self.modified)


def compare_files(old: Manifest, new: Manifest) -> tuple[list[str], list[str], list[str], int]:
    """(added, removed, modified, unchanged count) going from ``old`` to ``new``."""
    before, after = old.by_path, new.by_path
    added = [p for p in after if p not in before]
    removed = [p for p in before if p not in after]
    modified = [p for p, f in after.items() if p in before and before[p].digest != f.digest]
    unchanged = len(after) - len(added) - len(modified)
    return added, removed, modified, unchanged


def local_status(path: str | os.PathLike[str] | Scan, latest: DatasetVersion | None,
                 latest_manifest: Manifest | None, cache: StatCache, threads: int
                 ) -> DataStatus:
    found = path if isinstance(path, Scan) else scan(path)
    files, hashed = digest_files(found, cache, threads)
    current = Manifest.build(found.kind, files)
    if latest is None or latest_manifest is None:
        return DataStatus(None, added=[f.path for f in files], files_hashed=hashed)
    added, removed, modified, unchanged = compare_files(latest_manifest, current)
    return DataStatus(latest, added, removed, modified, unchanged, hashed)
