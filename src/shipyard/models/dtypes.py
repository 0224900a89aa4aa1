"""The type names a signature speaks: Arrow's names, one per logical type.

``bool``, ``int8`` .. ``int64``, ``uint8`` .. ``uint64``, ``halffloat``, ``float`` (32 bits),
``double`` (64 bits), ``string``, ``binary``, ``timestamp`` and ``date``. Arrow's variants of one
logical type share a name (``large_string`` is ``string``, every timestamp unit is
``timestamp``) because a model cannot tell them apart.

The safe coercions, applied at ``predict`` and nowhere else:

* an integer becomes any floating type (``int64 -> double``);
* a floating type becomes another floating type (``double -> float``: pandas and CSV readers
  produce doubles for models trained on float32 tensors; the rounding is below what float32 can
  hold anyway);
* an integer becomes another integer type when every value fits (checked on the values).

Nothing else is coerced: not ``bool -> int``, not ``double -> int64``, not ``string -> number``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
FLOATS = frozenset({"halffloat", "float", "double"})
TYPES = INTEGERS | FLOATS | {"bool", "string", "binary", "timestamp", "date"}
"""Every type name a signature may hold."""

TENSOR_TYPES = INTEGERS | FLOATS | {"bool"}
"""The type names a tensor may hold (numeric and boolean only)."""

_NUMPY: dict[str, type[np.generic]] = {
    "bool": np.bool_, "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "halffloat": np.float16, "float": np.float32, "double": np.float64,
}
_FROM_NUMPY = {np.dtype(v).str: k for k, v in _NUMPY.items()}


def check_type_name(name: object, field: str) -> str:
    if not isinstance(name, str) or name not in TYPES:
        raise InvalidInputError(
            f"{field}: unknown type {name!r}; use one of {', '.join(sorted(TYPES))}", field=field)
    return name


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The numpy dtype of a tensor type name."""
    return np.dtype(_NUMPY[name])


def name_of_numpy(dtype: np.dtype[Any]) -> str | None:
    """The type name of a numeric or boolean numpy dtype; None for any other dtype."""
    return _FROM_NUMPY.get(np.dtype(dtype).newbyteorder("=").str)


def name_of_arrow(arrow_type: pa.DataType) -> str | None:
    """The type name of an Arrow type; None for types a signature cannot hold (lists, ...)."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):  # pandas categoricals: judged by their values
        return name_of_arrow(arrow_type.value_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "binary"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    name = str(arrow_type)
    return name if name in TENSOR_TYPES else None


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type a column of type ``name`` is cast to."""
    import pyarrow as pa

    special = {"string": pa.string(), "binary": pa.binary(), "timestamp": pa.timestamp("ns"),
               "date": pa.date32(), "halffloat": pa.float16(), "float": pa.float32(),
               "double": pa.float64(), "bool": pa.bool_()}
    return special.get(name) or pa.type_for_alias(name)


def coercible(actual: str, expected: str) -> bool:
    """Whether a value of type ``actual`` may be given where ``expected`` is declared (see the
    module's rules; integer-to-integer casts are still checked on the values)."""
    if actual == expected:
        return True
    if expected in FLOATS:
        return actual in INTEGERS or actual in FLOATS
    return expected in INTEGERS and actual in INTEGERS


def integer_values_fit(values: np.ndarray[Any, Any], expected: str) -> bool:
    """Whether every value of an integer array fits the integer type ``expected``."""
    if values.size == 0:
        return True
    info = np.iinfo(numpy_dtype(expected))
    return bool(values.min() >= info.min and values.max() <= info.max)
