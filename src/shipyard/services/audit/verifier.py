"""Walking the chain: every link recomputed, in seq order, against the outside checkpoint.

What each break looks like (docs/audit.md has the threat model):

- an edited event: its MAC no longer matches its fields (the next event still links to it);
- a deleted event: a gap in seq (renumbering the rest breaks their MACs instead);
- a cut-off tail: the chain is shorter than the checkpoint says it was;
- a chain rewritten without the key, or verified with the wrong key: the MACs fail from the
  first rewritten event on (the checkpoint's key fingerprint tells a wrong key apart);
- a chain rewritten *with* the key up to the checkpoint: the event at the checkpoint's seq no
  longer carries the checkpoint's MAC.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from shipyard.services.audit import chain, rows
from shipyard.services.audit.checkpoint import Checkpoint

_BATCH = 5_000  # rows per fetch: a server-side cursor on PostgreSQL, never the whole chain


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """``events``: how many events verified before the first break (all of them when ok).
    ``first_bad_seq``: the first event that is missing, altered or unverifiable."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_seq: int | None = None
    head_mac: str | None = None
    checkpoint: Checkpoint | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_bad_seq": self.first_bad_seq,
                "reason": self.reason, "head_seq": self.head_seq, "head_mac": self.head_mac,
                "checkpoint": None if self.checkpoint is None else self.checkpoint.to_dict()}


def verify(engine: Engine, key: bytes, checkpoint: Checkpoint | None) -> VerifyReport:
    """Check every link of the chain in ``engine``'s database with ``key``."""
    if checkpoint is not None and checkpoint.key_id != chain.key_id(key):
        return VerifyReport(
            False, 0, 1, f"the key (id {chain.key_id(key)}) is not the one the chain was "
            f"written with (id {checkpoint.key_id}, per the checkpoint)", checkpoint=checkpoint)
    # Close the cursor before the connection: a break ends the walk early, and PostgreSQL's
    # server-side cursor must not be left for the garbage collector.
    with engine.connect() as conn, closing(
            conn.execution_options(yield_per=_BATCH).execute(rows.select_chain())) as result:
        return _walk(iter(result), key, checkpoint)


def _walk(events: Iterator[Any], key: bytes,
          checkpoint: Checkpoint | None) -> VerifyReport:
    canonical, link = chain.canonical, chain.link  # locals: this loop runs once per event
    checkpoint_seq, checkpoint_mac = (-1, "") if checkpoint is None else (checkpoint.seq,
                                                                          checkpoint.mac)
    previous, count = chain.GENESIS_MAC, 0

    def broken(seq: int, reason: str) -> VerifyReport:
        return VerifyReport(False, count, seq, reason, count or None,
                            None if count == 0 else previous, checkpoint)

    for seq, time, actor, action, entity_type, entity_id, before, after, reason, mac in events:
        expected = count + 1
        if seq != expected:
            return broken(expected, f"event {expected} is missing: after event {count} the "
                                    f"chain goes on at {seq} (deleted)")
        body = canonical(seq, time, actor, action, entity_type, entity_id, before, after,
                         reason)
        if link(key, previous, body) != mac:
            return broken(seq, _diagnose(seq, mac, next(events, None), key))
        if seq == checkpoint_seq and mac != checkpoint_mac:
            return broken(seq, f"event {seq} is not the one the checkpoint recorded: the "
                               "chain was rewritten by someone holding the key, or the "
                               "checkpoint belongs to another database")
        previous, count = mac, seq
    if checkpoint is not None and count < checkpoint.length:
        return broken(count + 1, f"the chain ends at event {count} but the checkpoint "
                                 f"recorded {checkpoint.length} events: events {count + 1}.."
                                 f"{checkpoint.seq} were cut off")
    return VerifyReport(True, count, None, None, count or None,
                        None if count == 0 else previous, checkpoint)


def _diagnose(seq: int, mac: str, following: Any, key: bytes) -> str:
    """Tell an edit of one event from a rewrite: if the next event still links to this
    event's stored MAC, only this event's fields were changed."""
    if following is not None and following[0] == seq + 1:
        if chain.link(key, mac, chain.canonical(*following[:9])) == following[9]:
            return (f"event {seq} was altered after it was written: its fields no longer "
                    "match its MAC")
        return (f"event {seq} and the next do not match their MACs: the chain was rewritten "
                "from here without the key, or the key is not the one it was written with")
    return (f"event {seq} does not match its MAC: it was altered, or the key is not the one "
            "the chain was written with")
