"""Opening the tracking store a URI names, once per process and URI pair."""

from __future__ import annotations

import threading

from shipyard import settings
from shipyard.store.tracking.protocol import TrackingStore

_lock = threading.Lock()
_open: dict[tuple[str, str], TrackingStore] = {}


def open_tracking_store(
    tracking_uri: str | None = None, artifacts_uri: str | None = None
) -> TrackingStore:
    """The store for these URIs (settings when ``None``); engines are reused within a process."""
    tracking = tracking_uri or settings.tracking_uri()
    artifacts = artifacts_uri or settings.artifacts_uri()
    key = (tracking, artifacts)
    with _lock:
        store = _open.get(key)
        if store is None:
            store = _open[key] = _create(tracking, artifacts)
        return store


def _create(tracking_uri: str, artifacts_uri: str) -> TrackingStore:
    if tracking_uri.startswith(("http://", "https://")):
        # A server holds its own artifact store and proxies the bytes: artifacts_uri is unused.
        from shipyard.store.rest.client import RestTrackingStore

        return RestTrackingStore(tracking_uri)
    from shipyard.artifacts import open_content_store
    from shipyard.store.db import create_db_engine
    from shipyard.store.tracking.sql import SqlTrackingStore

    return SqlTrackingStore(create_db_engine(tracking_uri), open_content_store(artifacts_uri))


def forget_open_stores() -> None:
    """Drop cached stores (tests that switch SHIPYARD_HOME, processes after fork)."""
    with _lock:
        for store in _open.values():
            engine = getattr(store, "engine", None)
            if engine is not None:
                engine.dispose()
            close = getattr(store, "close", None)  # a REST store's connection pool
            if close is not None:
                close()
        _open.clear()
