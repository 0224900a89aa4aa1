"""Any Python object, pickled: the one flavor whose loading runs code from the package.

Never detected, only chosen with ``flavor="pickle"``. Unpickling can run arbitrary code, so
loading refuses with :class:`~shipyard.models.errors.UntrustedModelError` unless the caller
passes ``trust=True`` -- before the file is opened. The object must have ``predict``.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInputError
from shipyard.models.errors import UntrustedModelError
from shipyard.models.flavors.base import (
    FlavorInfo,
    FlavorOptions,
    Predictor,
    as_numpy,
    loader_file,
    tabular,
)

NAME = "pickle"
RUNTIME_PACKAGES: tuple[str, ...] = ()
FILE = "model.pkl"


def save(model: Any, dest: Path, options: FlavorOptions) -> FlavorInfo:
    if not callable(getattr(model, "predict", None)):
        raise InvalidInputError(f"a {type(model).__name__} has no predict method", field="model")
    dest.mkdir(parents=True, exist_ok=True)
    with (dest / FILE).open("wb") as file:
        pickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)
    modules = {k.__module__.split(".")[0] for k in type(model).__mro__} - {"builtins"}
    return FlavorInfo(NAME, {"file": FILE, "protocol": pickle.HIGHEST_PROTOCOL},
                      requires_trust=True, runtime_modules=tuple(sorted(modules)))


def load(src: Path, loader: Mapping[str, Any], trust: bool) -> Predictor:
    path = loader_file(src, loader)
    if not trust:  # decided before the file is even opened
        raise UntrustedModelError(
            f"model/{path.name} is a pickle: loading it runs whatever code it holds. Pass "
            "trust=True only if you trust the package's author", field="trust")
    with path.open("rb") as file:
        model = pickle.load(file)  # the caller passed trust=True
    if not callable(getattr(model, "predict", None)):
        raise InvalidInputError(f"the unpickled {type(model).__name__} has no predict method",
                                field="model")
    return wrap(model)


def wrap(model: Any) -> Predictor:
    proba = None
    if callable(getattr(model, "predict_proba", None)):
        def proba(data: Any) -> Any:
            return model.predict_proba(tabular(model, data))

    def predict(data: Any) -> Any:
        return as_numpy(model.predict(tabular(model, data)))

    return Predictor(model, predict, proba)
