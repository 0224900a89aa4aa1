"""Counts of the most frequent values of a column, plus one count for all the others.

A profile keeps exact counts of the ``TOP_CATEGORIES`` most frequent values and lumps the rest
into ``other``, so its size stays bounded however many distinct values a column has. Merging
adds counts value by value and truncates again; that is exact while every side lists all its
values (``other == 0``) and approximate otherwise: a value below one side's cut is hidden in
that side's ``other``. ``exact`` says which case a merged result is in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

TOP_CATEGORIES = 100


@dataclass(frozen=True)
class Categories:
    """``counts``: (value, count) pairs, most frequent first, ties by value."""

    counts: tuple[tuple[str, int], ...] = ()
    other: int = 0
    exact: bool = True

    @property
    def total(self) -> int:
        """Number of values counted, listed or not."""
        return sum(c for _, c in self.counts) + self.other

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)

    def merge(self, other: Categories) -> Categories:
        """Counts of both together, cut to the top values again (see the module note)."""
        mine, theirs = self.as_dict(), other.as_dict()
        total: Counter[str] = Counter(mine)
        total.update(theirs)
        ranked = _rank(total.items())
        kept = ranked[:TOP_CATEGORIES]
        dropped = sum(c for _, c in ranked[TOP_CATEGORIES:])
        exact = self.exact and other.exact and all(
            _known_on(self, mine, value) and _known_on(other, theirs, value)
            for value, _ in kept)
        return Categories(tuple(kept), self.other + other.other + dropped, exact)


def top_categories(values: list[str], counts: npt.NDArray[np.int64]) -> Categories:
    """The most frequent values from distinct ``values`` and their ``counts``.

    Picks the cut with numpy so a column of a million distinct values costs one partition,
    not a sort of Python objects; ties at the cut keep the values seen first.
    """
    if len(values) <= TOP_CATEGORIES:
        chosen = range(len(values))
    else:
        threshold = np.partition(counts, counts.size - TOP_CATEGORIES)[-TOP_CATEGORIES]
        above = np.flatnonzero(counts > threshold)
        tied = np.flatnonzero(counts == threshold)[: TOP_CATEGORIES - above.size]
        chosen = np.concatenate([above, tied]).tolist()
    kept = _rank((values[i], int(counts[i])) for i in chosen)
    return Categories(tuple(kept), int(counts.sum()) - sum(c for _, c in kept), True)


def _rank(pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(pairs, key=lambda vc: (-vc[1], vc[0]))


def _known_on(side: Categories, listed: dict[str, int], value: str) -> bool:
    """Whether ``side``'s count of ``value`` is known: listed, or nothing else unlisted."""
    return side.other == 0 or value in listed
