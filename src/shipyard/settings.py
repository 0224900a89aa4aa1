"""Every setting Shipyard reads from the environment, each one typed and documented.

A setting is read when it is used, not at import, so tests and long-lived processes see changes.
``docs/settings.md`` is checked against :data:`ALL` by the test suite.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable: its name, type, default and what it does."""

    env: str
    kind: type[T]
    default: T
    doc: str

    def get(self) -> T:
        raw = os.environ.get(self.env)
        if raw is None or raw == "":
            return self.default
        return self._parse(raw)

    def is_set(self) -> bool:
        return bool(os.environ.get(self.env))

    def _parse(self, raw: str) -> T:
        from shipyard.errors import InvalidInputError

        kind: type = self.kind
        try:
            if kind is bool:
                low = raw.strip().lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError(raw)
                return low in _TRUE  # type: ignore[return-value]
            return kind(raw)  # type: ignore[no-any-return]
        except ValueError:
            raise InvalidInputError(
                f"environment variable {self.env}={raw!r} is not a valid {kind.__name__}",
                field=self.env,
            ) from None


HOME = Setting(
    "SHIPYARD_HOME", str, "./shipyard-data",
    "Folder of the embedded store: holds `shipyard.db` and `artifacts/`.",
)
TRACKING_URI = Setting(
    "SHIPYARD_TRACKING_URI", str, "",
    "Where metadata lives: a SQLAlchemy URL (`sqlite:///…`, `postgresql+psycopg://…`) or a "
    "server (`http(s)://host:port`). Unset: the embedded SQLite store in `SHIPYARD_HOME`.",
)
ARTIFACTS_URI = Setting(
    "SHIPYARD_ARTIFACTS_URI", str, "",
    "Where artifact bytes live: any fsspec URL (`file://`, `s3://bucket/prefix`, `memory://`). "
    "Unset: `SHIPYARD_HOME/artifacts`.",
)
USER = Setting(
    "SHIPYARD_USER", str, "",
    "Who acts in the embedded store (default: the OS user). Names the actor for audit and "
    "four-eyes checks in a single-user store, and is sent to a server as `X-Shipyard-User`; it "
    "is no security boundary (a server with `--auth` ignores it).",
)
METRIC_FLUSH_INTERVAL = Setting(
    "SHIPYARD_METRIC_FLUSH_INTERVAL", float, 1.0,
    "Seconds between background flushes of buffered metric points (they are also flushed at "
    "run end and at interpreter exit).",
)
METRIC_BUFFER_SIZE = Setting(
    "SHIPYARD_METRIC_BUFFER_SIZE", int, 50_000,
    "Buffered metric points that trigger an early flush.",
)
CAPTURE_GIT = Setting(
    "SHIPYARD_CAPTURE_GIT", bool, True,
    "Record the git commit, branch, remote, dirty flag and diff of the working tree on each run.",
)
CAPTURE_ENVIRONMENT = Setting(
    "SHIPYARD_CAPTURE_ENVIRONMENT", bool, True,
    "Record the Python version, platform and installed packages on each run.",
)
SYSTEM_METRICS = Setting(
    "SHIPYARD_SYSTEM_METRICS", bool, False,
    "Sample CPU, memory and GPU use in the background of each run "
    "(also `start_run(system_metrics=True)`).",
)
SYSTEM_METRICS_INTERVAL = Setting(
    "SHIPYARD_SYSTEM_METRICS_INTERVAL", float, 10.0,
    "Seconds between system-metric samples.",
)
SQLITE_BUSY_TIMEOUT = Setting(
    "SHIPYARD_SQLITE_BUSY_TIMEOUT", float, 60.0,
    "Seconds a SQLite writer waits for another process's write to finish before failing.",
)

