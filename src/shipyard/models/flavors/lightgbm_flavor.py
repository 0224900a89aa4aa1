"""LightGBM models in LightGBM's own text format, read back as a ``lightgbm.Booster``.

The scikit-learn wrappers are not rebuilt (that would mean setting their private fitted state);
instead the package records which wrapper it was and, for a classifier, its classes, and the
loaded model answers ``predict`` and ``predict_proba`` exactly as ``LGBMClassifier`` does:
probabilities from the booster, the class with the highest one. ``raw`` is the Booster.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.models.batch import ColumnBatch
from shipyard.models.errors import CorruptedPackageError
from shipyard.models.flavors.base import (
    FlavorInfo,
    FlavorOptions,
    Predictor,
    check_json,
    loader_file,
)

NAME = "lightgbm"
RUNTIME_PACKAGES = ("lightgbm",)
FILE = "model.txt"
_KINDS = ("Booster", "LGBMClassifier", "LGBMRegressor", "LGBMRanker")


def save(model: Any, dest: Path, options: FlavorOptions) -> FlavorInfo:
    import lightgbm

    kind = type(model).__name__
    if kind not in _KINDS or not isinstance(model, lightgbm.Booster | lightgbm.LGBMModel):
        raise InvalidInputError(f"the lightgbm flavor saves {', '.join(_KINDS)}, not {kind}",
                                field="model")
    booster = model if isinstance(model, lightgbm.Booster) else model.booster_
    dest.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(dest / FILE))
    loader: dict[str, Any] = {"file": FILE, "class": kind}
    if isinstance(model, lightgbm.LGBMClassifier):
        loader["classes"] = check_json(np.asarray(model.classes_).tolist(), "classes")
    return FlavorInfo(NAME, loader)


def load(src: Path, loader: Mapping[str, Any], trust: bool) -> Predictor:
    import lightgbm

    kind = loader.get("class")
    if kind not in _KINDS:
        raise CorruptedPackageError(f"corrupted package: lightgbm class {kind!r} is not one of "
                                    f"{', '.join(_KINDS)}", field="loader")
    try:
        booster = lightgbm.Booster(model_file=str(loader_file(src, loader)))
    except lightgbm.basic.LightGBMError as exc:
        raise CorruptedPackageError(f"corrupted package: LightGBM cannot read the model: {exc}",
                                    field="model") from None
    classes = loader.get("classes") if kind == "LGBMClassifier" else None
    return _predictor(booster, classes)


def wrap(model: Any) -> Predictor:
    import lightgbm

    if isinstance(model, lightgbm.Booster):
        return _predictor(model, None)
    classes = np.asarray(model.classes_).tolist() if hasattr(model, "classes_") else None
    return _predictor(model.booster_, classes)


def _predictor(booster: Any, classes: list[Any] | None) -> Predictor:
    def scores(data: Any) -> Any:
        return booster.predict(_features(booster, data))

    if classes is None:
        return Predictor(booster, scores)
    labels = np.asarray(classes)

    def proba(data: Any) -> Any:
        found = np.asarray(scores(data))
        return np.column_stack([1.0 - found, found]) if found.ndim == 1 else found

    def predict(data: Any) -> Any:
        return labels[np.argmax(proba(data), axis=1)]

    return Predictor(booster, predict, proba)


def _features(booster: Any, data: Any) -> Any:
    if not isinstance(data, ColumnBatch):
        return data
    # pandas categoricals carry their category mapping; everything else goes as an array
    return data.to_pandas() if booster.pandas_categorical else data.to_matrix()
