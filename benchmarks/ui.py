"""Web UI: the runs page over 100,000 runs, and a chart of a 1,000,000-point metric.

    .venv/bin/python benchmarks/ui.py           # 100,000 runs, a 1,000,000-point metric
    .venv/bin/python benchmarks/ui.py --quick   # 2,000 runs, 20,000 points (the smoke form)

A fresh SQLite store (its schema made by the store itself) is filled with direct bulk inserts
into its tables: each run has 5 params, 5 metrics and 2 tags, one more run has a metric of
1,000,000 points. Filling is not timed. Then, in-process through the real app
(``TestClient``):

- the runs page ``/ui/experiments/{id}`` with a filter
  (``metrics.m0 > 0.5 and params.p1 = 'x'``) sorted by a metric (``metrics.m2 DESC``):
  the median of several requests; the time is the request's wall time in this process
  (the app's server time, with no network in between). Goal: under 300 ms.
- the metric series a chart loads (``/ui/runs/{id}/metric-series``): the points in the JSON
  sent to the browser (goal: at most 2,000) and the request's time; and the compare page's
  series of the same metric beside a short one (``/ui/compare/series``), which the store
  downsamples in SQL (``get_metric_series``).

The database is ``ANALYZE``d after filling, as PostgreSQL always is and as a SQLite owner may
do: the query plans are those a planner with statistics picks.

There is no peer to compare with, so there are no ratios.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import _harness as h

PAGE_GOAL_MS = 300.0
POINTS_GOAL = 2_000
FILTER = "metrics.m0 > 0.5 and params.p1 = 'x'"
ORDER_BY = "metrics.m2 DESC"
BATCH = 10_000


def _runs(experiment_id: int, count: int) -> Iterator[tuple[Any, ...]]:
    for i in range(count):
        yield (uuid.uuid4().hex, experiment_id, f"run-{i:06d}", f"user{i % 13}", "FINISHED",
               1_700_000_000_000 + i * 1_000, 1_700_000_000_000 + i * 1_000 + 60_000,
               "active", None, None, 0)


def fill(db: Path, experiment_id: int, runs: int, points: int, seed: int = 7) -> str:
    """``runs`` runs with 5 params, 5 metrics and 2 tags each, and one more run holding a
    metric of ``points`` points; returns that run's id."""
    rng = random.Random(seed)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    choices = ("x", "y", "z")
    with conn:
        run_rows = list(_runs(experiment_id, runs + 1))
        conn.executemany("INSERT INTO runs (run_id, experiment_id, run_name, user_id, status, "
                         "start_time, end_time, lifecycle_stage, deleted_time, parent_run_id, "
                         "deleted_with_experiment) VALUES (?,?,?,?,?,?,?,?,?,?,?)", run_rows)
        long_run = run_rows[-1][0]
        params, tags, latest, metrics = [], [], [], []
        for row in run_rows[:-1]:
            run_id = row[0]
            params += [(run_id, "p0", str(rng.randint(1, 64))), (run_id, "p1", rng.choice(choices)),
                       (run_id, "p2", f"{rng.random():.4f}"), (run_id, "p3", rng.choice(choices)),
                       (run_id, "p4", str(rng.randint(0, 9)))]
            tags += [(run_id, "team", rng.choice(("risk", "growth"))),
                     (run_id, "stage", rng.choice(("dev", "prod")))]
            for k in range(5):
                value, step, ts = rng.random(), 99, row[5] + 50_000
                latest.append((run_id, f"m{k}", step, ts, value, experiment_id))
                metrics.append((run_id, f"m{k}", step, ts, value))
            if len(metrics) >= BATCH:
                _flush(conn, params, tags, latest, metrics)
        _flush(conn, params, tags, latest, metrics)
    with conn:
        start = run_rows[-1][5]
        for first in range(0, points, BATCH * 10):
            conn.executemany(
                "INSERT INTO metrics (run_id, key, step, timestamp, value) VALUES (?,?,?,?,?)",
                ((long_run, "loss", s, start + s, 1.0 / (1 + s) + 0.01 * rng.random())
                 for s in range(first, min(points, first + BATCH * 10))))
        conn.execute("INSERT INTO latest_metrics (run_id, key, step, timestamp, value, "
                     "experiment_id) VALUES (?,?,?,?,?,?)",
                     (long_run, "loss", points - 1, start + points - 1, 0.0, experiment_id))
    conn.execute("ANALYZE")
    conn.close()
    return long_run


def _flush(conn: sqlite3.Connection, params: list[Any], tags: list[Any], latest: list[Any],
           metrics: list[Any]) -> None:
    conn.executemany("INSERT INTO params (run_id, key, value) VALUES (?,?,?)", params)
    conn.executemany("INSERT INTO tags (run_id, key, value) VALUES (?,?,?)", tags)
    conn.executemany("INSERT INTO latest_metrics (run_id, key, step, timestamp, value, "
                     "experiment_id) VALUES (?,?,?,?,?,?)", latest)
    conn.executemany("INSERT INTO metrics (run_id, key, step, timestamp, value) "
                     "VALUES (?,?,?,?,?)", metrics)
    for rows in (params, tags, latest, metrics):
        rows.clear()


