"""Find a pipeline from ``path/to/file.py:function`` and turn ``k=v`` strings into typed
params, for the CLI."""

from __future__ import annotations

import importlib.util
import json
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInputError
from shipyard.pipelines.decorators import Pipeline


def load_pipeline(ref: str) -> Pipeline:
    """The ``@pipeline`` named by ``file.py:function`` (the file's folder goes on sys.path,
    so it may import its sibling modules)."""
    path_text, _, name = ref.rpartition(":")
    if not path_text or not name:
        raise InvalidInputError(f"{ref!r} is not file.py:function", field="pipeline")
    path = Path(path_text).resolve()
    if not path.is_file():
        raise InvalidInputError(f"no file {path_text!r}", field="pipeline")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise InvalidInputError(f"cannot import {path_text!r}", field="pipeline")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # why: dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    found = getattr(module, name, None)
    if not isinstance(found, Pipeline):
        raise InvalidInputError(f"{name!r} in {path_text!r} is not a @pipeline function",
                                field="pipeline")
    return found


def parse_params(pipe: Pipeline, pairs: Sequence[str]) -> dict[str, Any]:
    """``["n=3", "name=abc"]`` -> typed values by the pipeline's annotations (JSON for lists,
    dicts and unannotated params; text otherwise)."""
    hints = typing.get_type_hints(pipe.fn)
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--param {pair!r} is not name=value", field="param")
        params[key] = _convert(key, text, hints.get(key, Any))
    return params


def _convert(key: str, text: str, annotation: Any) -> Any:
    if annotation is str:
        return text
    try:
        if annotation is bool:
            if text.lower() in ("true", "1", "yes"):
                return True
            if text.lower() in ("false", "0", "no"):
                return False
            raise ValueError(text)
        if annotation in (int, float):
            return annotation(text)
        return json.loads(text)
    except ValueError:
        if annotation is Any:
            return text
        name = getattr(annotation, "__name__", repr(annotation))
        raise InvalidInputError(f"--param {key}={text!r} is not a valid {name}",
                                field=key) from None
