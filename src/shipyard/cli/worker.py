"""``shipyard worker`` and ``shipyard scheduler``: run queued pipeline runs; enqueue due
schedule runs (docs/pipelines.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli import output


def worker(
    once: Annotated[bool, typer.Option(
        "--once", help="Run the runs due now, then exit.")] = False,
    poll: Annotated[float, typer.Option(
        "--poll", help="Seconds between looks at the queue when it is empty.")] = 1.0,
    heartbeat: Annotated[float, typer.Option(
        "--heartbeat", help="Seconds between heartbeats of a running run.")] = 5.0,
) -> None:
    """Take queued pipeline runs from the database queue and run them (row locks, so any
    number of workers may run)."""
    from shipyard.pipelines.api import store_engine
    from shipyard.pipelines.worker import run_worker

    done = run_worker(store_engine(), once=once, poll_s=poll, heartbeat_s=heartbeat)
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
    run_scheduler(engine, poll_s=poll, heartbeat_timeout_s=heartbeat_timeout)
