"""Schema changes happen only through Alembic, and old databases upgrade without losing data."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from shipyard.artifacts import open_content_store
from shipyard.entities import Metric
from shipyard.store import migrate
from shipyard.store.db import create_db_engine
from shipyard.store.schema import metadata
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import PG_SKIP, PG_URL, wipe_postgres


def _engine(backend: str, tmp_path: Path) -> Engine:
    if backend == "sqlite":
        return create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    if not PG_URL:
        pytest.skip(PG_SKIP)
    wipe_postgres(PG_URL)
    engine = create_db_engine(PG_URL)
    with engine.begin() as conn:  # this test needs a database of its own making
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    return engine


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def test_head_constant_matches_alembic() -> None:
    config = Config()
    config.set_main_option("script_location", "shipyard.store:migrations")
    assert ScriptDirectory.from_config(config).get_current_head() == migrate.HEAD_REVISION


@pytest.mark.parametrize("backend", BACKENDS)
def test_first_migration_upgrades_to_head(backend: str, tmp_path: Path) -> None:
    engine = _engine(backend, tmp_path)
    migrate.upgrade(engine, "0001")
    assert migrate.current_revision(engine) == "0001"
    with engine.begin() as conn:  # data written by a release that only knew revision 0001
        conn.execute(text(
            "INSERT INTO experiments (name, lifecycle_stage, creation_time, last_update_time) "
            "VALUES ('legacy', 'active', 1, 1)"))
        experiment_id = conn.execute(text(
            "SELECT experiment_id FROM experiments WHERE name = 'legacy'")).scalar_one()
        conn.execute(text(
            "INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, start_time, "
            "lifecycle_stage) VALUES ('a' || repeat('0', 31), :e, 'old-run', 'u', 'FINISHED', "
            "5, 'active')" if backend == "postgres" else
            "INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, start_time, "
            "lifecycle_stage) VALUES ('a' || substr(hex(zeroblob(16)), 1, 31), :e, 'old-run', "
            "'u', 'FINISHED', 5, 'active')"), {"e": experiment_id})
        run_id = conn.execute(text("SELECT run_id FROM runs")).scalar_one()
        conn.execute(text("INSERT INTO params (run_id, key, value) VALUES (:r, 'C', '1.0')"),
                     {"r": run_id})
        conn.execute(text("INSERT INTO metrics (run_id, key, step, timestamp, value) "
                          "VALUES (:r, 'f1', 0, 1, 0.9)"), {"r": run_id})
        conn.execute(text("INSERT INTO latest_metrics (run_id, key, step, timestamp, value) "
                          "VALUES (:r, 'f1', 0, 1, 0.9)"), {"r": run_id})
        conn.execute(text("INSERT INTO tags (run_id, key, value) VALUES (:r, 'team', 'er')"),
                     {"r": run_id})

    # Opening the store brings the database to head.
    store = SqlTrackingStore(engine, open_content_store((tmp_path / "blobs").as_uri()))
    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    run = store.get_run(run_id)
    assert run.info.run_name == "old-run"
    assert run.data.params == {"C": "1.0"} and run.data.metrics == {"f1": 0.9}
    assert run.data.tags == {"team": "er"}
    assert [r.run_id for r in store.search_runs(None, "metrics.f1 > 0.5")] == [run_id]
    # Revision 0004 copied the run's experiment into latest_metrics: ordering by a metric
    # within the experiment reads it.
    ordered = store.search_runs([str(experiment_id)], order_by=["metrics.f1 DESC"])
    assert [r.run_id for r in ordered] == [run_id]
    new_run = store.create_run(str(experiment_id))
    store.log_batch(new_run.run_id, metrics=[Metric("f1", 0.95, 0, 2)])
    store.log_artifact_bytes(new_run.run_id, "notes.txt", b"added by revision 0002")
    assert [a.path for a in store.list_artifacts(new_run.run_id)] == ["notes.txt"]
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrated_schema_matches_the_table_definitions(backend: str, tmp_path: Path) -> None:
    engine = _engine(backend, tmp_path)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_opening_an_up_to_date_database_runs_no_migration(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.ensure_current(engine)

    calls: list[object] = []
    monkeypatch.setattr(migrate, "upgrade", lambda *args, **kwargs: calls.append(args))
    migrate.ensure_current(engine)
    engine.dispose()
    assert calls == []
