"""Rich progress bars on stderr for dataset work (hashing, storing, downloading bytes)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ByteProgress:
    """One bar per phase; safe to advance from worker threads. Silent when stderr is not a
    terminal, so scripts and pipes get clean output."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from shipyard.cli.output import stderr_console

        console = stderr_console()
        self._progress: Progress = Progress(
            TextColumn("{task.description:<12}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), console=console,
            transient=True, disable=not console.is_terminal,
        )
        self._task: TaskID | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> ByteProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._progress.stop()

    def start(self, description: str, total: float | None = None) -> None:
        with self._lock:
            if self._task is not None:
                self._progress.update(self._task, visible=False)
            self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: float = 1) -> None:
        with self._lock:
            if self._task is not None:
                self._progress.advance(self._task, amount)
