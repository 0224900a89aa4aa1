"""Listing stored files with their size and age, and deleting many at once: for maintenance.

:class:`~shipyard.artifacts.backend.ByteStore` lists keys only, which is all the tracking path
needs. Garbage collection also needs each blob's modification time (a young blob may belong to
an upload whose metadata row is not written yet), and deletes in bulk (one S3 request per 1000
keys instead of two per key). Both come from the fsspec filesystem under the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipyard.artifacts.backend import TEMP_MARK, ByteStore
from shipyard.errors import BackendError


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file of a byte store: its key, size, and modification time (epoch seconds) when the
    backend reports one."""

    key: str
    size: int
    modified: float | None


# Backends name the modification time differently: local and sftp 'mtime', S3 'LastModified',
# Azure 'last_modified', GCS 'updated' (ISO text), memory:// only 'created'.
_TIME_FIELDS = ("mtime", "LastModified", "last_modified", "updated", "created")


def modified_time(info: dict[str, Any]) -> float | None:
    """The modification time in an fsspec ``info`` dict as epoch seconds, or None."""
    for name in _TIME_FIELDS:
        value = info.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _fs(store: ByteStore) -> tuple[Any, str]:
    return store._fs, store._root  # this module is the store's maintenance side


def list_files(store: ByteStore, folder: str) -> Iterator[StoredFile]:
    """Every file under ``folder`` (a key prefix ending at a '/' boundary), in key order.

    One recursive listing (a paginated ``ListObjectsV2`` on S3); in-flight local writes
    (:data:`~shipyard.artifacts.backend.TEMP_MARK`) are left out.
    """
    fs, root = _fs(store)
    base = f"{root}/{folder.strip('/')}"
    try:
        fs.invalidate_cache(base)
        found: dict[str, dict[str, Any]] = fs.find(base, detail=True)
    except FileNotFoundError:
        return
    except Exception as exc:
        raise BackendError(f"cannot list {folder!r} in artifact store {store.url}: "
                           f"{type(exc).__name__}: {exc}") from exc
    start = len(root) + 1
    for path in sorted(found):
        info = found[path]
        key = str(path)[start:]
        if info.get("type", "file") != "file" or key.rpartition("/")[2].startswith(TEMP_MARK):
            continue
        yield StoredFile(key, int(info.get("size") or 0), modified_time(info))


def delete_files(store: ByteStore, keys: Sequence[str]) -> None:
    """Delete these keys in as few requests as the backend allows; missing keys are fine."""
    if not keys:
        return
    fs, _root = _fs(store)
    paths = [store._path(key) for key in keys]  # checks each key
    try:
        try:
            fs.rm(paths)
        except FileNotFoundError:  # another process removed one: remove the rest one by one
            for path in paths:
                with suppress(FileNotFoundError):
                    fs.rm_file(path)
    except Exception as exc:
        raise BackendError(f"cannot delete files in artifact store {store.url}: "
                           f"{type(exc).__name__}: {exc}") from exc