ALL: tuple[Setting[object], ...] = (
    HOME, TRACKING_URI, ARTIFACTS_URI, USER, METRIC_FLUSH_INTERVAL, METRIC_BUFFER_SIZE,  # type: ignore[assignment]
    CAPTURE_GIT, CAPTURE_ENVIRONMENT, SYSTEM_METRICS, SYSTEM_METRICS_INTERVAL, SQLITE_BUSY_TIMEOUT,
)


def home() -> Path:
    return Path(HOME.get()).expanduser()


def tracking_uri() -> str:
    """The metadata URL in force: the setting, or the embedded SQLite file."""
    uri = TRACKING_URI.get()
    if uri:
        return uri
    return f"sqlite:///{(home() / 'shipyard.db').resolve()}"


def artifacts_uri() -> str:
    uri = ARTIFACTS_URI.get()
    if uri:
        return uri
    return (home() / "artifacts").resolve().as_uri()


def current_user() -> str:
    user = USER.get()
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# -- The tracking server (`shipyard server`) and its REST client ------------------------------

SERVER_MAX_JSON_BYTES = Setting(
    "SHIPYARD_SERVER_MAX_JSON_BYTES", int, 16 * 1024 * 1024,
    "Largest JSON request body `shipyard server` accepts on its own API (`/api/v1`); a larger "
    "one is answered 413 before it is read whole.",
)
SERVER_MAX_UPLOAD_BYTES = Setting(
    "SHIPYARD_SERVER_MAX_UPLOAD_BYTES", int, 5 * 1024**3,
    "Largest artifact file `shipyard server` accepts in one upload; a larger one is answered "
    "413 and nothing is stored.",
)
HTTP_TIMEOUT = Setting(
    "SHIPYARD_HTTP_TIMEOUT", float, 30.0,
    "Seconds the REST client waits to connect to a tracking server, and between bytes of a "
    "request or response, before it gives up on an attempt.",
)
HTTP_RETRIES = Setting(
    "SHIPYARD_HTTP_RETRIES", int, 5,
    "Times the REST client retries an idempotent call after a connection error, a timeout or a "
    "429/502/503/504 answer (0: never).",
)
HTTP_BACKOFF = Setting(
    "SHIPYARD_HTTP_BACKOFF", float, 0.5,
    "Seconds of the REST client's first retry delay; each retry doubles it (at most 30 s), with "
    "random jitter.",
)

# -- Data versioning -------------------------------------------------------------------------

CACHE_DIR = Setting(
    "SHIPYARD_CACHE_DIR", str, "",
    "Folder of this machine's caches, such as the file-digest cache that lets `shipyard data "
    "add` and `data status` skip unchanged files. Unset: `$XDG_CACHE_HOME/shipyard` or "
    "`~/.cache/shipyard`.",
)
DATA_THREADS = Setting(
    "SHIPYARD_DATA_THREADS", int, 0,
    "Threads that hash and upload dataset files at once (0: eight per CPU core, at most 64).",
)


def cache_dir() -> Path:
    configured = CACHE_DIR.get()
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "shipyard"


def data_threads() -> int:
    threads = DATA_THREADS.get()
    if threads > 0:
        return threads
    return min(64, 8 * (os.cpu_count() or 1))


_DATA: tuple[Setting[object], ...] = (CACHE_DIR, DATA_THREADS)  # type: ignore[assignment]

SERVER_AUTH = Setting(
    "SHIPYARD_SERVER_AUTH", bool, False,
    "Require an API token on every request to `shipyard server` but `/health` and the API's "
    "description (the same as `shipyard server --auth`). See access-control.md.",
)
SERVER_AUTH_CACHE_SECONDS = Setting(
    "SHIPYARD_SERVER_AUTH_CACHE_SECONDS", float, 5.0,
    "Seconds `shipyard server --auth` reuses a token it has checked before reading it from the "
    "database again: a revoked or expired token, a disabled user or a changed role takes "
    "effect within this time (0: check every request).",
)
TOKEN = Setting(
    "SHIPYARD_TOKEN", str, "",
    "API token the Shipyard client sends to a `shipyard server --auth` "
    "(`Authorization: Bearer …`); printed by `shipyard users create` or `shipyard tokens "
    "create`. Unset: no token is sent.",
)

