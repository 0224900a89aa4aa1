"""Check data against an input schema before a model sees it, and bring it to that schema.

Columns: every declared column must be present, of its type or safely coercible to it
(:mod:`shipyard.models.dtypes`), and free of missing values unless declared nullable. Columns
the schema does not declare are **allowed and dropped**: requests and inference logs often
carry ids and timestamps beside the features, and a model must not see them (nor their order).
The model gets the declared columns in the declared order.

Tensors: the type must match or coerce safely, the number of dimensions must match, and every
fixed dimension must match. A table (DataFrame, pyarrow Table) is accepted for a single 2-D
tensor and read as its columns, in order, so a CSV file can feed an array model.

Every error is an :class:`~shipyard.errors.InvalidInputError` that names the column (or tensor),
the expected type and the type it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.models import dtypes
from shipyard.models.batch import ColumnBatch, columns_of, iter_columns, to_arrow_column
from shipyard.models.batch import to_column_batch as _batch
from shipyard.models.signature import ColumnSpec, Schema, Signature, TensorSpec, as_array

Prepared = ColumnBatch | np.ndarray | dict[str, np.ndarray]
"""What a flavor's predictor receives when the package has a signature."""


def check_input(signature: Signature | Schema, data: Any) -> Prepared:
    """``data`` checked against the input schema and coerced to it (see the module's rules)."""
    schema = signature.inputs if isinstance(signature, Signature) else signature
    if schema.columns:
        return _check_columns(schema.columns, data)
    if len(schema.tensors) == 1 and schema.tensors[0].name is None:
        return _check_tensor(schema.tensors[0], _single_array(schema.tensors[0], data))
    if not isinstance(data, Mapping):
        names = [t.name for t in schema.tensors]
        raise InvalidInputError(f"expected a dict of tensors {names}, got {type(data).__name__}",
                                field="data")
    checked: dict[str, np.ndarray] = {}
    for spec in schema.tensors:
        assert spec.name is not None  # Schema: several tensors are all named
        if spec.name not in data:
            raise InvalidInputError(
                f"input is missing tensor {spec.name!r} (expected {_describe(spec)})",
                field=spec.name)
        checked[spec.name] = _check_tensor(spec, as_array(data[spec.name], spec.name))
    return checked


def _check_columns(specs: tuple[ColumnSpec, ...], data: Any) -> ColumnBatch:
    given = columns_of(data)
    checked = {}
    for spec in specs:
        if spec.name not in given:
            raise InvalidInputError(
                f"input is missing column {spec.name!r} (expected {spec.type}"
                f"{', nullable' if spec.nullable else ''}); it has "
                f"{sorted(given) or 'no columns'}", field=spec.name)
        checked[spec.name] = _check_column(spec, to_arrow_column(spec.name, given[spec.name]))
    return _batch(checked)


def _check_column(spec: ColumnSpec, column: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    actual = dtypes.name_of_arrow(column.type)
    if str(column.type) == "null":  # all missing: any type, a nullable question only
        actual = spec.type
        column = pa.nulls(len(column), dtypes.arrow_type(spec.type))
    if actual is None or not dtypes.coercible(actual, spec.type):
        raise InvalidInputError(
            f"column {spec.name!r} must be {spec.type}, got {actual or column.type}"
            f"{_hint(actual, spec.type)}", field=spec.name)
    if column.null_count and not spec.nullable:
        raise InvalidInputError(
            f"column {spec.name!r} has {column.null_count} missing value(s) but its signature "
            "says it is not nullable (declare it nullable: true to allow them)", field=spec.name)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if actual == spec.type:
        return column
    try:
        return pc.cast(column, dtypes.arrow_type(spec.type), safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInputError(
            f"column {spec.name!r} must be {spec.type}; its {actual} values do not fit: {exc}",
            field=spec.name) from None


def _single_array(spec: TensorSpec, data: Any) -> np.ndarray[Any, Any]:
    if isinstance(data, Mapping):
        raise InvalidInputError(
            f"expected one array ({_describe(spec)}), got a dict with keys {sorted(data)}",
            field=spec.label)
    found = None if isinstance(data, list | tuple) else iter_columns(data)
    if found is not None:  # a table for a 2-D tensor: its columns, in order
        return _batch({name: to_arrow_column(name, v) for name, v in found}).to_matrix()
    return as_array(data, spec.label)


def _check_tensor(spec: TensorSpec, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    actual = dtypes.name_of_numpy(array.dtype)
    if actual is None or not dtypes.coercible(actual, spec.type):
        raise InvalidInputError(
            f"tensor {spec.label!r} must be {spec.type}, got {actual or array.dtype}"
            f"{_hint(actual, spec.type)}", field=spec.label)
    if array.ndim != len(spec.shape):
        raise InvalidInputError(
            f"tensor {spec.label!r} must have {len(spec.shape)} dimension(s) "
            f"(shape {_shape(spec.shape)}), got shape {_shape(array.shape)}", field=spec.label)
    for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
        if want not in (-1, got):
            raise InvalidInputError(
                f"tensor {spec.label!r} must have shape {_shape(spec.shape)}, got "
                f"{_shape(array.shape)} (dimension {axis} is {got}, expected {want})",
                field=spec.label)
    if actual == spec.type:
        return array
    if actual in dtypes.INTEGERS and spec.type in dtypes.INTEGERS \
            and not dtypes.integer_values_fit(array, spec.type):
        raise InvalidInputError(
            f"tensor {spec.label!r} must be {spec.type}; its {actual} values do not fit",
            field=spec.label)
    return array.astype(dtypes.numpy_dtype(spec.type))


def _describe(spec: TensorSpec) -> str:
    return f"{spec.type} with shape {_shape(spec.shape)}"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _hint(actual: str | None, expected: str) -> str:
    if actual in dtypes.FLOATS and expected in dtypes.INTEGERS:
        return " (floats are not rounded to integers: cast the column if that is intended)"
    if actual == "string" and expected != "string":
        return " (text is not parsed into numbers: convert the column first)"
    return ""
