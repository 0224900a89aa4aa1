"""How a webhook body is signed, and how a receiver checks it (docs/webhooks.md).

The signed message is ``<timestamp>.<body>``: the decimal Unix time in seconds from the
``X-Shipyard-Timestamp`` header, a dot, then the exact body bytes. The signature header is
``sha256=<hex HMAC-SHA256 of that message, keyed with the secret's UTF-8 bytes>``. Signing the
timestamp lets a receiver refuse a captured request replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

EVENT_HEADER = "X-Shipyard-Event"
DELIVERY_HEADER = "X-Shipyard-Delivery"
TIMESTAMP_HEADER = "X-Shipyard-Timestamp"
SIGNATURE_HEADER = "X-Shipyard-Signature"
TOLERANCE_S = 300


def new_secret() -> str:
    return secrets.token_hex(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Shipyard-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, timestamp: str | None, signed: str | None, *,
           tolerance_s: int = TOLERANCE_S, now: float | None = None) -> bool:
    """True if ``signed`` is the signature of ``body`` at ``timestamp`` and that time is within
    ``tolerance_s`` of ``now`` -- what a Python receiver checks before trusting a request."""
    if not timestamp or not signed or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), signed)
