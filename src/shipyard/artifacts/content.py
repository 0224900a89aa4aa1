"""Content addressing, written once above every byte backend.

A blob is stored under the BLAKE3 digest of its bytes, at ``blobs/<2 hex>/<62 hex>``, so each
distinct content is kept once however many runs log it, and a digest recorded in the metadata
always names the same bytes. Blobs are never overwritten: a blob already present is not sent
again.
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shipyard.artifacts.backend import ByteStore
from shipyard.errors import InvalidInputError, NotFoundError, ShipyardError

CHUNK = 1 << 20
"""Bytes read per step when hashing a file: memory stays flat whatever the file's size."""
_THREADED_FROM = 8 * CHUNK  # multithreaded hashing pays off only on larger files
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored content: its BLAKE3 hex digest and its size in bytes."""

    digest: str
    size: int


def hash_bytes(data: bytes) -> Blob:
    from blake3 import blake3

    return Blob(blake3(data).hexdigest(), len(data))


def hash_file(path: str | os.PathLike[str]) -> Blob:
    """Digest a file by streaming it in chunks; the size is what was actually read."""
    from blake3 import blake3

    source = Path(path)
    try:
        with source.open("rb") as file:
            big = os.fstat(file.fileno()).st_size >= _THREADED_FROM
            hasher = blake3(max_threads=blake3.AUTO) if big else blake3()
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            size = 0
            while read := file.readinto(buffer):
                hasher.update(view[:read])
                size += read
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise InvalidInputError(f"{source} is not a file", field="local_path") from None
    return Blob(hasher.hexdigest(), size)


def check_digest(digest: object) -> str:
    """A BLAKE3 hex digest: 64 lowercase hex characters."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidInputError(
            f"digest {digest!r} is not a BLAKE3 hex digest (64 lowercase hex characters)",
            field="digest",
        )
    return digest


def blob_key(digest: str) -> str:
    digest = check_digest(digest)
    return f"blobs/{digest[:2]}/{digest[2:]}"


class ContentStore:
    """Blobs by digest over a :class:`ByteStore`; every backend gets the same addressing."""

    def __init__(self, backend: ByteStore) -> None:
        self.backend = backend

    def __repr__(self) -> str:
        return f"ContentStore({self.backend.url!r})"

    def put_file(self, path: str | os.PathLike[str]) -> Blob:
        """Store a file's content once; the file must not change while it is stored."""
        source = Path(path)
        before = _stamp(source)
        blob = hash_file(source)
        key = blob_key(blob.digest)
        uploaded = not self.backend.exists(key)
        if uploaded:
            self.backend.put_file(key, source)
        if _stamp(source) != before:
            if uploaded:  # what went up may not match its digest: never keep it
                with suppress(ShipyardError):
                    self.backend.delete(key)
            raise InvalidInputError(
                f"{source} changed while it was being stored; store it again once it is "
                "complete", field="local_path",
            )
        return blob

    def put_bytes(self, data: bytes) -> Blob:
        blob = hash_bytes(data)
        key = blob_key(blob.digest)
        if not self.backend.exists(key):
            self.backend.put_bytes(key, data)
        return blob

    def exists(self, digest: str) -> bool:
        return self.backend.exists(blob_key(digest))

    def open(self, digest: str) -> BinaryIO:
        """A streaming reader of the blob; close it (or use ``with``)."""
        key = blob_key(digest)
        try:
            return self.backend.open(key)
        except NotFoundError:
            raise self._missing(digest) from None

    def read_bytes(self, digest: str) -> bytes:
        with self.open(digest) as reader:
            return reader.read()

    def get_file(self, digest: str, dest_path: str | os.PathLike[str]) -> None:
        """Write the blob to ``dest_path``, which appears whole or not at all."""
        key = blob_key(digest)
        try:
            self.backend.get_file(key, dest_path)
        except NotFoundError:
            raise self._missing(digest) from None

    def size(self, digest: str) -> int:
        key = blob_key(digest)
        try:
            return self.backend.size(key)
        except NotFoundError:
            raise self._missing(digest) from None

    def _missing(self, digest: str) -> NotFoundError:
        return NotFoundError(
            f"no blob {digest} in artifact store {self.backend.url}", field="digest"
        )


def _stamp(path: Path) -> tuple[int, int] | None:
    """Size and modification time, to notice a file written to while it is stored."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns
