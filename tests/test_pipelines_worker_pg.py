"""Workers running real pipelines on PostgreSQL: several schedulers and workers run each due
run exactly once, and a worker that loses its database carries on and leaves the run
resumable (docs/pipelines.md, "Schedules, triggers and workers")."""

from __future__ import annotations

import itertools
import logging
import os
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from shipyard.pipelines import queue
from shipyard.pipelines.api import store_content, store_engine
from shipyard.pipelines.code_package import store_package
from shipyard.pipelines.history import queued_pipeline_runs, step_records
from shipyard.pipelines.scheduler import fail_stale, run_scheduler
from shipyard.pipelines.schedules import create_schedule, delete_schedule, now_ms
from shipyard.pipelines.worker import run_worker
from shipyard.sdk import fluent
from shipyard.store.db import create_db_engine
from tests.test_pipelines_worker_crash import GATED_FLOW, lines, wait_for

PG_URL = os.environ.get("SHIPYARD_TEST_DATABASE_URL", "")
pytestmark = [
    pytest.mark.slow, pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="needs SHIPYARD_TEST_DATABASE_URL (PostgreSQL)")]

# Each execution of `tick` appends its own step run id, so a run executed twice shows.
EVERY_SECOND_FLOW = """
    from pathlib import Path

    import shipyard as sy
    from shipyard.pipelines import pipeline, step


    @step(cache=False)
    def tick(folder: str) -> int:
        run = sy.active_run()
        assert run is not None
        with open(Path(folder) / "executions.log", "a") as out:
            out.write(run.run_id + "\\n")
        return 1


    @pipeline(name="pg-every-second")
    def every_second(folder: str) -> object:
        return tick(folder)
"""


@pytest.fixture
def pg_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The current store on PostgreSQL (artifacts in a temp folder), its queue emptied."""
    from shipyard.store.schema import queued_runs, schedules

    monkeypatch.setenv("SHIPYARD_TRACKING_URI", PG_URL)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URI", (tmp_path / "artifacts").as_uri())
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    engine = store_engine()
    with engine.begin() as conn:
        conn.execute(delete(queued_runs))
        conn.execute(delete(schedules))
    yield engine


def write_flow(tmp_path: Path, name: str, source: str) -> Path:
    folder = tmp_path / f"project-{name}"
    folder.mkdir()
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_two_schedulers_three_workers_run_real_pipelines_once(
        pg_store: Engine, tmp_path: Path) -> None:
    engine = pg_store
    work = tmp_path / "work"
    work.mkdir()
    ref = f"{write_flow(tmp_path, 'sy_pg_every_second', EVERY_SECOND_FLOW)}:every_second"
    create_schedule(engine, "pg-real", ref, params={"folder": str(work)}, every="1s",
                    code_digest=store_package(ref, store_content()))
    stop = threading.Event()
    threads = [threading.Thread(target=run_scheduler, args=(engine,),
                                kwargs={"poll_s": 0.1, "stop": stop}) for _ in range(2)]
    threads += [threading.Thread(target=run_worker, args=(engine,),
                                 kwargs={"poll_s": 0.05, "heartbeat_s": 1.0, "stop": stop,
                                         "worker": f"w{i}"})
                for i in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(10)
        delete_schedule(engine, "pg-real")
        wait_for(lambda: all(r.status in ("succeeded", "failed")
                             for r in queue.list_queue(engine, limit=1000)),
                 "the workers to drain the queue", timeout_s=30)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        sys.modules.pop("sy_pg_every_second", None)
    runs = queue.list_queue(engine, limit=1000)
    dues = sorted(r.due_time for r in runs)
    assert 9 <= len(runs) <= 11, dues
    assert all(b - a == 1000 for a, b in itertools.pairwise(dues))  # each due time once
    assert {r.status for r in runs} == {"succeeded"}, [r.error for r in runs]
    assert len({r.claimed_by for r in runs}) >= 2  # the work was shared
    # Each due run made exactly one pipeline run (found by its tag) with one step run ...
    c = fluent.client()
    step_runs: list[str] = []
    for r in runs:
        (pipeline_run,) = queued_pipeline_runs(c, r.id)
        assert str(pipeline_run.info.status) == "FINISHED"
        assert r.pipeline_run_id == pipeline_run.info.run_id
        (step,) = step_records(c, pipeline_run)
        assert step.status == "FINISHED" and not step.cache_hit
        step_runs.append(step.run_id)
    # ... and the step executed once per due run: no run executed twice.
    executed = (work / "executions.log").read_text().split()
    assert Counter(executed) == Counter({s: 1 for s in step_runs})


@pytest.fixture
def admin() -> Iterator[Engine]:
    """A connection to the server's maintenance database, to cut the test database off."""
    url = make_url(PG_URL)
    engine = create_db_engine(url.set(database="postgres").render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        pytest.skip(f"cannot reach the maintenance database 'postgres': {exc}")
    yield engine
    engine.dispose()


def outage(admin: Engine, on: bool) -> None:
    """Refuse (or allow again) connections to the test database and drop the open ones: the
    worker's next statement fails and so does every reconnect until it is allowed again."""
    name = make_url(PG_URL).database
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not on).lower()}'))
        if on:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": name})


