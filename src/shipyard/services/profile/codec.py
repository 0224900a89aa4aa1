"""The JSON form of a table profile (``"format": 1``), and its strict reader.

Profiles are stored with dataset versions and read back by monitoring long after, maybe by a
newer Shipyard, so the reader checks every field and the sums that tie them together, and a
damaged profile fails loudly with the field's path instead of skewing a drift report.
Sketches travel as base64 of their DataSketches bytes. Values derived from the stored ones
(``std``, ``quantiles``, ``distinct``, ``min_text``...) are written for readers without
DataSketches (the web UI) and ignored on reading.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, NoReturn

from shipyard.errors import InvalidInputError
from shipyard.services.profile import sketches
from shipyard.services.profile.categories import Categories
from shipyard.services.profile.model import (
    BooleanStats,
    ColumnProfile,
    Histogram,
    Kind,
    NumericStats,
    StringStats,
    TableProfile,
)
from shipyard.services.profile.moments import Moments

FORMAT = 1
QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95,
             "p99": 0.99}
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def profile_to_dict(profile: TableProfile) -> dict[str, Any]:
    return {"format": FORMAT, "num_rows": profile.num_rows,
            "columns": [_column_to_dict(c) for c in profile.columns]}


def _column_to_dict(column: ColumnProfile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": column.name, "kind": str(column.kind), "dtype": column.dtype,
        "count": column.count, "missing": column.missing, "nan": column.nan, "inf": column.inf,
        "absent": column.absent}
    if column.numeric is not None:
        stats = column.numeric
        values = stats.quantiles(list(QUANTILES.values()))
        out["numeric"] = {
            **_moments_to_dict(stats.moments),
            "quantiles": dict(zip(QUANTILES, map(_num, values), strict=True)) if values else {},
            "histogram": {"edges": [_num(e) for e in stats.histogram.edges],
                          "counts": list(stats.histogram.counts)},
            "kll": _b64(stats.sketch)}
        if column.kind is Kind.TEMPORAL:
            out["min_text"], out["max_text"] = column.min_text, column.max_text
    if column.boolean is not None:
        out["boolean"] = {"true": column.boolean.true, "false": column.boolean.false}
    if column.strings is not None:
        strings = column.strings
        out["string"] = {
            "top": [[value, count] for value, count in strings.categories.counts],
            "other": strings.categories.other, "exact": strings.categories.exact,
            "distinct": strings.distinct, "hll": _b64(strings.distinct_sketch),
            "length": _moments_to_dict(strings.lengths)}
    return out


def _moments_to_dict(m: Moments) -> dict[str, Any]:
    std = m.std
    return {"n": m.n, "mean": _num(m.mean), "m2": _num(m.m2), "sum": _num(m.sum),
            "min": None if m.min is None else _num(m.min),
            "max": None if m.max is None else _num(m.max),
            "std": None if std is None else _num(std)}


def _num(value: float) -> float | str:
    """A float as JSON allows it: NaN and infinities (from overflowing sums) as strings."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def profile_from_dict(data: object) -> TableProfile:
    top = _object(data, "profile")
    if "format" not in top:
        _fail("format", "is missing; this is not a Shipyard table profile")
    if type(top["format"]) is not int or top["format"] != FORMAT:
        _fail("format", f"is {top['format']!r}; this Shipyard reads profile format {FORMAT} "
              "(upgrade Shipyard to read newer profiles)")
    num_rows = _count(top, "num_rows", "")
    raw = _get(top, "columns", "")
    if not isinstance(raw, list):
        _fail("columns", "must be a list of column profiles")
    columns = tuple(_column(item, f"columns[{i}]", num_rows) for i, item in enumerate(raw))
    names = [c.name for c in columns]
    for i, name in enumerate(names):
        if name in names[:i]:
            _fail(f"columns[{i}].name", f"repeats the column name {name!r}")
    return TableProfile(num_rows, columns)


