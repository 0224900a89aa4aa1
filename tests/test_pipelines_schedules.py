"""Schedules, the run queue, workers and the scheduler (docs/pipelines.md, "Schedules")."""

from __future__ import annotations

import itertools
import os
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from shipyard.pipelines import queue
from shipyard.pipelines.api import store_engine
from shipyard.pipelines.queue import QueuedRun
from shipyard.pipelines.scheduler import run_scheduler
from shipyard.pipelines.schedules import create_schedule, enqueue_due, now_ms
from shipyard.pipelines.worker import process_one, run_worker
from tests.cli_support import as_json, failed

FLOW = """
    from shipyard.pipelines import pipeline, step
    from sy_sched_helper import double

    @step
    def make(n: int) -> int:
        return double(n)

    @pipeline(name="sched-flow")
    def flow(n: int = 2) -> object:
        return make(n)
"""


@pytest.fixture
def flow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "sy_sched_helper.py").write_text("def double(n: int) -> int:\n    return 2 * n\n")
    path = folder / "sy_sched_flow.py"
    path.write_text(textwrap.dedent(FLOW))
    yield path
    for name in ("sy_sched_flow", "sy_sched_helper"):
        sys.modules.pop(name, None)


def test_bad_cron_and_interval_are_clear_errors(flow_file: Path) -> None:
    ref = f"{flow_file}:flow"
    err = failed("pipelines", "schedule", "s", "--ref", ref, "--cron", "61 * * *").stderr
    assert "--cron" in err and "cron expression" in err
    assert "--every" in failed("pipelines", "schedule", "s", "--ref", ref, "--every", "5x").stderr
    both = failed("pipelines", "schedule", "s", "--ref", ref, "--every", "1m", "--cron",
                  "0 3 * * *").stderr
    assert "exactly one" in both


def test_schedule_queue_and_worker_run_the_packaged_code(flow_file: Path) -> None:
    ref = f"{flow_file}:flow"
    made = as_json("pipelines", "schedule", "nightly", "--ref", ref, "--cron", "0 3 * * *",
                   "--param", "n=5")["schedule"]
    assert made["params"] == {"n": 5} and made["code_digest"]
    assert [s["name"] for s in as_json("pipelines", "schedules")["schedules"]] == ["nightly"]
    # The worker runs the packaged copy, not the file: change the file after scheduling.
    (flow_file.parent / "sy_sched_helper.py").write_text("raise RuntimeError('edited')\n")
    sys.modules.pop("sy_sched_helper", None)
    queued = as_json("pipelines", "trigger", "nightly", "--reason", "drift alert 7",
                     "-p", "n=6")["queued_run"]
    assert queued["reason"] == "drift alert 7" and queued["params"] == {"n": 6}
    assert queued["status"] == "queued"
    sys.modules.pop("sy_sched_helper", None)
    done = process_one(store_engine())
    assert done is not None and done.status == "succeeded", done
    assert done.pipeline_run_id
    listed = as_json("pipelines", "queue")["queued_runs"]
    assert [(r["status"], r["reason"]) for r in listed] == [("succeeded", "drift alert 7")]
    assert "Removed" in _ok("pipelines", "unschedule", "nightly")
    assert "no schedule" in failed("pipelines", "trigger", "nightly", "--reason", "x").stderr


def _ok(*args: str) -> str:
    from typer.testing import CliRunner

    from shipyard.cli.app import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_sdk_trigger_records_reason_and_needs_one() -> None:
    import shipyard as sy

    engine = store_engine()
    create_schedule(engine, "retrain", "mypkg.flows:train", params={"a": 1}, every="1h")
    run = sy.pipelines.trigger("retrain", {"b": 2}, reason="accuracy fell to 0.85")
    assert isinstance(run, QueuedRun)
    stored = queue.get(engine, run.id)
    assert stored.reason == "accuracy fell to 0.85" and stored.params == {"a": 1, "b": 2}
    assert stored.schedule_name == "retrain" and stored.code_digest is None
    with pytest.raises(sy.InvalidInputError, match="reason"):
        sy.pipelines.trigger("retrain", reason=" ")


