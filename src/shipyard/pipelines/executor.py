"""Executors run step tasks. The interface is three methods so a Dask or Ray adapter is a
small class: ``submit`` a no-argument callable, ``gather`` finished results, ``cancel`` the rest.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol


class Executor(Protocol):
    def submit(self, task: Callable[[], Any]) -> Future[Any]:
        """Start ``task``; its future completes with its return value or exception."""
        ...

    def gather(self, futures: Iterable[Future[Any]]) -> set[Future[Any]]:
        """Block until at least one of ``futures`` is done; return the done ones."""
        ...

    def cancel(self) -> None:
        """Cancel tasks not started yet and release workers."""
        ...


class LocalExecutor:
    """Independent steps in parallel on a thread pool of ``max_workers`` threads."""

    def __init__(self, max_workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers,
                                        thread_name_prefix="shipyard-step")

    def submit(self, task: Callable[[], Any]) -> Future[Any]:
        # Why copy_context: the active run lives in a ContextVar, and pool threads do not
        # inherit the submitting thread's context; the step's run must nest under the
        # pipeline run.
        context = contextvars.copy_context()
        return self._pool.submit(context.run, task)

    def gather(self, futures: Iterable[Future[Any]]) -> set[Future[Any]]:
        done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
        return done

    def cancel(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
