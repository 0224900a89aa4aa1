"""What the pipeline pages show, read through :mod:`shipyard.pipelines.history`, the schedule
table and the run queue: the same functions ``shipyard pipelines`` and ``shipyard runs`` use.

A pipeline run records a child run per step once the step starts, so a run in progress has
no record yet of the steps still waiting. The DAG fills them in from the run's
``pipeline.json`` (its whole graph, written when it starts) and marks them "not started"; for
a run from before ``pipeline.json`` existed, from the pipeline's last finished run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shipyard.entities import Run
from shipyard.errors import NotFoundError, ShipyardError
from shipyard.pipelines import history
from shipyard.pipelines.runner import (
    GRAPH_FILE,
    STEP_LOG,
    TAG_ATTEMPTS,
    TAG_CACHED_FROM,
    TAG_PIPELINE,
    TAG_PIPELINE_REF,
    TAG_STEP,
)
from shipyard.sdk.client import Client
from shipyard.server.ui import dag_layout
from shipyard.store.tracking.protocol import TrackingStore

LOG_BYTES = 64 * 1024
RECENT_PIPELINE_RUNS = 1000  # the pipelines list is built from the newest pipeline runs
RUNS_SHOWN = 50
QUEUE_SHOWN = 50
ENDED = ("FINISHED", "FAILED", "KILLED")
STATUS_LABELS = {"running": "running", "finished": "finished", "cached": "from the cache",
                 "failed": "failed", "not-started": "not started"}


def client(store: TrackingStore) -> Client:
    """An SDK client over the server's own store (no second connection pool)."""
    return Client(store=store)


def step_state(status: str, cache_hit: bool) -> str:
    """The class a step's node and row get: running, finished, cached, failed, not-started."""
    if status == "RUNNING":
        return "running"
    if status == "FINISHED":
        return "cached" if cache_hit else "finished"
    if status in ("FAILED", "KILLED"):
        return "failed"
    return "not-started"


@dataclass
class Step:
    """A step as the run page shows it; ``record`` is None for a step not started."""

    name: str
    state: str
    upstream: tuple[str, ...]
    record: history.StepRecord | None = None
    attempts: str = ""
    cached_from: str = ""
    log: str | None = None
    log_truncated: bool = False

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.state]


@dataclass
class RunView:
    run: Run
    name: str
    steps: list[Step]
    layout: dag_layout.Layout
    counts: dict[str, int]
    running: bool
    guessed: list[str] = field(default_factory=list)  # steps drawn from an earlier run


def pipelines(store: TrackingStore) -> list[dict[str, Any]]:
    """Each pipeline seen among the newest pipeline runs, with its latest run."""
    found = store.search_runs(None, f"tags.`{TAG_PIPELINE}` LIKE '%'",
                              ["attributes.start_time DESC"], RECENT_PIPELINE_RUNS)
    latest: dict[str, dict[str, Any]] = {}
    for run in found:
        tags = run.data.tags
        name = tags.get(TAG_PIPELINE)
        if name is None or TAG_STEP in tags:
            continue
        entry = latest.setdefault(name, {"name": name, "run": run, "runs": 0,
                                         "ref": tags.get(TAG_PIPELINE_REF, "")})
        entry["runs"] += 1
    return sorted(latest.values(), key=lambda e: e["name"])


def engine_of(store: TrackingStore) -> Any:
    return getattr(store, "engine", None)


def schedules(store: TrackingStore) -> list[Any]:
    from shipyard.pipelines.schedules import list_schedules

    engine = engine_of(store)
    return [] if engine is None else list_schedules(engine)


def queue(store: TrackingStore) -> list[Any]:
    from shipyard.pipelines.queue import list_queue

    engine = engine_of(store)
    return [] if engine is None else list_queue(engine, limit=QUEUE_SHOWN)


