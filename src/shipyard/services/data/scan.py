"""Finding the files of a local path and their digests, re-reading only what changed.

Digests of files whose inode, mtime and size are unchanged come from the :class:`StatCache`;
the rest are hashed in parallel threads (BLAKE3 and file reads release the GIL), large files
memory-mapped and hashed on every core.
"""

from __future__ import annotations

import os
import stat as stat_module
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from shipyard.entities.dataset import DatasetFile, DatasetKind
from shipyard.errors import InvalidInputError
from shipyard.services.data.stat_cache import FileStat, StatCache

_MMAP_FROM = 4 << 20  # below this, one read() is cheaper than a memory map
_BATCH = 64  # files per hashing task: amortises the thread pool's per-task cost
# Below this average size hashing is bound by the interpreter, and threads only contend for
# the GIL: one thread is faster (measured: 20,000 x 4 KiB, 0.26 s on 1 thread, 0.51 s on 16).
_THREADS_FROM_AVERAGE = 256 << 10


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file found under the source: its path in the version, on disk, and its stat."""

    path: str
    abspath: str
    stat: FileStat


@dataclass(frozen=True, slots=True)
class Scan:
    root: Path
    kind: DatasetKind
    files: list[LocalFile]
    started_ns: int

    @property
    def size(self) -> int:
        return sum(f.stat.size for f in self.files)


def _file_stat(st: os.stat_result) -> FileStat:
    return FileStat(st.st_ino, st.st_mtime_ns, st.st_size)


def scan(source: str | os.PathLike[str]) -> Scan:
    """The regular files of a file or folder (symlinks to files are followed)."""
    started = time.time_ns()
    root = Path(source).expanduser().absolute()
    try:
        st = root.stat()
    except FileNotFoundError:
        raise InvalidInputError(f"{source} does not exist", field="path") from None
    except PermissionError:
        raise InvalidInputError(f"{source} cannot be read: permission denied",
                                field="path") from None
    if stat_module.S_ISREG(st.st_mode):
        return Scan(root, DatasetKind.FILE, [LocalFile(root.name, str(root), _file_stat(st))],
                    started)
    if not stat_module.S_ISDIR(st.st_mode):
        raise InvalidInputError(f"{source} is neither a file nor a folder", field="path")
    files = sorted(_walk(str(root), ""), key=lambda f: f.path)
    if not files:
        raise InvalidInputError(f"folder {source} holds no files; a dataset version needs at "
                                "least one", field="path")
    return Scan(root, DatasetKind.FOLDER, files, started)


def _walk(folder: str, prefix: str) -> Iterator[LocalFile]:
    try:
        entries = list(os.scandir(folder))
    except PermissionError:
        raise InvalidInputError(f"folder {folder} cannot be read: permission denied",
                                field="path") from None
    for entry in entries:
        rel = prefix + entry.name
        if entry.is_dir():  # follows symlinks to folders, like `cp -r` of a tree
            yield from _walk(entry.path, rel + "/")
        elif entry.is_file():
            yield LocalFile(rel, entry.path, _file_stat(entry.stat()))
        elif entry.is_symlink():
            raise InvalidInputError(f"{entry.path} is a broken symbolic link: fix or remove it",
                                    field="path")


def hash_one(path: str, size: int) -> str:
    from blake3 import blake3

    try:
        if size >= _MMAP_FROM:
            hasher = blake3(max_threads=blake3.AUTO)
            hasher.update_mmap(path)
            return str(hasher.hexdigest())
        with open(path, "rb") as file:
            return str(blake3(file.read()).hexdigest())
    except PermissionError:
        raise InvalidInputError(f"{path} cannot be read: permission denied",
                                field="path") from None
    except FileNotFoundError:
        raise InvalidInputError(f"{path} disappeared while it was being read",
                                field="path") from None


def digest_files(
    found: Scan,
    cache: StatCache,
    threads: int,
    on_hashed: Callable[[int], object] | None = None,
    hashed_already: dict[str, str] | None = None,
    known: dict[str, tuple[int, int, int, str]] | None = None,
) -> tuple[list[DatasetFile], int]:
    """Each file with its digest, and how many files had to be read (``hashed_already``:
    digests by absolute path computed elsewhere, e.g. while copying large files)."""
    if known is None:  # the caller may have read the cache already
        known = cache.under(found.root)
    digests: dict[str, str] = {}
    todo: list[LocalFile] = []
    early = hashed_already or {}
    for f in found.files:
        hit = known.get(f.abspath)
        if hit is not None and hit[:3] == f.stat:
            digests[f.abspath] = hit[3]
        elif f.abspath in early:
            digests[f.abspath] = early[f.abspath]
        else:
            todo.append(f)

    def work(batch: list[LocalFile]) -> list[tuple[LocalFile, str]]:
        out = [(f, hash_one(f.abspath, f.stat.size)) for f in batch]
        if on_hashed is not None:
            on_hashed(sum(f.stat.size for f in batch))
        return out

    batches = [todo[i:i + _BATCH] for i in range(0, len(todo), _BATCH)]
    fresh: list[tuple[LocalFile, str]] = []
    small = sum(f.stat.size for f in todo) < _THREADS_FROM_AVERAGE * max(1, len(todo))
    if small:
        for batch in batches:
            fresh.extend(work(batch))
    elif len(batches) == 1:
        fresh = work(batches[0])
    elif batches:
        with ThreadPoolExecutor(max(1, min(threads, len(batches)))) as pool:
            for part in pool.map(work, batches):
                fresh.extend(part)
    for f, digest in fresh:
        digests[f.abspath] = digest
    fresh += [(f, early[f.abspath]) for f in found.files if f.abspath in early]
    cache.remember(((f.abspath, f.stat, d) for f, d in fresh), found.started_ns)
    files = [DatasetFile(f.path, digests[f.abspath], f.stat.size) for f in found.files]
    return files, len(fresh)


def changed_since_scan(found: Scan) -> list[str]:
    """Paths of files that changed (or vanished) after they were scanned."""
    changed = []
    for f in found.files:
        try:
            now = _file_stat(os.stat(f.abspath))
        except OSError:
            changed.append(f.path)
            continue
        if now != f.stat:
            changed.append(f.path)
    return changed
