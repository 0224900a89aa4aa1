"""``shipyard.tune``: hyperparameter search on Optuna, each trial a tracked child run.

The driver asks Optuna for trials and tells it the outcomes (ask-and-tell), so the objective
itself can run anywhere an executor sends it: inline, on a thread pool, or on Dask workers.
The study is stored in the metadata database through Optuna's journal (see ``journal.py``):
a second process calling ``tune`` with the same ``study_name`` joins the study, on one SQLite
file or on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine

from shipyard.entities import Metric
from shipyard.errors import InvalidInputError, InvalidStateError
from shipyard.pipelines.decorators import Pipeline
from shipyard.pipelines.executor import Executor
from shipyard.sdk import fluent
from shipyard.tuning.space import Distribution, normalise, suggest

log = logging.getLogger(__name__)

TAG_STUDY = "shipyard.tune.study"
TAG_TRIAL = "shipyard.tune.trial"
TAG_STATE = "shipyard.tune.state"
TAG_DIRECTION = "shipyard.tune.direction"
TAG_BEST_PARAMS = "shipyard.tune.best_params"
TAG_BEST_RUN = "shipyard.tune.best_run_id"
TAG_BEST_VALUE = "shipyard.tune.best_value"

Direction = Literal["minimize", "maximize"]


@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`tune`, over every trial of the study (all processes)."""

    study_name: str
    run_id: str  # the study's parent run
    best_params: dict[str, Any]
    best_value: float
    best_run_id: str | None
    n_complete: int  # completed trials in the study
    study: Any  # the optuna.Study, for its plots and analyses


@dataclass(frozen=True)
class _Outcome:
    number: int
    run_id: str
    value: float | None = None
    pruned: bool = False
    error: BaseException | None = None


@dataclass
class _TrialTask:
    """One trial: a child run of the study run with the sampled params, the objective's value
    as a metric. Picklable (without ``trial``) so Dask can ship it."""

    objective: Callable[..., Any]
    params: dict[str, Any]
    number: int
    study: str
    experiment_id: str
    metric: str
    trial: Any = None  # the optuna.Trial, passed to objectives that take ``trial``

    def __call__(self) -> _Outcome:
        tags = {TAG_STUDY: self.study, TAG_TRIAL: str(self.number)}
        run = fluent.start_run(experiment_id=self.experiment_id,
                               run_name=f"trial-{self.number}", tags=tags, log_context=False)
        try:
            fluent.log_params({k: _text(v) for k, v in self.params.items()})
            value = self._evaluate(run.run_id)
        except BaseException as exc:
            import optuna

            pruned = isinstance(exc, optuna.TrialPruned)
            run.client.set_tag(run.run_id, TAG_STATE, "PRUNED" if pruned else "FAIL")
            run.end("KILLED" if pruned else "FAILED")
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and friends stop the study
            return _Outcome(self.number, run.run_id, pruned=pruned,
                            error=None if pruned else exc)
        points = [] if value is None else [
            Metric(self.metric, value, 0, int(time.time() * 1000))]
        run.client.log_batch(run.run_id, points,  # the value and the state in one write
                             tags={TAG_STATE: "COMPLETE" if value is not None else "FAIL"})
        run.end("FINISHED" if value is not None else "FAILED")
        return _Outcome(self.number, run.run_id, value)

    def _evaluate(self, run_id: str) -> float | None:
        if isinstance(self.objective, Pipeline):
            return _pipeline_value(self.objective, self.params, self.metric,
                                   self.experiment_id)
        kwargs = dict(self.params)
        if self.trial is not None:
            kwargs["trial"] = self.trial
        raw = self.objective(**kwargs)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"objective {_name(self.objective)} returned {type(raw).__name__} "
                f"{raw!r}; it must return a number", field="objective") from None
        if not math.isfinite(value):
            log.warning("trial %d (run %s): objective returned %s; the trial counts as failed",
                        self.number, run_id, value)
            return None
        return value


def _pipeline_value(pipe: Pipeline, params: dict[str, Any], metric: str,
                    experiment_id: str) -> float | None:
    """Run ``pipe`` in the study's experiment (its unchanged upstream steps come from the
    cache there) and read ``metric``, logged by one of its steps, from the step runs."""
    from shipyard.pipelines.runner import run_pipeline

    sdk = fluent.client()
    done = run_pipeline(pipe, params, experiment=sdk.get_experiment(experiment_id).name)
    for step in done.steps.values():
        metrics = sdk.get_run(step.run_id).data.metrics
        if metric in metrics:
            return float(metrics[metric])
    raise InvalidInputError(
        f"no step of pipeline {pipe.name!r} logged the metric {metric!r}; log it in a step "
        "with sy.log_metric or pass metric= naming one that is logged", field="metric")


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _takes_trial(objective: Callable[..., Any]) -> bool:
    try:
        return "trial" in inspect.signature(objective).parameters
    except (TypeError, ValueError):
        return False


