"""When the REST client tries a call again, and how long it waits first.

A call is retried only when doing it twice cannot change the outcome:

- **Idempotent calls** (reads, searches, update/delete/restore, setting a tag, artifact upload
  by PUT and download) are retried after a transport failure (connection refused or reset, a
  timeout, a broken response) and after a ``429``, ``502``, ``503`` or ``504`` answer.
- **Non-idempotent calls** (creating an experiment or a run, logging a batch: a second try
  could create a duplicate or log every point twice) are retried only when the connection
  could not be opened at all, since then nothing reached the server. Any later failure is
  reported as a :class:`~shipyard.errors.BackendError` that names the URL and the attempts
  and says the outcome is unknown.

Waits grow exponentially from ``SHIPYARD_HTTP_BACKOFF`` (doubling, capped at 30 s) with full
jitter, so many clients that lost one server do not come back in lockstep; a ``Retry-After``
header in seconds is honoured (within the cap).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from shipyard import settings

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF = 30.0

# Failures raised before a request was written: retrying them cannot duplicate anything.
_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait; ``retries=0`` never retries."""

    retries: int
    backoff: float
    max_backoff: float = MAX_BACKOFF

    @classmethod
    def from_settings(cls, retries: int | None = None, backoff: float | None = None
                      ) -> RetryPolicy:
        """The policy the arguments give, the settings filling in what is ``None``."""
        return cls(
            retries=settings.HTTP_RETRIES.get() if retries is None else retries,
            backoff=settings.HTTP_BACKOFF.get() if backoff is None else backoff,
        )

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first)."""
        cap = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        wait = random.uniform(0.0, cap)  # jitter, not cryptography
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_backoff))
        return wait


def may_retry_failure(error: httpx.TransportError, *, idempotent: bool) -> bool:
    """Whether a call that failed in transport may be sent again."""
    if isinstance(error, httpx.UnsupportedProtocol):
        return False  # a wrong URL stays wrong
    return idempotent or isinstance(error, _NOTHING_SENT)


def may_retry_status(status: int, *, idempotent: bool) -> bool:
    """Whether an answer with this status asks for the call to be sent again."""
    return idempotent and status in RETRY_STATUSES


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds, when it is given as a number."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare from proxies; the backoff is used instead
    return seconds if seconds >= 0 else None
