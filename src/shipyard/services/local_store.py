"""Where the embedded store's files are: the SQLite database and the local artifacts folder.

Backup and restore copy files, so they work only on a store that is files on this machine;
every other configuration gets an error saying which tool backs it up instead.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from shipyard import settings
from shipyard.errors import InvalidInputError

BLOBS = "blobs"
WAL_SUFFIXES = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside a database; a restored database must not meet old ones."""
_DATA_TABLES = ("experiments", "runs", "datasets")


@dataclass(frozen=True, slots=True)
class LocalStore:
    """The embedded store's two parts: the SQLite file and the artifacts folder."""

    database: Path
    artifacts: Path


def local_store(command: str) -> LocalStore:
    """The store the settings name, which must be a SQLite file and a local folder.

    ``command`` ('backup', 'restore') is named in the error for any other configuration.
    """
    from fsspec.core import url_to_fs
    from fsspec.utils import get_protocol

    from shipyard.store.db import normalize_url

    uri = settings.tracking_uri()
    if uri.startswith(("http://", "https://")):
        raise InvalidInputError(
            f"`shipyard {command}` works on the files of an embedded store, but "
            f"SHIPYARD_TRACKING_URI names a server ({uri}); run it on the server's machine "
            "with the server's settings", field="SHIPYARD_TRACKING_URI")
    url = normalize_url(uri)
    if url.get_backend_name() == "postgresql":
        raise InvalidInputError(
            f"`shipyard {command}` covers the embedded SQLite store; this store's metadata is "
            "in PostgreSQL: back it up with pg_dump (restore with pg_restore) and the artifact "
            "store with its own tools (e.g. `aws s3 sync`, bucket versioning)",
            field="SHIPYARD_TRACKING_URI")
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise InvalidInputError(
            f"`shipyard {command}` needs a SQLite database file; {uri!r} is not one",
            field="SHIPYARD_TRACKING_URI")
    artifacts_uri = settings.artifacts_uri()
    if get_protocol(artifacts_uri) not in ("file", "local"):
        raise InvalidInputError(
            f"`shipyard {command}` covers a local artifacts folder; SHIPYARD_ARTIFACTS_URI is "
            f"{artifacts_uri}: back that store up with its own tools (e.g. `aws s3 sync`, "
            "bucket versioning) and the SQLite file with `sqlite3 .backup`",
            field="SHIPYARD_ARTIFACTS_URI")
    _, root = url_to_fs(artifacts_uri)
    return LocalStore(Path(database).expanduser().resolve(), Path(root).resolve())


def data_in(store: LocalStore) -> list[str]:
    """What the store already holds, in words; empty when there is nothing to lose.

    A database that exists but holds no experiment, run or dataset (e.g. made by a
    `shipyard runs list`) counts as empty; one that cannot be read counts as data.
    """
    found: list[str] = []
    if store.database.exists():
        try:
            uri = f"{store.database.as_uri()}?mode=ro"
            with closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
                names = {row[0] for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                for table in _DATA_TABLES:
                    if table in names:
                        count = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                        if count:
                            found.append(f"{count} {table}")
        except sqlite3.Error as exc:
            found.append(f"a database that cannot be read ({exc})")
    if store.artifacts.is_dir() and any(p.is_file() for p in store.artifacts.rglob("*")):
        found.append(f"artifact files in {store.artifacts}")
    return found
