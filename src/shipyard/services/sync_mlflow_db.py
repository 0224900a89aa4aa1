"""An MLflow tracking database (SQLite, PostgreSQL, MySQL…) as a sync source.

Read with SQLAlchemy Core from MLflow's own tables, found by reflection: ``experiments``,
``experiment_tags``, ``runs``, ``params``, ``tags``, ``metrics`` and ``latest_metrics``. Nothing is
written to the database.

Artifacts are not in the database: each run's ``artifact_uri`` names where they are. Local
folders (``file://`` URIs and plain paths, as ``mlflow`` writes them when it logs straight into a
database) are read; for any other location (``s3://``, ``mlflow-artifacts:`` …) the run's
artifacts are skipped with a warning that points at the server source, which can read them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, MetaData, Table, create_engine, select
from sqlalchemy.exc import ArgumentError, InvalidRequestError, NoSuchModuleError, SQLAlchemyError

from shipyard.entities import ArtifactInfo, Experiment, LifecycleStage, Metric, Run
from shipyard.errors import BackendError, InvalidInputError
from shipyard.services.sync_mlflow import (
    copy_file,
    local_folder,
    metric_value,
    mlflow_run,
    walk_folder,
)
from shipyard.services.sync_source import ArtifactsUnavailable

COLUMNS = {
    "experiments": ("experiment_id", "name", "lifecycle_stage", "creation_time",
                    "last_update_time"),
    "experiment_tags": ("experiment_id", "key", "value"),
    "runs": ("run_uuid", "experiment_id", "name", "user_id", "status", "start_time", "end_time",
             "lifecycle_stage", "artifact_uri"),
    "params": ("run_uuid", "key", "value"),
    "tags": ("run_uuid", "key", "value"),
    "metrics": ("run_uuid", "key", "value", "step", "timestamp", "is_nan"),
    "latest_metrics": ("run_uuid", "key", "value", "is_nan"),
}
TABLES = tuple(COLUMNS)
HISTORY_PAGE = 25_000
_IN_CHUNK = 500  # run ids per IN (...) query


def open_engine(url: str, uri: str) -> Engine:
    """An engine for an MLflow database URL; plain ``postgresql://`` means psycopg 3."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise InvalidInputError(
            f"{uri} is not a database URL Shipyard can open ({error}); use "
            "mlflow+sqlite:///path/to/mlflow.db or mlflow+postgresql://user@host/db",
            field="source") from None


