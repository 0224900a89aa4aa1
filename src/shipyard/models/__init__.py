"""Model packages: a folder with a manifest, files by digest, and a loader that runs no
untrusted code by default. See docs/models.md.

    from shipyard.models import save_model, load_model
    save_model(clf, "out/churn", input_example=X_train.head(50))
    model = load_model("out/churn")          # digests checked, no pickle
    model.predict(X_new)                     # input checked against the signature

Names are imported on first use, so ``import shipyard.models`` imports no flavor library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "shipyard.models.package": ("save_model", "load_model", "verify_package"),
    "shipyard.models.loaded": ("LoadedModel",),
    "shipyard.models.manifest": ("MANIFEST_NAME", "PackageFile", "PackageManifest",
                                 "read_manifest"),
    "shipyard.models.signature": ("ColumnSpec", "Schema", "Signature", "TensorSpec",
                                  "infer_signature"),
    "shipyard.models.validate": ("check_input",),
    "shipyard.models.batch": ("ColumnBatch",),
    "shipyard.models.python_model": ("PythonModel",),
    "shipyard.models.errors": ("CorruptedPackageError", "UntrustedModelError"),
    "shipyard.models.flavors": ("FLAVORS", "detect_flavor"),
    "shipyard.models.build_context": ("write_build_context",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)  # noqa: PLE0605 - built from _EXPORTS


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from shipyard.models.batch import ColumnBatch as ColumnBatch
    from shipyard.models.build_context import write_build_context as write_build_context
    from shipyard.models.errors import CorruptedPackageError as CorruptedPackageError
    from shipyard.models.errors import UntrustedModelError as UntrustedModelError
    from shipyard.models.flavors import FLAVORS as FLAVORS
    from shipyard.models.flavors import detect_flavor as detect_flavor
    from shipyard.models.loaded import LoadedModel as LoadedModel
    from shipyard.models.manifest import MANIFEST_NAME as MANIFEST_NAME
    from shipyard.models.manifest import PackageFile as PackageFile
    from shipyard.models.manifest import PackageManifest as PackageManifest
    from shipyard.models.manifest import read_manifest as read_manifest
    from shipyard.models.package import load_model as load_model
    from shipyard.models.package import save_model as save_model
    from shipyard.models.package import verify_package as verify_package
    from shipyard.models.python_model import PythonModel as PythonModel
    from shipyard.models.signature import ColumnSpec as ColumnSpec
    from shipyard.models.signature import Schema as Schema
    from shipyard.models.signature import Signature as Signature
    from shipyard.models.signature import TensorSpec as TensorSpec
    from shipyard.models.signature import infer_signature as infer_signature
    from shipyard.models.validate import check_input as check_input
