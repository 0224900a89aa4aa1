"""Step events of ``run_pipeline`` (``on_step``) and the progress they drive in
``shipyard pipelines run`` / ``resume``; the records of steps taken from the cache."""

from __future__ import annotations

import sys
import textwrap
import threading
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import shipyard as sy
from shipyard.entities import LifecycleStage, Run, RunData, RunInfo, RunStatus
from shipyard.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from shipyard.pipelines import pipeline, run_pipeline, step
from shipyard.pipelines.runner import (
    TAG_CACHE_HIT,
    TAG_CACHE_KEY,
    TAG_CACHED_FROM,
    TAG_OUTPUT_DIGEST,
    StepEvent,
    step_events,
)
from shipyard.sdk import fluent
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.cli_support import as_json, cli, ok

FAIL = {"on": False}


@step
def source(n: int) -> int:
    return n


@step
def add(x: int, y: int = 1) -> int:
    if FAIL["on"] and y == 99:
        raise RuntimeError("add failed on purpose")
    return x + y


@step
def combine(a: int, b: int) -> int:
    return a + b


@pipeline(name="progress-chain")
def chain(n: int = 1) -> object:
    return add(add(source(n), y=2), y=3)


@pipeline(name="progress-diamond")
def diamond(n: int = 1) -> object:
    first = source(n)
    return combine(add(first, y=10), add(first, y=20))


@pipeline(name="progress-failing")
def failing(n: int = 1) -> object:
    return add(add(source(n), y=99), y=3)


@pytest.fixture(autouse=True)
def _no_failure() -> None:
    FAIL["on"] = False


class Recorder:
    def __init__(self) -> None:
        self.events: list[StepEvent] = []
        self.threads: set[int] = set()

    def __call__(self, event: StepEvent) -> None:
        self.events.append(event)
        self.threads.add(threading.get_ident())

    def pairs(self) -> list[tuple[str, str]]:
        return [(e.kind, e.step) for e in self.events]

    def kinds(self) -> Counter[str]:
        return Counter(e.kind for e in self.events)


def _check_lifecycle(events: list[StepEvent]) -> None:
    """Every step starts once, then ends once (finished, cached or failed), after its start."""
    started: set[str] = set()
    ended: set[str] = set()
    for event in events:
        if event.kind == "started":
            assert event.step not in started
            started.add(event.step)
        else:
            assert event.step in started and event.step not in ended
            ended.add(event.step)


def test_events_of_a_run_then_its_cached_rerun() -> None:
    first = Recorder()
    run = run_pipeline(chain, {"n": 1}, on_step=first)
    assert first.pairs() == [("started", "source"), ("finished", "source"),
                             ("started", "add"), ("finished", "add"),
                             ("started", "add_2"), ("finished", "add_2")]
    assert first.threads == {threading.get_ident()}  # the scheduling (calling) thread
    assert {e.total for e in first.events} == {3}
    finished = {e.step: e.result for e in first.events if e.kind == "finished"}
    assert finished == run.steps

    again = Recorder()
    rerun = run_pipeline(chain, {"n": 1}, on_step=again)
    assert again.pairs() == [("started", "source"), ("cached", "source"),
                             ("started", "add"), ("cached", "add"),
                             ("started", "add_2"), ("cached", "add_2")]
    assert all(e.result is not None and e.result.cache_hit
               for e in again.events if e.kind == "cached")
    assert rerun.output("add_2") == 6


def test_parallel_steps_each_start_then_end_once() -> None:
    recorder = Recorder()
    run_pipeline(diamond, {"n": 1}, on_step=recorder)
    _check_lifecycle(recorder.events)
    assert recorder.kinds() == {"started": 4, "finished": 4}
    order = [step for kind, step in recorder.pairs() if kind == "started"]
    assert order[0] == "source" and order[-1] == "combine"


