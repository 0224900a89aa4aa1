"""Packing small files: many small files go into a few pack blobs instead of one blob each.

Creating a file per blob is what makes storing a folder of 20,000 small files slow on every
file system and object store; a pack is one write. A pack is an ordinary content-addressed blob
(the bytes of its files, back to back); where each file sits is recorded in ``pack_entries``
with the version, in the same transaction. Manifests stay pure content -- path, digest, size --
so a version's digest does not depend on how its bytes happen to be stored.

Files are packed only when an add stores at least :data:`PACK_MIN_FILES` new small ones, so a
version that changes a single file still stores that file as a blob of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from shipyard.artifacts.content import ContentStore, hash_bytes
from shipyard.entities.dataset import PackLocation
from shipyard.errors import BackendError

PACK_FILE_LIMIT = 256 << 10
"""Files smaller than this may be packed."""
PACK_MIN_FILES = 32
"""Fewer new small files than this are stored as blobs of their own."""
PACK_TARGET = 64 << 20
"""A pack is closed once it holds this many bytes."""


def split_packable(missing: Mapping[str, tuple[Path, int]]) -> tuple[list[str], list[str]]:
    """(digests to pack, digests to store as blobs of their own)."""
    small = [d for d, (_, size) in missing.items() if size < PACK_FILE_LIMIT]
    if len(small) < PACK_MIN_FILES:
        return [], list(missing)
    chosen = set(small)
    return small, [d for d in missing if d not in chosen]


def write_packs(content: ContentStore, files: Mapping[str, tuple[Path, int]],
                digests: list[str], on_stored: Callable[[int], object] | None = None
                ) -> dict[str, PackLocation]:
    """Store the files of ``digests`` in packs; returns where each one went."""
    placed: dict[str, PackLocation] = {}
    for batch in _batches(digests, files):
        buffer = bytearray()
        offsets: list[tuple[str, int, int]] = []
        for digest in batch:
            path, _ = files[digest]
            with open(path, "rb") as reader:
                data = reader.read()
            offsets.append((digest, len(buffer), len(data)))
            buffer += data
        pack = content.put_bytes(bytes(buffer)).digest
        for digest, offset, size in offsets:
            placed[digest] = PackLocation(pack, offset, size)
        if on_stored is not None:
            on_stored(len(buffer))
    return placed


def _batches(digests: list[str], files: Mapping[str, tuple[Path, int]]) -> Iterator[list[str]]:
    batch: list[str] = []
    total = 0
    for digest in digests:
        batch.append(digest)
        total += files[digest][1]
        if total >= PACK_TARGET:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


def read_packed(content: ContentStore, locations: Mapping[str, PackLocation],
                digests: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """The bytes of each packed digest, one pack open at a time, each checked against its
    digest (a pack is read in slices, so a damaged one is caught per file)."""
    by_pack: dict[str, list[str]] = {}
    for digest in digests:
        by_pack.setdefault(locations[digest].pack, []).append(digest)
    for pack, members in by_pack.items():
        with content.open(pack) as reader:
            for digest in sorted(members, key=lambda d: locations[d].offset):
                where = locations[digest]
                reader.seek(where.offset)
                data = reader.read(where.size)
                if len(data) != where.size or hash_bytes(data).digest != digest:
                    raise BackendError(f"pack {pack} is damaged: the file {digest} inside it "
                                       "does not match its digest")
                yield digest, data


def write_file(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that it appears whole or not at all."""
    temp = target.with_name(f".{target.name}.shipyard-part")
    with open(temp, "wb") as writer:
        writer.write(data)
    os.replace(temp, target)
