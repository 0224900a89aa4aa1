"""Tracking server: ``shipyard server`` vs ``mlflow server`` 3.17.2, both on SQLite, in one run.

    .venv/bin/python benchmarks/tracking_server.py           # full run (make bench-tracking-server)
    .venv/bin/python benchmarks/tracking_server.py --quick   # ours only, small (make test)

The same MLflow client (``MlflowClient(tracking_uri)``, one HTTP request per call) drives every
server, from a worker running the Python of ``.bench/mlflow-3.17.2`` (the peer, installed on
first use). Three servers run on loopback ports, each with its own SQLite file and artifact
folder in a temporary directory: ``shipyard server`` as users start it, ``mlflow server`` as
users start it (its default of 4 workers) and ``mlflow server --workers 1``, its fastest setting
for single calls. For each: the seconds from spawn to the first 200 from ``/health``, the memory
of its whole process tree once idle, then single ``log_metric`` calls and ``log_batch`` calls of
1000 metrics, every server in turn in each round (medians of the rounds; best also reported).
The points are read back through the same client afterwards and counted in ``checks``.

``--quick`` runs only ``shipyard server``, with small sizes, driven by the same client code
imported here from ``.venv``'s ``mlflow-skinny`` (a test dependency): no peer is installed.
The last line of stdout is one JSON object (see ``benchmarks/_harness.py``); progress goes to
stderr. Every server is stopped, with its whole process tree, however the run ends.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import _harness as h

import shipyard

PEER = "mlflow==3.17.2"
PEER_VARIANTS = [[PEER]]  # `mlflow server` needs the full package, not mlflow-skinny
PEER_PROBE = ("import mlflow, mlflow.server, sqlalchemy, uvicorn; "
              "assert mlflow.__version__ == '3.17.2'")
CLIENT = Path(__file__).resolve().parent / "workers" / "tracking_server_client.py"
BUDGET_S = 480.0  # no new round starts after this (the run must end within 10 minutes)
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

OURS = "shipyard"
MLFLOW_DEFAULT = "mlflow_default_workers"
MLFLOW_ONE = "mlflow_workers_1"


@dataclass(frozen=True)
class Sizes:
    log_metric_calls: int  # single log_metric calls per server per round
    log_metric_rounds: int  # every server once per round; figures are medians over rounds
    batch_points: int  # points per server per round, in log_batch calls of 1000
    batch_rounds: int
    our_starts: int  # spawns of our server timed to /health (MLflow's: one per setting)


# Many short rounds rather than a few long ones: the machines are shared, and a burst of load
# from elsewhere then lands on every server alike instead of on one server's long block.
FULL = Sizes(log_metric_calls=200, log_metric_rounds=7, batch_points=50_000, batch_rounds=5,
             our_starts=3)
QUICK = Sizes(log_metric_calls=100, log_metric_rounds=1, batch_points=2_000, batch_rounds=1,
              our_starts=1)


@dataclass(frozen=True)
class ServerSpec:
    name: str
    description: str
    command: list[str]
    env: dict[str, str]
    url: str
    folder: Path


def our_server(folder: Path, port: int) -> ServerSpec:
    script = Path(sys.executable).with_name("shipyard")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "shipyard"]
    command = [*launcher, "server", "--host", h.LOOPBACK, "--port", str(port),
               "--backend-store-uri", f"sqlite:///{folder / 'shipyard.db'}",
               "--artifacts-destination", (folder / "artifacts").as_uri()]
    return ServerSpec(OURS, "shipyard server (its defaults)", command,
                      h.peer_env({"SHIPYARD_HOME": str(folder / "home"), **NO_PROXY}),
                      f"http://{h.LOOPBACK}:{port}", folder)


def mlflow_server(name: str, peer_python: Path, folder: Path, port: int,
                  extra: Sequence[str] = ()) -> ServerSpec:
    command = [str(peer_python.with_name("mlflow")), "server",
               "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
               "--artifacts-destination", (folder / "artifacts").as_uri(),
               "--host", h.LOOPBACK, "--port", str(port), *extra]
    description = "mlflow server " + (" ".join(extra) if extra else "(its defaults: 4 workers)")
    return ServerSpec(name, description, command, h.peer_env(NO_PROXY),
                      f"http://{h.LOOPBACK}:{port}", folder)


def _per_s(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


class Bench:
    """One run: the servers, the client that drives them, and the figures gathered."""

    def __init__(self, sizes: Sizes, client: h.Worker | h.LocalWorker, root: Path,
                 stack: contextlib.ExitStack, started: float) -> None:
        self.sizes = sizes
        self.client = client
        self.root = root
        self.stack = stack
        self.started = started  # time.perf_counter() when the benchmark started
        self.servers: dict[str, h.ServerProcess] = {}  # the ones the workload runs against
        self.specs: dict[str, ServerSpec] = {}
        self.figures: dict[str, dict[str, Any]] = {}
        self.checks: dict[str, Any] = {}
        self.runs: dict[str, dict[str, list[str]]] = {}  # server -> workload -> run ids
        self.keys: dict[str, list[str]] = {}  # workload -> the metric keys it logs
        self.expected: dict[str, int] = {}  # workload -> points in each of its runs
        self.rounds_done: dict[str, int] = {}

    # -- start-up ----------------------------------------------------------------------------

    def _start(self, spec: ServerSpec, keep: bool) -> dict[str, Any]:
        """Spawn a server, time it to /health, let it settle, measure its tree's memory."""
        spec.folder.mkdir(parents=True)
        server = self.stack.enter_context(h.ServerProcess(
            spec.name, spec.command, health_url=f"{spec.url}/health", env=spec.env,
            cwd=spec.folder, log_path=spec.folder / "server.log"))
        h.log(f"starting {spec.description}")
        health_s = server.start()
        time.sleep(1.0)
        rss_1s = server.rss_mb()
        settle_s = 1.0 + server.settle()
        sample = {"health_s": round(health_s, 3), "rss_mb_1s_after_health": rss_1s,
                  "settled_s_after_health": round(settle_s, 1), "rss_mb": server.rss_mb(),
                  "pss_mb": server.pss_mb(), "processes": len(server.tree())}
        h.log(f"  /health after {health_s:.2f} s; idle after {settle_s:.1f} s more: "
              f"{sample['rss_mb']:.0f} MB RSS in {sample['processes']} process(es)")
        if keep:
            self.servers[spec.name] = server
            self.specs[spec.name] = spec
        else:
            server.stop()
        return sample

    def start_servers(self, peer_python: Path | None) -> None:
        """Our spawns alternate with MLflow's; the last of each setting is kept running."""
        n = self.sizes.our_starts
        ours = [our_server(self.root / f"{OURS}-{i}", h.free_port()) for i in range(n)]
        peers: list[ServerSpec] = []
        if peer_python is not None:
            peers = [mlflow_server(MLFLOW_DEFAULT, peer_python, self.root / MLFLOW_DEFAULT,
                                   h.free_port()),
                     mlflow_server(MLFLOW_ONE, peer_python, self.root / MLFLOW_ONE,
                                   h.free_port(), ["--workers", "1"])]
        samples: dict[str, list[dict[str, Any]]] = {}
        for i, spec in enumerate(ours):
            samples.setdefault(OURS, []).append(self._start(spec, keep=i == n - 1))
            if i < len(peers):
                samples[peers[i].name] = [self._start(peers[i], keep=True)]
        for spec in peers[n:]:
            samples[spec.name] = [self._start(spec, keep=True)]
        for name, runs in samples.items():
            self.figures[name] = {"server": {"description": self.specs[name].description,
                                             "command": self.specs[name].command},
                                  "start": _start_figures(runs)}
        # Entered last, so it runs first on the way out: all the servers stop at once.
        self.stack.callback(self._terminate_all)

    def _terminate_all(self) -> None:
        h.log("stopping the servers")
        for server in self.servers.values():
            server.terminate()

    # -- workloads ---------------------------------------------------------------------------

    def _order(self, round_index: int) -> list[str]:
        """Every server once, the first one changing from round to round."""
        names = list(self.servers)
        shift = round_index % len(names)
        return names[shift:] + names[:shift]

    def _rounds(self, workload: str, rounds: int, op: str,
                each_round: Callable[[], None] | None = None,
                **args: Any) -> dict[str, list[dict[str, Any]]]:
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in self.servers}
        for r in range(rounds):
            if r > 0 and time.perf_counter() - self.started > BUDGET_S:
                h.log(f"  time budget spent: {workload} stops after {r} round(s)")
                break
            if each_round is not None:
                each_round()
            for name in self._order(r):
                uri = self.specs[name].url
                run_id = self.client.call("create_run", tracking_uri=uri,
                                          experiment=f"bench-{workload}")
                self.runs.setdefault(name, {}).setdefault(workload, []).append(run_id)
                result = self.client.call(op, timeout=420, tracking_uri=uri, run_id=run_id,
                                          **args)
                results[name].append(result)
                self.keys[workload] = result["keys"]
                self.expected[workload] = result["points"]
                h.log(f"  round {r + 1}, {name}: {result['calls']} calls in "
                      f"{result['seconds']:.2f} s")
            self.rounds_done[workload] = r + 1
        return results

    def log_metric(self) -> None:
        n = self.sizes.log_metric_calls
        h.log(f"log_metric: {n:,} single calls per server per round")
        rounds = self.sizes.log_metric_rounds
        for name, results in self._rounds("log_metric", rounds, "log_metric", n=n).items():
            stats = h.summary([r["seconds"] for r in results])
            middle = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
            self.figures[name]["log_metric"] = {
                "api": "MlflowClient(uri).log_metric(run_id, key, value, step=i)",
                "calls": n, **stats, "calls_per_s": _per_s(n, stats["median_s"]),
                "ms_per_call": round(stats["median_s"] / n * 1000, 3),
                "latency_of_median_round": middle["latency"]}

    def log_batch(self) -> None:
        n = self.sizes.batch_points
        h.log(f"log_batch: {n:,} points per server per round, 1000 per call")
        rounds = self.sizes.batch_rounds
        client_only: list[dict[str, Any]] = []

        def time_the_client_alone() -> None:  # once a round, beside the servers
            result = self.client.call("log_batch_client_only", timeout=420, points=n)
            client_only.append(result)
            h.log(f"  client alone (no HTTP): {result['calls']} calls in "
                  f"{result['seconds']:.2f} s")

        per_server = self._rounds("log_batch", rounds, "log_batch", time_the_client_alone,
                                  points=n)
        client = _client_only_figures(client_only)
        for name, results in per_server.items():
            stats = h.summary([r["seconds"] for r in results])
            calls = results[0]["calls"]
            self.figures[name]["log_batch"] = {
                "api": "MlflowClient(uri).log_batch(run_id, metrics=[1000 Metric])",
                "points": n, "calls": calls, **stats,
                "points_per_s": _per_s(n, stats["median_s"]),
                "ms_per_call": round(stats["median_s"] / calls * 1000, 3),
                "client_only": client}

    # -- checks ------------------------------------------------------------------------------

    def read_back(self) -> None:
        """Every run's metric history, counted through the same client from its server."""
        h.log("reading the points back through the client")
        counts: dict[str, dict[str, list[int]]] = {}
        complete = True
        for name, workloads in self.runs.items():
            uri = self.specs[name].url
            for workload, run_ids in workloads.items():
                found = [self.client.call("history_count", tracking_uri=uri, run_id=run_id,
                                          keys=self.keys[workload]) for run_id in run_ids]
                counts.setdefault(name, {})[workload] = found
                complete &= all(count == self.expected[workload] for count in found)
        self.checks["history_counts"] = counts
        self.checks["points_per_run"] = self.expected
        self.checks["all_points_read_back"] = complete

    def after_workload(self) -> None:
        for name, server in self.servers.items():
            self.figures[name]["start"]["rss_mb_after_workload"] = server.rss_mb()

    # -- result ------------------------------------------------------------------------------

    def _cost(self, name: str, *path: str) -> float | None:
        node: Any = self.figures.get(name)
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        return float(node) if isinstance(node, int | float) else None

    def ratios(self) -> dict[str, float | None]:
        if MLFLOW_DEFAULT not in self.figures:
            return {}
        result: dict[str, float | None] = {}
        for peer, label in ((MLFLOW_DEFAULT, "mlflow_default_workers"),
                            (MLFLOW_ONE, "mlflow_workers_1")):
            for workload in ("log_metric", "log_batch"):
                result[f"{workload}_vs_{label}"] = h.ratio(
                    self._cost(peer, workload, "median_s"), self._cost(OURS, workload, "median_s"))
            for figure in ("health_s", "rss_mb"):
                result[f"start_{figure}_vs_{label}"] = h.ratio(
                    self._cost(peer, "start", figure), self._cost(OURS, "start", figure))
        return result

    def goals(self, ratios: dict[str, float | None]) -> dict[str, Any]:
        return {
            "log_metric_vs_mlflow_default_workers": h.goal_at_least(
                10, ratios.get("log_metric_vs_mlflow_default_workers")),
            "log_metric_vs_mlflow_workers_1": h.goal_at_least(
                3, ratios.get("log_metric_vs_mlflow_workers_1")),
            "log_batch_vs_mlflow_default_workers": h.goal_at_least(
                5, ratios.get("log_batch_vs_mlflow_default_workers")),
            "health_after_spawn_s": h.goal_below(1.5, self._cost(OURS, "start", "health_s"), "s"),
            "idle_rss_mb": h.goal_below(200, self._cost(OURS, "start", "rss_mb"), "MB"),
        }


def _client_only_figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Informational: what the MLflow client alone spends on the same log_batch calls (its
    HTTP send stubbed out), the floor under every server's time per call. Not a goal."""
    if not results:
        return {}
    stats = h.summary([r["seconds"] for r in results])
    calls = results[0]["calls"]
    return {"what": "MlflowClient.log_batch with the HTTP send stubbed out: building the "
                    "request and encoding its JSON body only, no server (informational)",
            "calls": calls, **stats, "ms_per_call": round(stats["median_s"] / calls * 1000, 3)}


def _start_figures(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each start-up figure (one sample per spawn), and the samples."""
    def median(key: str) -> float | None:
        values = sorted(s[key] for s in samples if s[key] is not None)
        return values[len(values) // 2] if values else None

    return {"health_s": median("health_s"), "best_health_s": min(s["health_s"] for s in samples),
            "rss_mb": median("rss_mb"), "pss_mb": median("pss_mb"),
            "rss_mb_1s_after_health": median("rss_mb_1s_after_health"),
            "spawns": samples}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="ours only, small sizes, no peer (the smoke form `make test` runs)")
    args = parser.parse_args(argv)
    # A plain kill of the benchmark still stops the servers (the exit stack below runs).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine = h.machine_info()
    peer_python, peer_requirements = None, None
    if not args.quick:
        peer_python, peer_requirements = h.ensure_peer_venv("mlflow-3.17.2", PEER_VARIANTS,
                                                            PEER_PROBE)
    error = None
    versions: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-server-") as tmp, \
            contextlib.ExitStack() as stack:
        root = Path(tmp)
        client: h.Worker | h.LocalWorker
        if peer_python is None:
            os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                               **NO_PROXY})
            client = h.LocalWorker("mlflow client", CLIENT)
        else:
            client = h.Worker("mlflow client", peer_python, CLIENT, cwd=root,
                              env=h.peer_env(NO_PROXY), log_path=root / "client.log")
        stack.callback(client.close)  # the servers (entered later) stop first
        bench = Bench(sizes, client, root, stack, started)
        try:
            versions = {"client": client.call("info"), "shipyard": shipyard.__version__}
            if peer_requirements is not None:
                versions["peer_installed"] = peer_requirements
            bench.start_servers(peer_python)
            bench.log_metric()
            bench.log_batch()
            bench.after_workload()
            bench.read_back()
        except Exception:
            error = traceback.format_exc()
            print(error, file=sys.stderr)
    ours = bench.figures.get(OURS, {})
    ours.update({"checks": bench.checks, "versions": versions,
                 "rounds_done": bench.rounds_done,
                 "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                 "sizes": asdict(sizes) | {"quick": args.quick},
                 "benchmark_wall_s": round(time.perf_counter() - started, 1)})
    if error is not None:
        ours["error"] = error.strip().splitlines()[-1]
    peer = None if args.quick else {
        name: bench.figures.get(name) for name in (MLFLOW_DEFAULT, MLFLOW_ONE)}
    ratios = bench.ratios() if error is None else {}
    goals = bench.goals(ratios) if error is None else {}
    h.log(f"done in {ours['benchmark_wall_s']} s")
    h.emit("tracking_server", machine, ours, peer, ratios, goals)
    return 1 if error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
