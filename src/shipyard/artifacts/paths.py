"""Artifact paths a user gives, made safe to use as keys and as local file names.

An artifact path is relative to its run's root folder and uses '/' as its only separator.
Backslashes are rejected rather than read as separators: on Windows they are separators and on
POSIX they are ordinary characters, so the same path would mean different files (or escape the
root, as in ``..\\x``) depending on where the artifacts are downloaded.
"""

from __future__ import annotations

import re

from shipyard.entities.limits import MAX_ARTIFACT_PATH
from shipyard.errors import InvalidInputError

_DRIVE_RE = re.compile(r"^[A-Za-z]:")  # a Windows drive, as in C:/x or C:x


def safe_artifact_path(
    path: str, field: str = "artifact path", *, allow_root: bool = False
) -> str:
    """``path`` normalised ('a//b/./c' -> 'a/b/c'), or InvalidInputError naming ``field``.

    A '..' is resolved against the parts before it and refused when it would climb above the
    root. The empty path (also 'a/..') means the run's root folder and is accepted only when
    ``allow_root`` is set.
    """
    if not isinstance(path, str):
        raise InvalidInputError(
            f"{field} must be a string, got {type(path).__name__}", field=field
        )
    if len(path) > MAX_ARTIFACT_PATH:
        raise InvalidInputError(
            f"{field} is {len(path)} characters long; the limit is {MAX_ARTIFACT_PATH}",
            field=field,
        )
    if "\x00" in path:
        raise InvalidInputError(f"{field} {path!r} contains a NUL byte", field=field)
    if "\\" in path:
        raise InvalidInputError(
            f"{field} {path!r} contains a backslash; use '/' to separate folders", field=field
        )
    if path.startswith("/") or _DRIVE_RE.match(path):
        relative = _DRIVE_RE.sub("", path, count=1).lstrip("/") or "model.pkl"
        raise InvalidInputError(
            f"{field} {path!r} is absolute; give a path relative to the run's root, "
            f"e.g. {relative!r}",
            field=field,
        )
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InvalidInputError(
                    f"{field} {path!r} climbs above the run's root with '..'", field=field
                )
            parts.pop()
        else:
            parts.append(part)
    if not parts and not allow_root:
        raise InvalidInputError(
            f"{field} must name a file or folder under the run's root, got {path!r}",
            field=field,
        )
    return "/".join(parts)


def join_artifact_path(dir: str | None, name: str, field: str = "artifact path") -> str:
    """``name`` inside folder ``dir`` (``None`` or '' is the root); ``name`` cannot climb out."""
    folder = safe_artifact_path(dir or "", field, allow_root=True)
    leaf = safe_artifact_path(name, field)
    return f"{folder}/{leaf}" if folder else leaf
