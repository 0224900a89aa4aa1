"""The SDK side of schedules and triggers: ``sy.pipelines.trigger(name, params, reason)``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from shipyard.artifacts.content import ContentStore
from shipyard.errors import InvalidStateError
from shipyard.pipelines.queue import QueuedRun


def store_engine() -> Engine:
    """The metadata engine of the current store (schedules need the database itself)."""
    from shipyard.sdk.fluent import client

    engine = getattr(client().store, "engine", None)
    if not isinstance(engine, Engine):
        raise InvalidStateError(
            "schedules and the run queue live in the metadata database; the tracking URI names "
            "a server, so set SHIPYARD_TRACKING_URI to its database URL", field="tracking_uri")
    return engine


def store_content() -> ContentStore:
    from shipyard.sdk.fluent import client

    content = getattr(client().store, "content", None)
    if not isinstance(content, ContentStore):
        raise InvalidStateError("code packages need the artifact store; set "
                                "SHIPYARD_ARTIFACTS_URI", field="artifacts_uri")
    return content


def trigger(name: str, params: dict[str, Any] | None = None, reason: str = "") -> QueuedRun:
    """Queue a run of schedule ``name`` now, recording ``reason`` (e.g. a monitor's alert)."""
    from shipyard.pipelines import queue

    return queue.trigger(store_engine(), name, params, reason)
