"""``shipyard scheduler``: a loop that enqueues due schedule runs and fails stale runs.

Several schedulers may run against one database: enqueueing is idempotent per (schedule,
due time), see :mod:`shipyard.pipelines.schedules`.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from shipyard.errors import ShipyardError
from shipyard.pipelines import queue
from shipyard.pipelines.schedules import enqueue_due

log = logging.getLogger(__name__)


def tick(engine: Engine, heartbeat_timeout_s: float = 60.0) -> tuple[int, int]:
    """One pass: (runs enqueued, stale runs failed)."""
    return enqueue_due(engine), queue.fail_stale(engine, heartbeat_timeout_s)


def run_scheduler(engine: Engine, *, poll_s: float = 1.0, heartbeat_timeout_s: float = 60.0,
                  stop: threading.Event | None = None) -> None:
    """Tick every ``poll_s`` seconds until ``stop`` is set; a failed tick is logged."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            added, failed = tick(engine, heartbeat_timeout_s)
            if added or failed:
                log.info("scheduler: %d run(s) queued, %d stale run(s) failed", added, failed)
        except ShipyardError as exc:  # e.g. the database is briefly unreachable
            log.warning("scheduler tick failed: %s", exc)
        stop.wait(poll_s)
