"""What ``shipyard sync`` reads: the :class:`SyncSource` protocol and its Shipyard-store form.

A source hands out Shipyard's own entities, whatever it reads underneath: experiments, runs
(info, params, tags and the keys of their metrics in ``data.metrics``), each metric's full
history in pages, and each run's artifact files. Three implementations exist:

- :class:`StoreSource` (here): any :class:`~shipyard.store.tracking.protocol.TrackingStore`,
  so SQLite, PostgreSQL and a Shipyard server alike;
- :class:`~shipyard.services.sync_mlflow_rest.MlflowRestSource`: an MLflow tracking server
  over its REST API;
- :class:`~shipyard.services.sync_mlflow_db.MlflowDbSource`: an MLflow database read directly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Protocol

from shipyard.entities import ArtifactInfo, Experiment, Metric, Run, ViewType
from shipyard.store.tracking.protocol import TrackingStore

RUN_PAGE = 1000
"""Runs asked for per search page."""
COPY_CHUNK = 1 << 20


class ArtifactsUnavailable(Exception):  # noqa: N818 - a signal, not an error shown as is
    """A run's artifacts cannot be read by this source; ``reason`` says why and what to do.

    The sync skips that run's artifacts with a warning, counted in the summary.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SyncSource(Protocol):
    """Read access to the tracking data of a store, in Shipyard's entities."""

    @property
    def uri(self) -> str:
        """The source's address for messages (any password hidden)."""
        ...

    def experiments(self, include_deleted: bool) -> list[Experiment]:
        """Every experiment, with its tags; deleted ones only when ``include_deleted``."""
        ...

    def runs(self, experiment: Experiment, include_deleted: bool) -> Iterator[Run]:
        """The experiment's runs with params and tags; ``data.metrics`` names every metric
        key the run has (the values are the latest points and are not used)."""
        ...

    def metric_history(self, run: Run, key: str) -> Iterator[Sequence[Metric]]:
        """Every point of one metric, in pages."""
        ...

    def artifacts(self, run: Run) -> Iterator[ArtifactInfo]:
        """Every artifact file of the run (no folders), at any depth, with its size and, where
        the source knows it, its BLAKE3 digest. Raises :class:`ArtifactsUnavailable` when the
        run's artifacts cannot be read from here."""
        ...

    def download_artifact(self, run: Run, path: str, out: BinaryIO) -> None:
        """Write the bytes of one artifact file to ``out``."""
        ...

    def close(self) -> None: ...


def walk_artifacts(store: TrackingStore, run_id: str, path: str | None = None
                   ) -> Iterator[ArtifactInfo]:
    """Every file of a run's artifact tree in a tracking store, depth first."""
    for entry in store.list_artifacts(run_id, path):
        if entry.is_dir:
            yield from walk_artifacts(store, run_id, entry.path)
        else:
            yield entry


def search_all_runs(store: TrackingStore, experiment_id: str, view: ViewType,
                    page_size: int = RUN_PAGE) -> Iterator[Run]:
    """Every run of one experiment in a tracking store, page by page."""
    token: str | None = None
    while True:
        page = store.search_runs([experiment_id], max_results=page_size, page_token=token,
                                 view=view)
        yield from page
        token = page.next_page_token
        if token is None:
            return


class StoreSource:
    """A Shipyard tracking store as a sync source. Artifacts carry their BLAKE3 digests, so
    a file changed at the source is copied again even when its size is unchanged."""

    def __init__(self, store: TrackingStore, uri: str) -> None:
        self.store = store
        self._uri = uri

    @property
    def uri(self) -> str:
        return self._uri

    def experiments(self, include_deleted: bool) -> list[Experiment]:
        return self.store.search_experiments(
            ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY)

    def runs(self, experiment: Experiment, include_deleted: bool) -> Iterator[Run]:
        view = ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY
        return search_all_runs(self.store, experiment.experiment_id, view)

    def metric_history(self, run: Run, key: str) -> Iterator[Sequence[Metric]]:
        yield self.store.get_metric_history(run.run_id, key)

    def artifacts(self, run: Run) -> Iterator[ArtifactInfo]:
        return walk_artifacts(self.store, run.run_id)

    def download_artifact(self, run: Run, path: str, out: BinaryIO) -> None:
        with self.store.open_artifact(run.run_id, path) as stream:
            shutil.copyfileobj(stream, out, COPY_CHUNK)

    def close(self) -> None:
        """The store stays open: it is shared through ``open_tracking_store``."""
