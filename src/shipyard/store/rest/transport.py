"""Sending one call of the REST API: retries, and error answers turned back into errors.

:class:`Transport` is all the REST store knows of HTTP. It retries what
:mod:`shipyard.store.rest.retry` allows, raises the server's own :class:`ShipyardError` for an
error answer in Shipyard's shape, and a :class:`BackendError` naming the URL and the attempts
for anything else (no answer, a proxy's HTML page).

Every request says who sends it: ``X-Shipyard-User`` (``SHIPYARD_USER``, else the OS user),
which a server without ``--auth`` records as the actor, and, when ``SHIPYARD_TOKEN`` is set,
``Authorization: Bearer <token>``, which a server with ``--auth`` requires. A 401 becomes
:class:`UnauthenticatedError` telling the user to set ``SHIPYARD_TOKEN``.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO, cast

import httpx

from shipyard import settings
from shipyard.errors import BackendError, InvalidInputError, ShipyardError, UnauthenticatedError
from shipyard.store.rest import retry, wire
from shipyard.store.rest.retry import RetryPolicy

CHUNK = 1024 * 1024  # bytes read or written at a time when streaming artifacts
USER_HEADER = "X-Shipyard-User"  # read by shipyard.server.auth (the same name there)


def identity_headers() -> dict[str, str]:
    """Who sends a request: the user's name always, the API token when one is set. Read per
    request, like every setting, so a changed ``SHIPYARD_TOKEN`` takes effect at once."""
    headers: dict[str, str] = {}
    user = settings.current_user()
    if user.isascii() and user.isprintable():  # an HTTP header holds ASCII; else the server's
        headers[USER_HEADER] = user
    token = settings.TOKEN.get().strip()
    if token:
        if not (token.isascii() and token.isprintable() and " " not in token):
            raise InvalidInputError(  # not echoed: it is a secret, or meant to be
                f"{settings.TOKEN.env} is not an API token: expected shy_<id>_<secret>, as "
                "`shipyard tokens create` prints it", field=settings.TOKEN.env)
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _with_token_hint(message: str) -> str:
    if settings.TOKEN.env in message:
        return message
    if settings.TOKEN.get().strip():
        return f"{message} (the token in {settings.TOKEN.env} was refused)"
    return (f"{message}; set {settings.TOKEN.env} to your API token (an admin creates one with "
            "`shipyard tokens create NAME`)")


class Transport:
    """Calls to the server at ``base_url`` through ``client``, under ``policy``."""

    def __init__(self, base_url: str, client: httpx.Client, policy: RetryPolicy) -> None:
        self.base_url = base_url
        self.client = client
        self.retry = policy

    def send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        idempotent: bool,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        upload: Path | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one call, retrying as the policy allows; an error answer raises its error.

        ``what`` names the call for messages ("creating a run"). A streamed response must be
        closed by the caller.
        """
        url = self.base_url + path
        headers = identity_headers()
        if body is not None:
            content = json.dumps(body, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif content is not None or upload is not None:
            headers["Content-Type"] = "application/octet-stream"
        attempt = 0
        while True:
            attempt += 1
            try:
                with ExitStack() as stack:
                    data: bytes | BinaryIO | None = content
                    if upload is not None:  # reopened each attempt, streamed, never read whole
                        data = stack.enter_context(upload.open("rb"))
                    request = self.client.build_request(method, url, params=params,
                                                        content=data, headers=headers)
                    response = self.client.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt <= self.retry.retries and retry.may_retry_failure(
                        exc, idempotent=idempotent):
                    time.sleep(self.retry.delay(attempt))
                    continue
                raise self._unreachable(method, url, what, attempt, idempotent, exc) from exc
            except httpx.HTTPError as exc:
                raise BackendError(f"{what} failed: {method} {url}: {exc}", url=url,
                                   attempts=attempt) from exc
            if response.is_success:
                return response
            if attempt <= self.retry.retries and retry.may_retry_status(
                    response.status_code, idempotent=idempotent):
                wait = self.retry.delay(attempt, retry.retry_after(response))
                response.close()
                time.sleep(wait)
                continue
            raise self._answer_error(response, method, url, what, attempt, idempotent)

    def _unreachable(self, method: str, url: str, what: str, attempts: int, idempotent: bool,
                     exc: httpx.TransportError) -> BackendError:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        if idempotent or isinstance(exc, httpx.UnsupportedProtocol):
            message = (f"{what} failed: cannot reach the Shipyard server ({method} {url}, "
                       f"{tries}; last error {reason})")
        else:
            message = (f"{what} failed: {method} {url} got no answer after {tries} ({reason}); "
                       f"it was not retried because {what} is not idempotent, so check whether "
                       "it took effect before trying again")
        return BackendError(message, url=url, attempts=attempts)

    def _answer_error(self, response: httpx.Response, method: str, url: str, what: str,
                      attempts: int, idempotent: bool) -> ShipyardError:
        try:
            response.read()
            body: object = response.json()
        except (ValueError, httpx.HTTPError):
            body = None
        finally:
            response.close()
        if wire.is_error_body(body):
            found = dict(cast(dict[str, Any], body))
            if found["code"] == UnauthenticatedError.code:
                found["message"] = _with_token_hint(found["message"])
            return wire.error_in(found)
        if response.status_code == 401:  # e.g. a proxy in front that wants a token
            return UnauthenticatedError(_with_token_hint(
                f"{what} failed: {method} {url} answered 401 Unauthorized"))
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        status = f"{response.status_code} {response.reason_phrase}".strip()
        snippet = " ".join(response.text[:200].split()) if response.text else "no body"
        unsure = "" if idempotent or response.status_code < 500 else (
            f"; it was not retried because {what} is not idempotent, so check whether it took "
            "effect before trying again")
        return BackendError(
            f"{what} failed: {method} {url} answered {status} after {tries}, not in Shipyard's "
            f"error shape (is {self.base_url} a Shipyard server?): {snippet}{unsure}",
            url=url, attempts=attempts, status=response.status_code,
        )

    def call(self, method: str, path: str, *, what: str, idempotent: bool,
             body: Mapping[str, Any] | None = None,
             params: Mapping[str, str] | None = None) -> Any:
        """Send one call and return its decoded JSON answer (``None`` for 204 No Content)."""
        response = self.send(method, path, what=what, idempotent=idempotent, body=body,
                             params=params)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"{what} failed: {method} {self.base_url}{path} answered "
                               f"{response.status_code} with a body that is not JSON") from exc


class ResponseStream(io.RawIOBase):
    """A streamed response body as a readable file; closing it closes the response."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks = response.iter_bytes(CHUNK)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except httpx.TransportError as exc:
                raise BackendError(f"reading an artifact from {self._response.url} failed: "
                                   f"{type(exc).__name__}: {exc}") from exc
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()
