"""``data status``: how a local file or folder differs from a dataset's latest version."""

from __future__ import annotations

import os
from collections.abc import Callable
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
                 load_manifest: Callable[[DatasetVersion], Manifest], cache: StatCache,
                 threads: int) -> DataStatus:
    """Compare a local path with ``latest``; its manifest is only loaded when a file changed
    since the folder was last hashed."""
    found = path if isinstance(path, Scan) else scan(path)
    stats = [(f.path, *f.stat) for f in found.files]
    known = cache.snapshot(found.root, str(found.kind))
    if latest is not None and known is not None and known[0] == stats \
            and known[1] == latest.digest:
        return DataStatus(latest, unchanged=len(stats))  # every file as when last hashed
    files, hashed = digest_files(found, cache, threads)
    current = Manifest.build(found.kind, files)
    cache.remember_snapshot(found.root, str(found.kind), stats, current.digest,
                            found.started_ns)
    if latest is None:
        return DataStatus(None, added=[f.path for f in files], files_hashed=hashed)
    added, removed, modified, unchanged = compare_files(load_manifest(latest), current)
    return DataStatus(latest, added, removed, modified, unchanged, hashed)