def test_a_failing_step_sends_failed_and_its_error() -> None:
    FAIL["on"] = True
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="on purpose"):
        run_pipeline(failing, {"n": 1}, on_step=recorder)
    assert recorder.pairs() == [("started", "source"), ("finished", "source"),
                                ("started", "add"), ("failed", "add")]
    failed = recorder.events[-1]
    assert isinstance(failed.error, RuntimeError) and failed.result is None

    FAIL["on"] = False  # the rerun takes the successful step from the cache
    rerun = Recorder()
    run_pipeline(failing, {"n": 1}, on_step=rerun)
    assert rerun.kinds() == {"started": 3, "cached": 1, "finished": 2}
    assert ("cached", "source") in rerun.pairs()


def test_step_events_context_and_a_broken_listener() -> None:
    recorder = Recorder()
    with step_events(recorder):
        run_pipeline(chain, {"n": 2})
    assert recorder.kinds() == {"started": 3, "finished": 3}
    run_pipeline(chain, {"n": 2})  # outside the block: nobody hears
    assert len(recorder.events) == 6

    def broken(event: StepEvent) -> None:
        raise ValueError("display bug")

    assert run_pipeline(chain, {"n": 3}, on_step=broken).output("add_2") == 8


def test_cache_hits_are_recorded_as_child_runs_in_the_pipeline_experiment() -> None:
    sy.set_experiment("elsewhere")  # the active experiment is not the pipeline's
    first = run_pipeline(chain, {"n": 4}, experiment="progress")
    second = run_pipeline(chain, {"n": 4}, experiment="progress")
    assert all(s.cache_hit for s in second.steps.values())
    experiment = fluent.client().get_experiment_by_name("progress")
    assert experiment is not None
    children = [r for r in sy.search_runs(experiments="progress")
                if r.info.parent_run_id == second.run_id]
    assert sorted(c.info.run_name for c in children) == ["add", "add_2", "source"]
    for child in children:
        name = child.info.run_name
        assert child.info.run_id == second.steps[name].run_id
        assert child.info.experiment_id == experiment.experiment_id
        assert child.info.status == "FINISHED" and child.info.end_time is not None
        assert child.data.tags[TAG_CACHE_HIT] == "True"
        assert child.data.tags[TAG_OUTPUT_DIGEST] == first.steps[name].output_digest
        assert child.data.tags[TAG_CACHED_FROM] == first.steps[name].run_id
    by_name = {c.info.run_name: c for c in children}
    assert by_name["add_2"].data.params == {"y": "3"}
    assert not sy.search_runs(experiments="elsewhere")


def _ended(experiment_id: str, **changes: Any) -> Run:
    info = RunInfo(run_id=uuid.uuid4().hex, experiment_id=experiment_id, run_name="step",
                   user="me", status=RunStatus.FINISHED, start_time=1, end_time=2,
                   lifecycle_stage=LifecycleStage.ACTIVE, parent_run_id=None)
    return Run(replace(info, **changes), RunData(params={"p": "1"}, tags={TAG_CACHE_KEY: "k1"}))


def test_store_bulk_ended_runs_and_tag_lookup() -> None:
    store = fluent.client().store
    assert isinstance(store, SqlTrackingStore)
    experiment_id = store.create_experiment("bulk")
    older, newer = _ended(experiment_id), _ended(experiment_id, start_time=5)
    store.create_ended_runs([older, newer])
    got = store.get_run(newer.info.run_id)
    assert got.data.params == {"p": "1"} and got.data.tags == {TAG_CACHE_KEY: "k1"}
    assert got.info.status == "FINISHED" and got.info.end_time == 2
    found = store.newest_tagged_run(experiment_id, TAG_CACHE_KEY, "k1")
    assert found == (newer.info.run_id, {TAG_CACHE_KEY: "k1"})
    assert store.newest_tagged_run(experiment_id, TAG_CACHE_KEY, "k2") is None
    assert store.newest_tagged_run(experiment_id, TAG_CACHE_KEY, "k1",
                                   RunStatus.FAILED) is None
    with pytest.raises(AlreadyExistsError):
        store.create_ended_runs([older])
    with pytest.raises(InvalidInputError):
        store.create_ended_runs([_ended(experiment_id, status=RunStatus.RUNNING)])
    with pytest.raises(NotFoundError):
        store.create_ended_runs([_ended(experiment_id, parent_run_id="f" * 32)])
    with pytest.raises(NotFoundError):
        store.create_ended_runs([_ended("123456")])
    lone = _ended(experiment_id)
    with pytest.raises(NotFoundError):  # all or nothing
        store.create_ended_runs([lone, _ended("123456")])
    with pytest.raises(NotFoundError):
        store.get_run(lone.info.run_id)


