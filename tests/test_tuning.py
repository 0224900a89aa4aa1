"""``sy.tune``: trials as child runs, failures, pruning, pipelines from the cache, a study
shared by two processes on one SQLite file, Dask trials, PostgreSQL, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest

import shipyard as sy
from shipyard.errors import InvalidInputError
from shipyard.pipelines import pipeline, step
from shipyard.sdk.client import Client
from shipyard.tuning import choice, integer, loguniform, uniform
from shipyard.tuning.study import TAG_BEST_PARAMS, TAG_BEST_RUN, TAG_STATE, TAG_TRIAL

PG_URL = os.environ.get("SHIPYARD_TEST_DATABASE_URL", "")


def quadratic(x: float, shift: int) -> float:
    return (x - 1.5) ** 2 + shift


def trial_runs(parent_run_id: str) -> list[Any]:
    sdk = Client()
    parent = sdk.get_run(parent_run_id)
    return sdk.search_runs([parent.info.experiment_id],
                           f"attributes.parent_run_id = '{parent_run_id}'",
                           max_results=1000).items


def test_each_trial_is_a_child_run_and_the_best_is_recorded() -> None:
    result = sy.tune(quadratic, {"x": uniform(-5, 5), "shift": integer(0, 3)}, n_trials=25,
                     direction="minimize", seed=1, experiment="tuning")
    assert result.study_name == "quadratic" and result.n_complete == 25
    assert result.best_params["shift"] == 0 and abs(result.best_params["x"] - 1.5) < 1.0
    assert result.best_value == pytest.approx(quadratic(**result.best_params))
    sdk = Client()
    parent = sdk.get_run(result.run_id)
    assert parent.info.run_name == "tune:quadratic" and parent.info.status == "FINISHED"
    assert sdk.get_experiment(parent.info.experiment_id).name == "tuning"
    assert parent.data.tags[TAG_BEST_RUN] == result.best_run_id
    assert '"shift": 0' in parent.data.tags[TAG_BEST_PARAMS]
    assert parent.data.metrics["best_value"] == pytest.approx(result.best_value)
    trials = trial_runs(result.run_id)
    assert len(trials) == 25
    assert {t.data.tags[TAG_TRIAL] for t in trials} == {str(n) for n in range(25)}
    for t in trials:
        assert t.info.status == "FINISHED" and t.data.tags[TAG_STATE] == "COMPLETE"
        x, shift = float(t.data.params["x"]), int(t.data.params["shift"])
        assert t.data.metrics["objective"] == pytest.approx(quadratic(x, shift))
    best = sdk.get_run(result.best_run_id or "")
    assert best.data.metrics["objective"] == pytest.approx(result.best_value)


def test_inside_a_run_the_study_nests_in_its_experiment() -> None:
    with sy.start_run(experiment="outer-exp") as outer:
        result = sy.tune(quadratic, {"x": uniform(0, 1), "shift": 0}, n_trials=2,
                         direction="minimize", study_name="nested")
    study_run = Client().get_run(result.run_id)
    assert study_run.info.parent_run_id == outer.run_id
    assert study_run.info.experiment_id == outer.info.experiment_id
    assert all(t.info.experiment_id == outer.info.experiment_id
               for t in trial_runs(result.run_id))


def test_a_second_call_continues_the_study() -> None:
    first = sy.tune(quadratic, {"x": uniform(-5, 5), "shift": 0}, n_trials=3,
                    direction="minimize", study_name="again")
    second = sy.tune(quadratic, {"x": uniform(-5, 5), "shift": 0}, n_trials=4,
                     direction="minimize", study_name="again")
    assert second.run_id == first.run_id and second.n_complete == 7
    assert len(trial_runs(first.run_id)) == 7
    assert second.best_value <= first.best_value


def test_objective_logs_into_its_trial_run_and_choices_work() -> None:
    def scored(kind: str, depth: int) -> float:
        sy.log_metric("depth_seen", depth)
        return {"a": 0.5, "b": 0.9}[kind] + depth / 100

    result = sy.tune(scored, {"kind": ["a", "b"], "depth": integer(1, 4)}, n_trials=12,
                     direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3))
    assert result.best_params["kind"] == "b"
    for t in trial_runs(result.run_id):
        assert t.data.metrics["depth_seen"] == int(t.data.params["depth"])


def test_a_failing_trial_is_recorded_then_raised_unless_caught() -> None:
    def flaky(x: float) -> float:
        if x > 0.5:
            raise ValueError(f"diverged at x={x:.2f}")
        return x

    with pytest.raises(ValueError, match="diverged"):
        sy.tune(flaky, {"x": uniform(0.6, 1.0)}, n_trials=5, direction="minimize",
                study_name="raises", experiment="failing")
    (failed,) = Client().search_runs(
        [Client().get_or_create_experiment("failing").experiment_id],
        "attributes.run_name = 'trial-0'").items
    assert failed.info.status == "FAILED" and failed.data.tags[TAG_STATE] == "FAIL"
    parent = Client().get_run(failed.info.parent_run_id or "")
    assert parent.info.status == "FAILED"

    result = sy.tune(flaky, {"x": uniform(0.0, 1.0)}, n_trials=12, direction="minimize",
                     study_name="caught", catch=(ValueError,), seed=0)
    states = [t.data.tags[TAG_STATE] for t in trial_runs(result.run_id)]
    assert "FAIL" in states and "COMPLETE" in states and len(states) == 12
    assert result.best_value <= 0.5


def test_non_numeric_and_nan_results() -> None:
    with pytest.raises(InvalidInputError, match="returned str 'good'; it must return a number"):
        sy.tune(lambda x: "good", {"x": uniform(0, 1)}, n_trials=1, direction="maximize",
                study_name="words")
    nan_then_ok = iter([float("nan"), 1.0, 2.0])
    result = sy.tune(lambda x: next(nan_then_ok), {"x": uniform(0, 1)}, n_trials=3,
                     direction="maximize", study_name="nan")
    assert result.n_complete == 2 and result.best_value == 2.0
    states = sorted(t.data.tags[TAG_STATE] for t in trial_runs(result.run_id))
    assert states == ["COMPLETE", "COMPLETE", "FAIL"]


def test_pruned_trials_stop_early() -> None:
    def curve(lr: float, trial: optuna.Trial) -> float:
        loss = 1.0
        for epoch in range(10):
            loss *= 1 - lr
            trial.report(loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return loss

    result = sy.tune(curve, {"lr": uniform(0.01, 0.5)}, n_trials=20, direction="minimize",
                     pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
                     seed=2)
    runs = trial_runs(result.run_id)
    pruned = [t for t in runs if t.data.tags[TAG_STATE] == "PRUNED"]
    assert pruned and all(t.info.status == "KILLED" for t in pruned)
    assert result.n_complete == 20 - len(pruned)


def test_threads_run_trials_at_once() -> None:
    import threading
    import time

    seen: set[int] = set()

    def slow(x: float) -> float:
        seen.add(threading.get_ident())
        time.sleep(0.05)
        return x

    result = sy.tune(slow, {"x": uniform(0, 1)}, n_trials=8, direction="minimize", n_jobs=3,
                     study_name="threads")
    assert result.n_complete == 8 and len(seen) > 1
    assert len(trial_runs(result.run_id)) == 8


COUNTER = "SHIPYARD_TEST_TUNE_COUNTER"


@step
def features(n: int) -> list[float]:
    with open(os.environ[COUNTER], "a") as f:  # counts real executions (cache misses)
        f.write("x")
    return [i / n for i in range(n)]


@step
def fit(xs: list[float], alpha: float) -> float:
    loss = sum((x - alpha) ** 2 for x in xs) / len(xs)
    sy.log_metric("loss", loss)
    return loss


@pipeline(name="tunable")
def tunable(n: int = 20, alpha: float = 0.0) -> object:
    return fit(features(n), alpha)


def test_tuning_a_pipeline_reuses_cached_upstream_steps(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    counter = tmp_path / "count"
    monkeypatch.setenv(COUNTER, str(counter))
    result = sy.tune(tunable, {"alpha": uniform(0, 1), "n": 20}, n_trials=4,
                     direction="minimize", metric="loss", seed=0, experiment="tune-pipeline")
    assert counter.read_text() == "x"  # features ran once; three trials took it from cache
    assert abs(result.best_params["alpha"] - 0.475) < 0.3
    study_experiment = Client().get_run(result.run_id).info.experiment_id
    for t in trial_runs(result.run_id):  # each trial run holds one pipeline run
        (inner,) = trial_runs(t.info.run_id)
        assert inner.info.run_name == "tunable"
        assert inner.info.experiment_id == study_experiment


def test_two_processes_tune_one_study_on_one_sqlite_file(shipyard_home: Path,
                                                          tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent("""
        import sys, optuna, shipyard as sy
        def objective(x: float, y: float) -> float:
            return x * x + y * y
        r = sy.tune(objective, {"x": sy.tuning.uniform(-1, 1), "y": sy.tuning.uniform(-1, 1)},
                    n_trials=20, direction="minimize", study_name="shared",
                    sampler=optuna.samplers.RandomSampler(seed=int(sys.argv[1])))
        print(r.run_id)
    """))
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home)}
    procs = [subprocess.Popen([sys.executable, str(script), str(seed)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2)]
    outs = [p.communicate(timeout=240) for p in procs]
    if [p.returncode for p in procs] != [0, 0]:
        pytest.fail("\n".join(err for _, err in outs))  # whole tracebacks, not a repr
    parents = {out.strip() for out, _ in outs}
    assert len(parents) == 1  # both joined one study run
    runs = trial_runs(parents.pop())
    assert len(runs) == 40
    assert sorted(int(t.data.tags[TAG_TRIAL]) for t in runs) == list(range(40))
    study = optuna.load_study(study_name="shared", storage=_storage("shared"))
    assert len(study.trials) == 40


def _storage(name: str) -> Any:
    from optuna.storages import JournalStorage

    from shipyard.sdk.fluent import client
    from shipyard.tuning.journal import SqlJournalBackend

    return JournalStorage(SqlJournalBackend(client().store.engine, name))  # type: ignore[attr-defined]


@pytest.mark.slow
def test_trials_run_on_dask_workers() -> None:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    try:
        from shipyard.pipelines.dask_executor import DaskExecutor

        result = sy.tune(pid_objective, {"x": uniform(0, 1)}, n_trials=6,
                         direction="minimize", executor=DaskExecutor(client), seed=0)
    finally:
        client.close()
        cluster.close()
    runs = trial_runs(result.run_id)
    assert len(runs) == 6 and all(t.info.status == "FINISHED" for t in runs)
    pids = {int(t.data.metrics["pid"]) for t in runs}
    assert os.getpid() not in pids and len(pids) >= 1


def pid_objective(x: float) -> float:
    sy.log_metric("pid", os.getpid())
    return x


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs SHIPYARD_TEST_DATABASE_URL (PostgreSQL)")
def test_threads_share_a_study_on_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import uuid

    from tests.conftest import wipe_postgres

    wipe_postgres(PG_URL)
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", PG_URL)
    name = f"pg-{uuid.uuid4().hex[:8]}"
    errors: list[BaseException] = []

    def go(seed: int) -> None:
        try:  # each thread its own optuna storage over one PostgreSQL journal
            sy.tune(quadratic, {"x": uniform(-2, 2), "shift": 0}, n_trials=10,
                    direction="minimize", study_name=name,
                    sampler=optuna.samplers.RandomSampler(seed=seed))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s,)) for s in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    study = optuna.load_study(study_name=name, storage=_storage(name))
    assert len(study.trials) == 30
    assert sorted(t.number for t in study.trials) == list(range(30))


@pytest.mark.parametrize(("space", "message"), [
    ({}, "space must be a non-empty mapping"),
    ({"x": 1}, "space has no distribution to sample"),
    ({"x": uniform(2, 1)}, r"space\['x'\]: low 2.0 must be <= high 1.0"),
    ({"x": loguniform(0, 1)}, r"space\['x'\]: a log scale needs low > 0"),
    ({"x": choice()}, "a choice needs at least one option"),
    ({"x": [object()]}, "choices must be None, bool, int, float or str"),
    ({"y": uniform(0, 1)}, "cannot take the space's parameters"),
])
def test_bad_spaces_are_named(space: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        sy.tune(lambda x: x, space, n_trials=1, direction="minimize")
    assert Client().search_runs([Client().get_or_create_experiment("Default").experiment_id],
                                "").items == []  # nothing recorded


def test_bad_arguments_are_named() -> None:
    with pytest.raises(InvalidInputError, match="direction 'up'"):
        sy.tune(quadratic, {"x": uniform(0, 1), "shift": 0}, n_trials=1,
                direction="up")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="n_trials must be a positive int"):
        sy.tune(quadratic, {"x": uniform(0, 1), "shift": 0}, n_trials=0, direction="minimize")
    with pytest.raises(InvalidInputError, match="needs metric="):
        sy.tune(tunable, {"alpha": uniform(0, 1)}, n_trials=1, direction="minimize")
    with pytest.raises(InvalidInputError, match="pipeline 'tunable' has no parameter 'beta'"):
        sy.tune(tunable, {"beta": uniform(0, 1)}, n_trials=1, direction="minimize",
                metric="loss")
    sy.tune(quadratic, {"x": uniform(0, 1), "shift": 0}, n_trials=1, direction="minimize",
            study_name="down")
    with pytest.raises(InvalidInputError, match="was created to minimize"):
        sy.tune(quadratic, {"x": uniform(0, 1), "shift": 0}, n_trials=1,
                direction="maximize", study_name="down")
