"""``/api/v1/runs/{run_id}/artifacts``: upload, download and list a run's files.

Clients need no storage credentials: bytes go through the server to whatever artifact store
it holds (a folder, S3, ...). Neither direction holds a whole file in memory: an upload is
streamed to a temporary file and then stored with ``log_artifact_file``; a download streams
``open_artifact`` in chunks. An upload larger than ``SHIPYARD_SERVER_MAX_UPLOAD_BYTES`` is
answered 413 as soon as the limit is crossed (at once when its Content-Length says so; see
:mod:`shipyard.server.limits`), and nothing is stored.
"""

from __future__ import annotations

import mimetypes
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from shipyard.server import schemas as s
from shipyard.server.deps import Store

CHUNK = 1024 * 1024  # bytes per write to the temporary file and per streamed chunk

_RAW_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
_RAW_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"description": "the file's bytes, streamed", "content": {"application/octet-stream": {}}}}

router = APIRouter(prefix="/api/v1/runs", tags=["artifacts"])


@router.put("/{run_id}/artifacts/{artifact_path:path}", openapi_extra=_RAW_BODY)
async def upload_artifact(run_id: str, artifact_path: str, request: Request,
                          store: Store) -> s.ArtifactOut:
    """Store the raw request body as the run's file at ``artifact_path`` (replacing any)."""
    with tempfile.TemporaryDirectory(prefix="shipyard-upload-") as folder:
        local = Path(folder) / "body"
        await _receive_to(request, local)
        info = await run_in_threadpool(store.log_artifact_file, run_id, artifact_path, local)
    return s.ArtifactOut(artifact=info)


@router.get("/{run_id}/artifacts/{artifact_path:path}", response_class=StreamingResponse,
            response_model=None,
            responses=_RAW_RESPONSE)
def download_artifact(run_id: str, artifact_path: str, store: Store) -> StreamingResponse:
    """The bytes of one file."""
    stream = store.open_artifact(run_id, artifact_path)
    kind = mimetypes.guess_type(artifact_path)[0] or "application/octet-stream"
    return StreamingResponse(_chunks(stream), media_type=kind)


@router.get("/{run_id}/artifacts")
def list_artifacts(
    run_id: str, store: Store,
    path: Annotated[str | None, Query(description="a folder; the run's root if absent")] = None,
) -> s.ArtifactList:
    """The files and folders directly under ``path`` (a file's own entry for a file)."""
    return s.ArtifactList(files=store.list_artifacts(run_id, path))


async def _receive_to(request: Request, target: Path) -> None:
    """Write the request body to ``target`` in chunks; the event loop never waits on disk."""
    pending = bytearray()
    with target.open("wb") as out:
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= CHUNK:
                await run_in_threadpool(out.write, pending)
                pending.clear()
        if pending:
            await run_in_threadpool(out.write, pending)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()
