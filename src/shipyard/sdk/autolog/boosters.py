"""Autologging XGBoost and LightGBM: ``xgboost.train``, ``lightgbm.train`` and the fit of
their scikit-learn wrappers (:mod:`shipyard.sdk.autolog.estimators`).

``train`` logs its ``params`` and ``num_boost_round`` as params, the evaluation of every data
set in ``evals`` / ``valid_sets`` per iteration as metric series (``<data>-<metric>``, the
iteration as the step), and the returned Booster as the model. To see the evaluations, autolog
passes ``evals_result={}`` to ``xgboost.train`` when the caller gave none, and appends
``lightgbm.record_evaluation`` to LightGBM's callbacks; nothing else of the call changes.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from shipyard.sdk.autolog.estimators import flatten_evals, patch_classes, subclasses
from shipyard.sdk.autolog.patching import patch
from shipyard.sdk.autolog.recording import FitRun, head, run_steps


class TrainFit(ABC):
    """One outer ``train(params, data, num_boost_round, ...)`` of a boosting library."""

    library = ""

    def __init__(self, original: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        signature = inspect.signature(original)
        bound = signature.bind(*args, **kwargs)
        self.evals: dict[str, Any] = {}
        self.params: dict[str, Any] = dict(bound.arguments.get("params") or {})
        rounds = signature.parameters.get("num_boost_round")
        self.params["num_boost_round"] = bound.arguments.get(
            "num_boost_round", None if rounds is None else rounds.default)
        self.example = self.adjust(bound.arguments)
        self.args, self.kwargs = bound.args, bound.kwargs
        self.run: FitRun | None = None

    @abstractmethod
    def adjust(self, arguments: dict[str, Any]) -> Any:
        """Ask the library for its evaluations; returns an input example, if any."""

    def begin(self) -> None:
        self.run = FitRun({"shipyard.autolog.estimator": f"{self.library}.train"})
        self.run.log_params(self.params)

    def finish(self, result: Any) -> None:
        run = self.run
        if run is None:
            return
        run_steps([
            ("log evaluation series", lambda: run.log_series(flatten_evals(self.evals))),
            ("log the model", lambda: run.log_model(result, self.example)),
        ])

    def end(self, failed: bool) -> None:
        if self.run is not None:
            self.run.end(failed)


class XGBoostTrain(TrainFit):
    library = "xgboost"

    def adjust(self, arguments: dict[str, Any]) -> Any:
        if arguments.get("early_stopping_rounds") is not None:
            self.params["early_stopping_rounds"] = arguments["early_stopping_rounds"]
        given = arguments.get("evals_result")
        if given is None:
            arguments["evals_result"] = self.evals
        else:
            self.evals = given  # filled by XGBoost, read after the call
        return None  # a DMatrix keeps no raw rows to take an example from


class LightGBMTrain(TrainFit):
    library = "lightgbm"

    def adjust(self, arguments: dict[str, Any]) -> Any:
        import lightgbm

        callbacks = list(arguments.get("callbacks") or [])
        arguments["callbacks"] = [*callbacks, lightgbm.record_evaluation(self.evals)]
        data = getattr(arguments.get("train_set"), "data", None)
        return head(data)  # now: LightGBM frees the raw data once the Dataset is built


def patch_xgboost() -> int:
    import xgboost

    count = patch_classes(subclasses(xgboost.XGBModel, "xgboost"))
    return count + patch(xgboost, "train", XGBoostTrain)


def patch_lightgbm() -> int:
    import lightgbm

    count = patch_classes(subclasses(lightgbm.LGBMModel, "lightgbm"))
    return count + patch(lightgbm, "train", LightGBMTrain)
