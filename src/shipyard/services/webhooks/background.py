"""A daemon thread that drains the outbox: every ``interval`` seconds, and at once when a
registry change in this process commits deliveries (:func:`wake`), so ``shipyard server``
answers without waiting on receivers."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from shipyard.errors import InvalidInputError
from shipyard.services.webhooks.dispatcher import Dispatcher

_log = logging.getLogger("shipyard.webhooks")
_lock = threading.Lock()
_running: dict[str, BackgroundDispatcher] = {}  # one per database per process


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


class BackgroundDispatcher:
    def __init__(self, engine: Engine, interval: float, batch: int) -> None:
        self.engine = engine
        self.interval = interval
        self.batch = batch
        self._dispatcher = Dispatcher(engine)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="shipyard-webhooks",
                                        daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the attempt in flight (if any); pending deliveries stay queued."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        with _lock:
            if _running.get(_key(self.engine)) is self:
                del _running[_key(self.engine)]

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before sending: a wake during the batch is not lost
            try:
                while not self._stop.is_set() and \
                        len(self._dispatcher.deliver_due(self.batch)) == self.batch:
                    pass  # a full batch: more may be due
            except Exception:  # a database hiccup must not end the thread
                _log.exception("webhook dispatcher: sending failed; retrying in %ss",
                               self.interval)
            self._wake.wait(self.interval)


def start_background_dispatcher(engine: Engine, interval: float = 5.0, *,
                                batch: int = 100) -> BackgroundDispatcher:
    """Start (or return the already running) dispatcher thread of ``engine``'s database."""
    if interval <= 0 or batch < 1:
        raise InvalidInputError("the dispatcher needs a positive interval and batch",
                                field="interval")
    with _lock:
        running = _running.get(_key(engine))
        if running is not None and running.alive:
            return running
        started = _running[_key(engine)] = BackgroundDispatcher(engine, interval, batch)
        started._thread.start()
        return started


def wake(engine: Engine) -> bool:
    """Wake this process's dispatcher of ``engine``'s database; False if none runs."""
    with _lock:
        running = _running.get(_key(engine))
    if running is None or not running.alive:
        return False
    running.wake()
    return True
