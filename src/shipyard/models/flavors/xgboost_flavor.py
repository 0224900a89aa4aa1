"""XGBoost models in XGBoost's own JSON format; the estimator class is restored by name.

Only XGBoost's own classes are accepted by name (a manifest cannot make this flavor build
anything else). The scikit-learn wrappers come back as the same class with their fitted state
(classes, feature names), so ``predict`` and ``predict_proba`` behave as before saving.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInputError
from shipyard.models.batch import ColumnBatch
from shipyard.models.errors import CorruptedPackageError
from shipyard.models.flavors.base import (
    FlavorInfo,
    FlavorOptions,
    Predictor,
    as_numpy,
    loader_file,
    tabular,
)

NAME = "xgboost"
RUNTIME_PACKAGES = ("xgboost-cpu|xgboost",)  # either distribution provides `import xgboost`
FILE = "model.json"
_CLASSES = ("Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier",
            "XGBRFRegressor")


def save(model: Any, dest: Path, options: FlavorOptions) -> FlavorInfo:
    import xgboost

    name = type(model).__name__
    if name not in _CLASSES or not isinstance(model, xgboost.Booster | xgboost.XGBModel):
        raise InvalidInputError(f"the xgboost flavor saves {', '.join(_CLASSES)}, not {name}",
                                field="model")
    dest.mkdir(parents=True, exist_ok=True)
    model.save_model(str(dest / FILE))
    modules = () if name == "Booster" else ("sklearn",)  # the wrappers import scikit-learn
    return FlavorInfo(NAME, {"file": FILE, "class": name}, runtime_modules=modules)


def load(src: Path, loader: Mapping[str, Any], trust: bool) -> Predictor:
    import xgboost

    name = loader.get("class")
    if name not in _CLASSES:
        raise CorruptedPackageError(f"corrupted package: xgboost class {name!r} is not one of "
                                    f"{', '.join(_CLASSES)}", field="loader")
    model = getattr(xgboost, str(name))()
    try:
        model.load_model(str(loader_file(src, loader)))
    except xgboost.core.XGBoostError as exc:
        raise CorruptedPackageError(f"corrupted package: XGBoost cannot read the model: {exc}",
                                    field="model") from None
    return wrap(model)


def wrap(model: Any) -> Predictor:
    import xgboost

    if isinstance(model, xgboost.Booster):
        booster = model

        def predict_booster(data: Any) -> Any:
            return booster.predict(_dmatrix(booster, data))

        return Predictor(model, predict_booster)

    proba = None
    if hasattr(model, "predict_proba"):
        def proba(data: Any) -> Any:
            return model.predict_proba(tabular(model, data))

    def predict(data: Any) -> Any:
        return as_numpy(model.predict(tabular(model, data)))

    return Predictor(model, predict, proba)


def _dmatrix(booster: Any, data: Any) -> Any:
    import xgboost

    if isinstance(data, xgboost.DMatrix):
        return data
    if isinstance(data, ColumnBatch):
        names = data.column_names if booster.feature_names else None
        return xgboost.DMatrix(data.to_matrix(), feature_names=names)
    return xgboost.DMatrix(data)