class MlflowDbSource:
    """Reads experiments, runs, metric histories and local artifacts from MLflow's tables."""

    def __init__(self, engine: Engine, *, uri: str, history_page: int = HISTORY_PAGE) -> None:
        self.engine = engine
        self._uri = uri
        self._history_page = history_page
        self._roots: dict[str, str] = {}
        metadata = MetaData()
        try:
            metadata.reflect(engine, only=list(TABLES))
        except InvalidRequestError as error:
            engine.dispose()
            raise InvalidInputError(f"{uri} is not an MLflow tracking database ({error})",
                                    field="source") from None
        except SQLAlchemyError as error:
            engine.dispose()
            raise BackendError(f"cannot read the MLflow database {uri}: {error}",
                               field="source") from None
        self.t: dict[str, Table] = {name: metadata.tables[name] for name in TABLES}
        for name, columns in COLUMNS.items():
            missing = [c for c in columns if c not in self.t[name].c]
            if missing:
                engine.dispose()
                raise InvalidInputError(
                    f"{uri} is not an MLflow tracking database of a version Shipyard reads "
                    f"(table {name} has no column {', '.join(missing)}); an older MLflow "
                    "database can be upgraded with `mlflow db upgrade`", field="source")

    @property
    def uri(self) -> str:
        return self._uri

    def _rows(self, query: Any) -> list[Any]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(query))
        except SQLAlchemyError as error:
            raise BackendError(f"reading the MLflow database {self.uri} failed: {error}",
                               field="source") from None

    # -- Experiments and runs ----------------------------------------------------------------

    def experiments(self, include_deleted: bool) -> list[Experiment]:
        e, et = self.t["experiments"].c, self.t["experiment_tags"].c
        query = select(e.experiment_id, e.name, e.lifecycle_stage, e.creation_time,
                       e.last_update_time).order_by(e.experiment_id)
        if not include_deleted:
            query = query.where(e.lifecycle_stage == LifecycleStage.ACTIVE.value)
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        for experiment_id, key, value in self._rows(select(et.experiment_id, et.key, et.value)):
            tags[experiment_id][key] = value or ""
        return [
            Experiment(
                experiment_id=str(row.experiment_id),
                name=row.name,
                lifecycle_stage=LifecycleStage(row.lifecycle_stage or "active"),
                creation_time=row.creation_time or 0,
                last_update_time=row.last_update_time or 0,
                tags=tags[row.experiment_id],
            )
            for row in self._rows(query)
        ]

    def runs(self, experiment: Experiment, include_deleted: bool) -> Iterator[Run]:
        r = self.t["runs"].c
        query = select(r.run_uuid, r.name, r.user_id, r.status, r.start_time, r.end_time,
                       r.lifecycle_stage, r.artifact_uri).where(
            r.experiment_id == int(experiment.experiment_id)).order_by(r.start_time, r.run_uuid)
        if not include_deleted:
            query = query.where(r.lifecycle_stage == LifecycleStage.ACTIVE.value)
        rows = self._rows(query)
        for start in range(0, len(rows), _IN_CHUNK):
            chunk = rows[start:start + _IN_CHUNK]
            ids = [row.run_uuid for row in chunk]
            params = self._pairs("params", ids)
            tags = self._pairs("tags", ids)
            metrics = self._latest(ids)
            for row in chunk:
                if row.artifact_uri:
                    self._roots[row.run_uuid] = row.artifact_uri
                yield mlflow_run(
                    run_id=row.run_uuid, experiment_id=experiment.experiment_id,
                    run_name=row.name, user=row.user_id, status=row.status,
                    start_time=row.start_time, end_time=row.end_time,
                    lifecycle_stage=row.lifecycle_stage, params=params[row.run_uuid],
                    tags=tags[row.run_uuid], metrics=metrics[row.run_uuid],
                )

    def _pairs(self, table: str, ids: list[str]) -> dict[str, dict[str, str]]:
        c = self.t[table].c
        found: dict[str, dict[str, str]] = defaultdict(dict)
        for run_id, key, value in self._rows(
            select(c.run_uuid, c.key, c.value).where(c.run_uuid.in_(ids))
        ):
            found[run_id][key] = value or ""
        return found

    def _latest(self, ids: list[str]) -> dict[str, dict[str, float]]:
        c = self.t["latest_metrics"].c
        found: dict[str, dict[str, float]] = defaultdict(dict)
        for run_id, key, value, is_nan in self._rows(
            select(c.run_uuid, c.key, c.value, c.is_nan).where(c.run_uuid.in_(ids))
        ):
            found[run_id][key] = float("nan") if is_nan else metric_value(value)
        return found

    def metric_history(self, run: Run, key: str) -> Iterator[Sequence[Metric]]:
        m = self.t["metrics"].c
        query = (select(m.value, m.is_nan, m.step, m.timestamp)
                 .where(m.run_uuid == run.run_id, m.key == key)
                 .order_by(m.step, m.timestamp))
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(query)
                for rows in result.partitions(self._history_page):
                    yield [Metric(key, float("nan") if is_nan else metric_value(value),
                                  step or 0, timestamp or 0)
                           for value, is_nan, step, timestamp in rows]
        except SQLAlchemyError as error:
            raise BackendError(f"reading the MLflow database {self.uri} failed: {error}",
                               field="source") from None

    # -- Artifacts ---------------------------------------------------------------------------

    def _folder(self, run: Run) -> Path | None:
        root = self._roots.get(run.run_id)
        if root is None:
            return None
        folder = local_folder(root)
        if folder is None:
            raise ArtifactsUnavailable(
                f"they are at {root}, which a database source cannot read; sync from the "
                "MLflow server instead (--from mlflow+http://host:port)")
        return folder

    def artifacts(self, run: Run) -> Iterator[ArtifactInfo]:
        folder = self._folder(run)
        return iter(()) if folder is None else walk_folder(folder)

    def download_artifact(self, run: Run, path: str, out: BinaryIO) -> None:
        folder = self._folder(run)
        assert folder is not None  # listed before, so the run has a local folder
        copy_file(folder / path, out)

    def close(self) -> None:
        self.engine.dispose()
