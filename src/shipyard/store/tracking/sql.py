"""The tracking protocol on SQLAlchemy Core: SQLite by default, PostgreSQL at scale."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from shipyard.artifacts import ContentStore
from shipyard.entities import (
    ArtifactInfo,
    Experiment,
    LifecycleStage,
    Metric,
    Page,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    ViewType,
)
from shipyard.entities import limits as lim
from shipyard.entities.names import random_run_name
from shipyard.errors import (
    AlreadyExistsError,
    BackendError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)
from shipyard.store import migrate
from shipyard.store import schema as t
from shipyard.store.db import SQLITE_BEGIN
from shipyard.store.tracking import sql_artifacts, sql_logging, sql_rows, sql_search, sql_series
from shipyard.store.tracking.protocol import TrackingStore

_RUN_ID_RE = re.compile(r"[0-9a-f]{32}")


def _check_run_id(run_id: object) -> None:
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise InvalidInputError(
            f"run_id {run_id!r} must be 32 lowercase hex characters, like "
            f"{uuid.uuid4().hex!r}", field="run_id")


# Built once: the hot logging path looks up its run on every batch.
_RUN_BY_ID = select(*sql_rows.RUN_COLUMNS).where(t.runs.c.run_id == bindparam("run_id"))
_EXPERIMENT_STAGE = select(t.experiments.c.name, t.experiments.c.lifecycle_stage).where(
    t.experiments.c.experiment_id == bindparam("experiment_id"))
# Built once: the pipeline cache asks this once per step (see newest_tagged_run).
_NEWEST_TAGGED = (
    select(t.runs.c.run_id)
    .join(t.tags, t.tags.c.run_id == t.runs.c.run_id)
    .where(t.runs.c.experiment_id == bindparam("experiment_id"),
           t.tags.c.key == bindparam("key"), t.tags.c.value == bindparam("value"),
           t.runs.c.status == bindparam("status"),
           t.runs.c.lifecycle_stage == LifecycleStage.ACTIVE.value)
    .order_by(t.runs.c.start_time.desc(), t.runs.c.run_id.asc())
    .limit(1)
)
_TAGS_OF_RUN = select(t.tags.c.key, t.tags.c.value).where(t.tags.c.run_id == bindparam("run_id"))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _experiment_pk(experiment_id: str) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError):
        raise NotFoundError(
            f"experiment {experiment_id!r} does not exist (experiment ids are numbers)",
            field="experiment_id",
        ) from None


class SqlTrackingStore(TrackingStore):
    """Tracking metadata in a SQL database; artifact bytes in a content-addressed store."""

    def __init__(self, engine: Engine, content: ContentStore) -> None:
        self.engine = engine
        self.content = content
        self._writer = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        try:
            migrate.ensure_current(engine)
        except OperationalError as exc:
            raise BackendError(f"cannot open the metadata database: {exc.orig}") from exc

    # -- Transactions ------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._writer.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise BackendError(f"metadata database write failed: {exc.orig}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise BackendError(f"metadata database read failed: {exc.orig}") from exc

    # -- Experiments -------------------------------------------------------------------------

    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        lim.check_name(name, "experiment name", lim.MAX_EXPERIMENT_NAME)
        tag_rows = sql_logging.checked_tags(tags or {})
        now = now_ms()
        try:
            with self._write() as conn:
                experiment_pk = conn.execute(
                    insert(t.experiments).returning(t.experiments.c.experiment_id),
                    {"name": name, "lifecycle_stage": LifecycleStage.ACTIVE,
                     "creation_time": now, "last_update_time": now},
                ).scalar_one()
                if tag_rows:
                    conn.execute(
                        insert(t.experiment_tags),
                        [{"experiment_id": experiment_pk, "key": k, "value": v}
                         for k, v in tag_rows.items()],
                    )
        except IntegrityError:
            raise AlreadyExistsError(
                f"an experiment named {name!r} already exists", field="experiment name"
            ) from None
        return str(experiment_pk)

    def _experiments(self, conn: Connection, where: object | None) -> list[Experiment]:
        query = select(t.experiments).order_by(t.experiments.c.experiment_id)
        if where is not None:
            query = query.where(where)  # type: ignore[arg-type]
        rows = conn.execute(query).all()
        tags: dict[int, dict[str, str]] = {row.experiment_id: {} for row in rows}
        if rows:
            for eid, key, value in conn.execute(
                select(t.experiment_tags).where(t.experiment_tags.c.experiment_id.in_(tags))
            ):
                tags[eid][key] = value
        return [
            Experiment(
                experiment_id=str(row.experiment_id),
                name=row.name,
                lifecycle_stage=LifecycleStage(row.lifecycle_stage),
                creation_time=row.creation_time,
                last_update_time=row.last_update_time,
                tags=tags[row.experiment_id],
            )
            for row in rows
        ]

    def get_experiment(self, experiment_id: str) -> Experiment:
        pk = _experiment_pk(experiment_id)
        with self._read() as conn:
            found = self._experiments(conn, t.experiments.c.experiment_id == pk)
        if not found:
            raise NotFoundError(f"experiment {experiment_id!r} does not exist",
                                field="experiment_id")
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            found = self._experiments(conn, t.experiments.c.name == name)
        return found[0] if found else None

    def search_experiments(
        self, view: ViewType = ViewType.ACTIVE_ONLY, name_like: str | None = None
    ) -> list[Experiment]:
        conditions = []
        stage = sql_search.stage_condition(t.experiments.c.lifecycle_stage, view)
        if stage is not None:
            conditions.append(stage)
        if name_like:
            conditions.append(t.experiments.c.name.like(name_like))
        from sqlalchemy import and_

        with self._read() as conn:
            return self._experiments(conn, and_(*conditions) if conditions else None)

    def _set_experiment_stage(self, experiment_id: str, stage: LifecycleStage) -> None:
        """Delete or restore an experiment with the runs it holds.

        Deleting marks the experiment's active runs as deleted with it; restoring brings back
        exactly those, so a run deleted on its own before stays deleted.
        """
        pk = _experiment_pk(experiment_id)
        now = now_ms()
        e, r = t.experiments.c, t.runs.c
        with self._write() as conn:
            row = conn.execute(select(e.lifecycle_stage).where(e.experiment_id == pk)).first()
            if row is None:
                raise NotFoundError(f"experiment {experiment_id!r} does not exist",
                                    field="experiment_id")
            if row.lifecycle_stage == stage:
                return
            conn.execute(update(t.experiments).where(e.experiment_id == pk)
                         .values(lifecycle_stage=stage, last_update_time=now))
            if stage == LifecycleStage.DELETED:
                conn.execute(update(t.runs).where(
                    r.experiment_id == pk, r.lifecycle_stage == LifecycleStage.ACTIVE
                ).values(lifecycle_stage=stage, deleted_time=now, deleted_with_experiment=True))
            else:
                conn.execute(update(t.runs).where(
                    r.experiment_id == pk, r.deleted_with_experiment.is_(True)
                ).values(lifecycle_stage=stage, deleted_time=None, deleted_with_experiment=False))

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        pk = _experiment_pk(experiment_id)
        rows = sql_logging.checked_tags({key: value})
        with self._write() as conn:
            if not self._experiments(conn, t.experiments.c.experiment_id == pk):
                raise NotFoundError(f"experiment {experiment_id!r} does not exist",
                                    field="experiment_id")
            sql_logging.upsert_pairs(conn, t.experiment_tags, "experiment_id", pk, rows)

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
        if run_id is not None:
            _check_run_id(run_id)
        experiment_pk = _experiment_pk(experiment_id)
        name = random_run_name() if run_name is None else run_name
        lim.check_name(name, "run name", lim.MAX_RUN_NAME)
        if len(user) > lim.MAX_USER:
            raise InvalidInputError(f"user is {len(user)} characters long; the limit is "
                                    f"{lim.MAX_USER}", field="user")
        tag_rows = sql_logging.checked_tags(tags or {})
        info = RunInfo(
            run_id=uuid.uuid4().hex if run_id is None else run_id,
            experiment_id=str(experiment_pk),
            run_name=name,
            user=user,
            status=RunStatus.RUNNING,
            start_time=now_ms() if start_time is None else start_time,
            end_time=None,
            lifecycle_stage=LifecycleStage.ACTIVE,
            parent_run_id=parent_run_id,
        )
        with self._write() as conn:
            # Only the name and stage: loading the experiment with its tags would be a
            # second query on every run start.
            experiment = conn.execute(_EXPERIMENT_STAGE, {"experiment_id": experiment_pk}).first()
            if experiment is None:
                raise NotFoundError(f"experiment {experiment_id!r} does not exist",
                                    field="experiment_id")
            if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidStateError(
                    f"experiment {experiment.name!r} is deleted; restore it to add runs",
                    field="experiment_id",
                )
            if parent_run_id is not None:
                self._info(conn, parent_run_id, field="parent_run_id")
            if run_id is not None and conn.execute(
                select(t.runs.c.run_id).where(t.runs.c.run_id == run_id)
            ).first() is not None:
                raise AlreadyExistsError(f"a run with id {run_id!r} already exists",
                                         field="run_id")
            try:
                conn.execute(insert(t.runs), {
                    "run_id": info.run_id, "experiment_id": int(info.experiment_id),
                    "run_name": name, "user_id": user, "status": info.status,
                    "start_time": info.start_time, "end_time": None,
                    "lifecycle_stage": info.lifecycle_stage, "parent_run_id": parent_run_id,
                })
            except IntegrityError:  # PostgreSQL: another writer took the id since the check
                raise AlreadyExistsError(f"a run with id {info.run_id!r} already exists",
                                         field="run_id") from None
            sql_logging.upsert_pairs(conn, t.tags, "run_id", info.run_id, tag_rows)
        return Run(info, RunData(tags=dict(tag_rows)))

    def _info(self, conn: Connection, run_id: str, field: str = "run_id") -> RunInfo:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError(f"{field} must be a non-empty string", field=field)
        row = conn.execute(_RUN_BY_ID, {"run_id": run_id}).first()
        if row is None:
            raise NotFoundError(f"run {run_id!r} does not exist", field=field)
        return sql_rows.run_info(row)

    def get_run(self, run_id: str) -> Run:
        with self._read() as conn:
            return sql_rows.load_runs(conn, [self._info(conn, run_id)])[0]

    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values: dict[str, object] = {}
        if status is not None:
            status = RunStatus(status)
            values["status"] = status
            if status.is_terminal:
                values["end_time"] = now_ms() if end_time is None else end_time
        elif end_time is not None:
            values["end_time"] = end_time
        if run_name is not None:
            values["run_name"] = lim.check_name(run_name, "run name", lim.MAX_RUN_NAME)
        with self._write() as conn:
            info = self._info(conn, run_id)
            if info.lifecycle_stage == LifecycleStage.DELETED:
                raise InvalidStateError(f"run {run_id!r} is deleted; restore it first",
                                        field="run_id")
            if not values:
                return info
            conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(**values))
            # The row as written, without reading it back (every run's end comes here).
            return dataclasses.replace(info, **values)  # type: ignore[arg-type]

    def _set_run_stage(self, run_id: str, stage: LifecycleStage) -> None:
        with self._write() as conn:
            info = self._info(conn, run_id)
            if stage == LifecycleStage.ACTIVE:
                experiment_stage = conn.execute(
                    select(t.experiments.c.lifecycle_stage)
                    .where(t.experiments.c.experiment_id == int(info.experiment_id))
                ).scalar()
                if experiment_stage == LifecycleStage.DELETED:
                    raise InvalidStateError(
                        f"run {run_id!r} belongs to deleted experiment {info.experiment_id}; "
                        "restore the experiment first", field="run_id",
                    )
            conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(
                lifecycle_stage=stage,
                deleted_time=now_ms() if stage == LifecycleStage.DELETED else None,
            ))

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        batch = sql_logging.checked_batch(metrics, params or {}, tags or {})
        with self._write() as conn:
            info = self._info(conn, run_id)
            sql_logging.check_writable(info, batch)
            sql_logging.write_batch(conn, info, batch)

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as conn:
            info = self._info(conn, run_id)
            if info.lifecycle_stage == LifecycleStage.DELETED:
                raise InvalidStateError(f"run {run_id!r} is deleted", field="run_id")
            gone = conn.execute(
                delete(t.tags).where(t.tags.c.run_id == run_id, t.tags.c.key == key)
            ).rowcount
            if not gone:
                raise NotFoundError(f"run {run_id!r} has no tag {key!r}", field="tag key")

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        m = t.metrics.c
        with self._read() as conn:
            self._info(conn, run_id)
            rows = conn.execute(
                select(m.key, m.value, m.step, m.timestamp)
                .where(m.run_id == run_id, m.key == key)
                .order_by(m.step, m.timestamp)
            )
            return [sql_rows.metric(row) for row in rows]

    def get_metric_series(self, run_id: str, key: str, max_points: int) -> tuple[int, list[Metric]]:
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points}")
        with self._read() as conn:
            self._info(conn, run_id)
            return sql_series.series(conn, run_id, key, max_points)

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: ViewType = ViewType.ACTIVE_ONLY,
    ) -> Page[Run]:
        lim.check_max_results(max_results)
        with self._read() as conn, sql_rows.gc_paused():
            infos, token = sql_search.search(conn, experiment_ids, filter_string, order_by,
                                             max_results, page_token, ViewType(view))
            runs = sql_rows.load_runs(conn, infos)
        return Page(runs, token)

    # -- Bulk records and exact lookups (pipeline steps) --------------------------------------

    def newest_tagged_run(self, experiment_id: str, key: str, value: str,
                          status: RunStatus = RunStatus.FINISHED
                          ) -> tuple[str, dict[str, str]] | None:
        """The id and tags of the newest active run of ``experiment_id`` in ``status`` whose tag
        ``key`` is ``value``: the run ``search_runs`` finds for that filter with
        ``max_results=1``, without parsing and planning a filter string each time."""
        pk = _experiment_pk(experiment_id)
        with self._read() as conn:
            run_id = conn.execute(_NEWEST_TAGGED, {
                "experiment_id": pk, "key": key, "value": value,
                "status": RunStatus(status).value}).scalar()
            if run_id is None:
                return None
            tags = {row.key: row.value for row in conn.execute(_TAGS_OF_RUN, {"run_id": run_id})}
        return run_id, tags

    def create_ended_runs(self, runs: Sequence[Run]) -> None:
        """Insert runs that have already ended, each with its tags and params, in one
        transaction (a record made after the fact, such as a pipeline step taken from the
        cache; ``create_run`` then ``update_run`` would be two transactions per run). All or
        none are written; metrics are not taken."""
        if not runs:
            return
        run_rows: list[dict[str, object]] = []
        tag_rows: list[dict[str, object]] = []
        param_rows: list[dict[str, object]] = []
        for run in runs:
            info = run.info
            _check_run_id(info.run_id)
            if not RunStatus(info.status).is_terminal or info.end_time is None:
                raise InvalidInputError(f"run {info.run_id!r} has not ended: give a terminal "
                                        "status and an end time", field="status")
            if run.data.metrics:
                raise InvalidInputError("create_ended_runs takes no metrics", field="metrics")
            lim.check_name(info.run_name, "run name", lim.MAX_RUN_NAME)
            if len(info.user) > lim.MAX_USER:
                raise InvalidInputError(f"user is {len(info.user)} characters long; the limit "
                                        f"is {lim.MAX_USER}", field="user")
            run_rows.append({
                "run_id": info.run_id, "experiment_id": _experiment_pk(info.experiment_id),
                "run_name": info.run_name, "user_id": info.user,
                "status": RunStatus(info.status).value, "start_time": info.start_time,
                "end_time": info.end_time, "lifecycle_stage": LifecycleStage.ACTIVE.value,
                "parent_run_id": info.parent_run_id})
            tag_rows += [{"run_id": info.run_id, "key": k, "value": v}
                         for k, v in sql_logging.checked_tags(run.data.tags).items()]
            param_rows += [{"run_id": info.run_id, "key": k, "value": v}
                           for k, v in sql_logging.checked_params(run.data.params).items()]
        ids = {str(row["run_id"]) for row in run_rows}
        if len(ids) != len(run_rows):
            raise InvalidInputError("the runs repeat a run id", field="run_id")
        experiments = {int(str(row["experiment_id"])) for row in run_rows}
        parents = {str(row["parent_run_id"]) for row in run_rows
                   if row["parent_run_id"] is not None} - ids
        e, r = t.experiments.c, t.runs.c
        try:
            with self._write() as conn:
                stages = dict(conn.execute(select(e.experiment_id, e.lifecycle_stage)
                                           .where(e.experiment_id.in_(experiments))).all())
                for pk in experiments:
                    if pk not in stages:
                        raise NotFoundError(f"experiment '{pk}' does not exist",
                                            field="experiment_id")
                    if stages[pk] != LifecycleStage.ACTIVE:
                        raise InvalidStateError(f"experiment '{pk}' is deleted; restore it to "
                                                "add runs", field="experiment_id")
                found = set(conn.execute(select(r.run_id).where(r.run_id.in_(parents)))
                            .scalars())
                for parent in parents - found:
                    raise NotFoundError(f"run {parent!r} does not exist",
                                        field="parent_run_id")
                conn.execute(insert(t.runs), run_rows)
                if tag_rows:
                    conn.execute(insert(t.tags), tag_rows)
                if param_rows:
                    conn.execute(insert(t.params), param_rows)
        except IntegrityError:
            raise AlreadyExistsError("a run with one of these ids already exists",
                                     field="run_id") from None

    # -- Artifacts ---------------------------------------------------------------------------

    def _artifact_run(self, run_id: str) -> RunInfo:
        with self._read() as conn:
            info = self._info(conn, run_id)
        if info.lifecycle_stage == LifecycleStage.DELETED:
            raise InvalidStateError(f"run {run_id!r} is deleted; restore it first",
                                    field="run_id")
        return info

    def log_artifact_file(self, run_id: str, artifact_path: str, local_path: Path) -> ArtifactInfo:
        self._artifact_run(run_id)
        return sql_artifacts.record(self._write, self.content, run_id, artifact_path,
                                    self._put_file(local_path))

    def _put_file(self, local_path: Path) -> tuple[str, int]:
        if not Path(local_path).is_file():
            raise InvalidInputError(f"{local_path} is not a file", field="local_path")
        blob = self.content.put_file(Path(local_path))
        return blob.digest, blob.size

    def log_artifact_bytes(self, run_id: str, artifact_path: str, data: bytes) -> ArtifactInfo:
        self._artifact_run(run_id)
        blob = self.content.put_bytes(data)
        return sql_artifacts.record(self._write, self.content, run_id, artifact_path,
                                    (blob.digest, blob.size))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        with self._read() as conn:
            self._info(conn, run_id)
            return sql_artifacts.list_dir(conn, run_id, path)

    def open_artifact(self, run_id: str, artifact_path: str) -> BinaryIO:
        with self._read() as conn:
            self._info(conn, run_id)
            digest = sql_artifacts.digest_of(conn, run_id, artifact_path)
        return self.content.open(digest)

    def download_artifacts(self, run_id: str, path: str | None, dest: Path) -> Path:
        with self._read() as conn:
            self._info(conn, run_id)
            files = sql_artifacts.files_under(conn, run_id, path)
        return sql_artifacts.download(self.content, files, path, Path(dest))
