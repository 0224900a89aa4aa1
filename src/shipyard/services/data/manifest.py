"""The manifest of a dataset version: every file with its digest, stored as one blob.

The manifest is canonical JSON (files sorted by path, no whitespace), so the same content
always gives the same bytes and so the same digest -- the version's identity::

    {"format": 1, "kind": "folder", "files": [["a/b.csv", "<blake3 hex>", 4096], ...]}

Paths are relative to the version's root, '/'-separated, and never contain '..'.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from shipyard.artifacts.content import Blob, ContentStore, hash_bytes
from shipyard.entities.dataset import DatasetFile, DatasetKind
from shipyard.errors import BackendError

FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    kind: DatasetKind
    files: tuple[DatasetFile, ...]

    @classmethod
    def build(cls, kind: DatasetKind, files: Iterable[DatasetFile]) -> Manifest:
        return cls(kind, tuple(sorted(files)))  # tuples sort by path first

    @cached_property
    def data(self) -> bytes:
        body = {"format": FORMAT, "kind": str(self.kind), "files": self.files}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    @cached_property
    def digest(self) -> str:
        return hash_bytes(self.data).digest

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @cached_property
    def by_path(self) -> dict[str, DatasetFile]:
        return {f.path: f for f in self.files}


def parse_manifest(data: bytes) -> Manifest:
    try:
        body = json.loads(data)
        if body.get("format") != FORMAT:
            raise ValueError(f"unknown manifest format {body.get('format')!r}")
        kind = DatasetKind(body["kind"])
        files = tuple(DatasetFile._make(row) for row in body["files"])
        if files and not (isinstance(files[0].path, str) and isinstance(files[0].size, int)):
            raise ValueError("files must be [path, digest, size] rows")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackendError(f"dataset manifest is damaged: {exc}") from exc
    return Manifest(kind, files)


def write_manifest(content: ContentStore, manifest: Manifest) -> Blob:
    return content.put_bytes(manifest.data)


def read_manifest(content: ContentStore, digest: str) -> Manifest:
    return parse_manifest(content.read_bytes(digest))
