"""No metric point is lost when a process ends, normally or through an exception.

Each scenario runs a real Python process with a flush interval far longer than the process
lives, so only the run-end and interpreter-exit flushes can save the points.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import shipyard as sy

POINTS = 20_000


def _run_script(body: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_HOME": str(home), "SHIPYARD_METRIC_FLUSH_INTERVAL": "3600",
           "SHIPYARD_METRIC_BUFFER_SIZE": "1000000"}
    script = "import shipyard as sy\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _only_run() -> sy.Run:
    (run,) = sy.search_runs(experiments="exit")
    return run


@pytest.mark.parametrize(
    ("body", "status", "exit_code"),
    [
        (f"""
         run = sy.start_run(experiment="exit")
         for i in range({POINTS}):
             sy.log_metric("x", i, step=i)
         # the process simply ends: the run is never ended explicitly
         """, sy.RunStatus.FINISHED, 0),
        (f"""
         run = sy.start_run(experiment="exit")
         for i in range({POINTS}):
             sy.log_metric("x", i, step=i)
         raise SystemExit(3)
         """, sy.RunStatus.FINISHED, 3),
        (f"""
         run = sy.start_run(experiment="exit")
         for i in range({POINTS}):
             sy.log_metric("x", i, step=i)
         raise ValueError("uncaught, outside any with-block")
         """, sy.RunStatus.FAILED, 1),
        (f"""
         with sy.start_run(experiment="exit"):
             for i in range({POINTS}):
                 sy.log_metric("x", i, step=i)
             raise ValueError("uncaught, inside the with-block")
         """, sy.RunStatus.FAILED, 1),
    ],
    ids=["normal-exit", "sys-exit", "uncaught-exception", "exception-in-with"],
)
def test_every_point_survives_the_process_end(shipyard_home: Path, body: str,
                                              status: sy.RunStatus, exit_code: int) -> None:
    result = _run_script(body, shipyard_home)
    assert result.returncode == exit_code, result.stderr
    run = _only_run()
    history = sy.get_metric_history(run.run_id, "x")
    assert len(history) == POINTS
    assert [m.step for m in history] == list(range(POINTS))
    assert run.info.status == status
