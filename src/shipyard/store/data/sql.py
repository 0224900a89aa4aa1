"""Dataset-version metadata on SQLAlchemy Core (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select
from sqlalchemy.exc import IntegrityError

from shipyard.entities.dataset import (
    ColumnType,
    DatasetKind,
    DatasetRole,
    DatasetVersion,
    PackLocation,
    RunDataset,
    check_dataset_name,
)
from shipyard.errors import BackendError, InvalidInputError, NotFoundError
from shipyard.store import schema as t
from shipyard.store.data.protocol import DatasetStore
from shipyard.store.db import open_current, reading, writing

_V = t.dataset_versions
_RD = t.run_datasets
_P = t.pack_entries
_IN_CHUNK = 500  # bound parameters per IN list (SQLite allows 32766; stay far below)
_ATTEMPTS = 5  # a concurrent writer may take the same next number; try again


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _version(row: Row[Any]) -> DatasetVersion:
    columns = None
    if row.columns is not None:
        columns = tuple(ColumnType(c["name"], c["type"], bool(c.get("nullable", True)))
                        for c in json.loads(row.columns))
    return DatasetVersion(
        name=row.name, version=row.version, digest=row.digest, kind=DatasetKind(row.kind),
        size=row.size, file_count=row.file_count, created_time=row.created_time,
        created_by=row.created_by, parent=row.parent, row_count=row.row_count,
        columns=columns, profile=None if row.profile is None else json.loads(row.profile),
        description=row.description,
    )


class SqlDatasetStore(DatasetStore):
    """Dataset versions in the same database as the tracking store (runs are referenced)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        open_current(engine)

    def _write(self) -> AbstractContextManager[Connection]:
        return writing(self.engine)

    def _read(self) -> AbstractContextManager[Connection]:
        return reading(self.engine)

    # -- Versions ----------------------------------------------------------------------------

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
        check_dataset_name(name)
        row = {
            "name": name, "digest": digest, "kind": str(DatasetKind(kind)), "size": int(size),
            "file_count": int(file_count), "row_count": row_count,
            "columns": None if columns is None else json.dumps(
                [{"name": c.name, "type": c.type, "nullable": c.nullable} for c in columns]),
            "profile": None if profile is None else json.dumps(profile, allow_nan=False),
            "created_by": created_by, "description": description,
        }
        for _ in range(_ATTEMPTS):
            try:
                with self._write() as conn:
                    if packed:
                        self._insert_packed(conn, packed)
                    return self._append(conn, row)
            except IntegrityError:
                continue  # PostgreSQL: another writer took this number first
        raise BackendError(f"could not number a new version of dataset {name!r}: too many "
                           "concurrent writers; try again")

    def _append(self, conn: Connection, row: dict[str, Any]) -> tuple[DatasetVersion, bool]:
        name = row["name"]
        now = _now_ms()
        if conn.execute(select(t.datasets.c.name).where(t.datasets.c.name == name)).first() \
                is None:
            conn.execute(insert(t.datasets), {"name": name, "created_time": now})
        latest = conn.execute(
            select(_V).where(_V.c.name == name).order_by(_V.c.version.desc()).limit(1)
        ).first()
        if latest is not None and latest.digest == row["digest"]:
            return _version(latest), False
        number = 1 if latest is None else latest.version + 1
        values = {**row, "version": number, "created_time": now,
                  "parent": None if latest is None else latest.version}
        conn.execute(insert(_V), values)
        created = conn.execute(
            select(_V).where(_V.c.name == name, _V.c.version == number)).one()
        return _version(created), True

    def get_version(self, name: str, version: int) -> DatasetVersion:
        with self._read() as conn:
            row = conn.execute(select(_V).where(_V.c.name == name, _V.c.version == version)
                               ).first()
            if row is not None:
                return _version(row)
            known = conn.execute(select(func.max(_V.c.version)).where(_V.c.name == name)
                                 ).scalar()
        if known is None:
            raise NotFoundError(f"dataset {name!r} does not exist", field="ref")
        raise NotFoundError(f"dataset {name!r} has no version v{version} (the latest is "
                            f"v{known})", field="ref")

    def latest_version(self, name: str) -> DatasetVersion | None:
        with self._read() as conn:
            row = conn.execute(
                select(_V).where(_V.c.name == name).order_by(_V.c.version.desc()).limit(1)
            ).first()
        return None if row is None else _version(row)

    def versions_with_prefix(self, name: str, prefix: str, limit: int = 50
                             ) -> list[DatasetVersion]:
        if not prefix or any(ch not in "0123456789abcdef" for ch in prefix):
            raise InvalidInputError(f"digest prefix {prefix!r} must be lowercase hex",
                                    field="ref")
        with self._read() as conn:
            rows = conn.execute(
                select(_V).where(_V.c.name == name, _V.c.digest.like(f"{prefix}%"))
                .order_by(_V.c.version.desc()).limit(limit)
            ).all()
        return [_version(r) for r in rows]

    def list_versions(self, name: str) -> list[DatasetVersion]:
        with self._read() as conn:
            rows = conn.execute(select(_V).where(_V.c.name == name).order_by(_V.c.version)
                                ).all()
        if not rows:
            raise NotFoundError(f"dataset {name!r} does not exist", field="name")
        return [_version(r) for r in rows]

    def list_datasets(self) -> list[tuple[DatasetVersion, int]]:
        counts = (select(_V.c.name, func.max(_V.c.version).label("latest"),
                         func.count().label("n"))
                  .group_by(_V.c.name).subquery())
        query = (select(_V, counts.c.n)
                 .join(counts, (_V.c.name == counts.c.name) & (_V.c.version == counts.c.latest))
                 .order_by(_V.c.name))
        with self._read() as conn:
            return [(_version(row), int(row.n)) for row in conn.execute(query)]

    @staticmethod
    def _insert_packed(conn: Connection, packed: Mapping[str, PackLocation]) -> None:
        known: set[str] = set()
        digests = list(packed)
        for start in range(0, len(digests), _IN_CHUNK):
            chunk = digests[start:start + _IN_CHUNK]
            known.update(conn.execute(select(_P.c.digest).where(_P.c.digest.in_(chunk)))
                         .scalars())
        rows = [{"digest": d, "pack": loc.pack, "offset": loc.offset, "size": loc.size}
                for d, loc in packed.items() if d not in known]
        if rows:  # a digest packed twice (two adds at once) keeps its first location
            conn.execute(insert(_P), rows)

    def pack_locations(self, digests: Iterable[str]) -> dict[str, PackLocation]:
        wanted = list(dict.fromkeys(digests))
        found: dict[str, PackLocation] = {}
        with self._read() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start:start + _IN_CHUNK]
                for digest, pack, offset, size in conn.execute(
                        select(_P.c.digest, _P.c.pack, _P.c.offset, _P.c.size)
                        .where(_P.c.digest.in_(chunk))):
                    found[digest] = PackLocation(pack, offset, size)
        return found

    def manifest_digests(self) -> Iterator[str]:
        with self._read() as conn:
            digests = conn.execute(select(_V.c.digest).distinct()).scalars().all()
        yield from digests

    # -- Lineage -----------------------------------------------------------------------------

    def log_run_dataset(self, run_id: str, name: str, version: int, role: DatasetRole) -> None:
        role = DatasetRole(role)
        self.get_version(name, version)  # a clear NotFoundError before the foreign key fires
        with self._write() as conn:
            run = conn.execute(select(t.runs.c.run_id).where(t.runs.c.run_id == run_id)).first()
            if run is None:
                raise NotFoundError(f"run {run_id!r} does not exist", field="run_id")
            exists = conn.execute(select(_RD.c.run_id).where(
                _RD.c.run_id == run_id, _RD.c.name == name, _RD.c.version == version,
                _RD.c.role == str(role))).first()
            if exists is None:
                conn.execute(insert(_RD), {"run_id": run_id, "name": name, "version": version,
                                           "role": str(role)})

    def run_datasets(self, run_id: str) -> list[RunDataset]:
        query = (select(_RD.c.run_id, _RD.c.name, _RD.c.version, _RD.c.role, _V.c.digest)
                 .join(_V, (_V.c.name == _RD.c.name) & (_V.c.version == _RD.c.version))
                 .where(_RD.c.run_id == run_id).order_by(_RD.c.role, _RD.c.name, _RD.c.version))
        return self._run_datasets(query)

    def dataset_runs(self, name: str, version: int | None = None) -> list[RunDataset]:
        query = (select(_RD.c.run_id, _RD.c.name, _RD.c.version, _RD.c.role, _V.c.digest)
                 .join(_V, (_V.c.name == _RD.c.name) & (_V.c.version == _RD.c.version))
                 .join(t.runs, t.runs.c.run_id == _RD.c.run_id)
                 .where(_RD.c.name == name)
                 .order_by(_RD.c.version, t.runs.c.start_time, _RD.c.run_id))
        if version is not None:
            query = query.where(_RD.c.version == version)
        return self._run_datasets(query)

    def _run_datasets(self, query: Any) -> list[RunDataset]:
        with self._read() as conn:
            return [RunDataset(r.run_id, r.name, r.version, r.digest, DatasetRole(r.role))
                    for r in conn.execute(query)]
