"""The dataset store: what every backend of dataset-version metadata provides.

The store keeps metadata only (versions, their manifest digest, schema, profile, and which
runs read or wrote them); the bytes live in the content-addressed artifact layer.

Contract:
- Versions are immutable and numbered 1, 2, 3... per name, with no gaps, in the order they
  were created; numbering is safe with several writers at once.
- :meth:`create_version` is idempotent on content: when the latest version of the name
  already has the same digest, it is returned and nothing is written.
- Returned objects are plain frozen dataclasses and never change.
- Unknown names or versions raise :class:`~shipyard.errors.NotFoundError`; bad values raise
  :class:`~shipyard.errors.InvalidInputError` naming the field; a database failure raises
  :class:`~shipyard.errors.BackendError`.
- Implementations are safe to share between threads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from shipyard.entities.dataset import (
    ColumnType,
    DatasetKind,
    DatasetRef,
    DatasetRole,
    DatasetVersion,
    PackLocation,
    RunDataset,
)
from shipyard.errors import NotFoundError


class DatasetStore(ABC):
    # -- Versions ----------------------------------------------------------------------------

    @abstractmethod
    def create_version(
        self,
        name: str,
        *,
        digest: str,
        kind: DatasetKind,
        size: int,
        file_count: int,
        created_by: str,
        row_count: int | None = None,
        columns: Sequence[ColumnType] | None = None,
        profile: Mapping[str, Any] | None = None,
        description: str | None = None,
        packed: Mapping[str, PackLocation] | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Append the next version of ``name`` (creating the dataset on first use).

        Returns the version and whether it was created; ``False`` means the latest version
        already had this digest and is returned as it is. ``packed`` records, in the same
        transaction, where files stored inside pack blobs live.
        """

    @abstractmethod
    def get_version(self, name: str, version: int) -> DatasetVersion: ...

    @abstractmethod
    def latest_version(self, name: str) -> DatasetVersion | None:
        """The newest version of ``name``; None when the dataset has no version yet."""

    @abstractmethod
    def versions_with_prefix(self, name: str, prefix: str, limit: int = 50
                             ) -> list[DatasetVersion]:
        """Versions of ``name`` whose digest starts with ``prefix``, newest first."""

    @abstractmethod
    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, oldest first; NotFoundError for an unknown name."""

    @abstractmethod
    def list_datasets(self) -> list[tuple[DatasetVersion, int]]:
        """Each dataset's latest version and its number of versions, by name."""

    @abstractmethod
    def pack_locations(self, digests: Iterable[str]) -> dict[str, PackLocation]:
        """Where each of ``digests`` that was stored inside a pack lives."""

    @abstractmethod
    def manifest_digests(self) -> Iterator[str]:
        """The manifest digest of every version (each distinct digest once)."""

    # -- Lineage -----------------------------------------------------------------------------

    @abstractmethod
    def log_run_dataset(self, run_id: str, name: str, version: int, role: DatasetRole) -> None:
        """Record that a run read (``input``) or wrote (``output``) a version; idempotent."""

    @abstractmethod
    def run_datasets(self, run_id: str) -> list[RunDataset]:
        """The versions a run read or wrote."""

    @abstractmethod
    def dataset_runs(self, name: str, version: int | None = None) -> list[RunDataset]:
        """The runs that read or wrote a version (every version of ``name`` when None)."""

    # -- Built on the primitives above -------------------------------------------------------

    def resolve(self, ref: DatasetRef) -> DatasetVersion:
        """The one version a reference names."""
        from shipyard.errors import InvalidInputError

        if ref.version is not None:
            return self.get_version(ref.name, ref.version)
        if ref.digest_prefix is not None:
            found = self.versions_with_prefix(ref.name, ref.digest_prefix)
            if not found:
                raise NotFoundError(
                    f"no version of dataset {ref.name!r} has a digest starting with "
                    f"{ref.digest_prefix!r}; `shipyard data ls {ref.name}` lists them",
                    field="ref")
            if len({v.digest for v in found}) > 1:  # equal content under two numbers is one
                listed = ", ".join(v.ref for v in found[:5])
                raise InvalidInputError(
                    f"digest prefix {ref.digest_prefix!r} of dataset {ref.name!r} is ambiguous "
                    f"(it matches {listed}, ...); give more characters", field="ref")
            return found[0]
        latest = self.latest_version(ref.name)
        if latest is None:
            raise NotFoundError(
                f"dataset {ref.name!r} does not exist; `shipyard data add PATH --name "
                f"{ref.name}` creates it", field="ref")
        return latest
