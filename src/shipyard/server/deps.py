"""How endpoints reach the tracking store: a slot that opens it once, off the start-up path.

Opening a store imports SQLAlchemy and checks the schema (and may migrate it), which takes
longer than the server needs to start answering ``/health``. So
:func:`~shipyard.server.app.create_app_from_uris` fills the slot in a background thread while
uvicorn starts, and the first request that needs the store waits for it. A store that fails to
open (a database not up yet, a path that cannot be made) answers 503 ``BACKEND_ERROR`` with the
reason, and is tried again by the next request rather than left broken.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from shipyard.errors import BackendError, ShipyardError
from shipyard.store.tracking.protocol import TrackingStore

log = logging.getLogger("shipyard.server")


class StoreSlot:
    """The app's one tracking store, given ready or opened on first use."""

    def __init__(self, opener: Callable[[], TrackingStore]) -> None:
        self._opener = opener
        self._store: TrackingStore | None = None
        self._lock = threading.Lock()

    @classmethod
    def ready(cls, store: TrackingStore) -> StoreSlot:
        slot = cls(lambda: store)
        slot._store = store
        return slot

    def get(self) -> TrackingStore:
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                try:
                    self._store = self._opener()
                except Exception as exc:  # the server's configuration, not the client's fault
                    reason = exc.message if isinstance(exc, ShipyardError) else (
                        f"{type(exc).__name__}: {exc}")
                    raise BackendError("the server's tracking store could not be opened: "
                                       f"{reason}") from exc
            return self._store

    def open_in_background(self) -> None:
        """Start opening the store now, so the first real request finds it ready."""
        if self._store is not None:
            return
        threading.Thread(target=self._warm_up, name="shipyard-open-store", daemon=True).start()

    def _warm_up(self) -> None:
        try:
            self.get()
        except BackendError as error:  # each request tries again and reports it
            cause = error.__cause__
            log.error("%s", error.message,
                      exc_info=None if isinstance(cause, ShipyardError) else cause)


def get_store(request: Request) -> TrackingStore:
    """The FastAPI dependency every store endpoint uses."""
    slot: StoreSlot = request.app.state.store_slot
    return slot.get()


Store = Annotated[TrackingStore, Depends(get_store)]
