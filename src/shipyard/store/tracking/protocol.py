"""The tracking protocol: everything the SDK asks of a metadata store.

Implemented by :class:`~shipyard.store.tracking.sql.SqlTrackingStore` (SQLite, PostgreSQL) and,
for a team server, by a REST client whose server runs the same ``SqlTrackingStore``. The
conformance suite in :mod:`shipyard.testing.tracking_conformance` holds every implementation to
this contract.

Contract:
- Thread safety: one instance may be shared by the threads of a process. Several processes may
  use one database at once.
- Returned objects are frozen snapshots; later writes never change them.
- Every write is atomic: it fails whole, and a failed write changes nothing.
- Errors are :class:`~shipyard.errors.ShipyardError` subclasses: ``NotFoundError`` for an unknown
  id, ``InvalidInputError`` for a value that breaks a documented limit, ``ConflictError`` for a
  param set again to another value, ``InvalidStateError`` for metrics or params logged to a run
  that has ended or is deleted, ``FilterSyntaxError`` for a filter that does not parse.
- Times are milliseconds since the epoch.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

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


class TrackingStore(abc.ABC):
    # -- Experiments -------------------------------------------------------------------------

    @abc.abstractmethod
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        """Create an experiment and return its id. ``AlreadyExistsError`` if the name is taken."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment: ...

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    @abc.abstractmethod
    def search_experiments(
        self, view: ViewType = ViewType.ACTIVE_ONLY, name_like: str | None = None
    ) -> list[Experiment]:
        """Experiments ordered by id; ``name_like`` is a SQL LIKE pattern."""

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and its runs (they can be restored)."""

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    # -- Runs --------------------------------------------------------------------------------

    @abc.abstractmethod
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
        """Create a RUNNING run. A missing ``run_name`` gets a generated one.

        ``run_id`` keeps an id the caller chose (32 lowercase hex characters, the form of
        Shipyard's and MLflow's run ids), so a run copied between stores keeps its id; a
        malformed one is an ``InvalidInputError`` and one already taken (by any run, deleted
        ones included) an ``AlreadyExistsError``, both with ``field="run_id"``. ``None`` makes
        a new random id.
        """

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        """Change status, end time or name. A terminal status without ``end_time`` gets now."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Soft-delete: the run disappears from searches until restored."""

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Record metric points, params and tags of one run in one transaction.

        Params are immutable: setting one again to the same value is a no-op, to another value
        a ``ConflictError``. Metrics and params need an active, unfinished run; tags may be set
        on a finished run (they annotate it) but not on a deleted one.
        """

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, ordered by step then timestamp."""

    def get_metric_series(self, run_id: str, key: str, max_points: int) -> tuple[int, list[Metric]]:
        """How many points one metric has, and at most ``max_points`` of them to chart, ordered
        by step then timestamp.

        A metric of ``max_points`` points or fewer comes back whole. A longer one is cut into
        ``max_points // 2`` buckets, and each gives a point with its lowest and one with its
        highest finite value (NaN and ±inf are passed over), so spikes survive. This default
        reads the whole history and buckets consecutive points; the SQL store buckets by step
        (by time for a metric logged without steps) in the database.
        """
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points}")
        history = self.get_metric_history(run_id, key)
        if len(history) <= max_points:
            return len(history), history
        buckets = max_points // 2
        size = -(-len(history) // buckets)
        kept: list[Metric] = []
        for start in range(0, len(history), size):
            finite = [m for m in history[start:start + size]
                      if math.isfinite(m.value)]
            if finite:
                low = min(finite, key=lambda m: m.value)
                high = max(finite, key=lambda m: m.value)
                kept.extend(sorted({id(low): low, id(high): high}.values(),
                                   key=lambda m: (m.step, m.timestamp)))
        return len(history), kept

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: ViewType = ViewType.ACTIVE_ONLY,
    ) -> Page[Run]:
        """Runs matching the filter, in order. ``experiment_ids=None`` searches them all.

        The default order is newest first (start time descending, then run id).
        """

    # -- Artifacts ---------------------------------------------------------------------------

    @abc.abstractmethod
    def log_artifact_file(self, run_id: str, artifact_path: str, local_path: Path) -> ArtifactInfo:
        """Store a local file as the run's artifact at ``artifact_path`` (replacing any)."""

    @abc.abstractmethod
    def log_artifact_bytes(self, run_id: str, artifact_path: str, data: bytes) -> ArtifactInfo: ...

    @abc.abstractmethod
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        """The files and folders directly under ``path`` (the run's root when ``None``)."""

    @abc.abstractmethod
    def open_artifact(self, run_id: str, artifact_path: str) -> BinaryIO:
        """Stream one artifact file's bytes."""

    @abc.abstractmethod
    def download_artifacts(self, run_id: str, path: str | None, dest: Path) -> Path:
        """Copy a file or folder (the whole tree when ``None``) under ``dest``; return its path."""
