"""The chain's head and length, checkpointed outside the database after each audited commit.

Whoever edits the database can cut events off the end of the chain and leave a shorter chain
that still verifies link by link; the checkpoint remembers how far the chain had reached, so
verify notices. It is written after the commit (a checkpoint ahead of the database would be a
false alarm; one behind it only protects a shorter prefix), atomically (temporary file, then
rename) and only forward: a writer that commits event 7 after another wrote 8 leaves 8.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shipyard import settings
from shipyard.errors import BackendError

FORMAT = 1
_THREADS = threading.Lock()  # flock serialises processes; this, threads of one process


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain's head when it was written: ``length`` events, the last being ``seq`` with
    ``mac``, written with the key whose fingerprint is ``key_id``."""

    seq: int
    mac: str
    length: int
    key_id: str
    time: int

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}


def checkpoint_path() -> Path:
    configured = settings.AUDIT_CHECKPOINT.get()
    if configured:
        return Path(configured).expanduser()
    return settings.home() / "audit" / "checkpoint.json"


def read_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint in ``path``; None when there is none yet. A file that exists but does
    not parse is an error: an unreadable checkpoint protects nothing and must be looked at."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackendError(f"cannot read audit checkpoint {path}: {exc.strerror or exc}",
                           field=settings.AUDIT_CHECKPOINT.env) from None
    try:
        body = json.loads(text)
        return Checkpoint(seq=int(body["seq"]), mac=str(body["mac"]),
                          length=int(body["length"]), key_id=str(body["key_id"]),
                          time=int(body["time"]))
    except (ValueError, KeyError, TypeError):
        raise BackendError(f"audit checkpoint {path} is damaged; restore it from a backup or "
                           "an export bundle", field=settings.AUDIT_CHECKPOINT.env) from None


def advance_checkpoint(path: Path, checkpoint: Checkpoint) -> bool:
    """Write ``checkpoint`` unless the file already records this event or a later one; True
    when it was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(path.name + ".lock")):
        current = read_checkpoint(path)
        if current is not None and current.seq >= checkpoint.seq:
            return False
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            with temporary.open("w", encoding="utf-8") as handle:
                json.dump(checkpoint.to_dict(), handle, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        _sync_folder(path.parent)
        return True


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with _THREADS, lock_path.open("a") as handle:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file closes
        yield


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (a crash must not bring back the old checkpoint)."""
    if sys.platform == "win32":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
