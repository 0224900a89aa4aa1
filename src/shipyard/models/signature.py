"""What a model takes and gives: named typed columns, or tensors of a type and shape.

A :class:`Schema` is either columns (tabular models: scikit-learn, XGBoost, LightGBM on a
DataFrame) or tensors (arrays: torch, ONNX, models fitted on a 2-D array); a :class:`Signature`
has one for the inputs and, where known, one for the outputs. Type names are listed in
:mod:`shipyard.models.dtypes`. A tensor's first dimension is the batch and is always ``-1``
(any size); other dimensions are fixed unless given as ``-1``.

:func:`infer_signature` reads them off an example. A column is nullable when the example holds
a missing value (None, NaN, pandas NA) in it, so give an example with the gaps production data
will have, or pass the signature yourself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.models import dtypes
from shipyard.models.batch import iter_columns, to_arrow_column


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: str
    nullable: bool = False

    def __post_init__(self) -> None:
        dtypes.check_type_name(self.type, f"column {self.name!r}")


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """An array; ``name`` is None for a model's one unnamed input or output."""

    type: str
    shape: tuple[int, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        if self.type not in dtypes.TENSOR_TYPES:
            raise InvalidInputError(
                f"tensor {self.label!r}: type {self.type!r} is not a tensor type; use one of "
                f"{', '.join(sorted(dtypes.TENSOR_TYPES))}", field="signature")
        if any(not isinstance(d, int) or d < -1 or d == 0 for d in self.shape):
            raise InvalidInputError(
                f"tensor {self.label!r}: shape {self.shape} must hold positive sizes or -1",
                field="signature")

    @property
    def label(self) -> str:
        return self.name or "input"


@dataclass(frozen=True, slots=True)
class Schema:
    """Columns or tensors, never both."""

    columns: tuple[ColumnSpec, ...] = ()
    tensors: tuple[TensorSpec, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.columns) == bool(self.tensors):
            raise InvalidInputError("a schema holds either columns or tensors (and not none)",
                                    field="signature")
        names: list[str | None] = [c.name for c in self.columns] or [
            t.name for t in self.tensors]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"a schema names each entry once: {names}", field="signature")
        if len(self.tensors) > 1 and any(t.name is None for t in self.tensors):
            raise InvalidInputError("several tensors must all be named", field="signature")

    @property
    def kind(self) -> str:
        return "columns" if self.columns else "tensors"

    def to_dict(self) -> dict[str, Any]:
        if self.columns:
            return {"columns": [{"name": c.name, "type": c.type, "nullable": c.nullable}
                                for c in self.columns]}
        return {"tensors": [{"name": t.name, "type": t.type, "shape": list(t.shape)}
                            for t in self.tensors]}

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Schema:
        try:
            if "columns" in body:
                return cls(columns=tuple(
                    ColumnSpec(str(c["name"]), c["type"], bool(c.get("nullable", False)))
                    for c in body["columns"]))
            return cls(tensors=tuple(
                TensorSpec(t["type"], tuple(int(d) for d in t["shape"]), t.get("name"))
                for t in body["tensors"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(f"malformed schema {dict(body)!r}: {exc!r}",
                                    field="signature") from None


@dataclass(frozen=True, slots=True)
class Signature:
    inputs: Schema
    outputs: Schema | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs.to_dict(),
                "outputs": self.outputs.to_dict() if self.outputs else None}

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Signature:
        if not isinstance(body, Mapping) or not isinstance(body.get("inputs"), Mapping):
            raise InvalidInputError("a signature needs an 'inputs' schema", field="signature")
        outputs = body.get("outputs")
        return cls(Schema.from_dict(body["inputs"]),
                   Schema.from_dict(outputs) if isinstance(outputs, Mapping) else None)


def infer_signature(input_example: Any, output_example: Any = None) -> Signature:
    """The signature of a model that takes ``input_example`` (and returned ``output_example``).

    A DataFrame, pyarrow Table, list of records, or dict of one-dimensional arrays gives
    columns; a numpy array (or torch tensor, or list of rows) gives one unnamed tensor; a dict
    holding any array of two or more dimensions gives named tensors.
    """
    outputs = None if output_example is None else infer_schema(output_example, "output")
    return Signature(infer_schema(input_example, "input"), outputs)


def infer_schema(example: Any, what: str = "input") -> Schema:
    if isinstance(example, Mapping) and any(np.ndim(v) > 1 for v in example.values()):
        return Schema(tensors=tuple(_tensor_spec(as_array(v, str(k)), str(k))
                                    for k, v in example.items()))
    found = iter_columns(example) if not _is_sequence_of_rows(example) else None
    if found is not None:
        columns = tuple(_column_spec(name, values) for name, values in found)
        if not columns:
            raise InvalidInputError(f"the {what} example has no columns", field=f"{what}_example")
        return Schema(columns=columns)
    if _is_pandas_series(example):
        example = example.to_numpy()
    return Schema(tensors=(_tensor_spec(as_array(example, what), None),))


def as_array(data: Any, name: str) -> np.ndarray[Any, Any]:
    """An array from a numpy array, torch tensor or nested list."""
    if hasattr(data, "detach") and hasattr(data, "numpy"):  # a torch tensor, without torch
        data = data.detach().cpu().numpy()
    array = np.asarray(data)
    if array.ndim == 0:
        raise InvalidInputError(f"{name!r} must be an array with a batch dimension, got a scalar",
                                field=name)
    return array


def _tensor_spec(array: np.ndarray[Any, Any], name: str | None) -> TensorSpec:
    type_name = dtypes.name_of_numpy(array.dtype)
    if type_name is None:
        raise InvalidInputError(
            f"tensor {name or 'input'!r} has dtype {array.dtype}; tensors must be numeric or "
            "boolean (pass a DataFrame or dict of columns for text)", field=name or "input")
    return TensorSpec(type_name, (-1, *(int(d) for d in array.shape[1:])), name)


def _column_spec(name: str, values: Any) -> ColumnSpec:
    column = to_arrow_column(name, values)
    type_name = dtypes.name_of_arrow(column.type)
    if type_name is None:
        if str(column.type) == "null":
            raise InvalidInputError(f"column {name!r} is empty or all missing in the example; "
                                    "its type cannot be inferred: pass a signature", field=name)
        raise InvalidInputError(f"column {name!r} has type {column.type}, which a signature "
                                "cannot hold", field=name)
    return ColumnSpec(name, type_name, nullable=column.null_count > 0)


def _is_sequence_of_rows(example: Any) -> bool:
    return isinstance(example, list | tuple) and not all(isinstance(r, Mapping) for r in example)


def _is_pandas_series(data: Any) -> bool:
    return type(data).__name__ == "Series" and type(data).__module__.startswith("pandas")
