"""Content addressing, written once above every byte backend.

A blob is stored under the BLAKE3 digest of its bytes, at ``blobs/<2 hex>/<62 hex>``, so each
distinct content is kept once however many runs log it, and a digest recorded in the metadata
always names the same bytes. Blobs are never overwritten: a blob already present is not sent
again.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shipyard.artifacts.backend import TEMP_MARK, ByteStore
from shipyard.errors import InvalidInputError, NotFoundError, ShipyardError

CHUNK = 1 << 20
"""Bytes read per step when hashing a file: memory stays flat whatever the file's size."""
_THREADED_FROM = 8 * CHUNK  # multithreaded hashing pays off only on larger files
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_LOCAL_THREADS = 2  # file creation is bound by the file system journal; more threads gained nothing
_LOCAL_CHUNK = 256


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

    def missing(self, digests: Iterable[str], threads: int = 16) -> list[str]:
        """The digests of ``digests`` that are not stored yet, in their order."""
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return []
        local = self.backend.local_path("blobs")
        if local is not None:  # a stat per blob beats any listing
            check_digest(wanted[0])
            root = str(local)
            isfile = os.path.isfile
            return [d for d in wanted if not isfile(f"{root}/{d[:2]}/{d[2:]}")]
        with ThreadPoolExecutor(max(1, threads)) as pool:
            present = list(pool.map(self.exists, wanted))
        return [d for d, here in zip(wanted, present, strict=True) if not here]

    def put_files_as(
        self,
        items: Sequence[tuple[str, Path]],
        threads: int = 16,
        on_stored: Callable[[int], object] | None = None,
    ) -> None:
        """Store each file under the digest the caller computed for it, in parallel.

        The caller vouches for the digests (it hashed the files and checks afterwards that they
        did not change); ``on_stored(size)`` is called once per stored file.
        """
        if not items:
            return
        if self.backend.local_path(blob_key(items[0][0])) is not None:
            self._put_local(items, on_stored)
            return

        def store(item: tuple[str, Path]) -> None:
            digest, source = item
            self.backend.put_file(blob_key(digest), source)
            if on_stored is not None:
                on_stored(source.stat().st_size)

        with ThreadPoolExecutor(max(1, min(threads, len(items)))) as pool:
            for _ in pool.map(store, items):
                pass

    def _put_local(self, items: Sequence[tuple[str, Path]],
                   on_stored: Callable[[int], object] | None) -> None:
        """Copy files into a local store. Creating files is bound by the file system, so a few
        threads overlap it; more only contend for the GIL. Strings, not pathlib, on this path:
        it runs once per file."""
        root = str(self._local_root())
        for prefix in {digest[:2] for digest, _ in items}:
            os.makedirs(f"{root}/{prefix}", exist_ok=True)

        def store(chunk: Sequence[tuple[str, Path]]) -> None:
            suffix = f".{os.getpid()}.{threading.get_ident()}"
            for digest, source in chunk:
                target = f"{root}/{digest[:2]}/{digest[2:]}"
                temp = f"{root}/{digest[:2]}/{TEMP_MARK}{digest[2:]}{suffix}"
                try:
                    size = _copy(os.fspath(source), temp)
                    os.replace(temp, target)
                except BaseException:
                    with suppress(OSError):
                        os.unlink(temp)
                    raise
                if on_stored is not None:
                    on_stored(size)

        chunks = [items[i:i + _LOCAL_CHUNK] for i in range(0, len(items), _LOCAL_CHUNK)]
        if len(chunks) == 1:
            store(chunks[0])
            return
        with ThreadPoolExecutor(min(_LOCAL_THREADS, len(chunks))) as pool:
            for _ in pool.map(store, chunks):
                pass

    def _local_root(self) -> Path:
        path = self.backend.local_path("blobs")
        assert path is not None
        return path

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


def _copy(source: str, target: str) -> int:
    """Copy a file; small ones with one read and one write (cheaper than copyfile's checks)."""
    try:
        size = os.stat(source).st_size
        if size >= CHUNK:
            shutil.copyfile(source, target)
            return size
        with open(source, "rb") as reader:
            data = reader.read()
        with open(target, "wb") as writer:
            writer.write(data)
        return len(data)
    except FileNotFoundError:
        if not os.path.exists(source):
            raise InvalidInputError(f"{source} disappeared while it was being stored",
                                    field="path") from None
        raise


def _stamp(path: Path) -> tuple[int, int] | None:
    """Size and modification time, to notice a file written to while it is stored."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns
