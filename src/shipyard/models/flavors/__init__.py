"""The flavors: how each kind of model is written to files and read back without pickle.

========  ============================================  =================================
flavor    files                                         loading runs package code?
========  ============================================  =================================
sklearn   ``model.skops`` (skops)                       only types skops does not trust,
                                                        and only with ``trust=True``
xgboost   ``model.json`` (XGBoost's JSON format)        no
lightgbm  ``model.txt`` (LightGBM's text format)        no
torch     ``weights.safetensors`` + class path          no (imports the named installed class)
onnx      ``model.onnx`` (run by onnxruntime)           no
python    what the class's ``save`` writes + its path   no (imports the named installed class)
pickle    ``model.pkl``                                 yes: refused unless ``trust=True``
========  ============================================  =================================

A flavor is detected from the model's class hierarchy by module name, so detecting imports no
flavor library; ``pickle`` is never detected, it must be asked for.
"""

from __future__ import annotations

import importlib
from typing import Any, cast

from shipyard.errors import InvalidInputError
from shipyard.models.flavors.base import (
    Flavor,
    FlavorInfo,
    FlavorOptions,
    Predictor,
)

__all__ = ["FLAVORS", "Flavor", "FlavorInfo", "FlavorOptions", "Predictor", "detect_flavor",
           "get_flavor"]

FLAVORS = ("sklearn", "xgboost", "lightgbm", "torch", "onnx", "python", "pickle")

# first match wins: XGBoost's and LightGBM's estimators are scikit-learn estimators too
_DETECT_ORDER = (("xgboost", "xgboost"), ("lightgbm", "lightgbm"), ("torch", "torch"),
                 ("onnx", "onnx"), ("sklearn", "sklearn"))


def get_flavor(name: str) -> Flavor:
    if name not in FLAVORS:
        raise InvalidInputError(
            f"unknown flavor {name!r}; this Shipyard knows {', '.join(FLAVORS)}", field="flavor")
    return cast(Flavor, importlib.import_module(f"shipyard.models.flavors.{name}_flavor"))


def detect_flavor(model: Any) -> str:
    """The flavor of ``model``, from the modules its class and base classes come from."""
    from shipyard.models.python_model import PythonModel

    if isinstance(model, PythonModel):
        return "python"
    roots = {klass.__module__.split(".")[0] for klass in type(model).__mro__}
    for root, flavor in _DETECT_ORDER:
        if root in roots:
            return flavor
    raise InvalidInputError(
        f"cannot tell the flavor of a {type(model).__module__}.{type(model).__qualname__}: "
        "pass flavor= (subclass shipyard.models.PythonModel for custom code, or flavor='pickle' "
        "with the trust that implies)", field="flavor")
