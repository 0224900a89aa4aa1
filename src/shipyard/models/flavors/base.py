"""What every flavor module provides, and the helpers several of them share.

A flavor module has ``NAME``, ``RUNTIME_PACKAGES`` and three functions:

* ``save(model, dest, options) -> FlavorInfo`` writes the model's files into ``dest``;
* ``load(src, loader, trust) -> Predictor`` reads them back (``loader`` is what save returned);
* ``wrap(model) -> Predictor`` wraps a model already in memory (used at save time to infer the
  output signature from the input example).

A predictor receives either the caller's data unchanged (a package without signature) or what
:func:`shipyard.models.validate.check_input` prepared: a ColumnBatch, an array or a dict of
arrays. Flavor libraries are imported inside these functions, never at import time.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.models.batch import ColumnBatch
from shipyard.models.errors import CorruptedPackageError

_OBJECT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


@dataclass(frozen=True, slots=True)
class FlavorOptions:
    """Options of :func:`shipyard.models.save_model` that only some flavors read."""

    init_kwargs: Mapping[str, Any] | None = None
    """torch: the keyword arguments that rebuild the module (JSON values)."""


@dataclass(frozen=True, slots=True)
class FlavorInfo:
    name: str
    loader: dict[str, Any]
    """JSON values only: it is written into the manifest."""
    requires_trust: bool = False
    runtime_modules: tuple[str, ...] = ()
    """Top-level modules loading imports beyond the flavor's own ``RUNTIME_PACKAGES`` (a user's
    module holding a class); the package maps them to their installed distributions."""


@dataclass(frozen=True, slots=True)
class Predictor:
    raw: Any
    predict: Callable[[Any], Any]
    predict_proba: Callable[[Any], Any] | None = field(default=None)


class Flavor(Protocol):
    """A flavor module (see the module's documentation)."""

    NAME: str
    RUNTIME_PACKAGES: tuple[str, ...]

    def save(self, model: Any, dest: Path, options: FlavorOptions) -> FlavorInfo: ...

    def load(self, src: Path, loader: Mapping[str, Any], trust: bool) -> Predictor: ...

    def wrap(self, model: Any) -> Predictor: ...


def object_path(obj: type[Any]) -> str:
    """``package.module:ClassName`` of a class, refused when it cannot be imported back."""
    module, qualname = obj.__module__, obj.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise InvalidInputError(
            f"{qualname} is defined in {'a script' if module == '__main__' else 'a function'}; "
            "move it to an importable module so the package can be loaded elsewhere",
            field="model")
    path = f"{module}:{qualname}"
    if import_object(path) is not obj:
        raise InvalidInputError(f"{path} does not import back as the same class", field="model")
    return path


def import_object(path: str) -> Any:
    """The object named ``package.module:Name``; importing runs only installed code."""
    if not isinstance(path, str) or not _OBJECT_PATH.fullmatch(path):
        raise CorruptedPackageError(f"corrupted package: {path!r} is not 'module:Name'",
                                    field="loader")
    module_name, qualname = path.split(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(
            f"the package needs {path}, which cannot be imported here ({exc}); install the "
            "code that defines it", field="loader") from None
    return found


def loader_file(src: Path, loader: Mapping[str, Any], key: str = "file") -> Path:
    """A file named in the loader info, checked to stay inside the flavor's folder."""
    name = loader.get(key)
    if not isinstance(name, str) or "/" in name or "\\" in name or name in {"", ".", ".."}:
        raise CorruptedPackageError(f"corrupted package: loader {key} {name!r} is not a file "
                                    "name", field="loader")
    return src / name


def check_json(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must hold JSON values only: {exc}", field=what) from None


def tabular(model: Any, data: Any) -> Any:
    """What a scikit-learn-style model takes: a DataFrame when it was fitted on one (it has
    ``feature_names_in_``), else a 2-D array; data that is not a ColumnBatch passes through."""
    if not isinstance(data, ColumnBatch):
        return data
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return data.to_matrix()
    frame = data.to_pandas()
    names = [str(n) for n in names]
    # the fitted order, where the signature lists the same columns in another order
    return frame[names] if set(names) <= set(frame.columns) else frame


def as_numpy(values: Any) -> Any:
    """Predictions as numpy where they are array-like; DataFrames and other objects as they are."""
    if isinstance(values, list | tuple):
        return np.asarray(values)
    return values
