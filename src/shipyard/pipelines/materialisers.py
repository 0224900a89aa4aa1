"""Type-based materialisers: how a step output becomes bytes in the content-addressed store.

The registry is a plain ordered list, searched first to last; :func:`register_materialiser`
puts a new one in front, so a plug-in never patches a private table. A materialiser stores a
value and returns its digest; ``kind`` is recorded beside the digest so loading picks the same
materialiser back.
"""

from __future__ import annotations

import io
import json
from typing import Any, Protocol, runtime_checkable

from shipyard.artifacts.content import ContentStore
from shipyard.errors import InvalidInputError
from shipyard.pipelines.domain_materialisers import DatasetVersionRef, ModelPackage


@runtime_checkable
class Materialiser(Protocol):
    kind: str  # stable name recorded with each stored output, e.g. "pandas.parquet"

    def handles(self, tp: type) -> bool:
        """Whether values of class ``tp`` (an output's annotation or value type) fit."""
        ...

    def save(self, value: Any, store: ContentStore) -> str:
        """Store ``value``; return the BLAKE3 digest of the stored bytes."""
        ...

    def load(self, digest: str, store: ContentStore) -> Any:
        ...


def _is_subclass(tp: type, module: str, name: str) -> bool:
    # Why by name: checking a DataFrame must not import pandas for pipelines that use none.
    return any(c.__module__.split(".")[0] == module and c.__name__ == name
               for c in getattr(tp, "__mro__", ()))


class PandasParquet:
    kind = "pandas.parquet"

    def handles(self, tp: type) -> bool:
        return _is_subclass(tp, "pandas", "DataFrame")

    def save(self, value: Any, store: ContentStore) -> str:
        buffer = io.BytesIO()
        value.to_parquet(buffer)
        return store.put_bytes(buffer.getvalue()).digest

    def load(self, digest: str, store: ContentStore) -> Any:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(store.read_bytes(digest)))


class ArrowParquet:
    kind = "arrow.parquet"

    def handles(self, tp: type) -> bool:
        return _is_subclass(tp, "pyarrow", "Table")

    def save(self, value: Any, store: ContentStore) -> str:
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(value, buffer)
        return store.put_bytes(buffer.getvalue()).digest

    def load(self, digest: str, store: ContentStore) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(store.read_bytes(digest)))


class NumpyArray:
    kind = "numpy.npy"

    def handles(self, tp: type) -> bool:
        return _is_subclass(tp, "numpy", "ndarray")

    def save(self, value: Any, store: ContentStore) -> str:
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)  # object arrays refused: no pickle
        return store.put_bytes(buffer.getvalue()).digest

    def load(self, digest: str, store: ContentStore) -> Any:
        import numpy as np

        return np.load(io.BytesIO(store.read_bytes(digest)), allow_pickle=False)


_JSON_TYPES = (dict, list, tuple, str, int, float, bool, type(None))


class JsonValue:
    kind = "json"

    def handles(self, tp: type) -> bool:
        return isinstance(tp, type) and issubclass(tp, _JSON_TYPES)

    def save(self, value: Any, store: ContentStore) -> str:
        try:
            text = json.dumps(value, sort_keys=True, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"the value is not JSON-able: {exc}") from exc
        return store.put_bytes(text.encode()).digest

    def load(self, digest: str, store: ContentStore) -> Any:
        return json.loads(store.read_bytes(digest))


MATERIALISERS: list[Materialiser] = [
    PandasParquet(), ArrowParquet(), NumpyArray(), ModelPackage(), DatasetVersionRef(),
    JsonValue(),
]


def register_materialiser(materialiser: Materialiser) -> None:
    """Add ``materialiser`` in front of the built-in ones (a later registration wins)."""
    if not isinstance(materialiser, Materialiser):
        raise InvalidInputError("a materialiser needs kind, handles(), save() and load()")
    MATERIALISERS.insert(0, materialiser)


def find_materialiser(tp: Any) -> Materialiser | None:
    """The first materialiser for annotation or class ``tp`` (``dict[str, int]`` -> dict)."""
    import typing

    origin = typing.get_origin(tp) or tp
    if not isinstance(origin, type):
        members = typing.get_args(tp)  # a union: every member must be storable
        found = [find_materialiser(m) for m in members if m is not type(None)]
        return found[0] if found and all(found) else None
    return next((m for m in MATERIALISERS if m.handles(origin)), None)


def by_kind(kind: str) -> Materialiser:
    for materialiser in MATERIALISERS:
        if materialiser.kind == kind:
            return materialiser
    raise InvalidInputError(f"no materialiser of kind {kind!r} is registered: register the "
                            "plug-in that stored this output", field="kind")
