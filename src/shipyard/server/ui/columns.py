"""The runs table's columns and sort order, as plain values (no I/O, no templates).

A column is named as the search grammar names its value (``metrics.f1``, ``params.C``,
``tags.team``, ``attributes.start_time``), so the same string selects it in the chooser, sorts
it (``order_by``) and can be pasted into a filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shipyard.entities import Run

DEFAULT_PER_KIND = 8
"""Params and metrics shown before the user chooses: the first this many keys of each."""

SYSTEM_TAG_PREFIXES = ("shipyard.", "mlflow.")

ATTRIBUTES: tuple[tuple[str, str, bool], ...] = (
    ("attributes.run_name", "Run", True),
    ("attributes.status", "Status", True),
    ("attributes.start_time", "Started (UTC)", True),
    ("attributes.end_time", "Duration", False),
    ("attributes.user", "User", True),
)
"""The fixed columns, always shown: (name, heading, sortable by that attribute)."""

_KINDS = ("params", "metrics", "tags")


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # "metrics.f1"
    kind: str  # "metrics", "params", "tags" or "attributes"
    key: str  # "f1"


def quote_key(key: str) -> str:
    """A key as the grammar reads it: backticks, a backtick inside doubled."""
    return "`" + key.replace("`", "``") + "`"


def sort_clause(column: str, descending: bool) -> str:
    """The ``order_by`` clause sorting by ``column`` (``metrics.f1`` -> ``metrics.`f1` DESC``)."""
    kind, _, key = column.partition(".")
    return f"{kind}.{quote_key(key)} {'DESC' if descending else 'ASC'}"


def parse_column(name: str) -> Column | None:
    kind, dot, key = name.partition(".")
    if not dot or not key or kind not in (*_KINDS, "attributes"):
        return None
    return Column(name, kind, key)


def keys_seen(runs: Iterable[Run]) -> dict[str, list[str]]:
    """Each kind's keys on these runs, sorted; system tags (``shipyard.*``) last."""
    seen: dict[str, set[str]] = {kind: set() for kind in _KINDS}
    for run in runs:
        seen["params"].update(run.data.params)
        seen["metrics"].update(run.data.metrics)
        seen["tags"].update(run.data.tags)
    return {kind: sorted(keys, key=lambda k: (k.startswith(SYSTEM_TAG_PREFIXES), k))
            for kind, keys in seen.items()}


def chosen_columns(seen: dict[str, list[str]], cols: Sequence[str], chose: bool
                   ) -> list[Column]:
    """The value columns to show: those in ``cols`` when the user chose (``chose``), else the
    first :data:`DEFAULT_PER_KIND` metrics and params seen on the page."""
    if chose:
        found = (parse_column(name) for name in dict.fromkeys(cols))
        return [c for c in found if c is not None and c.kind in _KINDS]
    return [Column(f"{kind}.{key}", kind, key) for kind in ("metrics", "params")
            for key in seen[kind][:DEFAULT_PER_KIND]]


def current_sort(order_by: str) -> tuple[str, bool] | None:
    """The column and direction of an ``order_by`` the UI wrote, or None for another text."""
    from shipyard.errors import ShipyardError
    from shipyard.store.tracking.filter import parse_order_by

    if not order_by.strip():
        return None
    try:
        parsed = parse_order_by([order_by])
    except ShipyardError:
        return None
    if len(parsed) != 1:
        return None
    clause = parsed[0]
    kind = {"metric": "metrics", "param": "params", "tag": "tags"}.get(
        clause.entity, "attributes")
    return f"{kind}.{clause.key}", not clause.ascending
