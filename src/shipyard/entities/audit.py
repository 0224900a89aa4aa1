"""One event of the tamper-evident audit log (see ``services/audit`` and docs/audit.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who did what to which entity, when, with the state before and after and why.

    ``before`` and ``after`` are JSON text exactly as stored and hashed (None: no state, e.g.
    before a create); :meth:`before_value` and :meth:`after_value` parse them. ``mac`` is
    HMAC-SHA256(key, previous event's mac || canonical form of this event), in hex.
    """

    seq: int
    time: int
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: str | None
    after: str | None
    reason: str | None
    mac: str

    def before_value(self) -> Any:
        return None if self.before is None else json.loads(self.before)

    def after_value(self) -> Any:
        return None if self.after is None else json.loads(self.after)
