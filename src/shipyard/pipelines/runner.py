"""Run a traced pipeline: a parent run, one child run per step, outputs in the content store,
steps skipped when their cache key matches an earlier successful step run.

The cache lives in run tags (``shipyard.step.cache_key`` and the output's kind and digest), so
it needs no table of its own and is found with the ordinary run search.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import platform
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from shipyard.artifacts.content import ContentStore, hash_bytes
from shipyard.entities import LifecycleStage, Run, RunData, RunInfo, RunStatus
from shipyard.errors import InvalidInputError, InvalidStateError
from shipyard.pipelines.code_digest import code_digest
from shipyard.pipelines.decorators import Pipeline, source_line
from shipyard.pipelines.executor import Executor, LocalExecutor
from shipyard.pipelines.graph import Graph, Node, bind_params, trace
from shipyard.pipelines.materialisers import by_kind, find_materialiser
from shipyard.pipelines.step_logs import captured, tee_installed
from shipyard.sdk import fluent
from shipyard.sdk.client import Client

log = logging.getLogger(__name__)

TAG_PIPELINE = "shipyard.pipeline"
TAG_PIPELINE_REF = "shipyard.pipeline.ref"  # file.py:function of the pipeline, for resume
TAG_RESUMED_FROM = "shipyard.pipeline.resumed_from"
TAG_STEP = "shipyard.step"
TAG_CACHE_KEY = "shipyard.step.cache_key"
TAG_CACHE_HIT = "shipyard.step.cache_hit"
TAG_CACHED_FROM = "shipyard.step.cached_from"
TAG_OUTPUT_KIND = "shipyard.step.output_kind"
TAG_OUTPUT_DIGEST = "shipyard.step.output_digest"
TAG_ATTEMPTS = "shipyard.step.attempts"
TAG_DURATION = "shipyard.step.duration_s"
TAG_LOST_WORKER = "shipyard.step.lost_worker"
TAG_UPSTREAM = "shipyard.step.upstream"  # the node ids this step takes inputs from, comma-joined
STEP_LOG = "step.log"  # artifact of a step run: what the step printed
GRAPH_FILE = "pipeline.json"  # artifact of a pipeline run: its steps and their inputs
HIT_FLUSH_S = 0.5  # the longest a cache hit's child run waits to be written


@dataclass(frozen=True)
class StepResult:
    """One step of a pipeline run: its child run, whether it came from the cache, its output."""

    name: str
    run_id: str
    cache_hit: bool
    output_kind: str | None
    output_digest: str | None
    duration_s: float
    attempts: int


StepEventKind = Literal["started", "finished", "cached", "failed"]


@dataclass(frozen=True)
class StepEvent:
    """What happened to one step, for progress displays.

    ``started`` when the step is handed to the executor, then exactly one of ``finished``
    (it ran), ``cached`` (its output came from an earlier run) or ``failed`` (with ``error``;
    the pipeline run fails with it). ``total`` is the number of steps in the pipeline.
    """

    kind: StepEventKind
    step: str
    total: int
    result: StepResult | None = None
    error: BaseException | None = None


StepListener = Callable[[StepEvent], None]

# Why a context variable beside run_pipeline's on_step: callers that reach run_pipeline through
# another function (resume) can still get the events.
_listener: ContextVar[StepListener | None] = ContextVar("shipyard_step_listener", default=None)


@contextmanager
def step_events(on_step: StepListener) -> Iterator[None]:
    """Send the step events of pipelines run inside this block (in this thread or context)
    to ``on_step`` unless ``run_pipeline`` is given one of its own."""
    token = _listener.set(on_step)
    try:
        yield
    finally:
        _listener.reset(token)


@dataclass
class PipelineRun:
    """A finished pipeline run: the parent run id and each step's result."""

    name: str
    run_id: str
    status: str
    steps: dict[str, StepResult] = field(default_factory=dict)
    store: ContentStore | None = None

    def output(self, step: str) -> Any:
        """The output of ``step``, loaded from the content store."""
        result = self.steps.get(step)
        if result is None:
            raise InvalidInputError(f"pipeline {self.name!r} has no step {step!r}; its steps: "
                                    f"{sorted(self.steps)}", field="step")
        if result.output_kind is None or result.output_digest is None or self.store is None:
            return None
        return by_kind(result.output_kind).load(result.output_digest, self.store)


