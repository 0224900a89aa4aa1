"""The Dask executor: steps on a LocalCluster of 2 worker processes, a lost worker, a bad URL."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import InvalidInputError, InvalidStateError
from shipyard.pipelines import pipeline, run_pipeline, step
from shipyard.pipelines.dask_executor import DaskExecutor, executor_from_url
from shipyard.pipelines.executor import LocalExecutor
from shipyard.pipelines.runner import TAG_LOST_WORKER
from shipyard.sdk.client import Client

distributed = pytest.importorskip("distributed")


@step
def numbers(n: int) -> list[int]:
    print(f"making {n} numbers")
    return list(range(n))


@step
def squares(xs: list[int]) -> list[int]:
    return [x * x for x in xs]


@step
def total(xs: list[int], ys: list[int]) -> dict[str, int]:
    return {"sum": sum(xs) + sum(ys), "pid": 0}


@pipeline(name="dask-three")
def three(n: int) -> object:
    xs = numbers(n)
    return total(xs, squares(xs))


@step
def slow_square(xs: list[int], marker: str) -> list[int]:
    """Writes its worker's pid to ``marker``, then sleeps so the test can kill the worker."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(2.0)
    return [x * x for x in xs]


@pipeline(name="dask-kill")
def killed(n: int, marker: str) -> object:
    xs = numbers(n)
    return total(xs, slow_square(xs, marker))


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.mark.slow
def test_three_steps_on_two_workers_match_the_local_executor(dask_client: Any) -> None:
    local = run_pipeline(three, {"n": 10}, executor=LocalExecutor(), cache=False)
    executor = DaskExecutor(dask_client)
    remote = run_pipeline(three, {"n": 10}, executor=executor, cache=False)
    executor.cancel()
    assert remote.status == "FINISHED"
    for name in ("numbers", "squares", "total"):
        assert remote.output(name) == local.output(name)
        assert remote.steps[name].output_digest == local.steps[name].output_digest
    sdk = Client()
    for result in remote.steps.values():  # step runs in the driver's store, under the parent
        run = sdk.get_run(result.run_id)
        assert run.info.status == "FINISHED"
        assert run.info.parent_run_id == remote.run_id
    assert sdk.read_artifact_bytes(remote.steps["numbers"].run_id, "step.log") == \
        b"making 10 numbers\n"


@pytest.mark.slow
def test_cache_hits_across_executors(dask_client: Any) -> None:
    run_pipeline(three, {"n": 5})
    again = run_pipeline(three, {"n": 5}, executor=DaskExecutor(dask_client))
    assert all(result.cache_hit for result in again.steps.values())


def test_unreachable_dask_url_is_a_clear_error() -> None:
    with pytest.raises(InvalidStateError, match=r"cannot reach the Dask scheduler at "
                                                r"dask://127\.0\.0\.1:1"):
        DaskExecutor("dask://127.0.0.1:1", connect_timeout=1)


def test_executor_urls() -> None:
    assert isinstance(executor_from_url("local"), LocalExecutor)
    with pytest.raises(InvalidInputError, match="unknown executor 'ray://x'"):
        executor_from_url("ray://x")


@pytest.mark.slow
def test_killed_worker_step_is_retried_elsewhere(dask_client: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    outcome: dict[str, Any] = {}

    def go() -> None:
        try:
            outcome["run"] = run_pipeline(killed, {"n": 6, "marker": str(marker)},
                                          executor=DaskExecutor(dask_client), cache=False)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the slow step never started"
        time.sleep(0.05)
    first_pid = int(marker.read_text())
    os.kill(first_pid, signal.SIGKILL)
    thread.join(60)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["run"]
    assert result.status == "FINISHED"
    assert result.output("total") == {"sum": 15 + 55, "pid": 0}
    assert int(marker.read_text()) != first_pid  # the step ran again in another process
    sdk = Client()
    runs = sdk.search_runs([sdk.get_run(result.run_id).info.experiment_id],
                           f"attributes.run_name = 'slow_square' AND "
                           f"attributes.parent_run_id = '{result.run_id}'").items
    by_status = sorted((r.info.status, r.data.tags.get(TAG_LOST_WORKER)) for r in runs)
    assert by_status == [("FAILED", "true"), ("FINISHED", None)]
    assert result.steps["slow_square"].run_id in {r.info.run_id for r in runs
                                                  if r.info.status == "FINISHED"}
