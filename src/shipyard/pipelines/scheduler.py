"""``shipyard scheduler``: a loop that enqueues due schedule runs and fails stale runs.

Several schedulers may run against one database: enqueueing is idempotent per (schedule,
due time), see :mod:`shipyard.pipelines.schedules`. A stale run (its worker was killed or
lost the database) is failed in the queue and so are its tracking pipeline run and the step
runs left RUNNING, so ``shipyard pipelines runs/show`` tell the truth and ``resume`` works.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shipyard.errors import ShipyardError
from shipyard.pipelines import queue
from shipyard.pipelines.schedules import enqueue_due

if TYPE_CHECKING:
    from shipyard.sdk.client import Client

log = logging.getLogger(__name__)


def tracking_client(engine: Engine) -> Client:
    """A client for the runs in ``engine``'s database (the scheduler only updates runs and
    tags, so the artifact store is the configured one and is never read)."""
    from shipyard import settings
    from shipyard.artifacts import open_content_store
    from shipyard.sdk.client import Client
    from shipyard.store.tracking.sql import SqlTrackingStore

    return Client(store=SqlTrackingStore(engine, open_content_store(settings.artifacts_uri())))


def fail_stale(engine: Engine, heartbeat_timeout_s: float, tracking: Client | None = None,
               now: int | None = None) -> list[queue.QueuedRun]:
    """Fail the stale queued runs and their unfinished tracking runs; the runs failed.

    The queue row is failed first (its worker may come back and must then lose the race);
    the tracking runs are best effort: when that part fails it is logged, and the next
    attempt's worker fails them before it starts (:func:`shipyard.pipelines.worker.run_queued`).
    """
    from shipyard.pipelines.history import fail_unfinished

    stale = queue.fail_stale_runs(engine, heartbeat_timeout_s, now)
    for run in stale:
        try:
            c = tracking = tracking or tracking_client(engine)  # made once, if needed
            pipeline_run_id = fail_unfinished(c, run.id, run.error or "stale")
            if pipeline_run_id is not None:
                queue.link(engine, run.id, pipeline_run_id)
        except (ShipyardError, SQLAlchemyError) as exc:
            log.warning("queued run %s was failed as stale, but its tracking runs could not be "
                        "marked FAILED: %s", run.id, exc)
    return stale


def tick(engine: Engine, heartbeat_timeout_s: float = 60.0,
         tracking: Client | None = None) -> tuple[int, int]:
    """One pass: (runs enqueued, stale runs failed)."""
    added = enqueue_due(engine)
    return added, len(fail_stale(engine, heartbeat_timeout_s, tracking))


def run_scheduler(engine: Engine, *, poll_s: float = 1.0, heartbeat_timeout_s: float = 60.0,
                  stop: threading.Event | None = None) -> None:
    """Tick every ``poll_s`` seconds until ``stop`` is set; a failed tick is logged."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            added, failed = tick(engine, heartbeat_timeout_s)
            if added or failed:
                log.info("scheduler: %d run(s) queued, %d stale run(s) failed", added, failed)
        except (ShipyardError, SQLAlchemyError) as exc:  # e.g. the database is briefly down
            log.warning("scheduler tick failed: %s", exc)
        stop.wait(poll_s)