def _check_objective(objective: Any, names: list[str], metric: str | None) -> None:
    if isinstance(objective, Pipeline):
        from shipyard.pipelines.graph import bind_params

        if not metric:
            raise InvalidInputError(
                f"tuning pipeline {objective.name!r} needs metric=, the name of a metric one "
                "of its steps logs", field="metric")
        bind_params(objective, dict.fromkeys(names))
        return
    if not callable(objective):
        raise InvalidInputError(f"objective {objective!r} is not callable", field="objective")
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(**dict.fromkeys(names),
                       **({"trial": None} if "trial" in signature.parameters else {}))
    except TypeError as exc:
        raise InvalidInputError(
            f"objective {_name(objective)} cannot take the space's parameters "
            f"{sorted(names)}: {exc}", field="space") from None


def _engine() -> Engine:
    engine = getattr(fluent.client().store, "engine", None)
    if not isinstance(engine, Engine):
        raise InvalidStateError(
            "tuning studies live in the metadata database; the tracking URI names a server, "
            "so set SHIPYARD_TRACKING_URI to its database URL", field="tracking_uri")
    return engine


def _open_study(engine: Engine, name: str, direction: Direction, sampler: Any,
                pruner: Any, experiment: str | None) -> tuple[Any, fluent.ActiveRun, Any]:
    """The Optuna study ``name`` on the journal in ``engine``, its parent run (active) and
    the journal backend (to close when done)."""
    import optuna
    from optuna.storages import JournalStorage

    from shipyard.store import tuning as store
    from shipyard.tuning.journal import SqlJournalBackend

    run_id = store.study_run_id(engine, name)
    active: fluent.ActiveRun | None = None
    if run_id is None:
        outer = fluent.active_run()
        # Inside a run (a pipeline step, say) the study nests in that run's experiment.
        experiment_id = (outer.info.experiment_id
                         if outer is not None and experiment is None else None)
        created = fluent.start_run(experiment, run_name=f"tune:{name}",
                                   experiment_id=experiment_id,
                                   tags={TAG_STUDY: name, TAG_DIRECTION: direction})
        run_id = store.claim_study(engine, name, created.run_id)
        if run_id == created.run_id:
            active = created
        else:  # another process created the study meanwhile: join that one
            created.end("KILLED")
            created.client.delete_run(created.run_id)
    if active is None:
        active = fluent.start_run(run_id=run_id)
    backend = SqlJournalBackend(engine, name)
    try:
        study = optuna.create_study(storage=JournalStorage(backend), study_name=name,
                                    direction=direction, sampler=sampler, pruner=pruner,
                                    load_if_exists=True)
        stored = study.direction.name.lower()
        if stored != direction:
            raise InvalidInputError(
                f"study {name!r} was created to {stored}; pass direction={stored!r} or "
                "another study_name", field="direction")
    except BaseException:
        active.end("FAILED")
        backend.close()
        raise
    return study, active, backend


def _executor(executor: Executor | str | None, n_jobs: int | None) -> tuple[Executor | None, int]:
    """The executor trials run on (None: inline in this thread) and how many run at once."""
    pool: Executor | None
    if isinstance(executor, str):
        from shipyard.pipelines.dask_executor import executor_from_url

        pool = executor_from_url(executor)
    else:
        pool = executor
    if pool is None:
        jobs = n_jobs or 1
        if jobs == 1:
            return None, 1
        from shipyard.pipelines.executor import LocalExecutor

        return LocalExecutor(max_workers=jobs), jobs
    if n_jobs is None:
        client = getattr(pool, "client", None)  # a Dask executor: one trial per worker thread
        n_jobs = sum(client.nthreads().values()) if client is not None else 1
    return pool, max(1, n_jobs)


