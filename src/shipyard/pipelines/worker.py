"""``shipyard worker``: claim queued runs and run them, heartbeating while they run.

A run's code comes from its code package (unpacked into a cache folder, so a worker on
another machine runs the code that was scheduled) or, for a ``module:function`` reference,
from the installed module.

Losing the database does not stop a worker: a failed heartbeat is logged and tried again on
the next beat, a failed claim waits (doubling up to 30 s) and tries again, and an outcome that
cannot be recorded is retried, then left to the scheduler, which fails the run once its
heartbeat is stale (with its tracking runs) so that ``requeue`` can run it again.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shipyard.artifacts.content import ContentStore
from shipyard.errors import BackendError, InvalidInputError, ShipyardError
from shipyard.pipelines import queue
from shipyard.pipelines.decorators import Pipeline
from shipyard.pipelines.queue import QueuedRun

#: Runs one claimed run and returns the pipeline run id; raises if the run failed.
Execute = Callable[[QueuedRun], str | None]
_import_lock = threading.Lock()  # loading a file touches sys.path and sys.modules
log = logging.getLogger(__name__)
#: What a lost or refused database connection raises (the stores wrap most as BackendError;
#: a connection killed mid-statement can surface as a bare SQLAlchemy error).
DB_ERRORS = (ShipyardError, SQLAlchemyError)
MAX_BACKOFF_S = 30.0
RECORD_TRIES = 3


class QueuedPipelineError(Exception):
    """A queued run's pipeline failed; ``pipeline_run_id`` is its tracking run, if any."""

    def __init__(self, cause: BaseException, pipeline_run_id: str | None) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.pipeline_run_id = pipeline_run_id


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def load_ref(ref: str, code_digest: str | None, content: ContentStore | None) -> Pipeline:
    """The pipeline named by ``file.py:function`` (from its package) or ``module:function``."""
    from shipyard.pipelines.code_package import unpack
    from shipyard.pipelines.loading import load_pipeline

    path_text, _, name = ref.rpartition(":")
    with _import_lock:
        if path_text.endswith(".py"):
            if code_digest is not None and content is not None:
                folder = unpack(code_digest, content)
                return load_pipeline(f"{folder / Path(path_text).name}:{name}")
            return load_pipeline(ref)
        try:
            module = importlib.import_module(path_text)
        except ImportError as exc:
            raise InvalidInputError(f"cannot import {path_text!r}: {exc}", field="ref") from None
    found = getattr(module, name, None)
    if not isinstance(found, Pipeline):
        raise InvalidInputError(f"{ref!r} is not a @pipeline function", field="ref")
    return found


def run_queued(run: QueuedRun, executor: str = "local") -> str | None:
    """The default :data:`Execute`: run the pipeline in the current store, its pipeline run
    tagged with the queued run's id from the start (so a lost run can be found and failed),
    its steps on ``executor`` (``local`` or ``dask://host:port``)."""
    from shipyard.pipelines.history import fail_unfinished
    from shipyard.pipelines.runner import run_pipeline
    from shipyard.sdk.fluent import client

    c = client()
    # A requeued run: an earlier attempt whose worker died may still look RUNNING when the
    # scheduler could not fail its tracking runs; this worker holds the claim now.
    fail_unfinished(c, run.id, f"a later attempt of queued run {run.id} started; this one's "
                               "worker was lost")
    content = getattr(c.store, "content", None)
    pipe = load_ref(run.pipeline_ref, run.code_digest,
                    content if isinstance(content, ContentStore) else None)
    try:
        return run_pipeline(pipe, run.params, executor=executor,
                            tags={queue.TAG_QUEUE_ID: run.id}).run_id
    except Exception as exc:
        raise QueuedPipelineError(exc, _tidy_after_failure(run.id, exc)) from exc


def _tidy_after_failure(queued_id: str, exc: BaseException) -> str | None:
    """Fail the step runs a failed pipeline left RUNNING (when the database was lost, ending
    them may have failed too); the pipeline run id. Best effort: the database may still be
    unreachable, and then the scheduler's stale check does it later."""
    from shipyard.pipelines.history import fail_unfinished
    from shipyard.sdk.fluent import client

    try:
        return fail_unfinished(client(), queued_id, f"{type(exc).__name__}: {exc}")
    except DB_ERRORS as err:
        log.warning("could not mark the unfinished runs of queued run %s FAILED (the "
                    "scheduler's stale check will): %s", queued_id, err)
        return None


