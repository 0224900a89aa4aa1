"""Shipyard's side of ``benchmarks/registry.py``; run with ``.venv``'s Python.

The store is the embedded one in ``SHIPYARD_HOME`` (a temporary folder the benchmark made);
the audit key and checkpoint come from the environment. Versions are created through
``Client().registry.create_version`` (each an audited transaction, as users create them; not
timed as a workload) and searched through ``RegistryService.search_versions`` (timed).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import registry_data as data
from _harness import serve

from shipyard import settings
from shipyard.sdk.client import Client
from shipyard.services.registry.service import RegistryService

_registry: RegistryService | None = None


def registry() -> RegistryService:
    global _registry  # noqa: PLW0603 - one client per worker, like a user's process
    if _registry is None:
        _registry = Client().registry
    return _registry


def db_path() -> Path:
    return settings.home() / "shipyard.db"


def info() -> dict[str, Any]:
    import sqlalchemy

    import shipyard

    registry()  # opens (and migrates) the store outside any timing
    return {"shipyard": shipyard.__version__, "sqlalchemy": sqlalchemy.__version__,
            "python": sys.version.split()[0], "sqlite_version": sqlite3.sqlite_version}


def populate(first: int, stop: int, versions: int) -> dict[str, Any]:
    """Models ``first``..``stop - 1``, ``versions`` versions each, through ``create_version``
    (the model is created with its first version)."""
    reg = registry()
    start = time.perf_counter()
    created = 0
    for m in range(first, stop):
        name = data.model_name(m)
        for v, tags in enumerate(data.model_plan(m, versions), start=1):
            made = reg.create_version(name, data.source(name, v), actor=data.ACTOR, tags=tags)
            if made.version != v:
                raise RuntimeError(f"{name}: expected version {v}, got {made.version}")
            created += 1
    return {"seconds": time.perf_counter() - start, "versions": created}


def _keys(page: Any) -> list[list[Any]]:
    return [[mv.name, mv.version] for mv in page]


def search(filter_string: str, max_results: int) -> dict[str, Any]:
    """The first page of a search, as a user calls it."""
    reg = registry()
    start = time.perf_counter()
    page = reg.search_versions(filter_string, max_results=max_results)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "keys": _keys(page), "more": page.next_page_token is not None,
            "all_tagged": all(len(mv.tags) == 3 for mv in page)}


def fetch_all(filter_string: str, page_size: int) -> dict[str, Any]:
    """Every match, page by page (``page_token`` until there is none)."""
    reg = registry()
    keys: list[tuple[str, int]] = []
    pages, token = 0, None
    start = time.perf_counter()
    while True:
        page = reg.search_versions(filter_string, max_results=page_size, page_token=token)
        pages += 1
        keys.extend((mv.name, mv.version) for mv in page)
        token = page.next_page_token
        if token is None:
            break
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "matches": len(keys), "pages": pages,
            "distinct": len(set(keys)), "fingerprint": data.fingerprint(keys)}


def counts() -> dict[str, int]:
    with sqlite3.connect(db_path()) as conn:
        found = {table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                 for table in ("registered_models", "model_versions", "model_version_tags",
                               "audit_events")}
    conn.close()
    return found


def verify_audit() -> dict[str, Any]:
    """``AuditLog.verify`` over the chain the registry writes above appended (one event per
    model and per version)."""
    start = time.perf_counter()
    report = registry().audit.verify()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "ok": report.ok, "events": report.events}


def explain(filter_string: str, max_results: int) -> dict[str, Any]:
    """The SQL of one search page and SQLite's plan for it (a diagnostic, not timed)."""
    from sqlalchemy import select

    from shipyard.store import schema as t
    from shipyard.store.registry.search import version_filter

    v = t.model_versions
    query = (select(v).where(version_filter(filter_string))
             .order_by(v.c.name, v.c.version.desc()).limit(max_results + 1))
    compiled = query.compile(dialect=registry().engine.dialect,
                             compile_kwargs={"literal_binds": True})
    sql = str(compiled)
    with sqlite3.connect(db_path()) as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        start = time.perf_counter()
        rows = conn.execute(sql).fetchall()
        raw_seconds = time.perf_counter() - start
    conn.close()
    return {"sql": " ".join(sql.split()), "plan": plan, "raw_sql_seconds": raw_seconds,
            "rows": len(rows)}


if __name__ == "__main__":
    serve({"info": info, "populate": populate, "search": search, "fetch_all": fetch_all,
           "counts": counts, "verify_audit": verify_audit, "explain": explain})
