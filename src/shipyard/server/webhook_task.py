"""The server's webhook dispatcher: started once the store is open, stopped at shutdown.

While it runs, registry changes made in this process hand their deliveries to it instead of
posting them inline (``services.webhooks.outbox.after_commit``), so no request waits on a
receiver; retries and deliveries left by other processes are sent on its interval too.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from shipyard.services.webhooks import BackgroundDispatcher

log = logging.getLogger("shipyard.server")


class WebhookTask:
    def __init__(self) -> None:
        self._running: BackgroundDispatcher | None = None
        self._stopped = False
        self._lock = threading.Lock()

    def start(self, engine: Engine) -> None:
        """Start the dispatcher of ``engine``'s database (called in the thread that opened the
        store). Never raises: webhooks stay queued in the outbox if it cannot start."""
        from shipyard.services.webhooks import start_background_dispatcher

        with self._lock:
            if self._stopped or self._running is not None:
                return
            try:
                self._running = start_background_dispatcher(engine)
            except Exception:
                log.exception("the webhook dispatcher did not start; deliveries stay queued "
                              "for `shipyard webhooks deliver`")

    def stop(self) -> None:
        """Stop after the attempt in flight; what is still due stays queued."""
        with self._lock:
            self._stopped = True
            running, self._running = self._running, None
        if running is not None:
            running.stop()
