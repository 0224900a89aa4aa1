from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """A file or folder in a run's artifact tree. Folders have no digest and no size."""

    path: str
    is_dir: bool
    size: int | None = None
    digest: str | None = None  # BLAKE3 hex digest of the content