# -- the CLI -----------------------------------------------------------------------------------

FLOW = """
    from pathlib import Path

    from shipyard.pipelines import pipeline, step

    HERE = Path(__file__).parent

    @step
    def make(n: int) -> list[int]:
        return list(range(n))

    @step
    def double(xs: list[int]) -> list[int]:
        if (HERE / "fail.flag").exists():
            raise RuntimeError("double failed on purpose")
        return [2 * x for x in xs]

    @step
    def total(xs: list[int]) -> int:
        return sum(xs)

    @pipeline(name="progress-cli")
    def flow(n: int) -> object:
        return total(double(make(n)))
"""


@pytest.fixture
def flow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, "sy_progress_flow", None)  # restored after the test
    path = tmp_path / "sy_progress_flow.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def _progress_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("[")]


def test_cli_run_prints_plain_progress_lines_off_a_terminal(flow_file: Path) -> None:
    ref = f"{flow_file}:flow"
    first = ok("pipelines", "run", ref, "-p", "n=3").stdout
    lines = _progress_lines(first)
    assert [line.split(" ", 2)[:2] for line in lines] == [
        ["[0/3]", "make"], ["[1/3]", "make"], ["[1/3]", "double"], ["[2/3]", "double"],
        ["[2/3]", "total"], ["[3/3]", "total"]]
    assert lines[0] == "[0/3] make started"
    assert lines[1].startswith("[1/3] make finished in ") and lines[1].endswith(" s")
    assert "Pipeline progress-cli" in first  # the table follows
    assert "\x1b[" not in first  # no live display, no escape codes

    rerun = _progress_lines(ok("pipelines", "run", ref, "-p", "n=3").stdout)
    assert rerun[1::2] == ["[1/3] make cached", "[2/3] double cached", "[3/3] total cached"]

    quiet = cli("pipelines", "run", ref, "-p", "n=3", "--json")
    assert quiet.exit_code == 0 and not _progress_lines(quiet.stdout)


def test_cli_resume_shows_progress_and_a_failure_line(flow_file: Path) -> None:
    ref = f"{flow_file}:flow"
    (flow_file.parent / "fail.flag").touch()
    failing = cli("pipelines", "run", ref, "-p", "n=3")
    assert failing.exit_code != 0
    assert _progress_lines(failing.stdout)[-1] == (
        "[2/3] double failed: RuntimeError: double failed on purpose")
    run_id = as_json("pipelines", "runs", "progress-cli")["pipeline_runs"][0]["run_id"]

    (flow_file.parent / "fail.flag").unlink()
    resumed = ok("pipelines", "resume", run_id).stdout
    lines = _progress_lines(resumed)
    assert lines[:3] == ["[0/3] make started", "[1/3] make cached", "[1/3] double started"]
    assert lines[3].startswith("[2/3] double finished in ")
    assert lines[4] == "[2/3] total started"
    assert lines[5].startswith("[3/3] total finished in ") and len(lines) == 6
    assert "Resumed as pipeline run" in resumed


def test_start_run_takes_an_experiment_id() -> None:
    experiment_id = fluent.client().get_or_create_experiment("by-id").experiment_id
    with sy.start_run(experiment_id=experiment_id) as run:
        assert run.info.experiment_id == experiment_id
    with pytest.raises(InvalidInputError, match="not both"):
        sy.start_run("by-id", experiment_id=experiment_id)