def _column(item: object, path: str, num_rows: int) -> ColumnProfile:
    d = _object(item, path)
    name, dtype = _text(d, "name", path), _text(d, "dtype", path)
    kind_text = _text(d, "kind", path)
    if kind_text not in Kind.__members__.values():
        _fail(f"{path}.kind", f"is {kind_text!r}; expected one of {[str(k) for k in Kind]}")
    kind = Kind(kind_text)
    counts = [_count(d, key, path) for key in ("count", "missing", "nan", "inf", "absent")]
    count, missing, nan, inf, absent = counts
    if count + absent != num_rows:
        _fail(f"{path}.count", f"plus absent must equal num_rows ({num_rows})")
    if missing + nan + inf > count:
        _fail(f"{path}.count", "is less than missing + nan + inf")
    column = ColumnProfile(name, kind, dtype, count, missing, nan, inf, absent)
    if kind in (Kind.NUMERIC, Kind.TEMPORAL):
        stats = _numeric(_object(_get(d, "numeric", path), f"{path}.numeric"), f"{path}.numeric",
                         count - missing - nan - inf)
        return ColumnProfile(name, kind, dtype, count, missing, nan, inf, absent, numeric=stats)
    if kind is Kind.BOOLEAN:
        b = _object(_get(d, "boolean", path), f"{path}.boolean")
        flags = BooleanStats(_count(b, "true", f"{path}.boolean"),
                             _count(b, "false", f"{path}.boolean"))
        if flags.true + flags.false != count - missing:
            _fail(f"{path}.boolean", "true + false does not match count - missing")
        return ColumnProfile(name, kind, dtype, count, missing, nan, inf, absent, boolean=flags)
    if kind is Kind.STRING:
        strings = _strings(_object(_get(d, "string", path), f"{path}.string"), f"{path}.string")
        if strings.categories.total != count - missing:
            _fail(f"{path}.string.other", "top counts + other do not match count - missing")
        return ColumnProfile(name, kind, dtype, count, missing, nan, inf, absent,
                             strings=strings)
    return column


def _numeric(d: dict[str, Any], path: str, values: int) -> NumericStats:
    moments = _moments(d, path)
    if moments.n != values:
        _fail(f"{path}.n", "does not match count - missing - nan - inf")
    sketch = _sketch(d, "kll", path, sketches.load_kll)
    if int(sketches.load_kll(sketch).n) != moments.n:
        _fail(f"{path}.kll", "holds a different number of values than n")
    h = _object(_get(d, "histogram", path), f"{path}.histogram")
    edges, counts = _get(h, "edges", f"{path}.histogram"), _get(h, "counts", f"{path}.histogram")
    if not isinstance(edges, list) or not isinstance(counts, list) or (
            len(counts) != max(len(edges) - 1, 0)):
        _fail(f"{path}.histogram", "needs lists 'edges' and 'counts', one count per bin")
    histogram = Histogram(tuple(_float(e, f"{path}.histogram.edges") for e in edges),
                          tuple(_int(c, f"{path}.histogram.counts") for c in counts))
    return NumericStats(moments, sketch, histogram)


def _strings(d: dict[str, Any], path: str) -> StringStats:
    top = _get(d, "top", path)
    if not isinstance(top, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in top):
        _fail(f"{path}.top", "must be a list of [value, count] pairs")
    pairs = tuple((str(p[0]), _int(p[1], f"{path}.top")) for p in top)
    exact = _get(d, "exact", path)
    if not isinstance(exact, bool):
        _fail(f"{path}.exact", "must be true or false")
    categories = Categories(pairs, _count(d, "other", path), exact)
    lengths = _moments(_object(_get(d, "length", path), f"{path}.length"), f"{path}.length")
    return StringStats(categories, _sketch(d, "hll", path, sketches.load_hll), lengths)


def _moments(d: dict[str, Any], path: str) -> Moments:
    n = _count(d, "n", path)
    low, high = _get(d, "min", path), _get(d, "max", path)
    if (low is None or high is None) != (n == 0):
        _fail(f"{path}.min", "must be null exactly when n is 0")
    return Moments(n, _float(_get(d, "mean", path), f"{path}.mean"),
                   _float(_get(d, "m2", path), f"{path}.m2"),
                   None if low is None else _float(low, f"{path}.min"),
                   None if high is None else _float(high, f"{path}.max"),
                   _float(_get(d, "sum", path), f"{path}.sum"))


def _sketch(d: dict[str, Any], key: str, path: str, load: Any) -> bytes:
    text = _text(d, key, path)
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
        load(data)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        _fail(f"{path}.{key}", f"is not a valid base64 sketch ({exc})")
    return data


def _get(d: dict[str, Any], key: str, path: str) -> Any:
    if key not in d:
        _fail(_join(path, key), "is missing")
    return d[key]


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(path, f"must be a JSON object, not {type(value).__name__}")
    return value


def _text(d: dict[str, Any], key: str, path: str) -> str:
    value = _get(d, key, path)
    if not isinstance(value, str):
        _fail(_join(path, key), "must be a string")
    return value


def _count(d: dict[str, Any], key: str, path: str) -> int:
    value = _int(_get(d, key, path), _join(path, key))
    if value < 0:
        _fail(_join(path, key), "must not be negative")
    return value


def _int(value: object, path: str) -> int:
    if type(value) is not int:
        _fail(path, f"must be an integer, not {value!r}")
    return value


def _float(value: object, path: str) -> float:
    if isinstance(value, str) and value in _SPECIAL:
        return _SPECIAL[value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(path, f"must be a number, not {value!r}")
    return float(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fail(field: str, problem: str) -> NoReturn:
    raise InvalidInputError(f"invalid column profile: {field} {problem}", field=field)
