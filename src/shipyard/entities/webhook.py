"""Webhooks: where registry events are posted, and the log of each delivery (docs/webhooks.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at ``next_attempt_time`` (new, retrying, or claimed by a sender)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # every attempt failed; kept for the log, never sent again


@dataclass(frozen=True, slots=True)
class Webhook:
    """A URL that receives ``events`` (``("*",)``: all) of one model (None: every model).

    The signing secret is not part of it: it is shown once, when the webhook is added.
    """

    id: int
    url: str
    events: tuple[str, ...]
    model: str | None
    active: bool
    created_time: int
    created_by: str


@dataclass(frozen=True, slots=True)
class NewWebhook:
    """A webhook just added, with its signing secret (the only time it is returned)."""

    webhook: Webhook
    secret: str


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event for one webhook: the exact body sent and how its attempts went."""

    id: str
    webhook_id: int
    event_type: str
    payload: str  # the JSON body, byte for byte as it is signed and sent
    status: DeliveryStatus
    attempts: int
    next_attempt_time: int
    last_status_code: int | None
    last_error: str | None
    created_time: int
    delivered_time: int | None

    def body(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one delivery attempt did; ``status`` is the delivery's status after it."""

    delivery_id: str
    webhook_id: int
    event_type: str
    url: str
    status: DeliveryStatus
    attempts: int
    status_code: int | None
    error: str | None
