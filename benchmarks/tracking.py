"""Tracking: Shipyard vs MLflow 3.17.2 on SQLite, side by side in one run.

    .venv/bin/python benchmarks/tracking.py           # full run (make bench-tracking)
    .venv/bin/python benchmarks/tracking.py --quick   # small sizes, no peer (make test)

Each side runs in its own worker process (ours with this interpreter, MLflow with the Python of
``.bench/mlflow-3.17.2``, installed on first use) against a SQLite file in a temporary folder.
Workloads alternate between the two sides; every figure is the median of its repeats. The last
line of stdout is one JSON object (see ``benchmarks/_harness.py``); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _harness as h
import _tracking_data as data

PEER = "mlflow==3.17.2"
PEER_VARIANTS = [[PEER], ["mlflow-skinny==3.17.2", "sqlalchemy", "alembic"]]
PEER_PROBE = "import mlflow, sqlalchemy, alembic; assert mlflow.__version__ == '3.17.2'"
WORKERS = Path(__file__).resolve().parent / "workers"


@dataclass(frozen=True)
class Sizes:
    log_metric: int  # compared with MLflow's default (synchronous) and its async logging
    log_metric_large: int | None  # ours only: how the rate holds up over a long run
    batch_points: int
    runs: int  # runs searched and fetched on both sides
    runs_large: int | None  # ours only: search latency with this many runs in the store
    repeats: int
    search_repeats: int


FULL = Sizes(log_metric=2_000, log_metric_large=100_000,
             batch_points=100_000, runs=10_000, runs_large=100_000, repeats=3, search_repeats=5)
QUICK = Sizes(log_metric=2_000, log_metric_large=None,
              batch_points=5_000, runs=300, runs_large=None, repeats=1, search_repeats=3)


def _per_s(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


def _median(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return h.summary([r["seconds"] for r in results])


class Bench:
    def __init__(self, sizes: Sizes, ours: h.Worker, peer: h.Worker | None) -> None:
        self.sizes = sizes
        self.ours_worker = ours
        self.peer_worker = peer
        self.ours: dict[str, Any] = {}
        self.peer: dict[str, Any] = {}
        self.checks: dict[str, Any] = {}

    # -- import ------------------------------------------------------------------------------

    def imports(self, peer_python: Path | None) -> None:
        h.log("import time in fresh interpreters")
        ours_cases = {"import shipyard": "import shipyard",
                      "import shipyard; shipyard.start_run": "import shipyard; shipyard.start_run"}
        peer_cases = {"import mlflow": "import mlflow",
                      "import mlflow; mlflow.start_run": "import mlflow; mlflow.start_run"}
        cases: list[tuple[dict[str, Any], Path, dict[str, str]]] = [
            (self.ours, Path(sys.executable), ours_cases)]
        if peer_python is not None:
            cases.append((self.peer, peer_python, peer_cases))
        env = h.peer_env()
        samples: dict[str, list[dict[str, float]]] = {}
        for _, python, statements in cases:  # warm the page cache, not counted
            h.import_seconds(python, next(iter(statements.values())), env)
        for _ in range(max(3, self.sizes.repeats)):
            for _, python, statements in cases:
                for label, statement in statements.items():
                    samples.setdefault(label, []).append(h.import_seconds(python, statement, env))
        for side, _, statements in cases:
            side["import"] = {
                label: {
                    "statement_s": h.summary([s["statement_s"] for s in samples[label]]),
                    "process_s": h.summary([s["process_s"] for s in samples[label]]),
                }
                for label in statements
            }

    # -- log_metric --------------------------------------------------------------------------

    def log_metric(self) -> None:
        """Ours and MLflow (sync, then async) in turn at the same size; then a long run of
        ours alone, to show the rate holds."""
        s = self.sizes
        n = s.log_metric
        ours: dict[str, list[dict[str, Any]]] = {str(n): []}
        peer: dict[str, list[dict[str, Any]]] = {}
        h.log(f"log_metric x {n:,}" + ("" if self.peer_worker is None else
                                         " (ours, MLflow sync, MLflow async in turn)"))
        for _ in range(s.repeats):
            ours[str(n)].append(self.ours_worker.call("log_metric", n=n, experiment="log-metric"))
            if self.peer_worker is not None:
                for mode in ("sync", "async"):
                    peer.setdefault(f"{mode}_{n}", []).append(self.peer_worker.call(
                        "log_metric", n=n, experiment="log-metric",
                        asynchronous=mode == "async"))
        if s.log_metric_large is not None:
            large = s.log_metric_large
            h.log(f"log_metric x {large:,} (ours only)")
            ours[str(large)] = [
                self.ours_worker.call("log_metric", n=large, experiment="log-metric")
                for _ in range(s.repeats)
            ]
        self.ours["log_metric"] = {
            key: {**_median(rs), "points_per_s": _per_s(rs[0]["points"], _median(rs)["median_s"])}
            for key, rs in ours.items()
        }
        if peer:
            self.peer["log_metric"] = {
                key: {**_median(rs),
                      "points_per_s": _per_s(rs[0]["points"], _median(rs)["median_s"])}
                for key, rs in peer.items()
            }
            self.peer["log_metric"]["api"] = (
                "with mlflow.start_run(): mlflow.log_metric(...) x N; async_N with "
                "mlflow.config.enable_async_logging(True); timed until the run has ended")
        self.checks["log_metric_all_points_durable"] = all(
            r["durable_points"] == r["points"] for rs in (*ours.values(), *peer.values())
            for r in rs
        )

    # -- log_batch ---------------------------------------------------------------------------

    def log_batch(self) -> None:
        n = self.sizes.batch_points
        h.log(f"log_batch of {n:,} points into one run")
        ours, peer = [], []
        for _ in range(self.sizes.repeats):
            ours.append(self.ours_worker.call("log_batch", points=n, experiment="log-batch"))
            if self.peer_worker is not None:
                peer.append(self.peer_worker.call("log_batch", points=n, experiment="log-batch"))
        for side, results in ((self.ours, ours), (self.peer, peer)):
            if results:
                side["log_batch"] = {"points": n, "calls": results[0]["calls"], **_median(results),
                                     "points_per_s": _per_s(n, _median(results)["median_s"])}
        self.checks["log_batch_all_points_durable"] = all(
            r["durable_points"] == n for r in (*ours, *peer))

    # -- search and fetch --------------------------------------------------------------------

    def _search_args(self, experiment_id: str) -> dict[str, Any]:
        return {"experiment_id": experiment_id, "filter_string": data.SEARCH_FILTER,
                "order_by": data.SEARCH_ORDER_BY, "max_results": data.SEARCH_PAGE}

    def search_and_fetch(self) -> None:
        n = self.sizes.runs
        name = f"search-{n}"
        h.log(f"seeding {n:,} runs on each side (not timed)")
        ours_eid = self.ours_worker.call("seed", experiment=name, count=n, seed=1)
        self.ours["seed_runs_s"] = {str(n): round(ours_eid["seconds"], 2)}
        peer_eid = None
        if self.peer_worker is not None:
            peer_eid = self.peer_worker.call("seed", experiment=name, count=n, seed=1)
            self.peer["seed_runs_s"] = {str(n): round(peer_eid["seconds"], 2)}

        h.log(f"search over {n:,} runs: {data.SEARCH_FILTER!r} by {data.SEARCH_ORDER_BY}")
        ours, peer = [], []
        for _ in range(1 + self.sizes.search_repeats):  # the first call is reported as cold
            if self.peer_worker is not None and peer_eid is not None:
                peer.append(self.peer_worker.call(
                    "search", **self._search_args(peer_eid["experiment_id"])))
            ours.append(self.ours_worker.call(
                "search", **self._search_args(ours_eid["experiment_id"])))
        key = f"search_{n}_runs"
        for side, results in ((self.ours, ours), (self.peer, peer)):
            if results:
                side[key] = {"filter": data.SEARCH_FILTER, "order_by": data.SEARCH_ORDER_BY,
                             "max_results": data.SEARCH_PAGE, "results": len(results[0]["run_ids"]),
                             "cold_s": round(results[0]["seconds"], 6), **_median(results[1:])}
        self.checks["search_results_stable"] = all(
            r["run_ids"] == results[0]["run_ids"] for results in (ours, peer) for r in results)
        if peer:
            self.checks["search_same_run_ids_in_same_order"] = (
                ours[0]["run_ids"] == peer[0]["run_ids"])
            self.checks["search_result_counts"] = {"ours": len(ours[0]["run_ids"]),
                                                   "peer": len(peer[0]["run_ids"])}

        h.log(f"fetching all {n:,} runs")
        ours_all, peer_all = [], []
        for _ in range(self.sizes.repeats):
            if self.peer_worker is not None:
                peer_all.append(self.peer_worker.call("fetch_all", experiment=name))
            ours_all.append(self.ours_worker.call("fetch_all", experiment=name))
        key = f"fetch_all_{n}_runs"
        self.ours[key] = {"api": "shipyard.search_runs(experiments=[name])",
                          "runs": ours_all[0]["runs"], **_median(ours_all)}
        if peer_all:
            self.peer[key] = {
                "api": "mlflow.search_runs(experiment_names=[name], output_format='list') "
                       "(pages by 10,000, as its default pandas form does)",
                "runs": peer_all[0]["runs"], **_median(peer_all)}
            self.checks["fetch_all_same_data"] = (
                ours_all[0]["fingerprint"] == peer_all[0]["fingerprint"]
                and ours_all[0]["runs"] == peer_all[0]["runs"] == n)
        else:
            self.checks["fetch_all_count"] = ours_all[0]["runs"] == n

    def search_large(self) -> None:
        n = self.sizes.runs_large
        if n is None:
            return
        h.log(f"seeding {n:,} more runs in our store (not timed)")
        seeded = self.ours_worker.call("seed", experiment=f"search-{n}", count=n, seed=2,
                                       timeout=600)
        self.ours["seed_runs_s"][str(n)] = round(seeded["seconds"], 2)
        args = self._search_args(seeded["experiment_id"])
        h.log(f"search over {n:,} runs (ours only)")
        results = [self.ours_worker.call("search", **args)
                   for _ in range(1 + self.sizes.search_repeats)]
        plan = self.ours_worker.call("explain", **args)
        self.ours[f"search_{n}_runs"] = {
            "results": len(results[0]["run_ids"]), "cold_s": round(results[0]["seconds"], 6),
            **_median(results[1:]), "raw_sql_s": round(plan["raw_sql_seconds"], 6),
            "query_plan": plan["plan"], "sql": plan["sql"],
        }

    # -- result ------------------------------------------------------------------------------

    def ratios(self) -> dict[str, float | None]:
        if self.peer_worker is None:
            return {}
        o, p, s = self.ours, self.peer, self.sizes

        def cost(side: dict[str, Any], *path: str) -> float | None:
            node: Any = side
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            return node if isinstance(node, float) else None

        n = str(s.log_metric)
        return {
            f"log_metric_{n}_vs_mlflow_sync": h.ratio(
                cost(p, "log_metric", f"sync_{n}", "median_s"),
                cost(o, "log_metric", n, "median_s")),
            f"log_metric_{n}_vs_mlflow_async": h.ratio(
                cost(p, "log_metric", f"async_{n}", "median_s"),
                cost(o, "log_metric", n, "median_s")),
            f"log_batch_{s.batch_points}": h.ratio(cost(p, "log_batch", "median_s"),
                                                   cost(o, "log_batch", "median_s")),
            f"search_{s.runs}_runs": h.ratio(cost(p, f"search_{s.runs}_runs", "median_s"),
                                             cost(o, f"search_{s.runs}_runs", "median_s")),
            f"fetch_all_{s.runs}_runs": h.ratio(cost(p, f"fetch_all_{s.runs}_runs", "median_s"),
                                                cost(o, f"fetch_all_{s.runs}_runs", "median_s")),
            "import": h.ratio(cost(p, "import", "import mlflow", "statement_s", "median_s"),
                              cost(o, "import", "import shipyard", "statement_s", "median_s")),
        }

    def goals(self, ratios: dict[str, float | None]) -> dict[str, Any]:
        s = self.sizes
        large = self.ours.get(f"search_{s.runs_large}_runs")
        imported = self.ours["import"]["import shipyard"]["statement_s"]["median_s"]
        return {
            "log_metric_vs_mlflow_sync": h.goal_at_least(
                100, ratios.get(f"log_metric_{s.log_metric}_vs_mlflow_sync")),
            "log_metric_vs_mlflow_async": h.goal_at_least(
                3, ratios.get(f"log_metric_{s.log_metric}_vs_mlflow_async")),
            "log_batch_points_per_s_vs_mlflow": h.goal_at_least(
                10, ratios.get(f"log_batch_{s.batch_points}")),
            "search_vs_mlflow": h.goal_at_least(20, ratios.get(f"search_{s.runs}_runs")),
            "search_100000_runs_first_page_ms": h.goal_below(
                50, None if large is None else round(large["median_s"] * 1000, 2), "ms"),
            "fetch_all_vs_mlflow": h.goal_at_least(10, ratios.get(f"fetch_all_{s.runs}_runs")),
            "import_shipyard_s": h.goal_below(0.3, round(imported, 4), "s"),
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and no peer (the smoke form `make test` runs)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine = h.machine_info()
    peer_python, peer_requirements = None, None
    if not args.quick:
        peer_python, peer_requirements = h.ensure_peer_venv("mlflow-3.17.2", PEER_VARIANTS,
                                                            PEER_PROBE)
    error = None
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-tracking-") as tmp:
        root = Path(tmp)
        for folder in ("ours", "peer", "mlflow-artifacts"):
            (root / folder).mkdir()
        ours = h.Worker("shipyard", Path(sys.executable), WORKERS / "tracking_shipyard.py",
                        cwd=root / "ours", log_path=root / "ours.log",
                        env=h.peer_env({"SHIPYARD_HOME": str(root / "ours" / "home")}))
        peer = None
        if peer_python is not None:
            peer = h.Worker("mlflow", peer_python, WORKERS / "tracking_mlflow.py",
                            cwd=root / "peer", log_path=root / "peer.log",
                            env=h.peer_env({
                                "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'peer' / 'mlflow.db'}",
                                "BENCH_ARTIFACT_ROOT": str(root / "mlflow-artifacts"),
                            }))
        bench = Bench(sizes, ours, peer)

        def versions() -> None:
            bench.ours["versions"] = ours.call("info")
            if peer is not None:
                bench.peer["versions"] = {**peer.call("info", timeout=600),
                                          "installed": peer_requirements}

        error = h.run_steps([versions, lambda: bench.imports(peer_python), bench.log_metric,
                             bench.log_batch, bench.search_and_fetch, bench.search_large],
                            [ours, peer])
    h.record_run(bench.ours, bench.checks, started=started, sizes=sizes.__dict__,
                 quick=args.quick, error=error)
    ratios = bench.ratios() if error is None else {}
    goals = bench.goals(ratios) if error is None else {}
    h.log(f"done in {bench.ours['benchmark_wall_s']} s")
    h.emit("tracking", machine, bench.ours, None if args.quick else bench.peer, ratios, goals)
    return 1 if error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
