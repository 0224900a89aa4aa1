"""The backup archive of an embedded store: one tar file, read and written by one definition.

Members, in this order::

    shipyard-backup.json         the manifest below (first, so a wrong file is rejected at once)
    shipyard.db                  a consistent SQLite snapshot (online backup API)
    artifacts/blobs/ab/cdef...   every file of the artifacts folder, copied after the snapshot

The archive is a plain tar (``.tar``) or a gzip-compressed one (``.tar.gz``/``.tgz``), so
``tar -xf`` opens it by hand too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidInputError

MANIFEST = "shipyard-backup.json"
DATABASE = "shipyard.db"
ARTIFACTS = "artifacts"
FORMAT = "shipyard-backup"
FORMAT_VERSION = 1
SUFFIXES = {".tar": False, ".tar.gz": True, ".tgz": True}
"""Archive name endings, and whether each one is gzip-compressed."""


def is_compressed(name: str) -> bool:
    """Whether an output file name asks for gzip; ``InvalidInputError`` for another ending."""
    for suffix, compressed in SUFFIXES.items():
        if name.endswith(suffix):
            return compressed
    raise InvalidInputError(
        f"backup file {name!r} must end in .tar, or .tar.gz / .tgz for a compressed one",
        field="--output")


@dataclass(frozen=True, slots=True)
class BackupManifest:
    """What a backup holds, written first in the archive and checked again on restore.

    ``tables`` counts the rows of every table of the snapshot; ``artifact_files`` and
    ``artifact_bytes`` count the artifacts folder's files as archived.
    """

    shipyard_version: str
    schema_revision: str | None
    created_time_ms: int
    database_bytes: int
    tables: dict[str, int] = field(default_factory=dict)
    artifact_files: int = 0
    artifact_bytes: int = 0

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "shipyard_version": self.shipyard_version,
            "schema_revision": self.schema_revision,
            "created_time_ms": self.created_time_ms,
            "database": {"member": DATABASE, "bytes": self.database_bytes,
                         "tables": self.tables},
            "artifacts": {"member": ARTIFACTS, "files": self.artifact_files,
                          "bytes": self.artifact_bytes},
        }
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, source: str) -> BackupManifest:
        """Parse a manifest; ``InvalidInputError`` naming ``source`` when it is not one."""
        try:
            body: dict[str, Any] = json.loads(data)
            if body.get("format") != FORMAT:
                raise ValueError(f"format is {body.get('format')!r}")
            version = body.get("format_version")
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise InvalidInputError(
                    f"{source} is a Shipyard backup of format {version!r}, newer than this "
                    f"Shipyard reads ({FORMAT_VERSION}); upgrade Shipyard to restore it",
                    field="FILE")
            database, artifacts = body["database"], body["artifacts"]
            revision = body.get("schema_revision")
            return cls(
                shipyard_version=str(body["shipyard_version"]),
                schema_revision=None if revision is None else str(revision),
                created_time_ms=int(body["created_time_ms"]),
                database_bytes=int(database["bytes"]),
                tables={str(k): int(v) for k, v in database["tables"].items()},
                artifact_files=int(artifacts["files"]),
                artifact_bytes=int(artifacts["bytes"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInputError(
                f"{source} is not a Shipyard backup: its {MANIFEST} is not valid ({exc})",
                field="FILE") from None
