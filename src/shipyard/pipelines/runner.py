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
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from shipyard.artifacts.content import ContentStore, hash_bytes
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

    def __getstate__(self) -> dict[str, Any]:
        # Why: the Dask executor ships step tasks to other processes; the client and store
        # are reopened there from the driver's URIs (absolute paths or URLs).
        from shipyard import settings

        state = {k: v for k, v in self.__dict__.items() if k not in ("sdk", "store")}
        state["uris"] = (settings.tracking_uri(), settings.artifacts_uri())
        # Why on the driver, once: a step pickled by value has another digest once unpickled
        # (Dask's scheduler may unpickle and pickle a task again), so the cache would never
        # hit across executors.
        state["code_digests"] = self.code_digests or {
            node_id: code_digest(node.step.fn) for node_id, node in self.graph.nodes.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        tracking_uri, artifacts_uri = state.pop("uris")
        self.__dict__.update(state)
        self.sdk = Client(tracking_uri, artifacts_uri)
        self.store = _content_store(self.sdk)
        self.remote = True

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
        found = self.sdk.search_runs(
            [self.experiment_id],
            f"tags.`{TAG_CACHE_KEY}` = '{key}' AND attributes.status = 'FINISHED'",
            max_results=1)
        for run in found.items:
            tags = run.data.tags
            digest = tags.get(TAG_OUTPUT_DIGEST, "")
            if digest and not self.store.exists(digest):
                return None  # the output was garbage-collected: run the step again
            return run.run_id, tags.get(TAG_OUTPUT_KIND, ""), digest
        return None

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
        with fluent.start_run(run_name=node.node_id, tags=tags, log_context=False) as run:
            fluent.log_params({k: _param_text(v) for k, v in node.constants.items()})
            if hit is not None:
                source, kind, digest = hit
                fluent.set_tags({TAG_CACHED_FROM: source, TAG_OUTPUT_KIND: kind,
                                 TAG_OUTPUT_DIGEST: digest})
                return StepResult(node.node_id, run.run_id, True, kind or None, digest or None,
                                  time.monotonic() - started, 0)
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

    def _code_digest(self, node: Node) -> str:
        found = self.code_digests.get(node.node_id)
        return found if found is not None else code_digest(node.step.fn)

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
                 tags: Mapping[str, str] | None = None) -> PipelineRun:
    """Check and run ``pipe`` with ``params``; return when every step has finished.

    Steps whose inputs are ready run in parallel on ``executor`` (a :class:`LocalExecutor`
    by default; a URL such as ``"local"`` or ``"dask://host:8786"`` names one).
    ``cache=False`` runs every step (their results still seed later caches).
    ``tags`` are added to the pipeline run.
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
    with fluent.start_run(experiment, run_name=pipe.name, tags=run_tags) as parent:
        fluent.log_params({k: _param_text(v) for k, v in values.items()})
        state = _Run(graph, parent.client, parent.info.experiment_id, cache=cache)
        state.parent_run_id = parent.run_id
        try:
            with tee_installed():
                _schedule(state, pool)
        finally:
            if own_executor:
                pool.cancel()
    return PipelineRun(pipe.name, parent.run_id, "FINISHED", state.results, state.store)


def _schedule(state: _Run, pool: Executor) -> None:
    """Submit each step once its upstream steps are done, until all are."""
    nodes = state.graph.nodes
    waiting = dict(nodes)
    running: dict[Future[Any], str] = {}
    while waiting or running:
        for node_id, node in list(waiting.items()):
            if all(up in state.results for up in node.upstream.values()):
                del waiting[node_id]
                running[pool.submit(functools.partial(state.run_step, node))] = node_id
        for future in pool.gather(running):
            del running[future]
            state.results[future.result().name] = future.result()
