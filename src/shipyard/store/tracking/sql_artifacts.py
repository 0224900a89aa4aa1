"""A run's artifact tree: an index of paths to content digests, the bytes kept once by digest."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import Connection, select

from shipyard.artifacts import ContentStore, safe_artifact_path
from shipyard.entities import ArtifactInfo
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.store import schema as t
from shipyard.store.tracking.sql_logging import _dialect_insert

Files = list[tuple[str, str, int]]  # (path, digest, size)


def _all_files(conn: Connection, run_id: str) -> Files:
    c = t.run_artifacts.c
    rows = conn.execute(
        select(c.path, c.digest, c.size).where(c.run_id == run_id).order_by(c.path)
    )
    return [(row[0], row[1], row[2]) for row in rows]


def record(
    write: Callable[[], AbstractContextManager[Connection]],
    content: ContentStore,
    run_id: str,
    artifact_path: str,
    blob: tuple[str, int],
) -> ArtifactInfo:
    """Point ``artifact_path`` of the run at a stored blob, replacing an earlier file there."""
    path = safe_artifact_path(artifact_path)
    digest, size = blob
    with write() as conn:
        for existing, _, _ in _all_files(conn, run_id):
            if existing.startswith(path + "/"):
                raise InvalidInputError(
                    f"artifact path {path!r} is a folder of run {run_id!r}; choose a file name",
                    field="artifact path",
                )
            if path.startswith(existing + "/"):
                raise InvalidInputError(
                    f"artifact path {path!r} is under {existing!r}, which is a file",
                    field="artifact path",
                )
        stmt = _dialect_insert(conn, t.run_artifacts)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "path"],
            set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size,
                  "created_time": stmt.excluded.created_time},
        )
        conn.execute(stmt, {"run_id": run_id, "path": path, "digest": digest, "size": size,
                            "created_time": time.time_ns() // 1_000_000})
    return ArtifactInfo(path=path, is_dir=False, size=size, digest=digest)


def list_dir(conn: Connection, run_id: str, path: str | None) -> list[ArtifactInfo]:
    root = safe_artifact_path(path or "", allow_root=True)
    prefix = f"{root}/" if root else ""
    children: dict[str, ArtifactInfo] = {}
    for file_path, digest, size in _all_files(conn, run_id):
        if file_path == root:
            return [ArtifactInfo(path=file_path, is_dir=False, size=size, digest=digest)]
        if not file_path.startswith(prefix):
            continue
        name, sep, _ = file_path[len(prefix):].partition("/")
        if sep:
            children.setdefault(name, ArtifactInfo(path=prefix + name, is_dir=True))
        else:
            children[name] = ArtifactInfo(path=file_path, is_dir=False, size=size, digest=digest)
    if root and not children:
        raise NotFoundError(f"run {run_id!r} has no artifact {root!r}", field="artifact path")
    return [children[name] for name in sorted(children)]


def digest_of(conn: Connection, run_id: str, artifact_path: str) -> str:
    path = safe_artifact_path(artifact_path)
    c = t.run_artifacts.c
    digest = conn.execute(
        select(c.digest).where(c.run_id == run_id, c.path == path)
    ).scalar()
    if digest is None:
        raise NotFoundError(f"run {run_id!r} has no artifact file {path!r}",
                            field="artifact path")
    return str(digest)


def files_under(conn: Connection, run_id: str, path: str | None) -> Files:
    root = safe_artifact_path(path or "", allow_root=True)
    files = [f for f in _all_files(conn, run_id)
             if not root or f[0] == root or f[0].startswith(root + "/")]
    if root and not files:
        raise NotFoundError(f"run {run_id!r} has no artifact {root!r}", field="artifact path")
    return files


def download(content: ContentStore, files: Files, path: str | None, dest: Path) -> Path:
    """Write the files under ``dest``, keeping their paths relative to the run's root."""
    for file_path, digest, _ in files:
        target = dest / file_path
        target.parent.mkdir(parents=True, exist_ok=True)
        content.get_file(digest, target)
    root = safe_artifact_path(path or "", allow_root=True)
    return dest / root if root else dest
