"""Which permission each tracking and artifact request needs under ``shipyard server --auth``:
the one table the auth middleware checks before a request reaches its route.

- ``read``: every ``GET``, and the ``POST``s that only read (searches, whose filters are too
  long for a URL);
- ``write``: everything else on tracking — creating, updating, deleting, restoring, logging,
  tagging — and artifact uploads (artifact downloads and listings are reads).

It covers Shipyard's own tracking API (``/api/v1/experiments``, ``/api/v1/runs``, artifacts
included) and MLflow's tracking RPCs and artifact proxy. Every other path gets ``None``: the
middleware only authenticates it, and its route checks a finer permission itself with
:func:`shipyard.server.auth.require` — the registry's routes need ``approve``, ``deploy`` or
``admin`` on one model, which a table of paths cannot know.
"""

from __future__ import annotations

from shipyard.entities.auth import Permission

OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
"""Paths answered without a token: liveness and the API's description (no data in either)."""

_SHIPYARD_TRACKING = ("/api/v1/experiments", "/api/v1/runs")
_SHIPYARD_READ_POSTS = frozenset({"/api/v1/runs/search"})

_MLFLOW_API = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/")  # the slash: not mlflow-artifacts
# MLflow's tracking RPCs live under these; its registry (registered-models/, model-versions/)
# does not, and checks its own permissions.
_MLFLOW_TRACKING = ("experiments/", "runs/", "metrics/", "artifacts/", "logged-models/")
_MLFLOW_READ_POSTS = frozenset({"experiments/search", "runs/search", "metrics/get-history",
                                "logged-models/search"})
_MLFLOW_ARTIFACTS = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")
_MLFLOW_SERVER_INFO = ("/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info")


def is_open(path: str) -> bool:
    return path in OPEN_PATHS


def required(method: str, path: str) -> Permission | None:
    """The permission ``method path`` needs, or None when its route decides (see above)."""
    reading = method in ("GET", "HEAD")
    if any(path == prefix or path.startswith(prefix + "/") for prefix in _SHIPYARD_TRACKING):
        return Permission.READ if reading or path in _SHIPYARD_READ_POSTS else Permission.WRITE
    for prefix in _MLFLOW_API:
        if path.startswith(prefix):
            rest = path[len(prefix):]
            if not rest.startswith(_MLFLOW_TRACKING):
                return None
            return Permission.READ if reading or rest in _MLFLOW_READ_POSTS \
                else Permission.WRITE
    if path.startswith(_MLFLOW_ARTIFACTS):
        return Permission.READ if reading else Permission.WRITE
    if path in _MLFLOW_SERVER_INFO:
        return Permission.READ
    return None
