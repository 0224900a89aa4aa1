"""Capture what a step prints, per step, while steps run in parallel threads.

``sys.stdout``/``sys.stderr`` are process-wide, so during a pipeline run they are wrapped by a
tee that also copies each write into the buffer of the step running in the writing thread's
context (a ContextVar). Writes from anywhere else pass through untouched. Output of a step
that runs in its own process (``timeout=``) and of ``logging`` handlers made before the run
(they hold the original stream) is not captured.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

_buffer: ContextVar[io.StringIO | None] = ContextVar("shipyard_step_log", default=None)
_lock = threading.Lock()
_users = 0
_saved: tuple[TextIO, TextIO] | None = None


class _Tee:
    def __init__(self, target: TextIO) -> None:
        self._target = target

    def write(self, text: str) -> int:
        buffer = _buffer.get()
        if buffer is not None:
            buffer.write(text)
        return self._target.write(text)

    def flush(self) -> None:
        self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


@contextmanager
def tee_installed() -> Iterator[None]:
    """Wrap stdout and stderr for the duration (nested pipeline runs share one wrapping)."""
    global _users, _saved  # noqa: PLW0603 - the process streams are global by nature
    with _lock:
        if _users == 0:
            _saved = (sys.stdout, sys.stderr)
            sys.stdout = _Tee(sys.stdout)
            sys.stderr = _Tee(sys.stderr)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                sys.stdout, sys.stderr = _saved
                _saved = None


@contextmanager
def captured() -> Iterator[io.StringIO]:
    """Collect what this context prints while the tee is installed."""
    buffer = io.StringIO()
    token = _buffer.set(buffer)
    try:
        yield buffer
    finally:
        _buffer.reset(token)