def _timed_get(client: Any, url: str, params: dict[str, Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    response = client.get(url, params=params)
    seconds = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:500]}")
    return seconds, response


def _another_run(client: Any, page_url: str, not_this: str) -> str:
    """A run id from the runs page other than ``not_this`` (compare needs two runs)."""
    import re

    found = re.findall(r'name="run" value="([0-9a-f]{32})"', client.get(page_url).text)
    others = [run_id for run_id in found if run_id != not_this]
    if not others:
        raise RuntimeError("the runs page lists no other run to compare")
    return others[0]


def run(runs: int, points: int, trials: int, root: Path) -> dict[str, Any]:
    from shipyard.artifacts import open_content_store
    from shipyard.server.app import create_app
    from shipyard.store.db import create_db_engine
    from shipyard.store.tracking.sql import SqlTrackingStore

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
        from starlette.testclient import TestClient

    db = root / "meta.db"
    store = SqlTrackingStore(create_db_engine(f"sqlite:///{db}"),
                             open_content_store((root / "artifacts").as_uri()))
    experiment_id = store.create_experiment("ui-benchmark")
    store.engine.dispose()  # the fill writes through its own connection
    h.log(f"filling {runs} runs and a {points}-point metric")
    started = time.perf_counter()
    long_run = fill(db, int(experiment_id), runs, points)
    fill_s = time.perf_counter() - started
    h.log(f"filled in {fill_s:.1f} s; timing the runs page")
    page_url = f"/ui/experiments/{experiment_id}"
    query = {"filter": FILTER, "order_by": ORDER_BY}
    series_url = f"/ui/runs/{long_run}/metric-series"
    with TestClient(create_app(store)) as client:
        _timed_get(client, page_url, query)  # warm: templates compiled, connections open
        page_samples, html = [], ""
        for _ in range(trials):
            seconds, response = _timed_get(client, page_url, query)
            page_samples.append(seconds)
            html = response.text
        plain = [_timed_get(client, page_url, {})[0] for _ in range(trials)]
        h.log("timing the metric series")
        series_samples, series = [], {}
        for _ in range(max(1, trials // 2)):
            seconds, response = _timed_get(client, series_url, {"key": "loss"})
            series_samples.append(seconds)
            series = response.json()
        h.log("timing the compare page's series (downsampled in SQL)")
        other = _another_run(client, page_url, long_run)
        compare_samples, compare = [], {}
        for _ in range(max(1, trials // 2)):
            seconds, response = _timed_get(client, "/ui/compare/series",
                                           {"key": "loss", "run": [long_run, other]})
            compare_samples.append(seconds)
            compare = response.json()["runs"][0]
    store.engine.dispose()
    rows_shown = html.count('<th scope="row">')
    return {
        "backend": "sqlite",
        "runs": runs,
        "fill_s": round(fill_s, 2),
        "runs_page": {**h.summary(page_samples), "median_ms": round(
            statistics.median(page_samples) * 1000, 1), "filter": FILTER, "order_by": ORDER_BY,
            "rows_shown": rows_shown},
        "runs_page_unfiltered": h.summary(plain),
        "metric_series": {**h.summary(series_samples), "total_points": series.get("total"),
                          "points_sent": len(series.get("x", []))},
        "compare_series": {**h.summary(compare_samples), "total_points": compare.get("total"),
                           "points_sent": len(compare.get("x", []))},
        "checks": {"page_has_rows": rows_shown > 0,
                   "series_total_matches": series.get("total") == points},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="2,000 runs and a 20,000-point metric, 2 trials")
    args = parser.parse_args(argv)
    runs, points, trials = (2_000, 20_000, 2) if args.quick else (100_000, 1_000_000, 7)
    machine = h.machine_info()
    ours: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-ui-") as tmp:
        try:
            ours = run(runs, points, trials, Path(tmp))
        except Exception as error:  # the result line must still come out, saying what failed
            traceback.print_exc()
            ours = {"error": f"{type(error).__name__}: {error}"}
    page_ms = ours.get("runs_page", {}).get("median_ms")
    sent = ours.get("metric_series", {}).get("points_sent")
    goals = {
        "runs_page_filtered_sorted_100k_ms": h.goal_below(PAGE_GOAL_MS, page_ms, "ms"),
        "metric_series_points_sent": {"target": f"<= {POINTS_GOAL}", "value": sent,
                                      "met": None if sent is None else sent <= POINTS_GOAL},
    }
    h.emit("ui", machine, ours, None, {}, goals)
    return 1 if "error" in ours else 0


if __name__ == "__main__":
    sys.exit(main())
