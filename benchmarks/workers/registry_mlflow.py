"""MLflow's side of ``benchmarks/registry.py``; run with the Python of ``.bench/mlflow-*``.

``MLFLOW_TRACKING_URI`` names a SQLite file in a temporary folder (the registry uses the same
``sqlite:///`` URI, MLflow's default). Versions are created with ``create_registered_model``
and ``create_model_version`` (the public API; not timed as a workload) and searched with
``MlflowClient.search_model_versions`` (timed), in MLflow's default ordering unless the request
names one.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mlflow
import registry_data as data
from _harness import serve
from mlflow import MlflowClient

_client: MlflowClient | None = None


def client() -> MlflowClient:
    global _client  # noqa: PLW0603 - one client per worker, like a user's process
    if _client is None:
        uri = os.environ["MLFLOW_TRACKING_URI"]
        _client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return _client


def db_path() -> Path:
    return Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))


def info() -> dict[str, Any]:
    import sqlalchemy

    # creates the schema (MLflow's migrations) outside any timing
    client().search_registered_models(max_results=1)
    return {"mlflow": mlflow.__version__, "sqlalchemy": sqlalchemy.__version__,
            "python": sys.version.split()[0], "sqlite_version": sqlite3.sqlite_version}


def populate(first: int, stop: int, versions: int) -> dict[str, Any]:
    """Models ``first``..``stop - 1``: ``create_registered_model``, then ``versions`` calls of
    ``create_model_version`` with the version's three tags."""
    mc = client()
    start = time.perf_counter()
    created = 0
    for m in range(first, stop):
        name = data.model_name(m)
        mc.create_registered_model(name)
        for v, tags in enumerate(data.model_plan(m, versions), start=1):
            made = mc.create_model_version(name, data.source(name, v), tags=tags)
            if int(made.version) != v:
                raise RuntimeError(f"{name}: expected version {v}, got {made.version}")
            created += 1
    return {"seconds": time.perf_counter() - start, "versions": created}


def _keys(page: Any) -> list[list[Any]]:
    return [[mv.name, int(mv.version)] for mv in page]


def search(filter_string: str, max_results: int,
           order_by: list[str] | None = None) -> dict[str, Any]:
    """The first page of a search, as a user calls it."""
    mc = client()
    start = time.perf_counter()
    page = mc.search_model_versions(filter_string, max_results=max_results, order_by=order_by)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "keys": _keys(page), "more": bool(page.token),
            "all_tagged": all(len(mv.tags) == 3 for mv in page)}


def fetch_all(filter_string: str, page_size: int,
              order_by: list[str] | None = None) -> dict[str, Any]:
    """Every match, page by page (``page_token`` until there is none)."""
    mc = client()
    keys: list[tuple[str, int]] = []
    pages, token = 0, None
    start = time.perf_counter()
    while True:
        page = mc.search_model_versions(filter_string, max_results=page_size,
                                        order_by=order_by, page_token=token)
        pages += 1
        keys.extend((mv.name, int(mv.version)) for mv in page)
        token = page.token
        if not token:
            break
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "matches": len(keys), "pages": pages,
            "distinct": len(set(keys)), "fingerprint": data.fingerprint(keys)}


def counts() -> dict[str, int]:
    with sqlite3.connect(db_path()) as conn:
        found = {table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                 for table in ("registered_models", "model_versions", "model_version_tags")}
    conn.close()
    return found


if __name__ == "__main__":
    serve({"info": info, "populate": populate, "search": search, "fetch_all": fetch_all,
           "counts": counts})
