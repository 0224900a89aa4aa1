"""The fluent API: ``with shipyard.start_run(): shipyard.log_metric(...)``.

The active run lives in a :class:`contextvars.ContextVar`, so each thread and each asyncio task
has its own, and a run started inside another becomes its child. A thread started inside a run
does not see it: pass ``run_id`` to :class:`Client` there, or run the thread in
``contextvars.copy_context()``.
"""

from __future__ import annotations

import atexit
import sys
import threading
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.entities import ArtifactInfo, Metric, Run, RunInfo, RunStatus, ViewType
from shipyard.errors import InvalidInputError, InvalidStateError, NotFoundError
from shipyard.sdk.client import Client

if TYPE_CHECKING:
    from shipyard.services.system_metrics import SystemMetricsSampler

_run_stack: ContextVar[tuple[ActiveRun, ...]] = ContextVar("shipyard_run_stack", default=())
_experiment: ContextVar[str | None] = ContextVar("shipyard_experiment", default=None)
_clients: dict[tuple[str, str], Client] = {}
_clients_lock = threading.Lock()
_unended: dict[str, ActiveRun] = {}  # runs to end at interpreter exit
DEFAULT_EXPERIMENT = "Default"


def client() -> Client:
    """The client for the URIs in the environment (one per process and URI pair)."""
    from shipyard import settings

    key = (settings.tracking_uri(), settings.artifacts_uri())
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            found = _clients[key] = Client(*key)
        return found


class ActiveRun:
    """A started run. As a context manager it ends the run: FAILED on an exception, else
    FINISHED, after every metric point logged in it is durable."""

    def __init__(self, run: Run, client: Client,
                 sampler: SystemMetricsSampler | None = None) -> None:
        self.run = run
        self.client = client
        self._sampler = sampler
        self.ended = False

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def info(self) -> RunInfo:
        return self.run.info

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end(RunStatus.FAILED if exc_type is not None else RunStatus.FINISHED)

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        if self.ended:
            return
        self.ended = True
        if self._sampler is not None:
            self._sampler.stop()
        stack = _run_stack.get()
        if self in stack:
            _run_stack.set(tuple(r for r in stack if r is not self))
        _unended.pop(self.run_id, None)
        self.client.set_terminated(self.run_id, status)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.run.info.run_name!r} id={self.run_id}>"


def _end_unended_runs_at_exit() -> None:
    failed = getattr(sys, "last_value", None) is not None  # set by an uncaught exception
    for run in list(_unended.values()):
        try:
            run.end(RunStatus.FAILED if failed else RunStatus.FINISHED)
        except Exception as exc:  # exiting: report, never raise
            print(f"shipyard: could not end run {run.run_id}: {exc}", file=sys.stderr)


atexit.register(_end_unended_runs_at_exit)


def set_experiment(name: str) -> str:
    """Make ``name`` the experiment of runs started without one (created if missing)."""
    experiment = client().get_or_create_experiment(name)
    _experiment.set(name)
    return experiment.experiment_id


def active_run() -> ActiveRun | None:
    stack = _run_stack.get()
    return stack[-1] if stack else None


def _require_run(run_id: str | None) -> tuple[Client, str]:
    if run_id is not None:
        return client(), run_id
    stack = _run_stack.get()
    if not stack:
        raise InvalidStateError(
            "no active run: call shipyard.start_run() first, or pass run_id=", field="run_id"
        )
    run = stack[-1]
    return run.client, run.run_id


def start_run(
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, object] | None = None,
    *,
    run_id: str | None = None,
    experiment_id: str | None = None,
    parent_run_id: str | None = None,
    nested: bool = True,
    log_context: bool | None = None,
    system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it the active one.

    ``experiment`` is a name, created when missing; by default the one from
    :func:`set_experiment`, else ``Default``; ``experiment_id`` names an existing experiment by id
    instead (no lookup by name). A run started while another is active becomes its
    child unless ``nested=False``. ``log_context`` records git and environment (on by default
    for top-level runs); ``system_metrics`` samples CPU, memory and GPU in the background.
    """
    from shipyard import settings
    from shipyard.sdk import run_context

    if experiment is not None and experiment_id is not None:
        raise InvalidInputError("give experiment or experiment_id, not both",
                                field="experiment_id")
    sdk = client()
    parent = active_run()
    if parent is not None and nested and parent_run_id is None:
        parent_run_id = parent.run_id
    if run_id is not None:
        run = _resume(sdk, run_id)
    else:
        if experiment_id is None:
            name = experiment or _experiment.get() or DEFAULT_EXPERIMENT
            experiment_id = sdk.get_or_create_experiment(name).experiment_id
        all_tags = {k: str(v) for k, v in (tags or {}).items()}
        capture = parent_run_id is None if log_context is None else log_context
        context = run_context.collect() if capture else None
        if context is not None:
            all_tags = {**context.tags, **all_tags}
        run = sdk.create_run(experiment_id, run_name=run_name, tags=all_tags,
                             parent_run_id=parent_run_id)
        if context is not None:
            run_context.log_context_artifacts(sdk, run.run_id, context)
    sampler = None
    if system_metrics if system_metrics is not None else settings.SYSTEM_METRICS.get():
        sampler = run_context.start_system_metrics(sdk, run.run_id)
    active = ActiveRun(run, sdk, sampler)
    _run_stack.set((*_run_stack.get(), active))
    _unended[run.run_id] = active
    return active


def _resume(sdk: Client, run_id: str) -> Run:
    run = sdk.get_run(run_id)
    if run.info.status != RunStatus.RUNNING:
        sdk.update_run(run_id, status=RunStatus.RUNNING)
        run = sdk.get_run(run_id)
    return run


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run (no-op without one)."""
    run = active_run()
    if run is not None:
        run.end(status)