def _beat(engine: Engine, run_id: str, worker: str, every_s: float,
          stop: threading.Event) -> None:
    """Heartbeat until ``stop``; a database error is logged and tried again next beat (so a
    short outage does not make a live run look stale), losing the claim ends the beat."""
    failing = False
    while not stop.wait(every_s):
        try:
            mine = queue.heartbeat(engine, run_id, worker)
        except DB_ERRORS as exc:
            if not failing:
                log.warning("heartbeat of queued run %s failed, retrying every %gs: %s",
                            run_id, every_s, exc)
            failing = True
            continue
        if failing:
            log.info("heartbeat of queued run %s works again", run_id)
            failing = False
        if not mine:
            log.warning("queued run %s was failed as stale while it ran; its outcome will not "
                        "be recorded (`shipyard pipelines requeue %s` runs it again)",
                        run_id, run_id)
            return


def _record(engine: Engine, run_id: str, worker: str, *, pipeline_run_id: str | None,
            error: str | None, wait_s: float) -> None:
    """``queue.finish`` with retries; a BackendError when the database stays unreachable."""
    for attempt in range(RECORD_TRIES):
        try:
            if not queue.finish(engine, run_id, worker, pipeline_run_id=pipeline_run_id,
                                error=error):
                log.warning("queued run %s was failed as stale before it ended; its outcome "
                            "(pipeline run %s) is not recorded", run_id, pipeline_run_id)
            return
        except DB_ERRORS as exc:
            last = exc
            if attempt + 1 < RECORD_TRIES:
                threading.Event().wait(wait_s * 2 ** attempt)
    raise BackendError(
        f"could not record the outcome of queued run {run_id} ({last}); the scheduler fails it "
        f"once its heartbeat is older than --heartbeat-timeout, then `shipyard pipelines "
        f"requeue {run_id}` runs it again (finished steps come from the cache)")


def process_one(engine: Engine, execute: Execute = run_queued, *, worker: str | None = None,
                heartbeat_s: float = 5.0) -> QueuedRun | None:
    """Claim one due run, run it while heartbeating, record the outcome; None if none was due.

    A database error while claiming or recording is raised (a ``BackendError`` or a
    SQLAlchemy error); one while heartbeating is logged and retried.
    """
    me = worker or worker_name()
    claimed = queue.claim(engine, me)
    if claimed is None:
        return None
    queue.heartbeat(engine, claimed.id, me)
    stop = threading.Event()
    beater = threading.Thread(target=_beat, args=(engine, claimed.id, me, heartbeat_s, stop),
                              name=f"heartbeat-{claimed.id}", daemon=True)
    beater.start()
    pipeline_run_id: str | None = None
    error: str | None = None
    try:
        pipeline_run_id = execute(claimed)
    except QueuedPipelineError as exc:
        error, pipeline_run_id = str(exc), exc.pipeline_run_id
    except Exception as exc:  # the run failed; the worker goes on
        error = f"{type(exc).__name__}: {exc}"
    finally:
        stop.set()
        beater.join()
    _record(engine, claimed.id, me, pipeline_run_id=pipeline_run_id, error=error,
            wait_s=heartbeat_s)
    return queue.get(engine, claimed.id)


def run_worker(engine: Engine, execute: Execute = run_queued, *, once: bool = False,
               poll_s: float = 1.0, heartbeat_s: float = 5.0,
               stop: threading.Event | None = None, worker: str | None = None) -> int:
    """Process runs until ``stop`` is set (or, with ``once``, until none is due); the count.

    When the database is unreachable the loop logs it and waits, doubling the wait from
    ``poll_s`` up to 30 s, until it is back; with ``once`` the error is raised.
    """
    stop = stop or threading.Event()
    done = 0
    failures = 0
    while not stop.is_set():
        try:
            result = process_one(engine, execute, worker=worker, heartbeat_s=heartbeat_s)
        except DB_ERRORS as exc:
            if once:
                if isinstance(exc, ShipyardError):
                    raise
                raise BackendError(f"metadata database error: {exc}") from exc
            failures += 1
            delay = min(poll_s * 2 ** failures, MAX_BACKOFF_S)
            log.warning("worker: %s; trying again in %.1fs", exc, delay)
            stop.wait(delay)
            continue
        if failures:
            log.info("worker: the database is reachable again")
            failures = 0
        if result is not None:
            done += 1
            continue
        if once:
            break
        stop.wait(poll_s)
    return done
