"""Client-side batching of metric points.

``log_metric`` only appends to a list; a daemon thread writes the points in batches every
``SHIPYARD_METRIC_FLUSH_INTERVAL`` seconds (or sooner once ``SHIPYARD_METRIC_BUFFER_SIZE`` points
wait). Runs flush when they end, and every buffer flushes at interpreter exit, so no point is
lost when a process ends normally or through an exception.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import defaultdict

from shipyard import settings
from shipyard.entities import Metric
from shipyard.entities import limits as lim
from shipyard.errors import BackendError, ShipyardError
from shipyard.store.tracking.protocol import TrackingStore

log = logging.getLogger("shipyard.metrics")

Point = tuple[str, str, float, int, int]  # run_id, key, value, step, timestamp

_buffers: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()
_exit_hook_installed = False


def _flush_all_at_exit() -> None:
    for buffer in list(_buffers):
        try:
            buffer.flush()
        except ShipyardError as exc:
            log.error("metric points could not be saved at exit: %s", exc)
        buffer.close()


class MetricBuffer:
    def __init__(self, store: TrackingStore) -> None:
        global _exit_hook_installed  # noqa: PLW0603 - one exit hook per process
        self._store = store
        self._interval = settings.METRIC_FLUSH_INTERVAL.get()
        self._max_points = settings.METRIC_BUFFER_SIZE.get()
        self._points: list[Point] = []
        self._lock = threading.Lock()  # guards _points
        self._flush_lock = threading.Lock()  # one flush at a time, in order
        self._wake = threading.Event()
        self._closed = False
        self._error: ShipyardError | None = None
        self._thread: threading.Thread | None = None
        _buffers.add(self)
        if not _exit_hook_installed:
            atexit.register(_flush_all_at_exit)
            _exit_hook_installed = True

    def add(self, point: Point) -> None:
        with self._lock:
            self._points.append(point)
            size = len(self._points)
        if self._thread is None:
            self._start()
        if size >= self._max_points:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="shipyard-metric-flush", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._write_pending()
            except ShipyardError as exc:
                log.warning("metric flush failed, will report it at the next flush: %s", exc)

    def flush(self) -> None:
        """Write every pending point now; raise the first error a flush met since the last."""
        self._write_pending()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _write_pending(self) -> None:
        with self._flush_lock:
            with self._lock:
                points, self._points = self._points, []
            if not points:
                return
            by_run: dict[str, list[Metric]] = defaultdict(list)
            for run_id, key, value, step, timestamp in points:
                by_run[run_id].append(Metric(key, value, step, timestamp))
            for run_id, metrics in by_run.items():
                self._write_run(run_id, metrics)

    def _write_run(self, run_id: str, metrics: list[Metric]) -> None:
        for start in range(0, len(metrics), lim.MAX_BATCH_METRICS):
            chunk = metrics[start : start + lim.MAX_BATCH_METRICS]
            try:
                self._store.log_batch(run_id, metrics=chunk)
            except BackendError as exc:
                # The database may come back: keep the points for the next flush.
                with self._lock:
                    self._points[:0] = [(run_id, m.key, m.value, m.step, m.timestamp)
                                        for m in metrics[start:]]
                self._error = exc
                return
            except ShipyardError as exc:
                self._error = exc
                return

    def close(self) -> None:
        self._closed = True
        self._wake.set()
