"""MLflow's side of ``benchmarks/tracking.py``; run with the Python of ``.bench/mlflow-*``.

``MLFLOW_TRACKING_URI`` names a SQLite file in a temporary folder; ``BENCH_ARTIFACT_ROOT`` the
folder for artifacts. Every timed section is the public API a user calls, in MLflow's default
(synchronous) mode unless the request says otherwise; seeding and checks are not timed.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _tracking_data as data
import mlflow
from _harness import serve
from mlflow import MlflowClient
from mlflow.entities import Metric

BATCH_LIMIT = 1000  # metrics per MlflowClient.log_batch call, MLflow's limit


def db_path() -> Path:
    uri = os.environ["MLFLOW_TRACKING_URI"]
    return Path(uri.removeprefix("sqlite:///"))


def experiment_id(name: str) -> str:
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = Path(os.environ["BENCH_ARTIFACT_ROOT"], name).as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def count_points(run_id: str) -> int:
    with sqlite3.connect(db_path()) as conn:
        return int(conn.execute("SELECT count(*) FROM metrics WHERE run_uuid = ?",
                                (run_id,)).fetchone()[0])


def info() -> dict[str, Any]:
    import sqlalchemy

    experiment_id("warm-up")  # creates the schema (MLflow's migrations) outside any timing
    return {"mlflow": mlflow.__version__, "sqlalchemy": sqlalchemy.__version__,
            "python": sys.version.split()[0], "sqlite_version": sqlite3.sqlite_version}


def log_metric(n: int, experiment: str, asynchronous: bool = False) -> dict[str, Any]:
    """``n`` single log_metric calls, timed until ``end_run`` returned (it waits for the
    async queue when async logging is on)."""
    eid = experiment_id(experiment)
    mlflow.config.enable_async_logging(asynchronous)
    try:
        with mlflow.start_run(experiment_id=eid) as run:
            start = time.perf_counter()
            for i in range(n):
                mlflow.log_metric("m", i * 0.001, step=i)
        seconds = time.perf_counter() - start
    finally:
        mlflow.config.enable_async_logging(False)
    return {"seconds": seconds, "points": n, "durable_points": count_points(run.info.run_id)}


def log_batch(points: int, experiment: str) -> dict[str, Any]:
    """``points`` metric points into one run through ``MlflowClient.log_batch``, in chunks of
    MLflow's limit of 1000 metrics per call."""
    client = MlflowClient()
    run_id = client.create_run(experiment_id(experiment)).info.run_id
    metrics = [Metric(k, v, t, s) for k, v, s, t in data.batch_points(points)]
    chunks = [metrics[i : i + BATCH_LIMIT] for i in range(0, len(metrics), BATCH_LIMIT)]
    start = time.perf_counter()
    for chunk in chunks:
        client.log_batch(run_id, metrics=chunk)
    seconds = time.perf_counter() - start
    client.set_terminated(run_id)
    return {"seconds": seconds, "points": points, "calls": len(chunks),
            "durable_points": count_points(run_id)}


def seed(experiment: str, count: int, seed: int) -> dict[str, Any]:
    """Bulk-insert ``count`` runs with raw SQL into the tables MLflow created (not timed)."""
    start = time.perf_counter()
    eid = experiment_id(experiment)
    location = Path(os.environ["BENCH_ARTIFACT_ROOT"], experiment).as_uri()
    runs, params, tags, metrics = [], [], [], []
    for r in data.seed_runs(count, seed):
        runs.append((r.run_id, r.name, "LOCAL", "", "", data.USER, "FINISHED", r.start_time,
                     r.end_time, "", "active", f"{location}/{r.run_id}/artifacts", int(eid),
                     None))
        params += [(k, v, r.run_id) for k, v in r.params.items()]
        tags += [(k, v, r.run_id) for k, v in r.tags.items()]
        metrics += [(k, v, r.end_time, 0, 0, r.run_id) for k, v in r.metrics.items()]
    with sqlite3.connect(db_path()) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        conn.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id, deleted_time) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", runs)
        conn.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params)
        conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
        for table in ("metrics", "latest_metrics"):
            conn.executemany(
                f"INSERT INTO {table} (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, ?, ?)", metrics)
    conn.close()
    return {"experiment_id": eid, "runs": count, "seconds": time.perf_counter() - start}


def search(experiment_id: str, filter_string: str, order_by: list[str],
           max_results: int) -> dict[str, Any]:
    client = MlflowClient()
    start = time.perf_counter()
    page = client.search_runs([experiment_id], filter_string, order_by=order_by,
                              max_results=max_results)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "run_ids": [run.info.run_id for run in page]}


def fetch_all(experiment: str) -> dict[str, Any]:
    """Every run of an experiment through ``mlflow.search_runs(output_format="list")``, which
    pages by 10,000 like its default pandas form, without building the DataFrame."""
    start = time.perf_counter()
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    seconds = time.perf_counter() - start
    digest = data.fingerprint(
        (r.info.run_id, r.info.run_name, r.info.start_time, r.data.params, r.data.metrics,
         r.data.tags) for r in runs
    )
    return {"seconds": seconds, "runs": len(runs), "fingerprint": digest}


if __name__ == "__main__":
    serve({"info": info, "log_metric": log_metric, "log_batch": log_batch, "seed": seed,
           "search": search, "fetch_all": fetch_all})
