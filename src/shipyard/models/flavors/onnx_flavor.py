"""ONNX models, run by onnxruntime on the CPU.

The ``.onnx`` file is checked with ``onnx.checker`` at save time; loading needs only
onnxruntime. Inputs are fed by the graph's input names: one array for a one-input graph, a dict
for several, and a table either as one matrix (one input) or one ``(n, 1)`` column per input of
the same name (how skl2onnx converts DataFrame pipelines). Numbers are cast to each input's
element type. ``predict`` returns the first output; ``predict_proba`` the output called
``probabilities`` or ``output_probability`` where the graph has one. Without an input example
the signature is read from the graph's declared inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.models import dtypes
from shipyard.models.batch import ColumnBatch
from shipyard.models.errors import CorruptedPackageError
from shipyard.models.flavors.base import FlavorInfo, FlavorOptions, Predictor, loader_file
from shipyard.models.signature import Schema, Signature, TensorSpec

NAME = "onnx"
RUNTIME_PACKAGES = ("onnxruntime",)
FILE = "model.onnx"
_PROBA_NAMES = ("probabilities", "output_probability")
_ORT_TYPES = {"tensor(float)": "float", "tensor(double)": "double", "tensor(float16)": "halffloat",
              "tensor(bool)": "bool", **{f"tensor({t})": t for t in dtypes.INTEGERS}}


def save(model: Any, dest: Path, options: FlavorOptions) -> FlavorInfo:
    import onnx

    if not isinstance(model, onnx.ModelProto):
        raise InvalidInputError(f"the onnx flavor saves onnx.ModelProto, not "
                                f"{type(model).__name__}", field="model")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise InvalidInputError(f"the ONNX model is not valid: {exc}", field="model") from None
    dest.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(dest / FILE))
    return FlavorInfo(NAME, {"file": FILE, "opset": [
        {"domain": o.domain, "version": int(o.version)} for o in model.opset_import]})


def load(src: Path, loader: Mapping[str, Any], trust: bool) -> Predictor:
    import onnxruntime

    path = loader_file(src, loader)
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped exceptions for bad graphs
        raise CorruptedPackageError(f"corrupted package: onnxruntime cannot load model/{FILE}: "
                                    f"{exc}", field=f"model/{FILE}") from None
    return _predictor(session)


def wrap(model: Any) -> Predictor:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return _predictor(session)


def describe(model: Any) -> Signature | None:
    """The input signature the graph declares, where every input is a numeric tensor."""
    import onnx.helper

    specs = []
    graph_inputs = list(model.graph.input)
    for node in graph_inputs:
        tensor = node.type.tensor_type
        if not node.type.HasField("tensor_type"):
            return None
        name = dtypes.name_of_numpy(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))
        if name is None:
            return None
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        shape = (-1, *dims[1:]) if dims else (-1,)
        specs.append(TensorSpec(name, shape, node.name if len(graph_inputs) > 1 else None))
    return Signature(Schema(tensors=tuple(specs))) if specs else None


def _predictor(session: Any) -> Predictor:
    inputs = session.get_inputs()
    outputs = [o.name for o in session.get_outputs()]
    proba_name = next((n for n in _PROBA_NAMES if n in outputs), None)

    def feeds(data: Any) -> dict[str, Any]:
        if isinstance(data, ColumnBatch):
            if len(inputs) == 1:
                return {inputs[0].name: _cast(data.to_matrix(), inputs[0])}
            columns = dict(zip(data.column_names, data.table.columns, strict=True))
            missing = [i.name for i in inputs if i.name not in columns]
            if missing:
                raise InvalidInputError(f"the ONNX graph needs inputs {missing}", field=missing[0])
            return {i.name: _cast(np.asarray(columns[i.name].to_numpy(zero_copy_only=False))
                                  .reshape(-1, 1), i) for i in inputs}
        if isinstance(data, Mapping):
            by_name = {i.name: i for i in inputs}
            return {str(k): _cast(np.asarray(v), by_name[str(k)]) if str(k) in by_name else v
                    for k, v in data.items()}
        if len(inputs) != 1:
            raise InvalidInputError(f"the ONNX graph has inputs {[i.name for i in inputs]}: "
                                    "pass a dict of arrays", field="data")
        return {inputs[0].name: _cast(np.asarray(data), inputs[0])}

    def predict(data: Any) -> Any:
        return session.run(outputs[:1], feeds(data))[0]

    proba = None
    if proba_name is not None:
        def proba(data: Any) -> Any:
            found = session.run([proba_name], feeds(data))[0]
            if isinstance(found, list) and found and isinstance(found[0], dict):  # ZipMap
                return np.array([list(row.values()) for row in found])
            return found

    return Predictor(session, predict, proba)


def _cast(array: np.ndarray[Any, Any], node: Any) -> np.ndarray[Any, Any]:
    name = _ORT_TYPES.get(node.type)
    if name is None or dtypes.name_of_numpy(array.dtype) == name:
        return array
    return array.astype(dtypes.numpy_dtype(name))