def test_worker_losing_the_database_carries_on_and_the_run_resumes(
        pg_store: Engine, admin: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shipyard.pipelines")
    engine = pg_store
    work = tmp_path / "work"
    work.mkdir()
    ref = f"{write_flow(tmp_path, 'sy_pg_gated', GATED_FLOW)}:gated"
    queued = queue.enqueue(engine, ref, {"folder": str(work)}, "outage test",
                           code_digest=store_package(ref, store_content()))
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(engine,), kwargs={
        "poll_s": 0.1, "heartbeat_s": 0.2, "stop": stop, "worker": "w-outage"})
    worker.start()
    try:
        wait_for((work / "second.started").exists, "the second step to start")

        # 1. The database goes away while a step runs and comes back before it ends: the
        # heartbeat errors are logged, and heartbeats resume.
        outage(admin, on=True)
        time.sleep(1.5)
        outage(admin, on=False)
        assert worker.is_alive()
        assert "heartbeat of queued run" in caplog.text and "failed" in caplog.text
        resumed_after = now_ms()
        wait_for(lambda: (queue.get(engine, queued.id).heartbeat_time or 0) > resumed_after,
                 "the heartbeat to resume", timeout_s=10)
        assert queue.get(engine, queued.id).status == "running"

        # 2. The database is away when the step ends: the pipeline cannot record its end,
        # nor the worker the outcome; the worker logs it and keeps polling.
        outage(admin, on=True)
        (work / "go").touch()
        wait_for(lambda: "could not record the outcome" in caplog.text,
                 "the worker to give up recording", timeout_s=30)
        time.sleep(0.5)
        assert worker.is_alive()
        outage(admin, on=False)

        # The scheduler's stale check fails the run and its tracking runs: nothing is left
        # RUNNING, the step that finished stays FINISHED.
        time.sleep(1.2)
        (stale,) = fail_stale(engine, 1.0)
        assert stale.id == queued.id and "no heartbeat" in (stale.error or "")
        c = fluent.client()
        (attempt,) = queued_pipeline_runs(c, queued.id)
        assert str(attempt.info.status) == "FAILED"
        steps = {s.name: s.status for s in step_records(c, attempt)}
        assert steps == {"first": "FINISHED", "second": "FAILED"}

        # Requeued, the same worker (still polling) runs it; `first` comes from the cache.
        queue.requeue(engine, queued.id)
        wait_for(lambda: queue.get(engine, queued.id).status in ("succeeded", "failed"),
                 "the requeued run to end", timeout_s=60)
    finally:
        outage(admin, on=False)
        stop.set()
        worker.join(timeout=30)
        sys.modules.pop("sy_pg_gated", None)
    done = queue.get(engine, queued.id)
    assert done.status == "succeeded", done.error
    newest = c.get_run(done.pipeline_run_id or "")
    records = {s.name: s for s in step_records(c, newest)}
    assert records["first"].cache_hit and not records["second"].cache_hit
    assert (lines(work / "first.log"), lines(work / "second.log")) == (1, 2)
