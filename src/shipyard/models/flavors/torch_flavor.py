"""PyTorch modules: weights in safetensors, the class by import path, its arguments as JSON.

Saving records ``package.module:ClassName`` and the constructor's keyword arguments
(``init_kwargs=`` of :func:`shipyard.models.save_model`), writes the state dict with
safetensors, and rebuilds the module once from those to prove it loads. Loading imports the
class -- which must subclass ``torch.nn.Module``, so a manifest cannot name any other
callable -- builds it, and reads the weights: no ``torch.load``, no pickle. The module's code
must be installed where the package is loaded.

Predictions run on the CPU in ``eval`` mode under ``torch.inference_mode``; floating inputs are
cast to the module's floating dtype, and tensors come back as numpy arrays.
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
    import_object,
    loader_file,
    object_path,
)

NAME = "torch"
RUNTIME_PACKAGES = ("torch", "safetensors")
FILE = "weights.safetensors"


def save(model: Any, dest: Path, options: FlavorOptions) -> FlavorInfo:
    import safetensors.torch
    import torch

    if not isinstance(model, torch.nn.Module):
        raise InvalidInputError(f"the torch flavor saves torch.nn.Module, not "
                                f"{type(model).__name__}", field="model")
    path = object_path(type(model))
    kwargs = check_json(dict(options.init_kwargs or {}), "init_kwargs")
    dest.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_model(model, str(dest / FILE))  # handles tied (shared) weights
    loader = {"file": FILE, "class": path, "init_kwargs": kwargs}
    _build(path, kwargs, dest / FILE)  # fail now, not on the serving machine
    module = type(model).__module__.split(".")[0]
    return FlavorInfo(NAME, loader, runtime_modules=(module,))


def load(src: Path, loader: Mapping[str, Any], trust: bool) -> Predictor:
    kwargs = loader.get("init_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CorruptedPackageError("corrupted package: torch init_kwargs is not an object",
                                    field="loader")
    return wrap(_build(str(loader.get("class")), kwargs, loader_file(src, loader)))


def _build(path: str, kwargs: dict[str, Any], weights: Path) -> Any:
    import safetensors
    import safetensors.torch
    import torch

    cls = import_object(path)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise CorruptedPackageError(f"corrupted package: {path} is not a torch.nn.Module class",
                                    field="loader")
    try:
        module = cls(**kwargs)
    except TypeError as exc:
        raise InvalidInputError(f"{path}(**{kwargs}) failed: {exc}; pass the constructor's "
                                "arguments as init_kwargs", field="init_kwargs") from None
    try:
        safetensors.torch.load_model(module, str(weights), strict=True, device="cpu")
    except (RuntimeError, OSError, safetensors.SafetensorError) as exc:
        raise CorruptedPackageError(
            f"the weights in model/{weights.name} do not fit {path}(**{kwargs}): {exc}",
            field=f"model/{weights.name}") from None
    return module.eval()


def wrap(model: Any) -> Predictor:
    import torch

    floating = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)

    def tensor(values: Any) -> Any:
        if isinstance(values, torch.Tensor):
            return values
        array = values.to_matrix() if isinstance(values, ColumnBatch) else np.asarray(values)
        if not array.flags.writeable:  # torch warns on read-only arrays (Arrow's are)
            array = array.copy()
        found = torch.from_numpy(np.ascontiguousarray(array))
        if floating is not None and found.is_floating_point() and found.dtype != floating:
            found = found.to(floating)
        return found

    def predict(data: Any) -> Any:
        with torch.inference_mode():
            if isinstance(data, Mapping):
                out = model(**{str(k): tensor(v) for k, v in data.items()})
            else:
                out = model(tensor(data))
        return _to_numpy(out)

    return Predictor(model, predict)


def _to_numpy(out: Any) -> Any:
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    if isinstance(out, tuple | list):
        return type(out)(_to_numpy(o) for o in out)
    if isinstance(out, Mapping):
        return {k: _to_numpy(v) for k, v in out.items()}
    return out

