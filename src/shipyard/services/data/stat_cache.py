"""This machine's memory of file digests, so unchanged files are never read twice.

An entry maps a file's absolute path to its BLAKE3 digest together with the inode,
modification time (ns) and size it had when it was hashed; a file whose three values still
match is taken to be unchanged. A file modified within :data:`RACY_NS` of being hashed is not
remembered: a second write in the same clock tick would keep its mtime and size, so such an
entry could lie (git calls this "racily clean").

The cache is a SQLite file in ``SHIPYARD_CACHE_DIR``; losing it only costs re-hashing.
"""

from __future__ import annotations

import contextlib
import marshal
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

RACY_NS = 50_000_000
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, inode INTEGER NOT NULL, "
    "mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID",
    # The last manifest digest of a whole folder with the stat of every file it held: a
    # folder whose stats all match is unchanged, so `data status` needs no per-file lookup.
    "CREATE TABLE IF NOT EXISTS snapshots (root TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "stats BLOB NOT NULL, digest TEXT NOT NULL) WITHOUT ROWID",
)

Stats = list[tuple[str, int, int, int]]
"""(path in the version, inode, mtime_ns, size) of every file, in path order."""


class FileStat(NamedTuple):
    """The identity of a file's content as the file system reports it."""

    inode: int
    mtime_ns: int
    size: int


class StatCache:
    """Digests by absolute path; every method tolerates a missing or unusable cache file."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "file-digests.sqlite"
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = OFF")  # a lost entry only costs a re-hash
                for statement in _SCHEMA:
                    conn.execute(statement)
            except sqlite3.Error:
                return None
            self._conn = conn
        return self._conn

    def under(self, root: Path) -> dict[str, tuple[int, int, int, str]]:
        """Every remembered file below the folder ``root`` (or the file ``root`` itself), as
        ``path -> (inode, mtime_ns, size, digest)`` (plain tuples: this runs per file)."""
        conn = self._connect()
        if conn is None:
            return {}
        base = str(root)
        try:
            rows = conn.execute(
                "SELECT path, inode, mtime_ns, size, digest FROM digests "
                "WHERE path = ? OR (path >= ? AND path < ?)",
                (base, base + "/", base + "0"),  # '0' sorts right after '/'
            ).fetchall()
        except sqlite3.Error:
            return {}
        return {row[0]: row[1:] for row in rows}

    def remember(self, entries: Iterable[tuple[str, FileStat, str]], stat_time_ns: int) -> None:
        """Store digests of files stat'ed at ``stat_time_ns`` (``time.time_ns()`` taken before
        the scan), leaving out files modified too shortly before to be trusted."""
        conn = self._connect()
        if conn is None:
            return
        cutoff = stat_time_ns - RACY_NS
        rows = [(path, st.inode, st.mtime_ns, st.size, digest)
                for path, st, digest in entries if st.mtime_ns < cutoff]
        if not rows:
            return
        with contextlib.suppress(sqlite3.Error), conn:
            conn.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", rows)

    def snapshot(self, root: Path, kind: str) -> tuple[Stats, str] | None:
        """The stats and manifest digest remembered for the folder (or file) ``root``."""
        conn = self._connect()
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT kind, stats, digest FROM snapshots WHERE root = ?",
                               (str(root),)).fetchone()
            if row is None or row[0] != kind:
                return None
            stats = marshal.loads(row[1])  # our own cache file: marshal is the fastest loader
        except (sqlite3.Error, ValueError, EOFError, TypeError):
            return None
        return (stats, row[2]) if isinstance(stats, list) else None

    def remember_snapshot(self, root: Path, kind: str, stats: Stats, digest: str,
                          stat_time_ns: int) -> None:
        """Remember a folder's manifest digest, unless a file is too fresh to be trusted."""
        conn = self._connect()
        cutoff = stat_time_ns - RACY_NS
        if conn is None or any(mtime >= cutoff for _, _, mtime, _ in stats):
            return
        with contextlib.suppress(sqlite3.Error), conn:
            conn.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)",
                         (str(root), kind, marshal.dumps(stats), digest))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
