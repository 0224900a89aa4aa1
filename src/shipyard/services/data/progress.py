"""How long dataset work reports progress: the CLI shows it as rich progress bars."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, description: str, total: int) -> None:
        """A new step begins; ``total`` is in bytes (0 when unknown)."""

    def advance(self, amount: int) -> None:
        """``amount`` more bytes of the current step are done (called from worker threads)."""


class NoProgress:
    def phase(self, description: str, total: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass
