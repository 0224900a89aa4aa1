"""The second half of the governed path: the author may not approve their own version (four
eyes), a reviewer does, and only an approved version may take the protected alias."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import shipyard as sy
from er.pipeline import MODEL


@contextmanager
def acting_as(user: str) -> Iterator[None]:
    """Registry writes in this block are made by ``user`` (``SHIPYARD_USER``)."""
    before = os.environ.get("SHIPYARD_USER")
    os.environ["SHIPYARD_USER"] = user
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SHIPYARD_USER", None)
        else:
            os.environ["SHIPYARD_USER"] = before


def review_and_promote(version: int, *, author: str, reviewer: str) -> str:
    """Approve ``version`` as ``reviewer`` after ``author``'s own attempt is refused, then
    point ``production`` at it; returns the refusal message."""
    refusal = ""
    with acting_as(author):
        try:
            sy.registry.approve(MODEL, version)
        except sy.ShipyardError as refused:
            refusal = refused.message
    if not refusal:
        raise RuntimeError(f"{author} approved their own version {version}: four eyes is off")
    with acting_as(reviewer):
        sy.registry.approve(MODEL, version, comment="evaluation report reviewed")
        sy.registry.set_alias(MODEL, "production", version, reason="best matcher of er-training")
    return refusal
