"""Shipyard's side of ``benchmarks/tracking.py``; run with ``.venv``'s Python.

The store is the embedded one in ``SHIPYARD_HOME`` (a temporary folder the benchmark made).
Every timed section is the public API a user calls; seeding and checks are not timed.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _tracking_data as data
from _harness import serve

import shipyard as sy
from shipyard import settings
from shipyard.entities import Metric

_client: sy.Client | None = None


def client() -> sy.Client:
    global _client  # noqa: PLW0603 - one client per worker, like a user's process
    if _client is None:
        _client = sy.Client()
    return _client


def db_path() -> Path:
    return settings.home() / "shipyard.db"


def count_points(run_id: str) -> int:
    with sqlite3.connect(db_path()) as conn:
        return int(conn.execute("SELECT count(*) FROM metrics WHERE run_id = ?",
                                (run_id,)).fetchone()[0])


def info() -> dict[str, Any]:
    import sqlalchemy

    return {"shipyard": sy.__version__, "sqlalchemy": sqlalchemy.__version__,
            "python": sys.version.split()[0], "sqlite_version": sqlite3.sqlite_version}


def log_metric(n: int, experiment: str) -> dict[str, Any]:
    """``n`` single log_metric calls, timed until the with-block has ended the run."""
    with sy.start_run(experiment=experiment) as run:
        start = time.perf_counter()
        for i in range(n):
            sy.log_metric("m", i * 0.001, step=i)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "points": n, "durable_points": count_points(run.run_id)}


def log_batch(points: int, experiment: str) -> dict[str, Any]:
    """One ``Client.log_batch`` call of ``points`` metric points into a fresh run."""
    sdk = client()
    run_id = sdk.create_run(sdk.get_or_create_experiment(experiment).experiment_id).run_id
    metrics = [Metric(k, v, s, t) for k, v, s, t in data.batch_points(points)]
    start = time.perf_counter()
    sdk.log_batch(run_id, metrics=metrics)
    seconds = time.perf_counter() - start
    sdk.set_terminated(run_id)
    return {"seconds": seconds, "points": points, "calls": 1,
            "durable_points": count_points(run_id)}


def seed(experiment: str, count: int, seed: int) -> dict[str, Any]:
    """Bulk-insert ``count`` runs with raw SQL (not timed as a workload)."""
    start = time.perf_counter()
    experiment_id = client().create_experiment(experiment)  # the store is migrated by now
    eid = int(experiment_id)
    runs, params, tags, metrics, latest = [], [], [], [], []
    for r in data.seed_runs(count, seed):
        runs.append((r.run_id, eid, r.name, data.USER, "FINISHED", r.start_time, r.end_time,
                     "active", None, None))
        params += [(r.run_id, k, v) for k, v in r.params.items()]
        tags += [(r.run_id, k, v) for k, v in r.tags.items()]
        metrics += [(r.run_id, k, 0, r.end_time, v) for k, v in r.metrics.items()]
        latest += [(r.run_id, k, 0, r.end_time, v, eid) for k, v in r.metrics.items()]
    with sqlite3.connect(db_path()) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        conn.executemany(
            "INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, start_time, "
            "end_time, lifecycle_stage, deleted_time, parent_run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", runs)
        conn.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", params)
        conn.executemany("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)", tags)
        conn.executemany("INSERT INTO metrics (run_id, key, step, timestamp, value) "
                         "VALUES (?, ?, ?, ?, ?)", metrics)
        conn.executemany("INSERT INTO latest_metrics (run_id, key, step, timestamp, value, "
                         "experiment_id) VALUES (?, ?, ?, ?, ?, ?)", latest)
    conn.close()
    return {"experiment_id": experiment_id, "runs": count,
            "seconds": time.perf_counter() - start}


def search(experiment_id: str, filter_string: str, order_by: list[str],
           max_results: int) -> dict[str, Any]:
    sdk = client()
    start = time.perf_counter()
    page = sdk.search_runs([experiment_id], filter_string, order_by, max_results)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "run_ids": [run.run_id for run in page]}


def fetch_all(experiment: str) -> dict[str, Any]:
    """Every run of an experiment through the fluent ``shipyard.search_runs``."""
    start = time.perf_counter()
    runs = sy.search_runs(experiments=[experiment])
    seconds = time.perf_counter() - start
    digest = data.fingerprint(
        (r.info.run_id, r.info.run_name, r.info.start_time, r.data.params, r.data.metrics,
         r.data.tags) for r in runs
    )
    return {"seconds": seconds, "runs": len(runs), "fingerprint": digest}


def explain(experiment_id: str, filter_string: str, order_by: list[str],
            max_results: int) -> dict[str, Any]:
    """The SQL of one search page and SQLite's plan for it (a diagnostic, not timed)."""
    from shipyard.entities import ViewType
    from shipyard.store.tracking import sql_search

    query = sql_search.first_query([experiment_id], filter_string, order_by,
                                   ViewType.ACTIVE_ONLY, "sqlite").limit(max_results + 1)
    store = client().store
    compiled = query.compile(dialect=store.engine.dialect,  # type: ignore[attr-defined]
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
    serve({"info": info, "log_metric": log_metric, "log_batch": log_batch, "seed": seed,
           "search": search, "fetch_all": fetch_all, "explain": explain})
