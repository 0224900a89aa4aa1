"""Comparison features of a record pair: Jaro-Winkler similarity of the names and address
lines, exact agreement of the short codes. One function serves training and the registered
model, so the model scores new pairs exactly as it was trained."""

from __future__ import annotations

import numpy as np
import pandas as pd

from er.data import FIELDS

FUZZY = ("given_name", "surname", "address_1", "address_2", "suburb")
EXACT = ("street_number", "postcode", "suburb", "state", "date_of_birth")
FEATURES = tuple([f"{f}_jw" for f in FUZZY] + [f"{f}_eq" for f in EXACT])
PAIR_COLUMNS = tuple(f"{field}_{side}" for field in FIELDS for side in ("a", "b"))
"""The input columns of a pair: each field of record A (``_a``) and of record B (``_b``)."""


def _text(values: pd.Series) -> list[str]:
    cleaned = values.astype("object").where(values.notna(), "").astype(str).str.strip()
    return list(cleaned)


def _jaro_winkler(left: list[str], right: list[str]) -> np.ndarray:
    from rapidfuzz.distance import JaroWinkler

    similarity = JaroWinkler.normalized_similarity
    # A missing value carries no evidence either way: score it as total disagreement (0).
    return np.fromiter((similarity(x, y) if x and y else 0.0 for x, y in zip(left, right,
                                                                                strict=True)),
                       dtype=np.float64, count=len(left))


def pair_features(pairs: pd.DataFrame) -> pd.DataFrame:
    """The ``FEATURES`` of each row of ``pairs`` (columns ``PAIR_COLUMNS``), in [0, 1]."""
    columns: dict[str, np.ndarray] = {}
    for field in FUZZY:
        columns[f"{field}_jw"] = _jaro_winkler(_text(pairs[f"{field}_a"]),
                                               _text(pairs[f"{field}_b"]))
    for field in EXACT:
        left, right = np.array(_text(pairs[f"{field}_a"])), np.array(_text(pairs[f"{field}_b"]))
        columns[f"{field}_eq"] = ((left == right) & (left != "")).astype(np.float64)
    return pd.DataFrame(columns, index=pairs.index)[list(FEATURES)]


def join_records(pairs: pd.DataFrame, a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Candidate pairs with both records' fields side by side and the truth (``match``)."""
    left = a.set_index("rec_id").add_suffix("_a")
    right = b.set_index("rec_id").add_suffix("_b")
    joined = pairs.join(left, on="rec_id_a").join(right, on="rec_id_b")
    joined["match"] = (joined["entity_a"] == joined["entity_b"]).astype("int64")
    return joined[["rec_id_a", "rec_id_b", "entity_a", "entity_b", *PAIR_COLUMNS, "match"]]
