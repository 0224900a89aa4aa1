"""``shipyard worker``: claim queued runs and run them, heartbeating while they run.

A run's code comes from its code package (unpacked into a cache folder, so a worker on
another machine runs the code that was scheduled) or, for a ``module:function`` reference,
from the installed module.
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from shipyard.artifacts.content import ContentStore
from shipyard.errors import InvalidInputError
from shipyard.pipelines import queue
from shipyard.pipelines.decorators import Pipeline
from shipyard.pipelines.queue import QueuedRun

#: Runs one claimed run and returns the pipeline run id; raises if the run failed.
Execute = Callable[[QueuedRun], str | None]
_import_lock = threading.Lock()  # loading a file touches sys.path and sys.modules


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


def run_queued(run: QueuedRun) -> str | None:
    """The default :data:`Execute`: run the pipeline in the current store."""
    from shipyard.pipelines.runner import run_pipeline
    from shipyard.sdk.fluent import client

    content = getattr(client().store, "content", None)
    pipe = load_ref(run.pipeline_ref, run.code_digest,
                    content if isinstance(content, ContentStore) else None)
    return run_pipeline(pipe, run.params).run_id


def process_one(engine: Engine, execute: Execute = run_queued, *, worker: str | None = None,
                heartbeat_s: float = 5.0) -> QueuedRun | None:
    """Claim one due run, run it while heartbeating, record the outcome; None if none was due."""
    me = worker or worker_name()
    claimed = queue.claim(engine, me)
    if claimed is None:
        return None
    queue.heartbeat(engine, claimed.id, me)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat_s):
            if not queue.heartbeat(engine, claimed.id, me):
                return

    beater = threading.Thread(target=beat, name=f"heartbeat-{claimed.id}", daemon=True)
    beater.start()
    pipeline_run_id: str | None = None
    error: str | None = None
    try:
        pipeline_run_id = execute(claimed)
    except Exception as exc:  # the run failed; the worker goes on
        error = f"{type(exc).__name__}: {exc}"
    finally:
        stop.set()
        beater.join()
    queue.finish(engine, claimed.id, me, pipeline_run_id=pipeline_run_id, error=error)
    return queue.get(engine, claimed.id)


def run_worker(engine: Engine, execute: Execute = run_queued, *, once: bool = False,
               poll_s: float = 1.0, heartbeat_s: float = 5.0,
               stop: threading.Event | None = None, worker: str | None = None) -> int:
    """Process runs until ``stop`` is set (or, with ``once``, until none is due); the count."""
    stop = stop or threading.Event()
    done = 0
    while not stop.is_set():
        result = process_one(engine, execute, worker=worker, heartbeat_s=heartbeat_s)
        if result is not None:
            done += 1
            continue
        if once:
            break
        stop.wait(poll_s)
    return done