def _content_store(sdk: Client) -> ContentStore:
    content = getattr(sdk.store, "content", None)
    if not isinstance(content, ContentStore):
        raise InvalidStateError(
            "pipelines store step outputs in the artifact store next to the metadata "
            "database; the tracking URI names a server, so set SHIPYARD_TRACKING_URI to its "
            "database URL and SHIPYARD_ARTIFACTS_URI to its artifact store",
            field="tracking_uri")
    return content


def environment_digest() -> str:
    """BLAKE3 of the Python version and the installed packages (the environment lock)."""
    from shipyard.services.run_context import capture_environment, requirements_lock

    text = f"python=={platform.python_version()}\n" + requirements_lock(capture_environment())
    return hash_bytes(text.encode()).digest


def cache_key(node: Node, inputs: Mapping[str, str], code: str, env: str,
              store: ContentStore) -> str | None:
    """Digest of the inputs' digests, the constant params, the code and the environment;
    None when a constant has no stable digest (then the step is never taken from the cache)."""
    params: dict[str, Any] = {}
    for name, value in node.constants.items():
        try:
            params[name] = json.loads(json.dumps(value, sort_keys=True))
        except (TypeError, ValueError):
            # Why not repr(): a DataFrame's repr is truncated, so two frames could collide.
            materialiser = find_materialiser(type(value))
            if materialiser is None:
                return None
            params[name] = f"{materialiser.kind}:{materialiser.save(value, store)}"
    payload = json.dumps({"inputs": dict(inputs), "params": params, "code": code, "env": env},
                         sort_keys=True)
    return hash_bytes(payload.encode()).digest


