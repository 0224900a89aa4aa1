"""How long jobs report progress without knowing who shows it (the CLI draws rich bars).

A job reports one step at a time: :meth:`Progress.start` names a step and its total (``None``
when unknown), :meth:`Progress.advance` moves it on. Starting a step ends the one before.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, description: str, total: float | None = None) -> None: ...

    def advance(self, amount: float = 1) -> None: ...


class NoProgress:
    """Reports nowhere: the default for library callers and tests."""

    def start(self, description: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float = 1) -> None:
        return None


NO_PROGRESS: Progress = NoProgress()
