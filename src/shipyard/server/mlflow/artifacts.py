"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts/...``) over a TrackingStore.

Runs announce ``artifact_uri = mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``, so every
proxied path is ``<experiment_id>/<run_id>/artifacts[/<path in the run's artifact tree>]``. A
path with ``.`` or ``..`` parts, a backslash or a NUL byte is refused, never resolved; an unknown
run, or a run of another experiment, is RESOURCE_DOES_NOT_EXIST.

Uploads stream to a temporary file and go to the store with ``log_artifact_file``; downloads
stream from ``open_artifact``. Multipart uploads and presigned downloads are answered
NOT_IMPLEMENTED with the wording that makes the ``mlflow`` client fall back to plain requests.
"""

from __future__ import annotations

import mimetypes
import posixpath
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from shipyard.artifacts import safe_artifact_path
from shipyard.entities import ArtifactInfo
from shipyard.errors import NotFoundError
from shipyard.server.mlflow import messages as msg
from shipyard.server.mlflow.convert import run_artifact_uri
from shipyard.server.mlflow.errors import (
    NOT_IMPLEMENTED,
    RESOURCE_DOES_NOT_EXIST,
    MlflowApiError,
    invalid_parameter,
    not_implemented,
)
from shipyard.server.mlflow.proto_json import JSON, ProtoJSONResponse, read_message
from shipyard.server.mlflow.rpc import Registry, StoreSource
from shipyard.store.tracking.protocol import TrackingStore

ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
CHUNK_SIZE = 1024 * 1024
# The client falls back to a plain upload when a multipart error message starts with this.
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"

rpc = Registry()


@dataclass(frozen=True, slots=True)
class ProxiedPath:
    run_id: str
    path: str  # inside the run's artifact tree; "" is its root


def parse_proxied_path(store: TrackingStore, raw: str, *, allow_root: bool) -> ProxiedPath:
    """The run and artifact path a proxied path names (checks that the run exists)."""
    parts = raw.split("/")
    if any(part in (".", "..") for part in parts) or "\\" in raw or "\x00" in raw:
        raise invalid_parameter(f"Invalid path {raw!r}: '.', '..', backslashes and NUL bytes "
                                "are not allowed in artifact paths.")
    parts = [part for part in parts if part]
    if len(parts) < 3 or parts[2] != "artifacts":
        raise invalid_parameter(
            f"Invalid path {raw!r}: Shipyard serves run artifacts at "
            "<experiment_id>/<run_id>/artifacts/<path>, the run's artifact_uri.")
    experiment_id, run_id = parts[0], parts[1]
    info = store.get_run(run_id).info
    if info.experiment_id != experiment_id:
        raise MlflowApiError(RESOURCE_DOES_NOT_EXIST,
                             f"run {run_id!r} does not belong to experiment {experiment_id!r}")
    inner = "/".join(parts[3:])
    if not inner and not allow_root:
        raise invalid_parameter(f"Invalid path {raw!r}: name a file under the run's artifacts.")
    return ProxiedPath(run_id, safe_artifact_path(inner, allow_root=True))


def _file_info(info: ArtifactInfo, path: str) -> JSON:
    body: JSON = {"path": path, "is_dir": info.is_dir}
    if not info.is_dir and info.size is not None:
        body["file_size"] = info.size
    return body


def _listing(store: TrackingStore, run_id: str, path: str) -> list[ArtifactInfo]:
    """The entries under ``path``; none for a path that does not exist (MLflow's answer)."""
    try:
        return store.list_artifacts(run_id, path or None)
    except NotFoundError:
        return []


def list_proxied(store: TrackingStore, raw: str | None) -> JSON:
    target = parse_proxied_path(store, raw or "", allow_root=True)
    return {"files": [_file_info(info, posixpath.basename(info.path))
                      for info in _listing(store, target.run_id, target.path)]}


@rpc("listArtifacts", "/artifacts/list", ("GET",), msg.ListArtifacts)
def list_artifacts(store: TrackingStore, request: msg.ListArtifacts) -> JSON:
    """The tracking service's own listing: paths relative to the run's artifact root."""
    info = store.get_run(request.run_id).info
    path = safe_artifact_path(request.path or "", "path", allow_root=True)
    return {"root_uri": run_artifact_uri(info),
            "files": [_file_info(entry, entry.path)
                      for entry in _listing(store, request.run_id, path)]}


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk
    finally:
        stream.close()


def _download_headers(path: str) -> tuple[str, dict[str, str]]:
    name = posixpath.basename(path)
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return media_type, {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
    }


def _open(store: TrackingStore, raw: str) -> tuple[ProxiedPath, BinaryIO]:
    target = parse_proxied_path(store, raw, allow_root=False)
    return target, store.open_artifact(target.run_id, target.path)


def add_artifact_routes(router: APIRouter, store: StoreSource) -> None:
    """The proxy's routes under both of MLflow's prefixes."""

    async def list_files(request: Request) -> Response:
        message = await read_message(request, msg.ListProxiedArtifacts)
        return ProtoJSONResponse(await run_in_threadpool(
            lambda: list_proxied(store(), message.path)))

    async def download(artifact_path: str) -> Response:
        target, stream = await run_in_threadpool(lambda: _open(store(), artifact_path))
        media_type, headers = _download_headers(target.path)
        return StreamingResponse(_chunks(stream), media_type=media_type, headers=headers)

    async def upload(request: Request, artifact_path: str) -> Response:
        tracking = await run_in_threadpool(store)
        target = await run_in_threadpool(parse_proxied_path, tracking, artifact_path,
                                         allow_root=False)
        with tempfile.TemporaryDirectory(prefix="shipyard-upload-") as folder:
            local = Path(folder) / "upload"
            with local.open("wb") as file:
                async for chunk in request.stream():
                    await run_in_threadpool(file.write, chunk)
            await run_in_threadpool(tracking.log_artifact_file, target.run_id, target.path,
                                    local)
        return ProtoJSONResponse({})

    async def delete(artifact_path: str) -> Response:
        raise not_implemented("deleting artifacts", "Artifacts are immutable in Shipyard.")

    async def multipart(action: str, artifact_path: str) -> Response:
        raise MlflowApiError(NOT_IMPLEMENTED, MULTIPART_UNSUPPORTED)

    async def presigned(artifact_path: str) -> Response:
        raise not_implemented("presigned downloads", "Download through the proxy instead.")

    for prefix in ARTIFACT_PREFIXES:
        public = prefix.startswith("/api/")
        base = prefix + "/artifacts"
        routes: list[tuple[str, Callable[..., Awaitable[Response]], str, str]] = [
            (base, list_files, "GET", "listArtifacts"),
            (base + "/{artifact_path:path}", download, "GET", "downloadArtifact"),
            (base + "/{artifact_path:path}", upload, "PUT", "uploadArtifact"),
            (base + "/{artifact_path:path}", delete, "DELETE", "deleteArtifact"),
            (prefix + "/mpu/{action}/{artifact_path:path}", multipart, "POST", "multipartUpload"),
            (prefix + "/presigned/{artifact_path:path}", presigned, "GET", "presignedDownload"),
        ]
        for path, endpoint, method, name in routes:
            router.add_api_route(path, endpoint, methods=[method], include_in_schema=public,
                                 name=f"mlflow_artifacts_{name}", tags=["mlflow"],
                                 operation_id=f"mlflow_artifacts_{name}" if public else None)
