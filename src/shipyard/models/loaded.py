"""A model loaded from a package: predictions checked against its signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.models.errors import CorruptedPackageError
from shipyard.models.flavors import Predictor
from shipyard.models.manifest import PackageManifest
from shipyard.models.signature import Signature
from shipyard.models.validate import check_input


class LoadedModel:
    """``predict`` (and ``predict_proba`` where the flavor has one) on the native model.

    With a signature, every call's input is checked and coerced first
    (:func:`shipyard.models.validate.check_input`); without one, data goes to the model as
    given. ``raw`` is the native object (estimator, Booster, module, InferenceSession).
    ``trusted`` records whether the caller passed ``trust=True`` to load it.
    """

    def __init__(self, *, path: Path, manifest: PackageManifest, predictor: Predictor,
                 trusted: bool) -> None:
        self.path = path
        self.manifest = manifest
        self.trusted = trusted
        self._predictor = predictor

    @property
    def raw(self) -> Any:
        return self._predictor.raw

    @property
    def flavor(self) -> str:
        return self.manifest.flavor

    @property
    def signature(self) -> Signature | None:
        return self.manifest.signature

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def has_predict_proba(self) -> bool:
        return self._predictor.predict_proba is not None

    def prepare(self, data: Any) -> Any:
        """``data`` as the model will receive it: checked and coerced when there is a
        signature (raises :class:`~shipyard.errors.InvalidInputError` naming the column)."""
        return check_input(self.signature, data) if self.signature is not None else data

    def predict(self, data: Any) -> Any:
        return self._predictor.predict(self.prepare(data))

    def predict_proba(self, data: Any) -> Any:
        if self._predictor.predict_proba is None:
            raise InvalidInputError(
                f"this {self.flavor} model ({type(self.raw).__name__}) has no predict_proba",
                field="method")
        return self._predictor.predict_proba(self.prepare(data))

    def input_example(self) -> Any:
        """The saved input example (a pyarrow Table, an array, or a dict of arrays), or None."""
        name = self.manifest.input_example
        if name is None:
            return None
        if name not in self.manifest.by_path:  # only files whose digest was checked
            raise CorruptedPackageError(f"corrupted package: the input example {name!r} is "
                                        "not among the package's files", field="input_example")
        path = self.path / name
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if name.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        if name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as found:
                return {key: found[key] for key in found.files}
        raise CorruptedPackageError(f"corrupted package: unknown input example {name!r}",
                                    field="input_example")

    def __repr__(self) -> str:
        return (f"LoadedModel(path={str(self.path)!r}, flavor={self.flavor!r}, "
                f"digest={self.digest[:12]!r}, trusted={self.trusted})")