def test_missed_runs_skip_or_catch_up_and_enqueue_once() -> None:
    engine = store_engine()
    start = now_ms() - 10_000
    create_schedule(engine, "skipper", "m:f", every="1s", missed="skip", start_ms=start)
    create_schedule(engine, "catcher", "m:f", every="1s", missed="catch-up", start_ms=start)
    now = start + 5_500  # due at +1s .. +5s
    assert enqueue_due(engine, now) == 1 + 5
    assert enqueue_due(engine, now) == 0  # idempotent: nothing newly due
    runs = queue.list_queue(engine)
    by = Counter(r.schedule_name for r in runs)
    assert by == {"skipper": 1, "catcher": 5}
    assert [r.due_time for r in runs if r.schedule_name == "skipper"] == [start + 5000]
    assert sorted(r.due_time - start for r in runs if r.schedule_name == "catcher") == [
        1000, 2000, 3000, 4000, 5000]


def test_stale_heartbeat_fails_the_run_and_requeue_resumes() -> None:
    engine = store_engine()
    create_schedule(engine, "s", "m:f", every="1s", start_ms=now_ms() - 5_000)
    enqueue_due(engine)
    claimed = queue.claim(engine, "w1")
    assert claimed is not None and claimed.status == "claimed"
    assert queue.fail_stale(engine, 60.0) == 0
    assert queue.fail_stale(engine, 1.0, now=now_ms() + 5_000) == 1
    stale = queue.get(engine, claimed.id)
    assert stale.status == "failed" and "heartbeat" in (stale.error or "")
    # The late worker cannot overwrite the verdict.
    assert not queue.finish(engine, claimed.id, "w1", pipeline_run_id=None, error=None)
    assert queue.requeue(engine, claimed.id).status == "queued"
    assert queue.claim(engine, "w2") is not None


def test_worker_once_records_failures() -> None:
    engine = store_engine()
    queue.enqueue(engine, "m:f", {}, "manual")

    def boom(run: QueuedRun) -> str | None:
        raise ValueError("bad data")

    assert run_worker(engine, boom, once=True) == 1
    (only,) = queue.list_queue(engine)
    assert only.status == "failed" and only.error == "ValueError: bad data"


PG_URL = os.environ.get("SHIPYARD_TEST_DATABASE_URL", "")


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="needs SHIPYARD_TEST_DATABASE_URL (PostgreSQL)")
def test_two_schedulers_three_workers_run_each_due_run_once() -> None:
    from shipyard.store.db import create_db_engine, open_current

    engine: Engine = create_db_engine(PG_URL)
    open_current(engine)
    from shipyard.store.schema import queued_runs, schedules

    with engine.begin() as conn:
        conn.execute(delete(queued_runs))
        conn.execute(delete(schedules))
    create_schedule(engine, "every-second", "m:f", every="1s")
    executed: list[str] = []
    lock = threading.Lock()

    def record(run: QueuedRun) -> str | None:
        time.sleep(0.05)
        with lock:
            executed.append(run.id)
        return None

    stop = threading.Event()
    threads = [threading.Thread(target=run_scheduler, args=(engine,),
                                kwargs={"poll_s": 0.1, "stop": stop}) for _ in range(2)]
    threads += [threading.Thread(target=run_worker, args=(engine, record),
                                 kwargs={"poll_s": 0.05, "stop": stop, "worker": f"w{i}"})
                for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(10)
    from shipyard.pipelines.schedules import delete_schedule

    delete_schedule(engine, "every-second")
    time.sleep(1.0)  # let the workers drain what was queued
    stop.set()
    for t in threads:
        t.join(timeout=10)
    runs = queue.list_queue(engine, limit=1000)
    dues = sorted(r.due_time for r in runs)
    assert 9 <= len(runs) <= 11, dues
    assert len(set(dues)) == len(dues)  # each due time queued once
    assert all(b - a == 1000 for a, b in itertools.pairwise(dues))  # none skipped
    assert Counter(executed) == Counter({r.id: 1 for r in runs})  # each executed once
    assert {r.status for r in runs} == {"succeeded"}
    assert len({r.claimed_by for r in runs}) >= 2  # the work was shared
    engine.dispose()
