"""Dataset versions: immutable, content-addressed snapshots of a file, a folder or a table.

A version's identity is the BLAKE3 digest of its manifest (the sorted list of its files and
their digests), so two versions with the same content have the same digest whatever their
names or numbers. References name a version as ``name@v3``, ``name@latest`` or
``name@<digest prefix>`` (at least 4 hex characters); a bare ``name`` means ``name@latest``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from shipyard.errors import InvalidInputError

DATASET_NAME_MAX = 200
MIN_DIGEST_PREFIX = 4
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VERSION_RE = re.compile(r"v([0-9]+)")
_PREFIX_RE = re.compile(r"[0-9a-f]+")


class DatasetKind(StrEnum):
    FILE = "file"
    FOLDER = "folder"
    TABLE = "table"


class DatasetRole(StrEnum):
    """How a run used a dataset version: read it (``input``) or wrote it (``output``)."""

    INPUT = "input"
    OUTPUT = "output"


class DatasetFile(NamedTuple):
    """One file of a version: its path inside the version ('/'-separated), digest and size.

    A named tuple rather than a dataclass: manifests hold tens of thousands of them.
    """

    path: str
    digest: str
    size: int


class PackLocation(NamedTuple):
    """Where a small file's bytes sit inside a pack blob (see ``pack_entries``)."""

    pack: str
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class ColumnType:
    """One column of a tabular version's Arrow schema (``type`` is Arrow's type string)."""

    name: str
    type: str
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One immutable version. ``digest`` is the manifest's digest; ``parent`` the version before.

    ``row_count``, ``columns`` and ``profile`` are set for tabular content (a table, or a
    CSV/Parquet file) and None otherwise. ``profile`` is the mergeable column profile
    (see :mod:`shipyard.services.profile`) as its JSON form.
    """

    name: str
    version: int
    digest: str
    kind: DatasetKind
    size: int
    file_count: int
    created_time: int
    created_by: str
    parent: int | None = None
    row_count: int | None = None
    columns: tuple[ColumnType, ...] | None = None
    profile: dict[str, Any] | None = field(default=None, compare=False)
    description: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


@dataclass(frozen=True, slots=True)
class RunDataset:
    """A run's use of a dataset version."""

    run_id: str
    name: str
    version: int
    digest: str
    role: DatasetRole

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A parsed reference. Exactly one of ``version``, ``digest_prefix`` is set, or neither
    (``latest``)."""

    name: str
    version: int | None = None
    digest_prefix: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@v{self.version}"
        if self.digest_prefix is not None:
            return f"{self.name}@{self.digest_prefix}"
        return f"{self.name}@latest"


def check_dataset_name(name: object, field_name: str = "name") -> str:
    """A dataset name: letters, digits, '.', '_' and '-', starting with a letter or digit."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError("a dataset name must not be empty", field=field_name)
    if len(name) > DATASET_NAME_MAX:
        raise InvalidInputError(
            f"dataset name is {len(name)} characters long; at most {DATASET_NAME_MAX} are "
            "allowed", field=field_name)
    if not _NAME_RE.fullmatch(name):
        raise InvalidInputError(
            f"dataset name {name!r} may only hold letters, digits, '.', '_' and '-' and must "
            "start with a letter or digit (no spaces, slashes or '@'), e.g. 'property-records'",
            field=field_name)
    return name


def parse_dataset_ref(text: object, field_name: str = "ref") -> DatasetRef:
    """``name``, ``name@latest``, ``name@v3`` or ``name@<hex digest prefix>``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("a dataset reference must not be empty (e.g. 'records@v2')",
                                field=field_name)
    name, sep, selector = text.strip().partition("@")
    check_dataset_name(name, field_name)
    if not sep or selector == "latest":
        return DatasetRef(name)
    if match := _VERSION_RE.fullmatch(selector):
        number = int(match.group(1))
        if number < 1:
            raise InvalidInputError(f"{text!r}: versions start at v1", field=field_name)
        return DatasetRef(name, version=number)
    if _PREFIX_RE.fullmatch(selector):
        if len(selector) < MIN_DIGEST_PREFIX:
            raise InvalidInputError(
                f"{text!r}: a digest prefix needs at least {MIN_DIGEST_PREFIX} hex characters",
                field=field_name)
        return DatasetRef(name, digest_prefix=selector)
    raise InvalidInputError(
        f"{text!r} is not a dataset reference: after '@' write 'latest', 'v<number>' or a "
        "digest prefix in lowercase hex (e.g. 'records@v2', 'records@3fa9c1')",
        field=field_name)