def log_metric(key: str, value: float, step: int | None = None, *,
               timestamp: int | None = None, run_id: str | None = None,
               synchronous: bool = False) -> None:
    sdk, rid = _require_run(run_id)
    sdk.log_metric(rid, key, value, step, timestamp, synchronous=synchronous)


def log_metrics(metrics: Mapping[str, float], step: int | None = None, *,
                run_id: str | None = None, synchronous: bool = False) -> None:
    sdk, rid = _require_run(run_id)
    sdk.log_metrics(rid, metrics, step, synchronous=synchronous)


def log_param(key: str, value: object, *, run_id: str | None = None) -> None:
    sdk, rid = _require_run(run_id)
    sdk.log_params(rid, {key: value})


def log_params(params: Mapping[str, object], *, run_id: str | None = None) -> None:
    sdk, rid = _require_run(run_id)
    sdk.log_params(rid, params)


def set_tag(key: str, value: object, *, run_id: str | None = None) -> None:
    sdk, rid = _require_run(run_id)
    sdk.set_tags(rid, {key: value})


def set_tags(tags: Mapping[str, object], *, run_id: str | None = None) -> None:
    sdk, rid = _require_run(run_id)
    sdk.set_tags(rid, tags)


def log_batch(metrics: Sequence[Metric] = (), params: Mapping[str, object] | None = None,
              tags: Mapping[str, object] | None = None, *, run_id: str | None = None) -> None:
    sdk, rid = _require_run(run_id)
    sdk.log_batch(rid, metrics, params, tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None, *,
                 run_id: str | None = None) -> ArtifactInfo:
    sdk, rid = _require_run(run_id)
    return sdk.log_artifact(rid, local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None, *,
                  run_id: str | None = None) -> list[ArtifactInfo]:
    sdk, rid = _require_run(run_id)
    return sdk.log_artifacts(rid, local_dir, artifact_path)


def log_dict(dictionary: Mapping[str, Any], artifact_file: str, *,
             run_id: str | None = None) -> ArtifactInfo:
    sdk, rid = _require_run(run_id)
    return sdk.log_dict(rid, dictionary, artifact_file)


def log_text(text: str, artifact_file: str, *, run_id: str | None = None) -> ArtifactInfo:
    sdk, rid = _require_run(run_id)
    return sdk.log_text(rid, text, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, run_id: str | None = None) -> ArtifactInfo:
    sdk, rid = _require_run(run_id)
    return sdk.log_figure(rid, figure, artifact_file)


def get_run(run_id: str) -> Run:
    return client().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    return client().get_metric_history(run_id, key)


def delete_run(run_id: str) -> None:
    client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    client().restore_run(run_id)


def search_runs(
    filter_string: str | None = None,
    *,
    experiments: str | Sequence[str] | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = 100_000,
    view: ViewType | str = ViewType.ACTIVE_ONLY,
) -> list[Run]:
    """Runs matching ``filter_string``, across all experiments unless ``experiments`` names
    some (by name or id). See ``docs/search.md`` for the grammar."""
    if max_results < 1:
        raise InvalidInputError("max_results must be at least 1", field="max_results")
    sdk = client()
    experiment_ids = None if experiments is None else _experiment_ids(sdk, experiments)
    runs: list[Run] = []
    for run in sdk.iter_runs(experiment_ids, filter_string, order_by, view,
                             page_size=min(max_results, 10_000)):
        runs.append(run)
        if len(runs) >= max_results:
            break
    return runs


def _experiment_ids(sdk: Client, experiments: str | Sequence[str]) -> list[str]:
    names = [experiments] if isinstance(experiments, str) else list(experiments)
    ids = []
    for name in names:
        found = sdk.get_experiment_by_name(name)
        if found is not None:
            ids.append(found.experiment_id)
        elif name.isdigit():
            ids.append(sdk.get_experiment(name).experiment_id)
        else:
            raise NotFoundError(f"no experiment named {name!r}", field="experiments")
    return ids