def runs_of(store: TrackingStore, name: str) -> list[dict[str, Any]]:
    """The newest runs of the pipeline ``name`` with their step counts; NotFoundError when it
    has none."""
    c = client(store)
    runs = history.pipeline_runs(c, name, max_results=RUNS_SHOWN)
    if not runs:
        raise NotFoundError(f"no pipeline named {name!r} has run here: its runs carry the "
                            f"tag {TAG_PIPELINE}={name}", field="name")
    return [{"run": run, "counts": history.step_counts(history.step_records(c, run))}
            for run in runs]


def pipeline_run(store: TrackingStore, run_id: str, *, logs: bool) -> RunView:
    """One pipeline run: its steps (with the ones not started yet), their DAG and, when
    ``logs``, each step's captured output (its first 64 KB)."""
    c = client(store)
    run = store.get_run(run_id)
    name = history.require_pipeline_run(run)
    records = history.step_records(c, run)
    extra = _step_tags(store, run)
    steps = [Step(r.name, step_state(r.status, r.cache_hit), r.upstream, r,
                  attempts=extra.get(r.run_id, {}).get(TAG_ATTEMPTS, ""),
                  cached_from=extra.get(r.run_id, {}).get(TAG_CACHED_FROM, ""))
             for r in records]
    pending, guessed = _not_started(c, run, name, {s.name for s in steps})
    steps.extend(pending)
    upstream = {s.name: list(s.upstream) for s in steps}
    view = RunView(run, name, steps, dag_layout.layout(upstream), history.step_counts(records),
                   str(run.info.status) not in ENDED,
                   [s.name for s in pending] if guessed else [])
    if logs:
        add_logs(store, view)
    return view


def add_logs(store: TrackingStore, view: RunView) -> None:
    """Each step's captured output (a step from the cache ran nothing, so has none)."""
    for step in view.steps:
        if step.record is not None and not step.record.cache_hit:
            step.log, step.log_truncated = _log(store, step.record.run_id)


def _step_tags(store: TrackingStore, run: Run) -> dict[str, dict[str, str]]:
    """The tags of each step run that :class:`~shipyard.pipelines.history.StepRecord` leaves
    out (attempts, the run a cache hit came from)."""
    found = store.search_runs([run.info.experiment_id],
                              f"attributes.parent_run_id = '{run.info.run_id}'", None, 1000)
    return {r.info.run_id: r.data.tags for r in found}


def _not_started(c: Client, run: Run, name: str, seen: set[str]) -> tuple[list[Step], bool]:
    """The steps ``run`` has not started, and whether they were guessed: from the run's own
    ``pipeline.json`` (its whole DAG), else from the pipeline's last finished run."""
    try:
        with c.store.open_artifact(run.info.run_id, GRAPH_FILE) as stream:
            graph = json.loads(stream.read())["steps"]
        return [Step(node_id, "not-started", tuple(node["upstream"]))
                for node_id, node in graph.items() if node_id not in seen], False
    except (ShipyardError, ValueError, KeyError, TypeError):
        pass  # a run from before pipeline.json, or an unreadable one: guess
    for earlier in history.pipeline_runs(c, name, max_results=20):
        if earlier.info.run_id == run.info.run_id or str(earlier.info.status) != "FINISHED":
            continue
        return [Step(r.name, "not-started", r.upstream)
                for r in history.step_records(c, earlier) if r.name not in seen], True
    return [], False


def _log(store: TrackingStore, run_id: str) -> tuple[str | None, bool]:
    """A step's ``step.log``: its first 64 KB as text, and whether there was more."""
    try:
        with store.open_artifact(run_id, STEP_LOG) as stream:
            data = stream.read(LOG_BYTES + 1)
    except NotFoundError:
        return None, False
    except ShipyardError as error:  # a missing artifact store must not take the page down
        return f"(the log could not be read: {error.message})", False
    return data[:LOG_BYTES].decode("utf-8", "replace"), len(data) > LOG_BYTES
