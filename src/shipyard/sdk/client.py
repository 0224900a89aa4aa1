"""``Client``: the explicit, run-id based API over one tracking store."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.entities import (
    ArtifactInfo,
    Experiment,
    LifecycleStage,
    Metric,
    Page,
    Run,
    RunInfo,
    RunStatus,
    ViewType,
)
from shipyard.entities import limits as lim
from shipyard.errors import InvalidInputError, InvalidStateError
from shipyard.sdk.metric_buffer import MetricBuffer
from shipyard.store.tracking.factory import open_tracking_store
from shipyard.store.tracking.protocol import TrackingStore

if TYPE_CHECKING:
    from shipyard.services.data.service import DatasetService
    from shipyard.store.registry.protocol import ModelRegistry


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Client:
    """Reads and writes experiments, runs and artifacts by id.

    Metric points logged with :meth:`log_metric` are batched and written in the background;
    :meth:`flush` (called by every read and by :meth:`set_terminated`) makes them durable.
    Everything else is written before the call returns.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        artifacts_uri: str | None = None,
        *,
        store: TrackingStore | None = None,
    ) -> None:
        self.store = store or open_tracking_store(tracking_uri, artifacts_uri)
        self._buffer = MetricBuffer(self.store)
        self._datasets: DatasetService | None = None
        self._registry: ModelRegistry | None = None
        self._checked_keys: set[str] = set()
        self._running: set[str] = set()  # runs known to accept metrics

    @property
    def datasets(self) -> DatasetService:
        """Dataset versions in the same metadata database and artifact store as the runs."""
        if self._datasets is None:
            from shipyard.services.data.service import DatasetService
            from shipyard.store.data.sql import SqlDatasetStore

            engine = getattr(self.store, "engine", None)
            content = getattr(self.store, "content", None)
            if engine is None or content is None:
                raise InvalidStateError(
                    "dataset versions are read and written next to the metadata database and "
                    "artifact store; the tracking URI names a server, so set "
                    "SHIPYARD_TRACKING_URI to the server's database URL and "
                    "SHIPYARD_ARTIFACTS_URI to its artifact store", field="tracking_uri")
            self._datasets = DatasetService(SqlDatasetStore(engine), content)
        return self._datasets

    @property
    def registry(self) -> ModelRegistry:
        """The model registry: the service over the same metadata database or, for an
        http(s) tracking URI, the server's, through
        :class:`~shipyard.store.rest.registry_client.RestRegistry` (the rules run on the
        server, which takes the actor from the request, not from ``actor=``)."""
        if self._registry is None:
            if getattr(self.store, "engine", None) is None:
                from shipyard.store.rest.client import RestTrackingStore
                from shipyard.store.rest.registry_client import RestRegistry

                if isinstance(self.store, RestTrackingStore):
                    self._registry = RestRegistry(self.store)
                    return self._registry
            from shipyard.services.registry.service import RegistryService

            self._registry = RegistryService(self._engine("the model registry"))
        return self._registry

    def _engine(self, what: str) -> Any:
        engine = getattr(self.store, "engine", None)
        if engine is None:
            raise InvalidStateError(
                f"{what} is read and written next to the metadata database; the tracking URI "
                "names a server, so set SHIPYARD_TRACKING_URI to the server's database URL",
                field="tracking_uri")
        return engine

    # -- Experiments -------------------------------------------------------------------------

    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        return self.store.create_experiment(name, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def get_or_create_experiment(self, name: str) -> Experiment:
        found = self.store.get_experiment_by_name(name)
        if found is None:
            from shipyard.errors import AlreadyExistsError

            with contextlib.suppress(AlreadyExistsError):  # another process was quicker
                self.store.create_experiment(name)
            found = self.store.get_experiment_by_name(name)
            assert found is not None
        if found.lifecycle_stage == LifecycleStage.DELETED:
            raise InvalidStateError(
                f"experiment {name!r} is deleted; restore it with "
                f"`shipyard experiments restore {found.experiment_id}` or pick another name",
                field="experiment",
            )
        return found

    def search_experiments(
        self, view: ViewType = ViewType.ACTIVE_ONLY, name_like: str | None = None
    ) -> list[Experiment]:
        return self.store.search_experiments(view, name_like)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.store.set_experiment_tag(experiment_id, key, value)

    # -- Runs --------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
        user: str | None = None,
    ) -> Run:
        from shipyard import settings

        run = self.store.create_run(
            experiment_id, run_name=run_name, user=user or settings.current_user(),
            start_time=start_time, tags=tags, parent_run_id=parent_run_id,
        )
        self._running.add(run.run_id)
        return run

    def get_run(self, run_id: str) -> Run:
        self.flush()
        return self.store.get_run(run_id)

    def set_terminated(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED,
        end_time: int | None = None,
    ) -> RunInfo:
        """End a run: its pending metric points are written first."""
        status = RunStatus(status)
        self.flush()
        info = self.store.update_run(run_id, status=status, end_time=end_time)
        if status.is_terminal:
            self._running.discard(run_id)
        return info

    def update_run(self, run_id: str, *, run_name: str | None = None,
                   status: RunStatus | str | None = None) -> RunInfo:
        info = self.store.update_run(run_id, status=None if status is None else RunStatus(status),
                                     run_name=run_name)
        if info.status == RunStatus.RUNNING:
            self._running.add(run_id)
        else:
            self._running.discard(run_id)
        return info

    def delete_run(self, run_id: str) -> None:
        self.flush()
        self.store.delete_run(run_id)
        self._running.discard(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    # -- Logging -----------------------------------------------------------------------------

    def _check_running(self, run_id: str) -> None:
        if run_id in self._running:
            return
        info = self.store.get_run(run_id).info
        if info.lifecycle_stage == LifecycleStage.DELETED:
            raise InvalidStateError(f"run {run_id!r} is deleted; restore it before logging to it",
                                    field="run_id")
        if info.status.is_terminal:
            raise InvalidStateError(
                f"run {run_id!r} has ended ({info.status}); metrics and params can only be "
                "logged to a running run", field="run_id",
            )
        self._running.add(run_id)

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        step: int | None = None,
        timestamp: int | None = None,
        *,
        synchronous: bool = False,
    ) -> None:
        """Record one point. Batched unless ``synchronous``; NaN and ±inf are kept."""
        if key not in self._checked_keys:
            lim.check_key(key, "metric")
            self._checked_keys.add(key)
        if run_id not in self._running:
            self._check_running(run_id)
        value = value if type(value) is float else lim.check_metric_value(key, value)
        step = 0 if step is None else lim.check_step(key, step)
        timestamp = time.time_ns() // 1_000_000 if timestamp is None else timestamp
        if synchronous:
            self.store.log_batch(run_id, metrics=[Metric(key, value, step, timestamp)])
        else:
            self._buffer.add((run_id, key, value, step, timestamp))

    def log_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int | None = None,
        timestamp: int | None = None, *, synchronous: bool = False,
    ) -> None:
        timestamp = _now_ms() if timestamp is None else timestamp
        for key, value in metrics.items():
            self.log_metric(run_id, key, value, step, timestamp, synchronous=synchronous)

    def log_param(self, run_id: str, key: str, value: object) -> None:
        self.log_params(run_id, {key: value})

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        """Params are immutable: the same value again is fine, another value is an error."""
        self.store.log_batch(run_id, params={k: _param_text(v) for k, v in params.items()})

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        self.set_tags(run_id, {key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        self.store.log_batch(run_id, tags={k: str(v) for k, v in tags.items()})

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
    ) -> None:
        """Write points, params and tags at once, before returning."""
        self.store.log_batch(
            run_id,
            metrics=metrics,
            params={k: _param_text(v) for k, v in (params or {}).items()},
            tags={k: str(v) for k, v in (tags or {}).items()},
        )

    def flush(self) -> None:
        """Make every metric point logged so far durable."""
        self._buffer.flush()

    # -- Reading -----------------------------------------------------------------------------

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.flush()
        return self.store.get_metric_history(run_id, key)

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: ViewType | str = ViewType.ACTIVE_ONLY,
    ) -> Page[Run]:
        """One page of runs; see :doc:`/search` for the filter grammar."""
        self.flush()
        return self.store.search_runs(
            experiment_ids, filter_string, order_by, max_results, page_token, ViewType(view)
        )

    def iter_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        view: ViewType | str = ViewType.ACTIVE_ONLY,
        page_size: int = 10_000,
    ) -> Iterator[Run]:
        """Every matching run, page after page."""
        token: str | None = None
        while True:
            page = self.search_runs(experiment_ids, filter_string, order_by, page_size, token,
                                    view)
            yield from page.items
            token = page.next_page_token
            if token is None:
                return

    # -- Artifacts ---------------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> ArtifactInfo:
        """Store one file under the run, in folder ``artifact_path`` (the root when None)."""
        path = Path(local_path)
        if not path.is_file():
            raise InvalidInputError(f"{path} is not a file", field="local_path")
        target = f"{artifact_path.rstrip('/')}/{path.name}" if artifact_path else path.name
        return self.store.log_artifact_file(run_id, target, path)

    def log_artifacts(
        self, run_id: str, local_dir: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        """Store every file of a folder, keeping its layout."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidInputError(f"{root} is not a folder", field="local_dir")
        prefix = f"{artifact_path.rstrip('/')}/" if artifact_path else ""
        return [
            self.store.log_artifact_file(run_id, prefix + file.relative_to(root).as_posix(), file)
            for file in sorted(root.rglob("*")) if file.is_file()
        ]

    def log_text(self, run_id: str, text: str, artifact_file: str) -> ArtifactInfo:
        return self.store.log_artifact_bytes(run_id, artifact_file, text.encode("utf-8"))

    def log_dict(self, run_id: str, dictionary: Mapping[str, Any], artifact_file: str
                 ) -> ArtifactInfo:
        """Save as JSON (or YAML for a ``.yaml``/``.yml`` name)."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            text = yaml.safe_dump(dict(dictionary), sort_keys=False)
        else:
            try:
                text = json.dumps(dictionary, indent=2, default=str)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"dictionary is not JSON-serialisable: {exc}",
                                        field="dictionary") from None
        return self.log_text(run_id, text, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> ArtifactInfo:
        """Save a matplotlib figure (format from the name's suffix) or a plotly figure (.html)."""
        if hasattr(figure, "savefig"):
            fmt = Path(artifact_file).suffix.lstrip(".") or "png"
            data = io.BytesIO()
            figure.savefig(data, format=fmt)
            return self.store.log_artifact_bytes(run_id, artifact_file, data.getvalue())
        if hasattr(figure, "write_html"):
            if not artifact_file.endswith(".html"):
                raise InvalidInputError("a plotly figure is saved as .html",
                                        field="artifact_file")
            buffer = io.StringIO()
            figure.write_html(buffer, include_plotlyjs=True)
            return self.log_text(run_id, buffer.getvalue(), artifact_file)
        raise InvalidInputError(
            f"cannot save a {type(figure).__name__}: pass a matplotlib or plotly figure",
            field="figure",
        )

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        return self.store.list_artifacts(run_id, path)

    def download_artifacts(self, run_id: str, path: str | None = None,
                           dst_path: str | Path = ".") -> Path:
        return self.store.download_artifacts(run_id, path, Path(dst_path))

    def read_artifact_bytes(self, run_id: str, path: str) -> bytes:
        with self.store.open_artifact(run_id, path) as stream:
            return stream.read()


def _param_text(value: object) -> str:
    return value if isinstance(value, str) else str(value)
