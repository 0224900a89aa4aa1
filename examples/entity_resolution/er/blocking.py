"""Blocking: compare only record pairs that agree on at least one cheap key.

A single key misses the true links whose key field was corrupted, so the candidate set is the
union of four blocks. On FEBRL 4 it keeps about 38,000 of the 25 million possible pairs and
loses fewer than 1 in 500 true links (the pair completeness).
"""

from __future__ import annotations

import pandas as pd

BLOCKING_KEYS = ("name_key", "date_of_birth", "postcode", "address_1")


def _with_keys(records: pd.DataFrame) -> pd.DataFrame:
    letters = {c: records[c].fillna("").str.replace(r"[^a-z]", "", regex=True)
               for c in ("given_name", "surname")}
    # The first three letters of each name survive most typos, which hit later letters more.
    name_key = letters["given_name"].str[:3] + letters["surname"].str[:3]
    # A key of two or three letters (names missing) would pair a record with hundreds.
    keyed = records.assign(name_key=name_key.where(name_key.str.len() >= 4))
    return keyed.set_index("rec_id")


def candidate_pairs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """``rec_id_a``, ``rec_id_b`` of every pair that shares a blocking key."""
    import recordlinkage

    indexer = recordlinkage.Index()
    for key in BLOCKING_KEYS:
        indexer.block(key)  # records with a missing key join no pair through that key
    pairs = indexer.index(_with_keys(a), _with_keys(b))
    return pd.DataFrame({"rec_id_a": pairs.get_level_values(0).astype(str),
                         "rec_id_b": pairs.get_level_values(1).astype(str)})


def blocking_quality(a: pd.DataFrame, b: pd.DataFrame, pairs: pd.DataFrame) -> dict[str, float]:
    """Pair completeness (true links kept / true links) and reduction ratio (pairs not
    compared / all pairs)."""
    entity_a = pairs["rec_id_a"].map(a.set_index("rec_id")["entity"])
    entity_b = pairs["rec_id_b"].map(b.set_index("rec_id")["entity"])
    true_links = len(set(a["entity"]) & set(b["entity"]))
    found = int((entity_a.to_numpy() == entity_b.to_numpy()).sum())
    return {"candidate_pairs": float(len(pairs)), "true_links": float(true_links),
            "pair_completeness": found / true_links if true_links else float("nan"),
            "reduction_ratio": 1.0 - len(pairs) / (len(a) * len(b))}
