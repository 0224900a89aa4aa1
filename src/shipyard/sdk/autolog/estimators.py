"""Autologging ``fit`` of scikit-learn-style estimators: scikit-learn's own, and the
scikit-learn wrappers of XGBoost and LightGBM.

Params are ``get_params()``; metrics are ``training_score`` (the estimator's own ``score`` on
the training data) and, for classifiers, ``training_accuracy`` and ``training_f1`` (weighted
over classes); boosters that evaluated ``eval_set`` data add one series per data set and metric
(``validation_0-logloss``), the iteration as the step. A search (GridSearchCV...) also logs
``best_<param>`` params and ``best_cv_score``, and its model is the refitted best estimator,
which predicts exactly as the search does and, unlike the search object, loads without trust.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipyard.sdk.autolog.recording import FitRun, head, run_steps

log = logging.getLogger("shipyard.autolog")


class EstimatorFit:
    """One outer ``estimator.fit(X, y, ...)``."""

    def __init__(self, original: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self.args, self.kwargs = args, kwargs
        self.estimator = args[0]
        try:
            bound = inspect.signature(original).bind_partial(*args, **kwargs).arguments
        except TypeError:  # the call itself is wrong: the fit will say so
            bound = {}
        positional = [*args[1:3], None, None]
        self.x = bound.get("X", bound.get("x", positional[0]))
        self.y = bound.get("y", positional[1])
        self.sample_weight = bound.get("sample_weight")
        self.example = head(self.x)  # before the fit: it may consume an iterator
        self.run: FitRun | None = None

    def begin(self) -> None:
        kind = type(self.estimator)
        self.run = FitRun({"shipyard.autolog.estimator": f"{kind.__module__}.{kind.__qualname__}"})
        self.run.log_params(self.estimator.get_params(deep=True))

    def finish(self, result: Any) -> None:
        run = self.run
        if run is None:
            return
        estimator = self.estimator
        best = getattr(estimator, "best_estimator_", None)
        model = estimator if best is None else best
        run_steps([
            ("log search results", lambda: _log_search(run, estimator)),
            ("log training metrics", lambda: run.log_metrics(self.training_metrics())),
            ("log evaluation series", lambda: run.log_series(eval_series(estimator))),
            ("log the model", lambda: run.log_model(model, self.example)),
        ])

    def end(self, failed: bool) -> None:
        if self.run is not None:
            self.run.end(failed)

    def training_metrics(self) -> dict[str, float]:
        from sklearn.base import is_classifier

        found: dict[str, float] = {}
        if self.x is None:
            return found
        weights = {} if self.sample_weight is None else {"sample_weight": self.sample_weight}
        score = getattr(self.estimator, "score", None)
        if callable(score):
            try:
                value = score(self.x, self.y, **weights) if self.y is not None \
                    else score(self.x)
                found["training_score"] = float(value)
            except Exception as exc:  # a score this estimator cannot give is no failure
                log.info("autolog: no training_score for %s: %s",
                         type(self.estimator).__name__, exc)
        if self.y is not None and is_classifier(self.estimator):
            from sklearn.metrics import accuracy_score, f1_score

            predicted = self.estimator.predict(self.x)
            found["training_accuracy"] = float(accuracy_score(self.y, predicted, **weights))
            found["training_f1"] = float(f1_score(self.y, predicted, average="weighted",
                                                  **weights))
        return found


def eval_series(estimator: Any) -> dict[str, Sequence[float]]:
    """``{"<data>-<metric>": values per iteration}`` of a booster's evaluation sets."""
    results = getattr(estimator, "evals_result_", None)
    if results is None and callable(getattr(estimator, "evals_result", None)):
        try:
            results = estimator.evals_result()
        except Exception:  # XGBoost raises when no eval_set was given
            results = None
    return flatten_evals(results)


def flatten_evals(results: Any) -> dict[str, Sequence[float]]:
    if not isinstance(results, Mapping):
        return {}
    series: dict[str, Sequence[float]] = {}
    for data_name, metrics in results.items():
        if isinstance(metrics, Mapping):
            for metric, values in metrics.items():
                # XGBoost's cv gives (mean, std) pairs: keep the mean
                series[f"{data_name}-{metric}"] = [
                    float(v[0] if isinstance(v, tuple | list) else v) for v in values]
    return series


def _log_search(run: FitRun, estimator: Any) -> None:
    best = getattr(estimator, "best_params_", None)
    if isinstance(best, Mapping):
        run.log_params({f"best_{k}": v for k, v in best.items()})
    score = getattr(estimator, "best_score_", None)
    if isinstance(best, Mapping) and isinstance(score, int | float):  # boosters: a dict
        run.log_metrics({"best_cv_score": float(score)})


def patch_classes(classes: Sequence[type], name: str = "fit") -> int:
    """Patch ``fit`` of each class; how many were patched."""
    from shipyard.sdk.autolog.patching import patch

    return sum(patch(cls, name, EstimatorFit) for cls in classes)


def sklearn_classes() -> list[type]:
    """scikit-learn's concrete estimators (every one ``all_estimators`` lists)."""
    from sklearn.utils import all_estimators

    return [cls for _, cls in all_estimators()]


def subclasses(root: type, package: str) -> list[type]:
    """``root`` and its subclasses defined in ``package`` (not the user's own subclasses:
    those inherit the patched fit)."""
    found: list[type] = []
    todo = [root]
    while todo:
        cls = todo.pop()
        if cls.__module__.split(".", 1)[0] == package and cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return found
