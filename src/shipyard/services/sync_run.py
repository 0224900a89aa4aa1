"""Copying one run into the destination: create it if missing, add what it lacks, finish it.

The run keeps its source id, so the destination itself records what was copied: a run found
there is compared with the source and only what is missing is written. In order:

1. create the run (RUNNING, with the source's name, user, start time and parent);
2. params, tags and metric points in ``log_batch`` calls of at most the store's limits; for
   each metric key the destination's history is compared with the source's as a multiset of
   (step, timestamp, value), so only missing points are added, however an earlier sync ended;
3. artifact files missing at the destination, or with another digest (or, when the source
   knows no digest, another size);
4. last, the source's status, end time and name, and deletion where the source run is deleted.

A run finished at the destination takes no metrics or params, so a finished run that lacks
some is reopened (``update_run(status=RUNNING)``) and finished again in step 4. A deleted one
(copied with ``include_deleted``) is restored while written to and deleted again.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from shipyard.entities import (
    ArtifactInfo,
    LifecycleStage,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunStatus,
)
from shipyard.entities import limits as lim
from shipyard.errors import (
    AlreadyExistsError,
    BackendError,
    InvalidInputError,
    NotFoundError,
    ShipyardError,
)
from shipyard.services.sync_source import ArtifactsUnavailable, SyncSource, walk_artifacts
from shipyard.services.sync_types import SyncOptions, SyncSummary
from shipyard.store.tracking.protocol import TrackingStore

PointKey = tuple[int, int, float | str]


def point_key(point: Metric) -> PointKey:
    """A metric point as a comparable value (NaN is not equal to itself, so it gets a name)."""
    value = point.value
    return point.step, point.timestamp, "NaN" if math.isnan(value) else value


def same_file(source: ArtifactInfo, dest: ArtifactInfo) -> bool:
    if source.digest is not None and dest.digest is not None:
        return source.digest == dest.digest
    return source.size is None or source.size == dest.size


@dataclass
class ExperimentContext:
    """What the runs of one experiment share while they are copied."""

    source: SyncSource
    destination: TrackingStore | None  # None: a dry run into a store that does not exist yet
    options: SyncOptions
    spool_dir: Path
    name: str
    dest_id: str | None  # None: the experiment is not at the destination (dry run)
    source_deleted: bool
    dest_deleted: bool
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def ensure_active(self) -> bool:
        """Restore the destination experiment to write into it; True when it was deleted.
        Runs are copied by several threads; one of them restores it."""
        with self.lock:
            if not self.dest_deleted or self.destination is None or self.dest_id is None:
                return False
            self.destination.restore_experiment(self.dest_id)
            self.dest_deleted = False
            return True


class RunCopier:
    """Brings one destination run level with its source run (see the module's docstring).

    Counts and warnings go to the copier's own :class:`SyncSummary`, which the caller merges,
    so copiers can run in parallel threads."""

    def __init__(self, ctx: ExperimentContext, source: Run, existing: Run | None) -> None:
        self.ctx = ctx
        self.summary = SyncSummary("", "", ctx.options.dry_run)
        self.src = source
        self.run_id = source.run_id
        self.state: RunInfo | None = existing.info if existing else None
        self.dest_data = existing.data if existing else RunData()
        self.changed = False
        self._metrics: list[Metric] = []
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}

    @property
    def dry(self) -> bool:
        return self.ctx.options.dry_run

    @property
    def store(self) -> TrackingStore:
        assert self.ctx.destination is not None  # only called when writing or reading it
        return self.ctx.destination

    def _warn(self, message: str) -> None:
        self.summary.warnings.append(message)

    def _label(self) -> str:
        return f"run {self.run_id} ({self.src.info.run_name}) of experiment {self.ctx.name!r}"

    # -- The whole run -----------------------------------------------------------------------

    def copy(self) -> SyncSummary:
        """Copy what the destination lacks and return the counts; a run that cannot be copied
        is skipped with a warning. Failures of the stores themselves (``BackendError``) stop
        the sync: run it again to continue."""
        summary = self.summary
        if (self.state is not None and self.state.lifecycle_stage == LifecycleStage.DELETED
                and self.src.info.lifecycle_stage == LifecycleStage.ACTIVE
                and not self.ctx.source_deleted):
            self._warn(f"{self._label()} is deleted at the destination; restore it there "
                       "to sync it again")
            summary.runs.skipped += 1
            return summary
        try:
            if self.state is None and not self._create():
                summary.runs.skipped += 1
                return summary
            self._queue_params()
            self._queue_tags()
            for key in sorted(self.src.data.metrics):
                self._sync_metric(key)
            self._flush()
            self._sync_artifacts()
            self._finish()
        except BackendError:
            raise
        except ShipyardError as error:
            self._warn(f"{self._label()} was not fully copied: {error.message}")
            summary.runs.skipped += 1
            return summary
        if self.changed:
            summary.runs.copied += 1
        else:
            summary.runs.present += 1
        return summary

    def _writable(self, running: bool) -> None:
        """Make the destination run take writes: restore what is deleted and, for metrics
        and params, reopen a finished run."""
        if self.ctx.ensure_active():
            self.state = self.store.get_run(self.run_id).info
        assert self.state is not None
        if self.state.lifecycle_stage == LifecycleStage.DELETED:
            self.store.restore_run(self.run_id)
            self.state = dataclasses.replace(self.state, lifecycle_stage=LifecycleStage.ACTIVE)
        if running and self.state.status.is_terminal:
            self.state = self.store.update_run(self.run_id, status=RunStatus.RUNNING)

    def _create(self) -> bool:
        self.changed = True
        if self.dry or self.ctx.dest_id is None:
            return True
        self.ctx.ensure_active()
        info = self.src.info
        parent = info.parent_run_id
        try:
            try:
                run = self._create_run(parent)
            except NotFoundError as error:
                if parent is None or error.field != "parent_run_id":
                    raise
                self._warn(f"{self._label()}: its parent run {parent} is not at the "
                           "destination; copied without the link")
                run = self._create_run(None)
        except AlreadyExistsError:
            where = self.store.get_run(self.run_id).info.experiment_id
            name = self.store.get_experiment(where).name
            self._warn(f"{self._label()} already exists at the destination in experiment "
                       f"{name!r}; skipped")
            return False
        self.state = run.info
        return True

    def _create_run(self, parent: str | None) -> Run:
        info = self.src.info
        assert self.ctx.dest_id is not None
        return self.store.create_run(
            self.ctx.dest_id, run_name=info.run_name if info.run_name.strip() else None,
            user=info.user, start_time=info.start_time, parent_run_id=parent,
            run_id=self.run_id,
        )

    # -- Params, tags, metrics ---------------------------------------------------------------

    def _acceptable(self, kind: str, key: str, value: str | None, limit: int) -> bool:
        """Whether the destination takes this key (and value); if not, say so."""
        try:
            lim.check_key(key, kind)
            if value is not None:
                lim.check_value(value, kind, key, limit)
        except InvalidInputError as error:
            self._warn(f"{self._label()}: {kind} {key!r} not copied: {error.message}")
            return False
        return True

    def _queue_params(self) -> None:
        tally = self.summary.params
        for key, value in self.src.data.params.items():
            if not self._acceptable("param", key, value, lim.MAX_PARAM_VALUE):
                tally.skipped += 1
                continue
            have = self.dest_data.params.get(key)
            if have is None:
                self._params[key] = value
                if len(self._params) >= self.ctx.options.batch_params:
                    self._flush()
            elif have == value:
                tally.present += 1
            else:
                self._warn(f"{self._label()}: param {key!r} is {have!r} at the destination "
                           f"and {value!r} at the source; params cannot change, kept "
                           f"{have!r}")
                tally.skipped += 1

    def _queue_tags(self) -> None:
        for key, value in self.src.data.tags.items():
            if not self._acceptable("tag", key, value, lim.MAX_TAG_VALUE):
                self.summary.tags.skipped += 1
                continue
            if self.dest_data.tags.get(key) == value:
                self.summary.tags.present += 1
                continue
            self._tags[key] = value
            if len(self._tags) >= self.ctx.options.batch_tags:
                self._flush()

    def _sync_metric(self, key: str) -> None:
        if not self._acceptable("metric", key, None, 0):
            for page in self.ctx.source.metric_history(self.src, key):
                self.summary.metric_points.skipped += len(page)
            return
        have: Counter[PointKey] | None = None
        if self.state is not None and key in self.dest_data.metrics:
            have = Counter(point_key(p) for p in self.store.get_metric_history(self.run_id, key))
        limit = self.ctx.options.batch_metrics
        tally = self.summary.metric_points
        for page in self.ctx.source.metric_history(self.src, key):
            for point in page:
                if have is not None:
                    found = point_key(point)
                    if have[found] > 0:
                        have[found] -= 1
                        tally.present += 1
                        continue
                self._metrics.append(point)
                if len(self._metrics) >= limit:
                    self._flush()

    def _flush(self) -> None:
        metrics, params, tags = self._metrics, self._params, self._tags
        if not (metrics or params or tags):
            return
        self.changed = True
        if not self.dry and self.state is not None:
            self._writable(running=bool(metrics or params))
            self.store.log_batch(self.run_id, metrics=metrics, params=params, tags=tags)
        summary = self.summary
        summary.metric_points.copied += len(metrics)
        summary.params.copied += len(params)
        summary.tags.copied += len(tags)
        self._metrics, self._params, self._tags = [], {}, {}

    # -- Artifacts ---------------------------------------------------------------------------

    def _sync_artifacts(self) -> None:
        summary = self.summary
        try:
            files = list(self.ctx.source.artifacts(self.src))
        except ArtifactsUnavailable as gone:
            self._warn(f"{self._label()}: artifacts not copied: {gone.reason}")
            summary.artifacts.skipped += 1
            return
        have = ({a.path: a for a in walk_artifacts(self.store, self.run_id)}
                if self.state is not None and files else {})
        for file in files:
            present = have.get(file.path)
            if present is not None and same_file(file, present):
                summary.artifacts.present += 1
                continue
            self.changed = True
            if self.dry or self.state is None:
                size = file.size or 0
            else:
                self._writable(running=False)
                size = self._copy_artifact(file.path)
            summary.artifacts.copied += 1
            summary.artifact_bytes += size

    def _copy_artifact(self, path: str) -> int:
        """Spool the file to local disk (memory stays flat), then store it; its size."""
        handle, name = tempfile.mkstemp(dir=self.ctx.spool_dir)
        spooled = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                self.ctx.source.download_artifact(self.src, path, out)
            self.store.log_artifact_file(self.run_id, path, spooled)
            return spooled.stat().st_size
        finally:
            spooled.unlink(missing_ok=True)

    # -- Status, end time, name, deletion ----------------------------------------------------

    def _finish(self) -> None:
        if self.state is None:  # a dry run's new run: already counted as copied
            return
        info, state = self.src.info, self.state
        restatus = state.status != info.status or (
            info.status.is_terminal and info.end_time is not None
            and state.end_time != info.end_time
        )
        rename = bool(info.run_name.strip()) and state.run_name != info.run_name
        if restatus or rename:
            self.changed = True
            if not self.dry:
                self._writable(running=False)
                self.state = self.store.update_run(
                    self.run_id,
                    status=info.status if restatus else None,
                    end_time=info.end_time if restatus and info.status.is_terminal else None,
                    run_name=info.run_name if rename else None,
                )
        deleted_alone = (info.lifecycle_stage == LifecycleStage.DELETED
                         and not self.ctx.source_deleted)
        if deleted_alone and self.state.lifecycle_stage == LifecycleStage.ACTIVE:
            self.changed = True
            if not self.dry:
                self.store.delete_run(self.run_id)
