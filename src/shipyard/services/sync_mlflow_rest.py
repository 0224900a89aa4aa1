"""An MLflow tracking server as a sync source, read over MLflow's REST API with httpx.

Endpoints used (all reads):

- ``POST /api/2.0/mlflow/experiments/search`` and ``POST /api/2.0/mlflow/runs/search``, page by
  page (``max_results``, ``page_token``, ``view_type``/``run_view_type``);
- ``GET /api/2.0/mlflow/metrics/get-history`` per run and key, in pages of ``max_results``
  (servers that do not page return the whole history at once, which works too);
- ``GET /api/2.0/mlflow/artifacts/list`` per folder, which gives paths relative to the run and
  sizes for any artifact store the server can read;
- downloads: ``GET /api/2.0/mlflow-artifacts/artifacts/<path>`` for runs whose artifact root is
  ``mlflow-artifacts:/…`` (a server that proxies artifacts, MLflow's default), and the server's
  ``GET /get-artifact?run_id=…&path=…`` for any other root.

Credentials in the URL (``mlflow+https://user:password@host``) are sent as HTTP basic auth.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from shipyard.entities import ArtifactInfo, Experiment, LifecycleStage, Metric, Run
from shipyard.errors import BackendError
from shipyard.services.sync_mlflow import metric_value, mlflow_run, optional_int
from shipyard.services.sync_source import RUN_PAGE, ArtifactsUnavailable

HISTORY_PAGE = 25_000
"""Metric points asked for per ``get-history`` page."""
TIMEOUT_S = 60.0


class MlflowRestSource:
    """Reads experiments, runs, metric histories and artifacts from an MLflow server."""

    def __init__(
        self,
        base_url: str,
        *,
        uri: str | None = None,
        transport: httpx.BaseTransport | None = None,
        page_size: int = RUN_PAGE,
        history_page: int = HISTORY_PAGE,
    ) -> None:
        parts = urlsplit(base_url)
        auth = None
        if parts.username is not None:
            auth = httpx.BasicAuth(parts.username, parts.password or "")
            netloc = parts.hostname or ""
            if parts.port is not None:
                netloc += f":{parts.port}"
            base_url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        self.base_url = base_url.rstrip("/")
        self._uri = uri or f"mlflow+{self.base_url}"
        self._client = httpx.Client(base_url=self.base_url, auth=auth, timeout=TIMEOUT_S,
                                    transport=transport, follow_redirects=True)
        self._page = page_size
        self._history_page = history_page
        self._roots: dict[str, str] = {}  # run id -> artifact root URI

    @property
    def uri(self) -> str:
        return self._uri

    # -- HTTP --------------------------------------------------------------------------------

    def _fail(self, what: str, response: httpx.Response) -> BackendError:
        detail = response.text[:300]
        try:
            body = response.json()
            detail = f"{body['error_code']}: {body['message']}"
        except (ValueError, KeyError, TypeError):
            pass
        return BackendError(
            f"the MLflow server at {self.uri} answered {what} with HTTP "
            f"{response.status_code}: {detail}", field="source", status=response.status_code)

    def _unreachable(self, error: httpx.HTTPError) -> BackendError:
        return BackendError(f"cannot reach the MLflow server at {self.uri}: {error}",
                            field="source")

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None
        if response.status_code >= 400:
            raise self._fail(f"{method} {path}", response)
        try:
            body = response.json()
        except ValueError:
            raise BackendError(
                f"{self.uri} answered {method} {path} with something other than JSON; is it "
                "an MLflow tracking server?", field="source") from None
        if not isinstance(body, dict):
            raise BackendError(f"{self.uri} answered {method} {path} with unexpected JSON",
                               field="source")
        return body

    def _pages(self, path: str, body: dict[str, Any], items: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            request = {**body, "max_results": self._page}
            if token:
                request["page_token"] = token
            answer = self._call("POST", path, json=request)
            yield from answer.get(items, [])
            token = answer.get("next_page_token")
            if not token:
                return

    # -- Experiments and runs ----------------------------------------------------------------

    def experiments(self, include_deleted: bool) -> list[Experiment]:
        view = "ALL" if include_deleted else "ACTIVE_ONLY"
        found = [
            Experiment(
                experiment_id=str(e["experiment_id"]),
                name=e["name"],
                lifecycle_stage=LifecycleStage(e.get("lifecycle_stage") or "active"),
                creation_time=optional_int(e.get("creation_time")) or 0,
                last_update_time=optional_int(e.get("last_update_time")) or 0,
                tags={t["key"]: t.get("value") or "" for t in e.get("tags", [])},
            )
            for e in self._pages("/api/2.0/mlflow/experiments/search", {"view_type": view},
                                 "experiments")
        ]
        return sorted(found, key=lambda e: (len(e.experiment_id), e.experiment_id))

    def runs(self, experiment: Experiment, include_deleted: bool) -> Iterator[Run]:
        body = {"experiment_ids": [experiment.experiment_id],
                "run_view_type": "ALL" if include_deleted else "ACTIVE_ONLY"}
        for raw in self._pages("/api/2.0/mlflow/runs/search", body, "runs"):
            yield self._run(raw)

    def _run(self, raw: dict[str, Any]) -> Run:
        info, data = raw.get("info", {}), raw.get("data", {})
        run_id = info.get("run_id") or info["run_uuid"]
        if info.get("artifact_uri"):
            self._roots[run_id] = info["artifact_uri"]
        return mlflow_run(
            run_id=run_id,
            experiment_id=str(info.get("experiment_id", "")),
            run_name=info.get("run_name"),
            user=info.get("user_id"),
            status=info.get("status"),
            start_time=optional_int(info.get("start_time")),
            end_time=optional_int(info.get("end_time")),
            lifecycle_stage=info.get("lifecycle_stage"),
            params={p["key"]: p.get("value") or "" for p in data.get("params", [])},
            tags={t["key"]: t.get("value") or "" for t in data.get("tags", [])},
            metrics={m["key"]: metric_value(m.get("value", "NaN"))
                     for m in data.get("metrics", [])},
        )

    def metric_history(self, run: Run, key: str) -> Iterator[Sequence[Metric]]:
        token: str | None = None
        while True:
            params: dict[str, str | int] = {"run_id": run.run_id, "metric_key": key,
                                            "max_results": self._history_page}
            if token:
                params["page_token"] = token
            answer = self._call("GET", "/api/2.0/mlflow/metrics/get-history", params=params)
            yield [Metric(key, metric_value(m.get("value", "NaN")),
                          optional_int(m.get("step")) or 0, optional_int(m.get("timestamp")) or 0)
                   for m in answer.get("metrics", [])]
            token = answer.get("next_page_token")
            if not token:
                return

    # -- Artifacts ---------------------------------------------------------------------------

    def artifacts(self, run: Run) -> Iterator[ArtifactInfo]:
        try:
            files = list(self._walk(run.run_id, None))
        except BackendError as error:
            if "status" not in error.details:
                raise  # unreachable: stop rather than skip every run's artifacts
            raise ArtifactsUnavailable(error.message) from None
        return iter(files)

    def _walk(self, run_id: str, path: str | None) -> Iterator[ArtifactInfo]:
        token: str | None = None
        while True:
            params = {"run_id": run_id}
            if path:
                params["path"] = path
            if token:
                params["page_token"] = token
            answer = self._call("GET", "/api/2.0/mlflow/artifacts/list", params=params)
            for entry in answer.get("files", []):
                if entry.get("is_dir"):
                    yield from self._walk(run_id, entry["path"])
                else:
                    yield ArtifactInfo(entry["path"], False, optional_int(entry.get("file_size")))
            token = answer.get("next_page_token")
            if not token:
                return

    def download_artifact(self, run: Run, path: str, out: BinaryIO) -> None:
        root = urlsplit(self._roots.get(run.run_id, ""))
        if root.scheme == "mlflow-artifacts" and not root.netloc:
            where = f"{root.path.strip('/')}/{path}".lstrip("/")
            url, params = f"/api/2.0/mlflow-artifacts/artifacts/{quote(where)}", {}
        else:
            url, params = "/get-artifact", {"run_id": run.run_id, "path": path}
        try:
            with self._client.stream("GET", url, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._fail(f"GET {url}", response)
                for chunk in response.iter_bytes():
                    out.write(chunk)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None

    def close(self) -> None:
        self._client.close()