class _Run:
    """State of one pipeline run shared by the step tasks."""

    def __init__(self, graph: Graph, sdk: Client, experiment_id: str, *, cache: bool) -> None:
        self.graph = graph
        self.sdk = sdk
        self.store = _content_store(sdk)
        self.experiment_id = experiment_id
        self.cache = cache
        self.env = environment_digest()
        self.results: dict[str, StepResult] = {}
        self.parent_run_id: str | None = None
        self.remote = False
        self.code_digests: dict[str, str] = {}
        self._init_local()

    def _init_local(self) -> None:
        """State that stays in this process (never pickled)."""
        self._hits: list[Run] = []  # cache hits not written yet (see flush_hits)
        self._hits_closed = False
        self._hits_lock = threading.Lock()
        # By function: a step used many times in a pipeline is digested once per run.
        self._fn_digests: dict[Callable[..., Any], str] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Why: the Dask executor ships step tasks to other processes; the client and store
        # are reopened there from the driver's URIs (absolute paths or URLs).
        from shipyard import settings

        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("sdk", "store") and not k.startswith("_")}
        state["uris"] = (settings.tracking_uri(), settings.artifacts_uri())
        # Why on the driver, once: a step pickled by value has another digest once unpickled
        # (Dask's scheduler may unpickle and pickle a task again), so the cache would never
        # hit across executors.
        state["code_digests"] = self.code_digests or {
            node_id: self._fn_digest(node.step.fn) for node_id, node in self.graph.nodes.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        tracking_uri, artifacts_uri = state.pop("uris")
        self.__dict__.update(state)
        self.sdk = Client(tracking_uri, artifacts_uri)
        self.store = _content_store(self.sdk)
        self.remote = True
        self._init_local()

    def fail_lost_attempts(self, node_id: str) -> None:
        """Mark FAILED the runs of ``node_id`` left RUNNING by a worker that died mid-step."""
        if self.parent_run_id is None:
            return
        found = self.sdk.search_runs(
            [self.experiment_id],
            f"attributes.parent_run_id = '{self.parent_run_id}' AND "
            f"attributes.run_name = '{node_id}' AND attributes.status = 'RUNNING'")
        for run in found.items:
            self.sdk.set_tag(run.run_id, TAG_LOST_WORKER, "true")
            self.sdk.set_terminated(run.run_id, "FAILED")

    def find_cached(self, key: str) -> tuple[str, str, str] | None:
        """(run id, output kind, output digest) of an earlier successful run of this key."""
        from shipyard.store.tracking.sql import SqlTrackingStore

        store = self.sdk.store
        if isinstance(store, SqlTrackingStore):  # one prepared query, no filter to parse
            found = store.newest_tagged_run(self.experiment_id, TAG_CACHE_KEY, key)
            if found is None:
                return None
            run_id, tags = found
        else:
            page = self.sdk.search_runs(
                [self.experiment_id],
                f"tags.`{TAG_CACHE_KEY}` = '{key}' AND attributes.status = 'FINISHED'",
                max_results=1)
            if not page.items:
                return None
            run_id, tags = page.items[0].run_id, page.items[0].data.tags
        digest = tags.get(TAG_OUTPUT_DIGEST, "")
        if digest and not self.store.exists(digest):
            return None  # the output was garbage-collected: run the step again
        return run_id, tags.get(TAG_OUTPUT_KIND, ""), digest

    def run_step(self, node: Node) -> StepResult:
        if self.remote:  # a re-executed task after a lost worker must not double-record
            self.fail_lost_attempts(node.node_id)
        inputs = {arg: self._ref(up) for arg, up in node.upstream.items()}
        key = cache_key(node, inputs, self._code_digest(node), self.env, self.store)
        started = time.monotonic()
        use_cache = self.cache and node.step.options.cache and key is not None
        hit = self.find_cached(key) if use_cache and key is not None else None
        tags = {TAG_STEP: node.step.name, TAG_CACHE_HIT: str(hit is not None),
                TAG_UPSTREAM: ",".join(sorted(set(node.upstream.values())))}
        if key is not None:
            tags[TAG_CACHE_KEY] = key
        params = {k: _param_text(v) for k, v in node.constants.items()}
        if hit is not None:
            return self._record_hit(node, tags, params, hit, started)
        self.flush_hits(0.0)  # this step may run long: the cached steps before it are recorded
        # The run is created in the pipeline's experiment by id: a name lookup per step is
        # a query, and the active experiment may not be the pipeline's.
        with fluent.start_run(experiment_id=self.experiment_id, run_name=node.node_id,
                              tags=tags, parent_run_id=self.parent_run_id,
                              log_context=False) as run:
            if params:  # an empty batch would still be a write transaction
                fluent.log_params(params)
            args = {**node.constants, **{a: self._load(ref) for a, ref in inputs.items()}}
            with captured() as logs:
                try:
                    value, attempts = _call_with_retries(node, args, run.run_id)
                finally:  # the log helps most when the step failed
                    if logs.getvalue():
                        run.client.log_text(run.run_id, logs.getvalue(), STEP_LOG)
            out_kind, out_digest = self._save(node, value)
            duration = time.monotonic() - started
            fluent.set_tags({TAG_OUTPUT_KIND: out_kind or "", TAG_OUTPUT_DIGEST: out_digest or "",
                             TAG_ATTEMPTS: attempts, TAG_DURATION: f"{duration:.3f}"})
            return StepResult(node.node_id, run.run_id, False, out_kind, out_digest, duration,
                              attempts)

    def _record_hit(self, node: Node, tags: dict[str, str], params: dict[str, str],
                    hit: tuple[str, str, str], started: float) -> StepResult:
        """The child run of a step taken from the cache. No step code runs, so the run is
        recorded as already finished, and (locally) in batches: see :meth:`flush_hits`."""
        from shipyard import settings

        source, kind, digest = hit
        now = _now_ms()
        run = Run(RunInfo(
            run_id=uuid.uuid4().hex, experiment_id=self.experiment_id, run_name=node.node_id,
            user=settings.current_user(), status=RunStatus.FINISHED, start_time=now,
            end_time=now, lifecycle_stage=LifecycleStage.ACTIVE,
            parent_run_id=self.parent_run_id,
        ), RunData(params=params, tags={**tags, TAG_CACHED_FROM: source, TAG_OUTPUT_KIND: kind,
                                        TAG_OUTPUT_DIGEST: digest}))
        with self._hits_lock:
            # Another process, or a step still running after the last flush (a failed
            # pipeline on an executor it does not own): nothing would flush a batch.
            batched = not self.remote and not self._hits_closed
            if batched:
                self._hits.append(run)
        if not batched:
            self._write_hits([run])
        return StepResult(node.node_id, run.info.run_id, True, kind or None, digest or None,
                          time.monotonic() - started, 0)

    def flush_hits(self, older_than_s: float | None = None) -> None:
        """Write the recorded cache hits if the oldest waited ``older_than_s`` seconds; with
        None, write them all and record any later hit at once.

        Why batches: a cached step costs little besides its record, so one transaction per
        hit would be most of a cached rerun's time. They are written before a step that is
        not cached runs, after a completion that leaves nothing new to start or when the
        oldest waited :data:`HIT_FLUSH_S`, and at the end of the pipeline run.
        """
        with self._hits_lock:
            if older_than_s is None:
                self._hits_closed = True
            elif not self._hits or (
                    _now_ms() - self._hits[0].info.start_time < older_than_s * 1000):
                return
            runs, self._hits = self._hits, []
        self._write_hits(runs)

    def _write_hits(self, runs: list[Run]) -> None:
        from shipyard.store.tracking.sql import SqlTrackingStore

        if not runs:
            return
        store = self.sdk.store
        if isinstance(store, SqlTrackingStore):
            store.create_ended_runs(runs)
            return
        for run in runs:  # a store without bulk records: one run at a time
            info = run.info
            created = self.sdk.create_run(info.experiment_id, run_name=info.run_name,
                                          tags=run.data.tags, parent_run_id=info.parent_run_id,
                                          start_time=info.start_time, user=info.user)
            if run.data.params:
                self.sdk.log_params(created.run_id, run.data.params)
            self.sdk.set_terminated(created.run_id, info.status, end_time=info.end_time)

    def _code_digest(self, node: Node) -> str:
        found = self.code_digests.get(node.node_id)
        return found if found is not None else self._fn_digest(node.step.fn)

    def _fn_digest(self, fn: Callable[..., Any]) -> str:
        found = self._fn_digests.get(fn)
        if found is None:  # two threads may both compute it: the same value
            found = self._fn_digests[fn] = code_digest(fn)
        return found

    def _ref(self, node_id: str) -> str:
        result = self.results[node_id]
        return f"{result.output_kind}:{result.output_digest}"

    def _load(self, ref: str) -> Any:
        kind, _, digest = ref.partition(":")
        return by_kind(kind).load(digest, self.store)

    def _save(self, node: Node, value: Any) -> tuple[str | None, str | None]:
        if value is None:
            return None, None
        materialiser = find_materialiser(type(value))
        if materialiser is None:
            raise InvalidInputError(
                f"{source_line(node.step.fn)}: step {node.step.name!r} returned a "
                f"{type(value).__name__}, which no materialiser can store: return a "
                "DataFrame, Arrow table, numpy array or JSON-able value, or call "
                "shipyard.pipelines.register_materialiser", field=node.step.name)
        return materialiser.kind, materialiser.save(value, self.store)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _call_with_retries(node: Node, args: dict[str, Any], run_id: str) -> tuple[Any, int]:
    from shipyard.pipelines.process_step import call_in_process

    options = node.step.options
    for attempt in range(options.retries + 1):
        try:
            if options.timeout is not None:
                return call_in_process(node.step, args, options.timeout, run_id), attempt + 1
            return node.step.fn(**args), attempt + 1
        except Exception as exc:
            if attempt == options.retries:
                raise
            delay = options.retry_delay * 2 ** attempt  # exponential backoff
            log.warning("step %r failed (attempt %d of %d): %s; retrying in %.2fs",
                        node.node_id, attempt + 1, options.retries + 1, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return text[:500]


def run_pipeline(pipe: Pipeline, params: Mapping[str, Any] | None = None, *,
                 executor: Executor | str | None = None, cache: bool = True,
                 experiment: str | None = None,
                 tags: Mapping[str, str] | None = None,
                 on_step: StepListener | None = None) -> PipelineRun:
    """Check and run ``pipe`` with ``params``; return when every step has finished.

    Steps whose inputs are ready run in parallel on ``executor`` (a :class:`LocalExecutor`
    by default; a URL such as ``"local"`` or ``"dask://host:8786"`` names one).
    ``cache=False`` runs every step (their results still seed later caches).
    ``tags`` are added to the pipeline run.
    ``on_step`` is called with a :class:`StepEvent` when a step starts, finishes, comes from
    the cache or fails, always from the thread that called ``run_pipeline``.
    The first failing step fails the pipeline run and its exception is raised.
    """
    if not isinstance(pipe, Pipeline):
        raise InvalidInputError(f"{pipe!r} is not a @pipeline function", field="pipeline")
    values = bind_params(pipe, params or {})
    graph = trace(pipe, values)
    own_executor = executor is None or isinstance(executor, str)
    if isinstance(executor, str):
        from shipyard.pipelines.dask_executor import executor_from_url

        pool: Executor = executor_from_url(executor)
    else:
        pool = executor or LocalExecutor()
    run_tags = {TAG_PIPELINE: pipe.name, **(tags or {})}
    source = inspect.getsourcefile(pipe.fn)
    if source is not None:
        run_tags[TAG_PIPELINE_REF] = f"{source}:{pipe.fn.__name__}"
    listener = on_step if on_step is not None else _listener.get()
    with fluent.start_run(experiment, run_name=pipe.name, tags=run_tags) as parent:
        fluent.log_params({k: _param_text(v) for k, v in values.items()})
        # The whole DAG up front: a view of a running pipeline can draw the steps that have
        # no run yet.
        parent.client.log_text(parent.run_id, graph_json(graph), GRAPH_FILE)
        state = _Run(graph, parent.client, parent.info.experiment_id, cache=cache)
        state.parent_run_id = parent.run_id
        try:
            with tee_installed():
                _schedule(state, pool, _Events(listener, len(graph.nodes)))
        finally:
            if own_executor:
                pool.cancel()
            state.flush_hits()  # before the pipeline run ends, even when a step failed
    return PipelineRun(pipe.name, parent.run_id, "FINISHED", state.results, state.store)


def graph_json(graph: Graph) -> str:
    """``{"steps": {node id: {"step": name, "upstream": [node ids]}}}`` in the pipeline's
    order (the ``pipeline.json`` artifact of a pipeline run)."""
    return json.dumps({"steps": {
        node_id: {"step": node.step.name, "upstream": sorted(set(node.upstream.values()))}
        for node_id, node in graph.nodes.items()}}, indent=1)


class _Events:
    """Sends step events to a listener; a listener that raises is logged, never fatal (a
    broken progress display must not fail a pipeline)."""

    def __init__(self, listener: StepListener | None, total: int) -> None:
        self.listener = listener
        self.total = total

    def send(self, kind: StepEventKind, step: str, result: StepResult | None = None,
             error: BaseException | None = None) -> None:
        if self.listener is None:
            return
        try:
            self.listener(StepEvent(kind, step, self.total, result, error))
        except Exception:
            log.warning("the step event listener failed on %s %r", kind, step, exc_info=True)


def _schedule(state: _Run, pool: Executor, events: _Events) -> None:
    """Submit each step once its upstream steps are done, until all are."""
    nodes = state.graph.nodes
    order = {node_id: index for index, node_id in enumerate(nodes)}
    # Why counts and a dependents map: rescanning every waiting step after each completion
    # is quadratic in the number of steps.
    needs = {node_id: set(node.upstream.values()) for node_id, node in nodes.items()}
    dependents: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    for node_id, upstream in needs.items():
        for up in upstream:
            dependents[up].append(node_id)
    ready = [node_id for node_id, upstream in needs.items() if not upstream]
    running: dict[Future[Any], str] = {}
    while ready or running:
        for node_id in sorted(ready, key=order.__getitem__):  # in the pipeline's order
            running[pool.submit(functools.partial(state.run_step, nodes[node_id]))] = node_id
            events.send("started", node_id)
        ready = []
        for future in pool.gather(running):
            node_id = running.pop(future)
            try:
                result = future.result()
            except BaseException as exc:
                events.send("failed", node_id, error=exc)
                raise
            state.results[result.name] = result
            events.send("cached" if result.cache_hit else "finished", node_id, result)
            for down in dependents[node_id]:
                needs[down].discard(node_id)
                if not needs[down]:
                    ready.append(down)
        # Nothing new to start: the wait for running steps may be long.
        state.flush_hits(HIT_FLUSH_S if ready else 0.0)
