"""``shipyard-model.json``: what a model package holds and how to load it.

One JSON object at the package's root::

    {"format_version": 1, "flavor": "sklearn", "loader": {...flavor's own...},
     "signature": {"inputs": {...}, "outputs": {...}} | null,
     "input_example": "input_example.parquet" | null,
     "files": [{"path": "model/model.skops", "digest": "<blake3 hex>", "size": 1234}, ...],
     "environment": {"python": "3.11.7", "platform": ..., "packages": {name: version}},
     "runtime_packages": {"scikit-learn": "1.5.2", "skops": "0.10.0"},
     "run_id": "..." | null, "requires_trust": false, "created_time": <epoch ms>}

``files`` lists every file of the package except the manifest, sorted by path. The package's
identity, :attr:`PackageManifest.digest`, is the BLAKE3 digest of the manifest's canonical JSON
(sorted keys, no whitespace) **without** ``created_time``: saving the same files with the same
signature, environment and run again gives the same digest, while any changed byte of any file
changes it (through that file's digest).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from shipyard.artifacts.content import hash_bytes
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.models.errors import CorruptedPackageError
from shipyard.models.signature import Signature

MANIFEST_NAME = "shipyard-model.json"
FORMAT_VERSION = 1
"""The newest manifest format this Shipyard reads and the one it writes."""


@dataclass(frozen=True, slots=True)
class PackageFile:
    path: str
    """Relative to the package root, '/'-separated."""
    digest: str
    size: int


@dataclass(frozen=True)
class PackageManifest:
    flavor: str
    loader: Mapping[str, Any]
    """The flavor's own loading instructions (file names, class paths); JSON values only."""
    files: tuple[PackageFile, ...]
    environment: Mapping[str, Any]
    """Where it was saved: :func:`shipyard.services.run_context.capture_environment`."""
    runtime_packages: Mapping[str, str]
    """The distributions that loading and scoring it needs, at the versions it was saved with."""
    requires_trust: bool
    """True when loading runs code from the package: a pickle, or types skops does not trust."""
    created_time: int
    signature: Signature | None = None
    input_example: str | None = None
    run_id: str | None = None
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "flavor": self.flavor,
            "loader": dict(self.loader),
            "signature": self.signature.to_dict() if self.signature else None,
            "input_example": self.input_example,
            "files": [{"path": f.path, "digest": f.digest, "size": f.size} for f in self.files],
            "environment": dict(self.environment),
            "runtime_packages": dict(self.runtime_packages),
            "run_id": self.run_id,
            "requires_trust": self.requires_trust,
            "created_time": self.created_time,
        }

    def to_json(self) -> bytes:
        """The manifest file's bytes: sorted keys and indented, for people and diffs."""
        return (json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False,
                           allow_nan=False) + "\n").encode()

    @cached_property
    def digest(self) -> str:
        """The package's identity (see the module's documentation)."""
        body = self.to_dict()
        del body["created_time"]
        return hash_bytes(canonical_json(body)).digest

    @cached_property
    def by_path(self) -> dict[str, PackageFile]:
        return {f.path: f for f in self.files}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def parse_manifest(data: bytes) -> PackageManifest:
    try:
        body = json.loads(data)
        version = body["format_version"]
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CorruptedPackageError(
                f"the package was written in manifest format {version!r}; this Shipyard reads "
                f"up to {FORMAT_VERSION}: upgrade shipyard-mlops to load it", field=MANIFEST_NAME)
        signature = body.get("signature")
        return PackageManifest(
            flavor=str(body["flavor"]),
            loader=dict(body["loader"]),
            files=tuple(PackageFile(str(f["path"]), str(f["digest"]), int(f["size"]))
                        for f in body["files"]),
            environment=dict(body.get("environment") or {}),
            runtime_packages={str(k): str(v)
                              for k, v in (body.get("runtime_packages") or {}).items()},
            requires_trust=bool(body["requires_trust"]),
            created_time=int(body["created_time"]),
            signature=Signature.from_dict(signature) if signature is not None else None,
            input_example=body.get("input_example"),
            run_id=body.get("run_id"),
            format_version=version,
        )
    except CorruptedPackageError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, InvalidInputError) as exc:
        raise CorruptedPackageError(f"corrupted package: {MANIFEST_NAME} is unreadable: {exc}",
                                    field=MANIFEST_NAME) from None


def read_manifest(root: str | os.PathLike[str]) -> PackageManifest:
    path = Path(root) / MANIFEST_NAME
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(f"{root} is not a model package: it has no {MANIFEST_NAME}",
                            field="path") from None
    return parse_manifest(data)


def write_manifest(root: str | os.PathLike[str], manifest: PackageManifest) -> None:
    (Path(root) / MANIFEST_NAME).write_bytes(manifest.to_json())
