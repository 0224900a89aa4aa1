"""Registry webhooks: a transactional outbox of signed JSON posts (docs/webhooks.md).

- :func:`enqueue` writes deliveries in the caller's transaction; :func:`transaction` is the
  ``AuditLog.transaction()`` that sends them once it has committed.
- :class:`Dispatcher` sends due deliveries with retries; :func:`start_background_dispatcher`
  runs one in a daemon thread.
- :class:`WebhookService` adds, lists and removes webhooks and reads the delivery log.

The sending side imports httpx, so it is loaded on first use: the registry, which imports this
package on every start, does not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard.services.webhooks.events import ALL_EVENTS, EVENT_TYPES
from shipyard.services.webhooks.outbox import enqueue, enqueue_audit_event, transaction

if TYPE_CHECKING:
    from shipyard.services.webhooks.background import (
        BackgroundDispatcher,
        start_background_dispatcher,
    )
    from shipyard.services.webhooks.dispatcher import Dispatcher
    from shipyard.services.webhooks.service import WebhookService

_LAZY = {"Dispatcher": "dispatcher", "BackgroundDispatcher": "background",
         "start_background_dispatcher": "background", "WebhookService": "service"}

__all__ = ["ALL_EVENTS", "EVENT_TYPES", "BackgroundDispatcher", "Dispatcher", "WebhookService",
           "enqueue", "enqueue_audit_event", "start_background_dispatcher", "transaction"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
