"""The chain's HMAC key, kept outside the database.

From ``SHIPYARD_AUDIT_KEY``, else from a key file (``SHIPYARD_AUDIT_KEY_FILE``, default
``SHIPYARD_HOME/audit.key``) that the first audited change creates with 32 random bytes, in hex,
readable by its owner only. A key file that group or others may open is refused: whoever can
read the key can rewrite the chain undetectably.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
from pathlib import Path

from shipyard import settings
from shipyard.errors import BackendError, InvalidInputError, NotFoundError

MIN_KEY_BYTES = 16
_HEX = re.compile(rb"(?:[0-9a-fA-F]{2})+")


def decode_key(raw: bytes) -> bytes:
    """Hex (an even number of hex digits, surrounding whitespace ignored) is decoded; anything
    else is taken as it is. The bundle's verify.py applies the same rule."""
    text = raw.strip()
    return bytes.fromhex(text.decode("ascii")) if _HEX.fullmatch(text) else raw


def key_file_path() -> Path:
    configured = settings.AUDIT_KEY_FILE.get()
    return Path(configured).expanduser() if configured else settings.home() / "audit.key"


def load_key(*, create: bool = False) -> bytes:
    """The key in force. ``create``: make the key file if there is none (writers do; verify
    must not, since a new key cannot verify an old chain)."""
    configured = settings.AUDIT_KEY.get()
    if configured:
        return _checked(decode_key(configured.encode("utf-8")), settings.AUDIT_KEY.env)
    path = key_file_path()
    if not path.exists():
        if not create:
            raise NotFoundError(
                f"no audit key: {path} does not exist and SHIPYARD_AUDIT_KEY is not set; "
                "verifying needs the key the chain was written with", field="audit_key")
        _create_key_file(path)
    return _checked(_read_key_file(path), str(path))


def _checked(key: bytes, source: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise InvalidInputError(
            f"the audit key from {source} is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
            "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)",
            field=settings.AUDIT_KEY.env)
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if sys.platform != "win32" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise BackendError(
                    f"audit key file {path} is open to group or others (mode "
                    f"{stat.S_IMODE(mode):04o}); whoever reads it can forge the audit log. "
                    f"Run `chmod 600 {path}`", field=settings.AUDIT_KEY_FILE.env)
            return decode_key(handle.read())
    except OSError as exc:
        raise BackendError(f"cannot read audit key file {path}: {exc.strerror or exc}",
                           field=settings.AUDIT_KEY_FILE.env) from None


def _create_key_file(path: Path) -> None:
    """Write the key to a private temporary file, then link it into place: ``link`` fails if
    another process made the key first, and then that key wins (never a half-written one)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another writer won: use its key
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as exc:
        raise BackendError(f"cannot create audit key file {path}: {exc.strerror or exc}; set "
                           "SHIPYARD_AUDIT_KEY or SHIPYARD_AUDIT_KEY_FILE",
                           field=settings.AUDIT_KEY_FILE.env) from None