def tune(objective: Callable[..., Any] | Pipeline, space: Mapping[str, Any], *,
         n_trials: int, direction: Direction, metric: str | None = None,
         study_name: str | None = None, sampler: Any = None, pruner: Any = None,
         seed: int | None = None, executor: Executor | str | None = None,
         n_jobs: int | None = None, experiment: str | None = None,
         catch: tuple[type[Exception], ...] = ()) -> TuneResult:
    """Search ``space`` for the params that minimise or maximise ``objective``.

    ``objective`` is a function called with the sampled params as keyword arguments that
    returns a number (and, if it has a ``trial`` parameter, gets the ``optuna.Trial`` to
    report intermediate values for pruning), or a ``@pipeline``, run with the params, whose
    ``metric`` (logged by one of its steps) is the value; steps the params do not reach come
    from the cache. Each trial is a child run of the study's run ``tune:<study_name>``.
    ``sampler`` defaults to TPE (seeded with ``seed``); ``pruner`` to Optuna's median pruner.
    ``executor`` is ``None`` (trials inline, or ``n_jobs`` threads), an executor, or a URL
    such as ``dask://host:8786`` (then ``n_jobs`` defaults to the cluster's threads).
    A trial that raises one of ``catch`` is recorded as failed and the search goes on; any
    other exception is recorded, then raised. A second process calling ``tune`` with the same
    ``study_name`` adds its trials to the same study.
    """
    import optuna

    if direction not in ("minimize", "maximize"):
        raise InvalidInputError(f"direction {direction!r}: use 'minimize' or 'maximize'",
                                field="direction")
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise InvalidInputError(f"n_trials must be a positive int, got {n_trials!r}",
                                field="n_trials")
    sampled, fixed = normalise(space)
    _check_objective(objective, [*sampled, *fixed], metric)
    name: str = study_name or (objective.name if isinstance(objective, Pipeline)
                               else str(getattr(objective, "__name__", "study")))
    remote = (isinstance(executor, str) and executor not in ("", "local")) or (
        getattr(executor, "client", None) is not None)
    if remote and not isinstance(objective, Pipeline) and _takes_trial(objective):
        raise InvalidInputError("an objective that takes `trial` (for pruning) runs on the "
                                "local executor only", field="executor")
    engine = _engine()
    with optuna_quiet():
        study, parent, backend = _open_study(engine, name, direction,
                                             sampler or optuna.samplers.TPESampler(seed=seed),
                                             pruner, experiment)
    try:
        pool, jobs = _executor(executor, n_jobs)
    except BaseException:
        parent.end("FAILED")
        backend.close()
        raise
    try:
        with optuna_quiet():
            _search(study, objective, sampled, fixed, n_trials, pool, jobs, name,
                    parent.info.experiment_id, metric or "objective", catch)
        result = _record_best(study, parent)
    except BaseException:
        with contextlib.suppress(Exception):  # the best so far, if the store still answers
            _record_best(study, parent)
        parent.end("FAILED")
        raise
    finally:
        if pool is not None and (executor is None or isinstance(executor, str)):
            pool.cancel()  # only an executor made here is shut down here
        backend.close()
    if result is None:
        parent.end("FAILED")
        raise InvalidStateError(f"study {name!r} has no completed trial; the failed trials' "
                                "runs say why", field="objective")
    parent.end("FINISHED")
    return result


def _search(study: Any, objective: Callable[..., Any] | Pipeline,
            sampled: Mapping[str, Distribution], fixed: Mapping[str, Any], n_trials: int,
            pool: Executor | None, jobs: int, name: str, experiment: str, metric: str,
            catch: tuple[type[Exception], ...]) -> None:
    takes_trial = not isinstance(objective, Pipeline) and _takes_trial(objective)
    running: dict[Future[Any], Any] = {}
    asked = 0
    while asked < n_trials or running:
        while asked < n_trials and len(running) < jobs:
            trial = study.ask()
            asked += 1
            params = {**fixed, **suggest(trial, sampled)}
            task = _TrialTask(objective, params, trial.number, name, experiment, metric,
                              trial if takes_trial else None)
            if pool is None:
                _tell(study, trial, task(), catch)
                continue
            running[pool.submit(task)] = trial
        if pool is None or not running:
            continue
        for future in pool.gather(running):
            trial = running.pop(future)
            _tell(study, trial, future.result(), catch)


def _tell(study: Any, trial: Any, outcome: _Outcome, catch: tuple[type[Exception], ...]) -> None:
    import optuna

    if outcome.pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    elif outcome.value is None:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if outcome.error is not None and not isinstance(outcome.error, catch):
            raise outcome.error
        if outcome.error is not None:
            log.warning("trial %d failed: %s", outcome.number, outcome.error)
    else:
        study.tell(trial, outcome.value)


def _record_best(study: Any, parent: fluent.ActiveRun) -> TuneResult | None:
    """Tag the study run with the best trial so far; None when no trial completed."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    best = study.best_trial
    sdk = parent.client
    found = sdk.search_runs(
        [parent.info.experiment_id],
        f"attributes.parent_run_id = '{parent.run_id}' AND tags.`{TAG_TRIAL}` = "
        f"'{best.number}' AND attributes.status = 'FINISHED'", max_results=1)
    best_run = found.items[0].run_id if found.items else None
    sdk.set_tags(parent.run_id, {TAG_BEST_PARAMS: json.dumps(best.params, sort_keys=True),
                                 TAG_BEST_RUN: best_run or "", TAG_BEST_VALUE: repr(best.value)})
    # Another process sharing the study may have ended its run first; the tags are current.
    # log_batch writes now (log_metric is buffered, so the refusal would come at the run's end).
    with contextlib.suppress(InvalidStateError):
        sdk.log_batch(parent.run_id, [Metric("best_value", float(best.value), len(complete),
                                             int(time.time() * 1000))])
    return TuneResult(study.study_name, parent.run_id, dict(best.params), float(best.value),
                      best_run, len(complete), study)


class optuna_quiet:  # noqa: N801 - used like a function
    """Silence Optuna's per-trial INFO lines (the trials are runs; their table is the log)."""

    def __enter__(self) -> None:
        import optuna

        self._level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        import optuna

        optuna.logging.set_verbosity(self._level)
