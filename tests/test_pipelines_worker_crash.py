"""A `shipyard worker` killed mid-step: the stale check fails the queued run and its tracking
runs, and both `requeue` and `resume` run it again from the step cache (docs/pipelines.md,
"Crashed workers")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard.pipelines import queue
from shipyard.pipelines.api import store_content, store_engine
from shipyard.pipelines.code_package import store_package
from shipyard.pipelines.history import queued_pipeline_runs, step_records
from shipyard.pipelines.runner import TAG_LOST_WORKER
from shipyard.pipelines.scheduler import fail_stale
from shipyard.pipelines.worker import process_one
from shipyard.sdk import fluent
from tests.cli_support import as_json, ok

# `second` blocks until the file `go` appears, so a test can act while it runs. Each step
# appends a line to `<step>.log` when it really executes (a cache hit does not).
GATED_FLOW = """
    import time
    from pathlib import Path

    from shipyard.pipelines import pipeline, step


    def _ran(folder: str, name: str) -> None:
        with open(Path(folder) / f"{name}.log", "a") as out:
            out.write("ran\\n")


    @step
    def first(folder: str) -> int:
        _ran(folder, "first")
        return 21


    @step
    def second(x: int, folder: str) -> int:
        _ran(folder, "second")
        (Path(folder) / "second.started").touch()
        deadline = time.monotonic() + 120
        while not (Path(folder) / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never created the go file")
            time.sleep(0.05)
        return 2 * x


    @pipeline(name="gated")
    def gated(folder: str) -> object:
        return second(first(folder), folder)
"""
MODULE = "sy_gated_flow"


@pytest.fixture
def gated_ref(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``file.py:gated`` in its own project folder (the code package)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = tmp_path / "project"
    folder.mkdir()
    path = folder / f"{MODULE}.py"
    path.write_text(textwrap.dedent(GATED_FLOW))
    yield f"{path}:gated"
    sys.modules.pop(MODULE, None)


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def start_worker(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    with (tmp_path / f"worker-{time.monotonic_ns()}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", "from shipyard.cli.app import main; main()", "worker",
             *args], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), cwd=tmp_path)


def test_killed_worker_fails_its_runs_and_requeue_and_resume_use_the_cache(
        gated_ref: str, tmp_path: Path) -> None:
    engine = store_engine()
    work = tmp_path / "work"
    work.mkdir()
    digest = store_package(gated_ref, store_content())
    queued = queue.enqueue(engine, gated_ref, {"folder": str(work)}, "crash test",
                           code_digest=digest)

    worker = start_worker(tmp_path, "--poll", "0.1", "--heartbeat", "0.2")
    try:
        wait_for(lambda: (work / "second.started").exists() or worker.poll() is not None,
                 "the worker to reach the second step")
        assert worker.poll() is None, "the worker exited early"
        # The pipeline run is linked to the queued run from its start, not only at the end.
        c = fluent.client()
        (attempt,) = queued_pipeline_runs(c, queued.id)
        assert str(attempt.info.status) == "RUNNING"
        assert queue.get(engine, queued.id).status == "running"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

    time.sleep(0.8)  # past the 0.5 s heartbeat timeout below
    assert fail_stale(engine, 60.0) == []  # a live-looking run is left alone
    (stale,) = fail_stale(engine, 0.5)
    assert stale.id == queued.id
    failed = queue.get(engine, queued.id)
    assert failed.status == "failed"
    assert "no heartbeat for 0.5s" in (failed.error or "") and "requeue" in (failed.error or "")
    assert failed.pipeline_run_id == attempt.info.run_id
    assert fail_stale(engine, 0.5) == []  # failed once

    shown = as_json("pipelines", "show", attempt.info.run_id)["pipeline_run"]
    assert shown["status"] == "FAILED"
    assert [(s["name"], s["status"]) for s in shown["steps"]] == [
        ("first", "FINISHED"), ("second", "FAILED")]
    tags = c.get_run(attempt.info.run_id).data.tags
    assert "no heartbeat" in tags[queue.TAG_QUEUE_ERROR]
    second = c.get_run(shown["steps"][1]["run_id"]).data.tags
    assert second[TAG_LOST_WORKER] == "true" and "no heartbeat" in second[queue.TAG_QUEUE_ERROR]

    # Requeue: a new worker runs the failed step only.
    (work / "go").touch()
    ok("pipelines", "requeue", queued.id)
    again = start_worker(tmp_path, "--once", "--heartbeat", "0.2")
    assert again.wait(timeout=120) == 0
    done = queue.get(engine, queued.id)
    assert done.status == "succeeded" and done.error is None, done
    newest, oldest = queued_pipeline_runs(c, queued.id)
    assert oldest.info.run_id == attempt.info.run_id and done.pipeline_run_id == newest.info.run_id
    steps = {s.name: s for s in step_records(c, c.get_run(newest.info.run_id))}
    assert steps["first"].cache_hit and not steps["second"].cache_hit
    assert {s.status for s in steps.values()} == {"FINISHED"}
    assert (lines(work / "first.log"), lines(work / "second.log")) == (1, 2)

    # Resume of the failed tracking run works too (both steps now come from the cache).
    resumed = as_json("pipelines", "resume", attempt.info.run_id)["pipeline_run"]
    assert resumed["status"] == "FINISHED" and resumed["resumed_from"] == attempt.info.run_id
    assert all(s["cache_hit"] for s in resumed["steps"])
    assert (lines(work / "first.log"), lines(work / "second.log")) == (1, 2)


FAILING_FLOW = """
    from shipyard.pipelines import pipeline, step


    @step
    def broken(n: int) -> int:
        raise ValueError(f"bad input {n}")


    @pipeline(name="broken")
    def broken_flow(n: int) -> object:
        return broken(n)
"""


def test_a_failed_pipeline_is_linked_to_its_queued_run(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = tmp_path / "sy_broken_flow.py"
    path.write_text(textwrap.dedent(FAILING_FLOW))
    engine = store_engine()
    queued = queue.enqueue(engine, f"{path}:broken_flow", {"n": 3}, "link test")
    try:
        done = process_one(engine)
    finally:
        sys.modules.pop("sy_broken_flow", None)
    assert done is not None and done.status == "failed"
    assert done.error == "ValueError: bad input 3"
    # The failed pipeline run is recorded on the queued run, so it can be resumed by id.
    (attempt,) = queued_pipeline_runs(fluent.client(), queued.id)
    assert done.pipeline_run_id == attempt.info.run_id
    assert str(attempt.info.status) == "FAILED"
