"""``RestTrackingStore``: the tracking protocol spoken to a ``shipyard server`` over HTTP.

The server runs a :class:`~shipyard.store.tracking.sql.SqlTrackingStore`; this class turns each
protocol call into one request of the API in ``docs/server.md`` and each error answer back into
the :class:`~shipyard.errors.ShipyardError` the server's store raised (same class, code, message
and field), so code written against the embedded store works unchanged against a server. The
client needs no cloud credentials: artifact bytes go through the server, which holds them.

Any ``httpx.Client`` may carry the requests; tests pass ``starlette.testclient.TestClient(app)``
to run the real app in-process. :mod:`~shipyard.store.rest.transport` sends them, retrying as
:mod:`~shipyard.store.rest.retry` allows.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import quote

import httpx

from shipyard import __version__, settings
from shipyard.artifacts.paths import safe_artifact_path
from shipyard.entities import (
    ArtifactInfo,
    Experiment,
    Metric,
    Page,
    Run,
    RunInfo,
    RunStatus,
    ViewType,
)
from shipyard.entities import limits as lim
from shipyard.errors import BackendError, InvalidInputError
from shipyard.store.rest import wire
from shipyard.store.rest.retry import RetryPolicy
from shipyard.store.rest.transport import CHUNK, ResponseStream, Transport
from shipyard.store.tracking.protocol import TrackingStore

API = "/api/v1"


def _segment(value: str) -> str:
    """One URL path segment. Dots are escaped too: HTTP clients resolve '.' and '..' segments
    away, and the server must see the exact value to judge it."""
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


def _artifact_url(run_id: str, artifact_path: str) -> str:
    segments = "/".join(_segment(part) for part in artifact_path.split("/"))
    return f"{API}/runs/{_segment(run_id)}/artifacts/{segments}"


class RestTrackingStore(TrackingStore):
    """A tracking store behind a Shipyard server at ``base_url`` (``http(s)://host:port``)."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"a tracking server URL starts with http:// or https://, got {base_url!r}",
                field="tracking_uri",
            )
        self.base_url = base_url.rstrip("/")
        self.retry = RetryPolicy.from_settings(retries, backoff)
        self._owns_client = client is None
        http = client if client is not None else httpx.Client(
            timeout=settings.HTTP_TIMEOUT.get() if timeout is None else timeout,
            headers={"User-Agent": f"shipyard/{__version__}"},
        )
        self._api = Transport(self.base_url, http, self.retry)

    def __repr__(self) -> str:
        return f"RestTrackingStore({self.base_url!r})"

    def close(self) -> None:
        """Close the connection pool (not a client passed in: its owner closes it)."""
        if self._owns_client:
            self._api.client.close()

    def __enter__(self) -> RestTrackingStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- Experiments -------------------------------------------------------------------------

    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        body = self._api.call("POST", f"{API}/experiments", what="creating an experiment",
                              idempotent=False,
                              body={"name": name, "tags": None if tags is None else dict(tags)})
        return str(body["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        body = self._api.call("GET", f"{API}/experiments/{_segment(str(experiment_id))}",
                              what="reading an experiment", idempotent=True)
        return wire.experiment_in(body["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        body = self._api.call("GET", f"{API}/experiments", what="reading an experiment",
                              idempotent=True, params={"name": name, "view": ViewType.ALL.value})
        found = body["experiments"]
        return wire.experiment_in(found[0]) if found else None

    def search_experiments(
        self, view: ViewType = ViewType.ACTIVE_ONLY, name_like: str | None = None
    ) -> list[Experiment]:
        params = {"view": ViewType(view).value}
        if name_like:
            params["name_like"] = name_like
        body = self._api.call("GET", f"{API}/experiments", what="searching experiments",
                              idempotent=True, params=params)
        return [wire.experiment_in(item) for item in body["experiments"]]

    def delete_experiment(self, experiment_id: str) -> None:
        self._api.call("DELETE", f"{API}/experiments/{_segment(str(experiment_id))}",
                       what="deleting an experiment", idempotent=True)

    def restore_experiment(self, experiment_id: str) -> None:
        self._api.call("POST", f"{API}/experiments/{_segment(str(experiment_id))}/restore",
                       what="restoring an experiment", idempotent=True)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._api.call("POST", f"{API}/experiments/{_segment(str(experiment_id))}/tags",
                       what="setting an experiment tag", idempotent=True,
                       body={"key": key, "value": value})

    # -- Runs --------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        run_name: str | None = None,
        user: str = "",
        start_time: int | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        *,
        run_id: str | None = None,
    ) -> Run:
        body = self._api.call("POST", f"{API}/runs", what="creating a run", idempotent=False,
                              body={"experiment_id": experiment_id, "run_name": run_name,
                                    "user": user, "start_time": start_time,
                                    "tags": None if tags is None else dict(tags),
                                    "parent_run_id": parent_run_id, "run_id": run_id})
        return wire.run_in(body["run"])

    def get_run(self, run_id: str) -> Run:
        body = self._api.call("GET", f"{API}/runs/{_segment(run_id)}", what="reading a run",
                              idempotent=True)
        return wire.run_in(body["run"])

    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        body = self._api.call("PATCH", f"{API}/runs/{_segment(run_id)}", what="updating a run",
                              idempotent=True, body={
                                  "status": None if status is None else RunStatus(status).value,
                                  "end_time": end_time, "run_name": run_name})
        return wire.run_info_in(body["run_info"])

    def delete_run(self, run_id: str) -> None:
        self._api.call("DELETE", f"{API}/runs/{_segment(run_id)}", what="deleting a run",
                       idempotent=True)

    def restore_run(self, run_id: str) -> None:
        self._api.call("POST", f"{API}/runs/{_segment(run_id)}/restore", what="restoring a run",
                       idempotent=True)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        points = [
            {"key": m.key, "step": m.step, "timestamp": m.timestamp, "value": wire.float_out(
                m.value if isinstance(m.value, float) else lim.check_metric_value(m.key, m.value))}
            for m in metrics
        ]
        self._api.call("POST", f"{API}/runs/{_segment(run_id)}/log-batch", what="logging a batch",
                       idempotent=False, body={"metrics": points, "params": dict(params or {}),
                                               "tags": dict(tags or {})})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._api.call("DELETE", f"{API}/runs/{_segment(run_id)}/tags", what="deleting a tag",
                       idempotent=True, params={"key": key})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        body = self._api.call("GET", f"{API}/runs/{_segment(run_id)}/metric-history",
                              what="reading a metric history", idempotent=True, params={"key": key})
        return [wire.metric_in(item) for item in body["metrics"]]

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: ViewType = ViewType.ACTIVE_ONLY,
    ) -> Page[Run]:
        body = self._api.call("POST", f"{API}/runs/search", what="searching runs", idempotent=True,
                              body={
                                  "experiment_ids": None if experiment_ids is None
                                  else [str(e) for e in experiment_ids],
                                  "filter": filter_string,
                                  "order_by": None if order_by is None else list(order_by),
                                  "max_results": max_results, "page_token": page_token,
                                  "view": ViewType(view).value})
        return Page([wire.run_in(item) for item in body["runs"]], body.get("next_page_token"))

    # -- Artifacts ---------------------------------------------------------------------------

    def log_artifact_file(self, run_id: str, artifact_path: str, local_path: Path) -> ArtifactInfo:
        local = Path(local_path)
        if not local.is_file():  # only this side can see the file
            raise InvalidInputError(f"{local} is not a file", field="local_path")
        response = self._api.send("PUT", _artifact_url(run_id, artifact_path),
                                  what="uploading an artifact", idempotent=True, upload=local)
        return wire.artifact_in(response.json()["artifact"])

    def log_artifact_bytes(self, run_id: str, artifact_path: str, data: bytes) -> ArtifactInfo:
        response = self._api.send("PUT", _artifact_url(run_id, artifact_path),
                                  what="uploading an artifact", idempotent=True,
                                  content=bytes(data))
        return wire.artifact_in(response.json()["artifact"])

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        body = self._api.call("GET", f"{API}/runs/{_segment(run_id)}/artifacts",
                              what="listing artifacts", idempotent=True,
                              params=None if path is None else {"path": path})
        return [wire.artifact_in(item) for item in body["files"]]

    def open_artifact(self, run_id: str, artifact_path: str) -> BinaryIO:
        response = self._api.send("GET", _artifact_url(run_id, artifact_path),
                                  what="reading an artifact", idempotent=True, stream=True)
        return cast(BinaryIO, io.BufferedReader(ResponseStream(response), CHUNK))

    def download_artifacts(self, run_id: str, path: str | None, dest: Path) -> Path:
        root = safe_artifact_path(path or "", allow_root=True)
        dest = Path(dest)
        for info in self._files_under(run_id, root):
            self._download(run_id, info.path, dest / info.path)
        return dest / root if root else dest

    def _files_under(self, run_id: str, root: str) -> Iterator[ArtifactInfo]:
        """Every file at or below ``root``, walking folders one listing at a time."""
        pending = [root]
        while pending:
            folder = pending.pop()
            for info in self.list_artifacts(run_id, folder or None):
                if info.is_dir:
                    pending.append(info.path)
                else:
                    yield info

    def _download(self, run_id: str, artifact_path: str, target: Path) -> None:
        """Stream one file to ``target`` through a temporary file beside it; a connection that
        breaks mid-file starts the file again, as often as the retry policy allows."""
        target.parent.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            attempt += 1
            fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as out:
                    response = self._api.send("GET", _artifact_url(run_id, artifact_path),
                                              what="downloading an artifact", idempotent=True,
                                              stream=True)
                    try:
                        for chunk in response.iter_bytes(CHUNK):
                            out.write(chunk)
                    finally:
                        response.close()
                os.replace(partial, target)
                return
            except httpx.TransportError as exc:
                if attempt > self.retry.retries:
                    raise BackendError(
                        f"downloading artifact {artifact_path!r} failed after {attempt} "
                        f"attempts: {type(exc).__name__}: {exc}",
                        url=self.base_url + _artifact_url(run_id, artifact_path),
                        attempts=attempt) from exc
                time.sleep(self.retry.delay(attempt))
            finally:
                Path(partial).unlink(missing_ok=True)
