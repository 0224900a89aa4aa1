"""The tracking protocol on SQLAlchemy Core: SQLite by default, PostgreSQL at scale."""

from __future__ import annotations

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
from shipyard.store.tracking import sql_artifacts, sql_logging, sql_rows, sql_search
from shipyard.store.tracking.protocol import TrackingStore

_RUN_ID_RE = re.compile(r"[0-9a-f]{32}")


def _check_run_id(run_id: object) -> None:
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise InvalidInputError(
            f"run_id {run_id!r} must be 32 lowercase hex characters, like "
            f"{uuid.uuid4().hex!r}", field="run_id")


# Built once: the hot logging path looks up its run on every batch.
_RUN_BY_ID = select(*sql_rows.RUN_COLUMNS).where(t.runs.c.run_id == bindparam("run_id"))


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
        experiment = self.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidStateError(
                f"experiment {experiment.name!r} is deleted; restore it to add runs",
                field="experiment_id",
            )
        name = random_run_name() if run_name is None else run_name
        lim.check_name(name, "run name", lim.MAX_RUN_NAME)
        if len(user) > lim.MAX_USER:
            raise InvalidInputError(f"user is {len(user)} characters long; the limit is "
                                    f"{lim.MAX_USER}", field="user")
        tag_rows = sql_logging.checked_tags(tags or {})
        info = RunInfo(
            run_id=uuid.uuid4().hex if run_id is None else run_id,
            experiment_id=experiment.experiment_id,
            run_name=name,
            user=user,
            status=RunStatus.RUNNING,
            start_time=now_ms() if start_time is None else start_time,
            end_time=None,
            lifecycle_stage=LifecycleStage.ACTIVE,
            parent_run_id=parent_run_id,
        )
        with self._write() as conn:
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
            if values:
                conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(**values))
            return self._info(conn, run_id)

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
