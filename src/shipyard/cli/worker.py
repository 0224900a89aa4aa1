"""``shipyard worker`` and ``shipyard scheduler``: run queued pipeline runs; enqueue due
schedule runs (docs/pipelines.md)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from shipyard.cli import output


@contextmanager
def _log_to_stderr() -> Iterator[None]:
    """Show the loops' warnings (a lost database, a stale run) and progress on stderr while
    the command runs: these commands run unattended, and their log is where an operator
    looks."""
    logger = logging.getLogger("shipyard.pipelines")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def worker(
    once: Annotated[bool, typer.Option(
        "--once", help="Run the runs due now, then exit.")] = False,
    poll: Annotated[float, typer.Option(
        "--poll", help="Seconds between looks at the queue when it is empty.")] = 1.0,
    heartbeat: Annotated[float, typer.Option(
        "--heartbeat", help="Seconds between heartbeats of a running run.")] = 5.0,
    executor: Annotated[str, typer.Option(
        "--executor", help="Where the steps of a run go: local, or dask://host:port.")
    ] = "local",
) -> None:
    """Take queued pipeline runs from the database queue and run them (row locks, so any
    number of workers may run)."""
    import functools

    from shipyard.errors import InvalidInputError
    from shipyard.pipelines.api import store_engine
    from shipyard.pipelines.dask_executor import DASK_SCHEME
    from shipyard.pipelines.worker import run_queued, run_worker

    if executor != "local" and not executor.startswith(DASK_SCHEME):
        raise InvalidInputError(f"--executor {executor!r}: use local or dask://host:port",
                                field="executor")
    execute = functools.partial(run_queued, executor=executor)
    with _log_to_stderr():
        done = run_worker(store_engine(), execute, once=once, poll_s=poll,
                          heartbeat_s=heartbeat)
    output.done(f"Processed {done} queued run(s)")


def scheduler(
    poll: Annotated[float, typer.Option(
        "--poll", help="Seconds between passes over the schedules.")] = 1.0,
    heartbeat_timeout: Annotated[float, typer.Option(
        "--heartbeat-timeout",
        help="Fail a running run whose worker has not heartbeated for this many seconds.")
    ] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
) -> None:
    """Enqueue due schedule runs and fail runs whose worker went silent (several schedulers
    may run; each due run is queued once)."""
    from shipyard.pipelines.api import store_engine
    from shipyard.pipelines.scheduler import run_scheduler, tick

    engine = store_engine()
    if once:
        added, failed = tick(engine, heartbeat_timeout)
        output.done(f"Queued {added} run(s), failed {failed} stale run(s)")
        return
    with _log_to_stderr():
        run_scheduler(engine, poll_s=poll, heartbeat_timeout_s=heartbeat_timeout)
