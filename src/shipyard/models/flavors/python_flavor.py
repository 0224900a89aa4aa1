"""Custom Python models: a :class:`~shipyard.models.PythonModel` subclass, by import path.

The class writes its own state (``save``) into ``model/python/`` and reads it back (``load``);
the package records ``module:Class``. Loading imports that class, refuses anything that is not a
``PythonModel`` subclass, and calls its ``load`` -- so the code that runs is code installed
where the package is loaded, never code carried in the package.
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
    import_object,
    loader_file,
    object_path,
)
from shipyard.models.python_model import PythonModel

NAME = "python"
RUNTIME_PACKAGES: tuple[str, ...] = ()
FOLDER = "python"


def save(model: Any, dest: Path, options: FlavorOptions) -> FlavorInfo:
    if not isinstance(model, PythonModel):
        raise InvalidInputError("the python flavor saves subclasses of shipyard.models."
                                f"PythonModel, not {type(model).__name__}", field="model")
    path = object_path(type(model))
    (dest / FOLDER).mkdir(parents=True)
    model.save(dest / FOLDER)
    return FlavorInfo(NAME, {"folder": FOLDER, "class": path},
                      runtime_modules=(type(model).__module__.split(".")[0],))


def load(src: Path, loader: Mapping[str, Any], trust: bool) -> Predictor:
    path = str(loader.get("class"))
    cls = import_object(path)
    if not (isinstance(cls, type) and issubclass(cls, PythonModel)):
        raise CorruptedPackageError(
            f"corrupted package: {path} is not a shipyard.models.PythonModel subclass",
            field="loader")
    return wrap(cls.load(loader_file(src, loader, "folder")))


def wrap(model: Any) -> Predictor:
    def predict(data: Any) -> Any:
        if isinstance(data, ColumnBatch):
            data = data.table if model.input_format == "arrow" else data.to_pandas()
        return as_numpy(model.predict(data))

    return Predictor(model, predict)
