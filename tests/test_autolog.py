"""``sy.autolog()``: real scikit-learn, XGBoost and LightGBM fits, what they record, one run per
outer fit, reversible patches, and logging failures that never break a fit."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shipyard as sy
from shipyard.entities import limits
from shipyard.sdk.autolog.recording import param_values
from tests.model_support import frame, labels

pytest.importorskip("sklearn")
pytest.importorskip("skops")


@pytest.fixture(autouse=True)
def _audit_and_cleanup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "autolog-test-audit-key-0123456789")
    monkeypatch.setenv("SHIPYARD_AUDIT_CHECKPOINT", str(tmp_path / "checkpoint.json"))
    yield
    sy.autolog(disable=True)  # patches are process-wide: never leak into other tests


def _data(rows: int = 80) -> tuple[Any, Any]:
    data = frame(rows)
    return data, labels(data)


def _only_run() -> sy.Run:
    runs = sy.search_runs()
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def test_sklearn_fit_logs_params_metrics_and_a_model_that_predicts_the_same() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    x, y = _data()
    sy.autolog()
    clf = LogisticRegression(C=0.5, max_iter=200).fit(x, y)
    run = _only_run()
    assert run.info.status == sy.RunStatus.FINISHED
    assert run.data.params["C"] == "0.5" and run.data.params["max_iter"] == "200"
    assert run.data.tags["shipyard.autolog.estimator"].endswith("LogisticRegression")
    predicted = clf.predict(x)
    metrics = run.data.metrics
    assert metrics["training_accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert metrics["training_f1"] == pytest.approx(f1_score(y, predicted, average="weighted"))
    assert metrics["training_score"] == pytest.approx(clf.score(x, y))
    loaded = sy.load_model(f"runs:/{run.info.run_id}/model")
    assert loaded.flavor == "sklearn" and loaded.signature is not None
    assert np.array_equal(loaded.predict(x), predicted)


def test_a_fit_inside_an_active_run_logs_into_it_and_leaves_it_open() -> None:
    from sklearn.tree import DecisionTreeRegressor

    x = frame(40)
    sy.autolog(log_models=False)
    with sy.start_run() as run:
        DecisionTreeRegressor(max_depth=3).fit(x[["x1", "x2"]], x["count"])
        assert sy.get_run(run.run_id).info.status == sy.RunStatus.RUNNING
    found = _only_run()
    assert found.info.run_id == run.run_id and found.data.params["max_depth"] == "3"
    assert "training_score" in found.data.metrics
    assert "model" not in {a.path for a in sy.Client().list_artifacts(run.run_id)}


def test_a_pipeline_and_a_grid_search_log_one_run_per_outer_fit() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data()
    sy.autolog()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    first = _only_run()
    assert first.data.params["logisticregression__C"] == "1.0"
    assert np.array_equal(sy.load_model(f"runs:/{first.info.run_id}/model").predict(x),
                          pipeline.predict(x))

    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, cv=3).fit(x, y)
    runs = sy.search_runs()
    assert len(runs) == 2  # 3 candidates x 3 folds + the refit: still one run
    grid = next(r for r in runs if r.info.run_id != first.info.run_id)
    assert grid.data.params["best_C"] == str(search.best_params_["C"])
    assert grid.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    loaded = sy.load_model(f"runs:/{grid.info.run_id}/model")  # the best estimator: no trust
    assert np.array_equal(loaded.predict(x), search.predict(x))


def test_registered_model_name_registers_every_logged_model() -> None:
    from sklearn.ensemble import RandomForestClassifier

    x, y = _data()
    sy.autolog(registered_model_name="auto-forest")
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    version = sy.registry.get_version("auto-forest", 1)
    assert version.run_id == _only_run().info.run_id and version.flavor == "sklearn"
    loaded = sy.load_model("models:/auto-forest/1", trust=True)  # skops does not trust trees
    assert np.array_equal(loaded.predict(x), forest.predict(x))


def test_xgboost_logs_evaluations_per_iteration_and_its_models() -> None:
    xgboost = pytest.importorskip("xgboost")
    x, y = _data()
    target = (y == "match").astype(int)
    sy.autolog()
    clf = xgboost.XGBClassifier(n_estimators=4, max_depth=2).fit(
        x, target, eval_set=[(x, target)], verbose=False)
    run = _only_run()
    history = sy.get_metric_history(run.info.run_id, "validation_0-logloss")
    assert [p.step for p in history] == [0, 1, 2, 3]
    assert [p.value for p in history] == pytest.approx(
        clf.evals_result()["validation_0"]["logloss"])
    assert run.data.params["max_depth"] == "2" and "training_accuracy" in run.data.metrics
    loaded = sy.load_model(f"runs:/{run.info.run_id}/model")
    assert np.array_equal(loaded.predict(x), clf.predict(x))

    matrix = xgboost.DMatrix(x.to_numpy(), label=target)
    booster = xgboost.train({"max_depth": 2, "eta": 0.5}, matrix, 3,
                            evals=[(matrix, "train")], verbose_eval=False)
    trained = next(r for r in sy.search_runs() if r.info.run_id != run.info.run_id)
    assert trained.data.params["num_boost_round"] == "3" and trained.data.params["eta"] == "0.5"
    assert len(sy.get_metric_history(trained.info.run_id, "train-rmse")) == 3
    loaded = sy.load_model(f"runs:/{trained.info.run_id}/model")
    assert np.allclose(loaded.predict(x.to_numpy()), booster.predict(matrix))


def test_lightgbm_logs_evaluations_per_iteration_and_its_models() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    x = frame(120)
    features, target = x[["x1", "x2"]], x["x1"] * 2.0 + x["count"]
    sy.autolog()
    regressor = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(
        features, target, eval_X=(features,), eval_y=(target,))
    run = _only_run()
    history = sy.get_metric_history(run.info.run_id, "training-l2")  # LightGBM's name
    assert [p.value for p in history] == pytest.approx(regressor.evals_result_["training"]["l2"])
    assert [p.step for p in history] == [0, 1, 2, 3, 4]
    assert run.data.params["n_estimators"] == "5"
    assert run.data.metrics["training_score"] == pytest.approx(regressor.score(features, target))
    loaded = sy.load_model(f"runs:/{run.info.run_id}/model")
    assert np.allclose(loaded.predict(features), regressor.predict(features))

    data = lightgbm.Dataset(features, label=target)
    booster = lightgbm.train({"objective": "regression", "verbose": -1, "num_leaves": 7}, data,
                             num_boost_round=4, valid_sets=[data], valid_names=["train"])
    trained = next(r for r in sy.search_runs() if r.info.run_id != run.info.run_id)
    assert trained.data.params["num_leaves"] == "7"
    assert trained.data.params["num_boost_round"] == "4"
    assert [p.step for p in sy.get_metric_history(trained.info.run_id, "train-l2")] == [0, 1, 2, 3]
    loaded = sy.load_model(f"runs:/{trained.info.run_id}/model")
    assert np.allclose(loaded.predict(features), booster.predict(features))


def test_disable_restores_every_original_method() -> None:
    import lightgbm
    import xgboost
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    own_fit = LogisticRegression.__dict__["fit"]
    assert "fit" not in RandomForestClassifier.__dict__  # inherited from BaseForest
    originals = (xgboost.train, lightgbm.train, xgboost.XGBClassifier.__dict__["fit"],
                 lightgbm.LGBMModel.__dict__["fit"])
    sy.autolog()
    assert LogisticRegression.__dict__["fit"] is not own_fit
    assert "fit" in RandomForestClassifier.__dict__ and xgboost.train is not originals[0]
    sy.autolog()  # again: patches stay once
    assert LogisticRegression.fit.__wrapped__ is own_fit
    sy.autolog(disable=True)
    assert LogisticRegression.__dict__["fit"] is own_fit
    assert "fit" not in RandomForestClassifier.__dict__
    assert (xgboost.train, lightgbm.train, xgboost.XGBClassifier.__dict__["fit"],
            lightgbm.LGBMModel.__dict__["fit"]) == originals
    x, y = _data()
    LogisticRegression().fit(x, y)
    assert sy.search_runs() == []


def test_a_store_that_fails_never_breaks_the_fit(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    expected = LogisticRegression().fit(x, y).predict(x)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # a home below a file: no store can open (even as root)
    monkeypatch.setenv("SHIPYARD_HOME", str(blocker / "home"))
    sy.autolog()
    with caplog.at_level(logging.WARNING, logger="shipyard.autolog"):
        fitted = LogisticRegression().fit(x, y)
    assert np.array_equal(fitted.predict(x), expected)
    assert any("shipyard autolog could not" in r.getMessage() for r in caplog.records)


def test_a_failure_after_the_fit_keeps_what_was_logged(caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(sy.Client, "log_artifacts", broken)
    x, y = _data()
    sy.autolog()
    with caplog.at_level(logging.WARNING, logger="shipyard.autolog"):
        LogisticRegression().fit(x, y)
    run = _only_run()
    assert run.info.status == sy.RunStatus.FINISHED and "training_accuracy" in run.data.metrics
    assert any("log the model" in r.getMessage() and "disk full" in r.getMessage()
               for r in caplog.records)


def test_the_fits_own_exception_propagates_unchanged_and_fails_the_run() -> None:
    from sklearn.linear_model import LogisticRegression

    x, _ = _data()
    sy.autolog()
    with pytest.raises(ValueError, match="at least 2 classes") as raised:
        LogisticRegression().fit(x, np.zeros(len(x)))
    assert type(raised.value) is ValueError
    run = _only_run()
    assert run.info.status == sy.RunStatus.FAILED and run.data.params["C"] == "1.0"


def test_long_values_are_clipped_and_bad_keys_skipped_with_a_note() -> None:
    from sklearn.preprocessing import FunctionTransformer

    values, clipped, skipped = param_values({"long": "x" * 9000, "bad key?": 1, "ok": None})
    assert len(values["long"]) == limits.MAX_PARAM_VALUE and values["long"].endswith(
        "[clipped from 9000 characters]")
    assert (clipped, skipped, values["ok"]) == (["long"], ["bad key?"], "None")

    sy.autolog(log_models=False)
    FunctionTransformer(kw_args={"vocabulary": "w" * 9000}).fit(frame(10))
    run = _only_run()
    assert len(run.data.params["kw_args"]) == limits.MAX_PARAM_VALUE
    assert run.data.tags["shipyard.autolog.clipped_params"] == "kw_args"
