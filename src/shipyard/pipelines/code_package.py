"""A pipeline's code package: the Python files of the pipeline file's folder, zipped
reproducibly into the content store, so a worker on another machine runs the same code."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from shipyard.artifacts.content import ContentStore
from shipyard.errors import InvalidInputError

MAX_PACKAGE_BYTES = 20 * 1024 * 1024
_SKIP = {"__pycache__", "node_modules", "site-packages"}


def _files(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") or p in _SKIP for p in parts[:-1]):
            continue
        found.append(path)
    return found


def pack(folder: Path) -> bytes:
    """A zip of ``folder``'s ``.py`` files (fixed times, sorted) at most 20 MiB."""
    buffer = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _files(folder):
            data = path.read_bytes()
            total += len(data)
            if total > MAX_PACKAGE_BYTES:
                raise InvalidInputError(
                    f"the Python files under {folder} exceed {MAX_PACKAGE_BYTES >> 20} MiB; "
                    "move the pipeline file into a smaller folder", field="ref")
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def store_package(ref: str, content: ContentStore) -> str | None:
    """The digest of the code package of a ``file.py:function`` ref (None for a module ref)."""
    path_text = ref.rpartition(":")[0]
    if not path_text.endswith(".py"):
        return None
    path = Path(path_text)
    if not path.is_file():
        raise InvalidInputError(f"no file {path_text!r}", field="ref")
    return content.put_bytes(pack(path.resolve().parent)).digest


def unpack(digest: str, content: ContentStore, cache: Path | None = None) -> Path:
    """The folder holding the package ``digest``, unpacked once into a cache folder."""
    root = cache or Path(tempfile.gettempdir()) / "shipyard-code"
    target = root / digest
    if not (target / ".complete").exists():
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(content.read_bytes(digest))) as archive:
            for name in archive.namelist():
                if name.startswith("/") or ".." in Path(name).parts:
                    raise InvalidInputError(f"code package {digest} has a bad path {name!r}",
                                            field="code_digest")
            archive.extractall(target)
        (target / ".complete").write_text("ok")
    return target
