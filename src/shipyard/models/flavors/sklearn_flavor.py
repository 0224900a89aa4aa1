"""scikit-learn estimators and pipelines, written with skops instead of pickle.

skops rebuilds objects from a description and refuses, by default, any type it does not trust
(scikit-learn's, numpy's and scipy's own are trusted). A model holding other types -- a custom
transformer, an XGBoost estimator inside a Pipeline -- is saved with ``requires_trust`` and the
list of those types, and loads only with ``trust=True``: building them runs their code.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.models.errors import CorruptedPackageError, UntrustedModelError
from shipyard.models.flavors.base import (
    FlavorInfo,
    FlavorOptions,
    Predictor,
    as_numpy,
    loader_file,
    tabular,
)

NAME = "sklearn"
RUNTIME_PACKAGES = ("scikit-learn", "skops")
FILE = "model.skops"


def save(model: Any, dest: Path, options: FlavorOptions) -> FlavorInfo:
    import skops.io as sio

    dest.mkdir(parents=True, exist_ok=True)
    sio.dump(model, dest / FILE)
    untrusted = sio.get_untrusted_types(file=dest / FILE)
    loader = {"file": FILE, "class": f"{type(model).__module__}.{type(model).__qualname__}",
              "untrusted_types": untrusted}
    extra = {t.split(".")[0] for t in untrusted} - {"sklearn", "numpy", "scipy", "builtins"}
    return FlavorInfo(NAME, loader, requires_trust=bool(untrusted),
                      runtime_modules=tuple(sorted(extra)))


def load(src: Path, loader: Mapping[str, Any], trust: bool) -> Predictor:
    import skops.io as sio

    path = loader_file(src, loader)
    try:
        # what the file holds decides, never what the manifest claims
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise CorruptedPackageError(
            f"corrupted package: model/{path.name} is not a skops file ({exc})",
            field=f"model/{path.name}") from None
    if untrusted and not trust:
        raise UntrustedModelError(
            f"model/{path.name} holds types skops does not trust: {', '.join(untrusted)}. "
            "Loading them runs their code; pass trust=True only if you trust the package's "
            "author", field="trust", untrusted_types=untrusted)
    return wrap(sio.load(path, trusted=untrusted or None))


def wrap(model: Any) -> Predictor:
    proba = None
    if hasattr(model, "predict_proba"):
        def proba(data: Any) -> Any:
            return model.predict_proba(tabular(model, data))

    def predict(data: Any) -> Any:
        return as_numpy(model.predict(tabular(model, data)))

    return Predictor(model, predict, proba)
