"""``data diff``: what changed between two versions -- files, schema, rows, column profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.entities.dataset import ColumnType, DatasetVersion
from shipyard.services.data.manifest import Manifest
from shipyard.services.data.status import compare_files


@dataclass(frozen=True)
class SchemaChange:
    added: list[ColumnType] = field(default_factory=list)
    removed: list[ColumnType] = field(default_factory=list)
    retyped: list[tuple[ColumnType, ColumnType]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.retyped)


@dataclass(frozen=True)
class DatasetDiff:
    old: DatasetVersion
    new: DatasetVersion
    files_added: list[str]
    files_removed: list[str]
    files_modified: list[str]
    schema: SchemaChange
    rows_before: int | None
    rows_after: int | None
    columns: list[dict[str, Any]]
    """Per-column profile change and drift (see :func:`shipyard.services.profile.compare`)."""

    @property
    def identical(self) -> bool:
        return self.old.digest == self.new.digest


def schema_change(old: tuple[ColumnType, ...] | None, new: tuple[ColumnType, ...] | None
                  ) -> SchemaChange:
    before = {c.name: c for c in old or ()}
    after = {c.name: c for c in new or ()}
    return SchemaChange(
        added=[c for n, c in after.items() if n not in before],
        removed=[c for n, c in before.items() if n not in after],
        retyped=[(before[n], c) for n, c in after.items()
                 if n in before and before[n].type != c.type],
    )


def diff_versions(old: DatasetVersion, old_manifest: Manifest, new: DatasetVersion,
                  new_manifest: Manifest) -> DatasetDiff:
    added, removed, modified, _ = compare_files(old_manifest, new_manifest)
    columns: list[dict[str, Any]] = []
    if old.profile is not None and new.profile is not None:
        from shipyard.services.profile import TableProfile, compare

        drifts = compare(TableProfile.from_dict(old.profile), TableProfile.from_dict(new.profile))
        columns = [d.to_dict() for d in drifts]
    return DatasetDiff(old, new, added, removed, modified,
                       schema_change(old.columns, new.columns), old.row_count, new.row_count,
                       columns)
