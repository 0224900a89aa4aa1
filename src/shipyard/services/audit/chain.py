"""The chain's arithmetic: the canonical form of an event and the MAC that links it.

    canonical(event) = JSON of every field but ``mac``, keys sorted, separators ``,`` and ``:``,
                       non-ASCII escaped (``\\uXXXX``) — exactly what Python's
                       ``json.dumps(fields, sort_keys=True, separators=(",", ":"))`` prints
    mac_n            = HMAC-SHA256(key, ascii(mac_{n-1}) || canonical(event_n)), in hex
    mac_0            = GENESIS_MAC (64 zeros)

The export bundle's ``verify.py`` recomputes this with the standard library only, so the
format is fixed: change it and every stored chain stops verifying.
"""

from __future__ import annotations

import hmac
from json.encoder import encode_basestring_ascii as _quote  # the C string encoder of json

from shipyard.entities.audit import AuditEvent

GENESIS_MAC = "0" * 64
_KEY_ID_LABEL = b"shipyard-audit-key-id"


def canonical(seq: int, time: int, actor: str, action: str, entity_type: str, entity_id: str,
              before: str | None, after: str | None, reason: str | None) -> bytes:
    """The bytes the MAC covers. Written out field by field (sorted) instead of through
    ``json.dumps`` because verify runs it once per event and this is several times faster; a
    property test holds it equal to ``json.dumps(..., sort_keys=True)``."""
    return (
        f'{{"action":{_quote(action)},"actor":{_quote(actor)},'
        f'"after":{"null" if after is None else _quote(after)},'
        f'"before":{"null" if before is None else _quote(before)},'
        f'"entity_id":{_quote(entity_id)},"entity_type":{_quote(entity_type)},'
        f'"reason":{"null" if reason is None else _quote(reason)},'
        f'"seq":{seq:d},"time":{time:d}}}'
    ).encode("ascii")


def link(key: bytes, previous_mac: str, body: bytes) -> str:
    """The MAC of an event whose canonical form is ``body``, after ``previous_mac``."""
    return hmac.digest(key, previous_mac.encode("ascii") + body, "sha256").hex()


def event_mac(key: bytes, previous_mac: str, event: AuditEvent) -> str:
    return link(key, previous_mac, canonical(
        event.seq, event.time, event.actor, event.action, event.entity_type, event.entity_id,
        event.before, event.after, event.reason))


def key_id(key: bytes) -> str:
    """A short fingerprint naming a key without revealing it: checkpoints record it, so
    verifying with another key is reported as such."""
    return hmac.digest(key, _KEY_ID_LABEL, "sha256").hex()[:16]