UI_SESSION_SECRET = Setting(
    "SHIPYARD_UI_SESSION_SECRET", str, "",
    "Secret signing the web UI's session cookies under `shipyard server --auth` (at least 32 "
    "characters). Unset: drawn at random when the server starts, so sessions end with it; set "
    "it when the server runs several worker processes.",
)

_SERVER: tuple[Setting[object], ...] = (  # type: ignore[assignment]
    SERVER_MAX_JSON_BYTES, SERVER_MAX_UPLOAD_BYTES, HTTP_TIMEOUT, HTTP_RETRIES, HTTP_BACKOFF,
    SERVER_AUTH, SERVER_AUTH_CACHE_SECONDS, TOKEN, UI_SESSION_SECRET,
)
ALL = (*ALL, *_DATA, *_SERVER)

# -- Audit log -------------------------------------------------------------------------------

AUDIT_KEY = Setting(
    "SHIPYARD_AUDIT_KEY", str, "",
    "The audit chain's HMAC key: hex (decoded to bytes) or any other string (its UTF-8 bytes), "
    "at least 16 bytes. Unset: the key file (`SHIPYARD_AUDIT_KEY_FILE`).",
)
AUDIT_KEY_FILE = Setting(
    "SHIPYARD_AUDIT_KEY_FILE", str, "",
    "File holding the audit chain's HMAC key, readable by its owner only (mode 0600); created "
    "with 32 random bytes on the first audited change. Unset: `SHIPYARD_HOME/audit.key`.",
)
AUDIT_CHECKPOINT = Setting(
    "SHIPYARD_AUDIT_CHECKPOINT", str, "",
    "File where the audit chain's head and length are checkpointed after each audited commit, "
    "outside the database. Unset: `SHIPYARD_HOME/audit/checkpoint.json`.",
)

_AUDIT: tuple[Setting[object], ...] = (  # type: ignore[assignment]
    AUDIT_KEY, AUDIT_KEY_FILE, AUDIT_CHECKPOINT,
)
ALL = (*ALL, *_AUDIT)

# -- Webhooks --------------------------------------------------------------------------------

WEBHOOK_TIMEOUT = Setting(
    "SHIPYARD_WEBHOOK_TIMEOUT", float, 10.0,
    "Seconds a webhook delivery waits to connect, to send, and for the receiver's answer "
    "before the attempt counts as failed.",
)
WEBHOOK_MAX_ATTEMPTS = Setting(
    "SHIPYARD_WEBHOOK_MAX_ATTEMPTS", int, 8,
    "Attempts per webhook delivery before it is marked `failed`.",
)
WEBHOOK_BACKOFF = Setting(
    "SHIPYARD_WEBHOOK_BACKOFF", float, 30.0,
    "Seconds before a failed webhook delivery is retried; each further retry doubles it, up to "
    "SHIPYARD_WEBHOOK_BACKOFF_MAX.",
)
WEBHOOK_BACKOFF_MAX = Setting(
    "SHIPYARD_WEBHOOK_BACKOFF_MAX", float, 3600.0,
    "Longest wait in seconds between two attempts of a webhook delivery.",
)
WEBHOOK_DELIVER_ON_COMMIT = Setting(
    "SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT", bool, True,
    "Try to post a registry change's webhooks right after it commits, in the process that made "
    "it (best effort: what fails is retried by `shipyard webhooks deliver` or a background "
    "dispatcher). Off: only those send.",
)

_WEBHOOKS: tuple[Setting[object], ...] = (  # type: ignore[assignment]
    WEBHOOK_TIMEOUT, WEBHOOK_MAX_ATTEMPTS, WEBHOOK_BACKOFF, WEBHOOK_BACKOFF_MAX,
    WEBHOOK_DELIVER_ON_COMMIT,
)
ALL = (*ALL, *_WEBHOOKS)
