"""Artifact bytes: a byte backend per fsspec URL under one content-addressed layer.

Layer rule: this package imports only ``shipyard.errors``, ``shipyard.settings``,
``shipyard.entities`` and third-party libraries; fsspec, s3fs and blake3 are imported lazily so
``import shipyard`` stays fast.
"""

from __future__ import annotations

from shipyard.artifacts.backend import ByteStore
from shipyard.artifacts.content import Blob, ContentStore, hash_bytes, hash_file
from shipyard.artifacts.paths import join_artifact_path, safe_artifact_path

__all__ = [
    "Blob",
    "ByteStore",
    "ContentStore",
    "hash_bytes",
    "hash_file",
    "join_artifact_path",
    "open_content_store",
    "safe_artifact_path",
]


def open_content_store(url: str) -> ContentStore:
    """The content store at an artifact URL (``settings.artifacts_uri()`` gives the default)."""
    return ContentStore(ByteStore(url))
