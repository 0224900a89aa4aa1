"""A byte store: a handful of key/bytes operations over any fsspec URL.

Everything above this (content addressing, run artifact trees) is written once against
:class:`ByteStore`, so a new backend only has to be an fsspec filesystem. Keys are
'/'-separated paths relative to the store's root URL.

Writes are atomic for readers: a local file is written to a temporary file in the same folder
and moved into place with ``os.replace``; an S3 object only appears once its upload completes;
a ``memory://`` file is swapped in whole. Temporary local files carry :data:`TEMP_MARK` in their
name and are never listed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, cast

from shipyard.errors import BackendError, InvalidInputError, NotFoundError, ShipyardError

TEMP_MARK = ".shipyard-tmp-"
"""Names of in-flight local writes start with this; :meth:`ByteStore.list` skips them."""

_S3_PROTOCOLS = ("s3", "s3a")
_ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
# Exceptions from these libraries are backend failures even when they are not OSErrors
# (botocore's connection errors, aiohttp's client errors).
_BACKEND_MODULES = {"botocore", "aiobotocore", "aiohttp", "fsspec", "s3fs"}


def s3_endpoint_url() -> str | None:
    """The custom S3 endpoint (moto, MinIO) from the standard AWS variables, if one is set."""
    for name in _ENDPOINT_VARS:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _local_root(url: str) -> str | None:
    """The absolute folder of a local URL (a path, ``file://...`` or ``local://...``); None for
    any other protocol."""
    from urllib.parse import unquote

    if url.startswith("file://"):
        path = unquote(url[len("file://"):])
    elif url.startswith("local://"):
        path = url[len("local://"):]
    elif "://" in url or "::" in url:
        return None
    else:
        path = url
    return os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"


def _is_backend_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    return type(exc).__module__.split(".", 1)[0] in _BACKEND_MODULES


class ByteStore:
    """Bytes by key under one fsspec URL: ``file:///abs``, a local path, ``s3://b/p``, ``memory://n``.

    ``storage_options`` go to the fsspec filesystem as they are. For S3 the endpoint of
    ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` is used when set, and directory listings
    are never cached, so writes by other processes are seen at once.
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        if not isinstance(url, str) or not url.strip():
            raise InvalidInputError("artifact store URL must not be empty", field="url")
        self.url = url
        self._options = dict(storage_options)
        self._fs_instance: Any = None
        local_root = _local_root(url)
        self._local = local_root is not None
        if local_root is not None:
            # fsspec is imported on first use only: local reads and writes need none of it,
            # and it costs ~50 ms of start-up to every command.
            self._root: str = local_root
        else:
            self._root = self._connect()

    def _connect(self) -> str:
        from fsspec.core import url_to_fs
        from fsspec.utils import get_protocol

        options = dict(self._options)
        if get_protocol(self.url) in _S3_PROTOCOLS:
            options.setdefault("use_listings_cache", False)
            endpoint = s3_endpoint_url()
            if endpoint:
                client_kwargs = dict(options.get("client_kwargs") or {})
                client_kwargs.setdefault("endpoint_url", endpoint)
                options["client_kwargs"] = client_kwargs
        try:
            fs, root = url_to_fs(self.url, **options)
        except ImportError as exc:
            raise BackendError(
                f"artifact store {self.url!r} needs an extra package: {exc} "
                "(for s3:// install shipyard-mlops[s3])"
            ) from exc
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"artifact store URL {self.url!r} is not valid: {exc}", field="url"
            ) from exc
        self._fs_instance = fs
        return str(root).rstrip("/")

    @property
    def _fs(self) -> Any:
        if self._fs_instance is None:
            from fsspec.implementations.local import LocalFileSystem

            self._fs_instance = LocalFileSystem(**self._options)
        return self._fs_instance

    def __repr__(self) -> str:
        return f"ByteStore({self.url!r})"

    def local_path(self, key: str) -> Path | None:
        """Where ``key`` lives on this machine's disk; None for a remote store."""
        return Path(self._path(key)) if self._local else None

    # -- reading ------------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        """Whether a file is stored at ``key`` (a folder of keys does not count)."""
        path = self._path(key)
        if self._local:
            return os.path.isfile(path)
        with self._errors(key):
            try:
                info = self._fs.info(path)
            except FileNotFoundError:
                return False
        return bool(info.get("type") == "file")

    def size(self, key: str) -> int:
        path = self._path(key)
        with self._errors(key):
            info = self._fs.info(path)
        if info.get("type") != "file":
            raise NotFoundError(f"no file {key!r} in artifact store {self.url}", field="key")
        return int(info["size"])

    def open(self, key: str) -> BinaryIO:
        """A streaming reader; close it (or use ``with``). Errors while reading are not wrapped."""
        path = self._path(key)
        with self._errors(key):
            if self._local:
                if os.path.isdir(path):
                    raise FileNotFoundError(path)
                return open(path, "rb")
            return cast(BinaryIO, self._fs.open(path, "rb"))

    def get_file(self, key: str, local_path: str | os.PathLike[str]) -> None:
        """Copy ``key`` to ``local_path``, which appears whole or not at all."""
        path = self._path(key)
        with self._errors(key):
            if not self.exists(key):
                raise FileNotFoundError(path)
            self._write_local(Path(local_path), lambda tmp: self._fs.get_file(path, tmp))

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys that start with ``prefix`` (a string prefix, e.g. ``'blobs/a'``), sorted."""
        if "\\" in prefix or prefix.startswith("/"):
            raise InvalidInputError(f"key prefix {prefix!r} must be relative", field="prefix")
        folder = prefix.rpartition("/")[0]
        base = f"{self._root}/{folder}" if folder else self._root
        with self._errors(prefix):
            self._fs.invalidate_cache(base)
            try:
                found = self._fs.find(base)
            except FileNotFoundError:
                found = []
        start = len(self._root) + 1
        keys = []
        for full in found:
            key = str(full)[start:]
            if key.startswith(prefix) and not key.rpartition("/")[2].startswith(TEMP_MARK):
                keys.append(key)
        yield from sorted(keys)

    # -- writing ------------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with self._errors(key, missing_is_not_found=False):
            if self._local:
                self._write_local(Path(path), lambda tmp: Path(tmp).write_bytes(data))
            else:
                self._fs.pipe_file(path, bytes(data))

    def put_file(self, key: str, local_path: str | os.PathLike[str]) -> None:
        source = Path(local_path)
        if not source.is_file():
            raise InvalidInputError(f"{source} is not a file", field="local_path")
        path = self._path(key)
        with self._errors(key, missing_is_not_found=False):
            if self._local:
                self._write_local(Path(path), lambda tmp: shutil.copyfile(source, tmp))
            else:
                self._fs.put_file(str(source), path)

    def delete(self, key: str) -> None:
        """Remove the file at ``key``; a missing key raises :class:`NotFoundError`."""
        path = self._path(key)
        with self._errors(key):
            if not self.exists(key):
                raise FileNotFoundError(path)
            self._fs.rm_file(path)

    # -- helpers ------------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        """The backend path of a key; keys come from code, so this only guards the root."""
        if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key:
            raise InvalidInputError(f"key {key!r} must be a relative '/'-separated path",
                                    field="key")
        parts = key.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise InvalidInputError(f"key {key!r} has an empty, '.' or '..' part", field="key")
        return f"{self._root}/{key}"

    @staticmethod
    def _write_local(target: Path, write: Callable[[str], object]) -> None:
        """Run ``write`` on a temporary file beside ``target``, then move it into place."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f"{TEMP_MARK}{target.name}.")
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise

    @contextmanager
    def _errors(self, key: str, *, missing_is_not_found: bool = True) -> Iterator[None]:
        """Turn backend exceptions into Shipyard's: a missing key, or a failing store."""
        try:
            yield
        except ShipyardError:
            raise
        except FileNotFoundError as exc:
            if missing_is_not_found:
                raise NotFoundError(f"no file {key!r} in artifact store {self.url}",
                                    field="key") from exc
            raise BackendError(
                f"artifact store {self.url} failed on {key!r}: its root does not exist ({exc})"
            ) from exc
        except Exception as exc:
            if not _is_backend_error(exc):
                raise
            raise BackendError(
                f"artifact store {self.url} failed on {key!r}: {type(exc).__name__}: {exc}"
            ) from exc
