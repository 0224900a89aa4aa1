"""A step with a timeout runs in its own process, which is stopped when the time is up."""

from __future__ import annotations

import time

import pytest

import shipyard as sy
from shipyard.errors import InvalidInputError
from shipyard.pipelines import pipeline, run_pipeline, step
from shipyard.pipelines.process_step import StepTimeoutError


@step(timeout="60s", cache=False)
def quick(n: int) -> int:
    sy.log_metric("in_child", float(n))  # logged from the child process to the step's run
    return n * 3


@step(timeout="2s", cache=False)
def slow() -> int:
    time.sleep(60)
    return 1


@pipeline
def quick_flow(n: int = 2) -> object:
    return quick(n)


@pipeline(name="slow-flow")
def slow_flow() -> object:
    return slow()


def test_a_step_with_a_timeout_runs_in_a_process_and_logs_to_its_run() -> None:
    run = run_pipeline(quick_flow)
    assert run.output("quick") == 6
    assert sy.get_run(run.steps["quick"].run_id).data.metrics["in_child"] == 2.0


def test_a_step_past_its_timeout_is_stopped() -> None:
    started = time.monotonic()
    with pytest.raises(StepTimeoutError, match="timeout of 2s"):
        run_pipeline(slow_flow)
    assert time.monotonic() - started < 30
    runs = sy.search_runs(filter_string="attributes.run_name = 'slow-flow'")
    assert [r.info.status for r in runs] == ["FAILED"]


def test_a_local_step_with_a_timeout_is_refused() -> None:
    @step(timeout=5)
    def local() -> int:
        return 1

    @pipeline
    def flow() -> object:
        return local()

    with pytest.raises(InvalidInputError, match="define it at module level"):
        run_pipeline(flow)
