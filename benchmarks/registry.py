"""Model registry: Shipyard vs MLflow 3.17.2's registry on SQLite, side by side in one run.

    .venv/bin/python benchmarks/registry.py           # full run (make bench-registry)
    .venv/bin/python benchmarks/registry.py --quick   # small sizes, no peer (make test)

Each side runs in its own worker process (ours with this interpreter, MLflow with the Python of
``.bench/mlflow-3.17.2``, installed on first use) against a SQLite file in a temporary folder.

1. Populate (not a goal, reported for information): 1,000 registered models x 10 versions, each
   version with three tags (``stage`` dev/staging/prod, ``team`` one of 10, ``owner`` one of
   50; the same seeded values on both sides), through the public API: Shipyard's
   ``Client().registry.create_version`` (one audited transaction per version; the model is
   made with its first version), MLflow's ``create_registered_model`` + ``create_model_version``.
   The two sides alternate by blocks of models.
2. Search, the same logical query on both sides, first page of 100 (``max_results=100``):
   ``tags.stage = 'prod'`` (the goal's query; a third of the versions match),
   ``name = 'model-0333' AND tags.stage = 'prod'`` and, for information, a rarer tag value
   ``tags.owner = 'owner-07@example.com'`` (one version in 50). Shipyard orders by name, then
   newest version first; MLflow is timed twice: in that same order (``order_by=["name ASC",
   "version_number DESC"]``, the same 100 versions, the figure the goal uses) and in its default
   order (``last_updated_timestamp DESC, name ASC, version_number DESC``, for information).
   The first call of each is reported as cold; the median of the rest is the figure.
3. Fetch all matches: page through with ``max_results=100`` and the returned page token until
   there is none; both sides must return exactly the versions the data says match.
4. Audit: ``benchmarks/audit_verify.py`` (100,000 events; ``--quick``: 2,000) as a subprocess,
   whose in-process ``AuditLog.verify`` median is the goal's figure; and, for information, the
   verify of the chain that step 1 wrote (one event per model and per version).

The sides alternate who goes first from one repeat to the next. The last line of stdout is one
JSON object (see ``benchmarks/_harness.py``); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _harness as h

PEER = "mlflow==3.17.2"
PEER_VENV = "mlflow-3.17.2"
PEER_VARIANTS = [[PEER], ["mlflow-skinny==3.17.2", "sqlalchemy", "alembic"]]
PEER_PROBE = "import mlflow, sqlalchemy, alembic; assert mlflow.__version__ == '3.17.2'"
HERE = Path(__file__).resolve().parent
WORKERS = HERE / "workers"
sys.path.insert(0, str(WORKERS))
import registry_data as data  # noqa: E402 - the workers' folder, put on the path just above

BUDGET_S = 480.0  # start no further repeat past this: the whole run stays within 10 minutes
SAME_ORDER = ["name ASC", "version_number DESC"]  # MLflow's spelling of Shipyard's order
AUDIT_GOAL_S = 2.0
SEARCH_GOAL_X = 10.0


@dataclass(frozen=True)
class Sizes:
    models: int
    versions: int  # per model
    block: int  # models per populate call (the sides alternate by blocks)
    page: int  # max_results of every search call
    search_repeats: int  # timed repeats after the cold call
    fetch_repeats: int
    audit_events: int


FULL = Sizes(models=1_000, versions=10, block=100, page=100, search_repeats=15,
             fetch_repeats=5, audit_events=100_000)
QUICK = Sizes(models=50, versions=3, block=25, page=20, search_repeats=2, fetch_repeats=1,
              audit_events=2_000)


def _median(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return h.summary([r["seconds"] for r in results])


class Bench:
    def __init__(self, sizes: Sizes, ours: h.Worker, peer: h.Worker | None) -> None:
        self.sizes = sizes
        self.ours_worker = ours
        self.peer_worker = peer
        self.started = time.perf_counter()
        self.ours: dict[str, Any] = {}
        self.peer: dict[str, Any] = {}
        self.checks: dict[str, Any] = {}
        self.notes: list[str] = []

    def over_budget(self) -> bool:
        return time.perf_counter() - self.started > BUDGET_S

    def sides(self, turn: int) -> list[tuple[str, h.Worker]]:
        """Both workers, in the order this turn runs them (the first alternates)."""
        pairs = [("ours", self.ours_worker)]
        if self.peer_worker is not None:
            pairs.append(("peer", self.peer_worker))
        return pairs if turn % 2 == 0 else pairs[::-1]

    # -- populate ----------------------------------------------------------------------------

    def populate(self) -> None:
        s = self.sizes
        total = s.models * s.versions
        h.log(f"populating {s.models:,} models x {s.versions} versions x 3 tags on each side "
              "through the public API (not a goal)")
        seconds = {"ours": 0.0, "peer": 0.0}
        for turn, first in enumerate(range(0, s.models, s.block)):
            stop = min(s.models, first + s.block)
            for side, worker in self.sides(turn):
                done = worker.call("populate", first=first, stop=stop, versions=s.versions,
                                   timeout=600)
                seconds[side] += done["seconds"]
            h.log(f"  {stop * s.versions:,} / {total:,} versions (so far: ours "
                  f"{seconds['ours']:.1f} s"
                  + ("" if self.peer_worker is None else f", MLflow {seconds['peer']:.1f} s")
                  + ")")
        self.ours["populate"] = {
            "api": "Client().registry.create_version(name, source, actor=..., tags={3 tags}) "
                   "(one audited transaction each; the model is made with its first version)",
            "versions": total, "seconds": round(seconds["ours"], 2),
            "ms_per_version": round(seconds["ours"] * 1000 / total, 3)}
        if self.peer_worker is not None:
            self.peer["populate"] = {
                "api": "MlflowClient.create_registered_model(name) + "
                       "create_model_version(name, source, tags={3 tags})",
                "versions": total, "seconds": round(seconds["peer"], 2),
                "ms_per_version": round(seconds["peer"] * 1000 / total, 3)}
        want = {"registered_models": s.models, "model_versions": total,
                "model_version_tags": 3 * total}
        ours = self.ours_worker.call("counts")
        self.ours["store_rows"] = ours
        self.checks["ours_rows"] = all(ours[k] == v for k, v in want.items())
        self.checks["ours_one_audit_event_per_model_and_version"] = (
            ours["audit_events"] == s.models + total)
        if self.peer_worker is not None:
            peer = self.peer_worker.call("counts")
            self.peer["store_rows"] = peer
            self.checks["peer_rows"] = all(peer[k] == v for k, v in want.items())

    # -- search ------------------------------------------------------------------------------

    def _peer_variants(self) -> dict[str, list[str] | None]:
        return {"same_order": SAME_ORDER, "default_order": None}

    def search(self) -> None:
        s = self.sizes
        for label, text in data.filters(s.models).items():
            expected = data.expected(s.models, s.versions, label)
            h.log(f"search {text!r}: first page of {s.page} "
                  f"({len(expected):,} of {s.models * s.versions:,} versions match)")
            ours: list[dict[str, Any]] = []
            peer: dict[str, list[dict[str, Any]]] = {k: [] for k in self._peer_variants()}
            for turn in range(1 + s.search_repeats):  # the first call is reported as cold
                if turn > 1 and self.over_budget():
                    self.notes.append(f"search {label}: stopped after {turn} calls (budget)")
                    break
                for side, worker in self.sides(turn):
                    if side == "ours":
                        ours.append(worker.call("search", filter_string=text,
                                                max_results=s.page))
                    else:  # MLflow's two orders, also in turn
                        variants = list(self._peer_variants().items())
                        for variant, order_by in variants[::1 if turn % 2 == 0 else -1]:
                            peer[variant].append(worker.call(
                                "search", filter_string=text, max_results=s.page,
                                order_by=order_by))
            key = f"search_{label}_first_page"
            want_first = sorted(expected, key=lambda k: (k[0], -k[1]))[:s.page]
            self.ours[key] = self._search_figure(text, ours, "name ASC, version DESC")
            self.checks[f"{key}_ours_expected_versions"] = (
                [tuple(k) for k in ours[0]["keys"]] == want_first)
            self.checks[f"{key}_ours_stable"] = all(r["keys"] == ours[0]["keys"] for r in ours)
            self.checks[f"{key}_ours_all_tags_returned"] = all(r["all_tagged"] for r in ours)
            if self.peer_worker is not None:
                same, default = peer["same_order"], peer["default_order"]
                self.peer[key] = self._search_figure(
                    text, same, "name ASC, version_number DESC (order_by=" + repr(SAME_ORDER)
                    + "; the same versions as ours)")
                self.peer[f"{key}_default_order"] = self._search_figure(
                    text, default, "MLflow's default: last_updated_timestamp DESC, name ASC, "
                    "version_number DESC")
                self.checks[f"{key}_same_versions_same_order"] = (
                    same[0]["keys"] == ours[0]["keys"])
                self.checks[f"{key}_peer_default_order_expected_count"] = (
                    len(default[0]["keys"]) == min(s.page, len(expected))
                    and {tuple(k) for k in default[0]["keys"]} <= expected)
                self.checks[f"{key}_peer_all_tags_returned"] = all(
                    r["all_tagged"] for r in (*same, *default))

    @staticmethod
    def _search_figure(text: str, results: list[dict[str, Any]], order: str) -> dict[str, Any]:
        timed = results[1:] or results
        return {"filter": text, "order": order, "results": len(results[0]["keys"]),
                "more_pages": results[0]["more"], "cold_s": round(results[0]["seconds"], 6),
                **_median(timed)}

    # -- fetch all ---------------------------------------------------------------------------

    def fetch_all(self) -> None:
        s = self.sizes
        for label, text in data.filters(s.models).items():
            expected = data.expected(s.models, s.versions, label)
            h.log(f"fetch all {len(expected):,} matches of {text!r}, pages of {s.page}")
            ours: list[dict[str, Any]] = []
            peer: list[dict[str, Any]] = []
            for turn in range(s.fetch_repeats):
                if turn > 0 and self.over_budget():
                    self.notes.append(f"fetch_all {label}: stopped after {turn} repeats (budget)")
                    break
                for side, worker in self.sides(turn):
                    done = worker.call("fetch_all", filter_string=text, page_size=s.page)
                    (ours if side == "ours" else peer).append(done)
            key = f"fetch_all_{label}"
            want = data.fingerprint(expected)
            for side, results, order in (
                    ("ours", ours, "name ASC, version DESC"),
                    ("peer", peer, "MLflow's default order")):
                if not results:
                    continue
                first = results[0]
                figure = {"filter": text, "page_size": s.page, "order": order,
                          "matches": first["matches"], "pages": first["pages"],
                          **_median(results)}
                (self.ours if side == "ours" else self.peer)[key] = figure
                self.checks[f"{key}_{side}_exactly_the_matching_versions"] = all(
                    r["matches"] == r["distinct"] == len(expected) and r["fingerprint"] == want
                    for r in results)

    # -- diagnostics and audit ---------------------------------------------------------------

    def explain(self) -> None:
        for label, text in data.filters(self.sizes.models).items():
            plan = self.ours_worker.call("explain", filter_string=text,
                                         max_results=self.sizes.page)
            self.ours[f"search_{label}_first_page"].update(
                {"raw_sql_s": round(plan["raw_sql_seconds"], 6), "query_plan": plan["plan"],
                 "sql": plan["sql"]})

    def registry_audit(self) -> None:
        h.log("verifying the audit chain the registry writes appended")
        done = self.ours_worker.call("verify_audit", timeout=600)
        self.ours["registry_audit_chain_verify"] = {
            "events": done["events"], "seconds": round(done["seconds"], 6)}
        self.checks["registry_audit_chain_verified"] = bool(done["ok"])

    # -- result ------------------------------------------------------------------------------

    def ratios(self) -> dict[str, float | None]:
        if self.peer_worker is None:
            return {}
        found: dict[str, float | None] = {}
        for label in data.filters(self.sizes.models):
            first, every = f"search_{label}_first_page", f"fetch_all_{label}"
            ours = self.ours.get(first, {}).get("median_s")
            found[first] = h.ratio(self.peer.get(first, {}).get("median_s"), ours)
            found[f"{first}_vs_mlflow_default_order"] = h.ratio(
                self.peer.get(f"{first}_default_order", {}).get("median_s"), ours)
            found[every] = h.ratio(self.peer.get(every, {}).get("median_s"),
                                   self.ours.get(every, {}).get("median_s"))
        found["populate"] = h.ratio(self.peer.get("populate", {}).get("seconds"),
                                    self.ours.get("populate", {}).get("seconds"))
        return found


def audit_benchmark(quick: bool, root: Path) -> dict[str, Any]:
    """``benchmarks/audit_verify.py`` in a process of its own; its result's ``ours``."""
    command = [sys.executable, str(HERE / "audit_verify.py"), *(["--quick"] if quick else [])]
    env = h.peer_env({"SHIPYARD_AUDIT_KEY": secrets.token_hex(32),
                      "SHIPYARD_AUDIT_CHECKPOINT": str(root / "audit-bench-checkpoint.json")})
    h.log(f"running {' '.join(Path(c).name for c in command)} as a subprocess")
    done = subprocess.run(command, cwd=root, env=env, stdout=subprocess.PIPE, text=True,
                          timeout=60 if quick else 240, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"audit_verify.py exited {done.returncode}: {done.stdout[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return dict(result["ours"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and no peer (the smoke form `make test` runs)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine = h.machine_info()
    peer_python, peer_requirements = None, None
    if not args.quick:
        peer_python, peer_requirements = h.ensure_peer_venv(PEER_VENV, PEER_VARIANTS,
                                                            PEER_PROBE)
    error = None
    audit: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-registry-") as tmp:
        root = Path(tmp)
        for folder in ("ours", "peer", "audit"):
            (root / folder).mkdir()
        ours = h.Worker("shipyard", Path(sys.executable), WORKERS / "registry_shipyard.py",
                        cwd=root / "ours", log_path=root / "ours.log",
                        env=h.peer_env({
                            "SHIPYARD_HOME": str(root / "ours" / "home"),
                            "SHIPYARD_AUDIT_KEY": secrets.token_hex(32),
                            "SHIPYARD_AUDIT_CHECKPOINT": str(root / "ours" / "checkpoint.json"),
                            "SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT": "false",
                        }))
        peer = None
        if peer_python is not None:
            peer = h.Worker("mlflow", peer_python, WORKERS / "registry_mlflow.py",
                            cwd=root / "peer", log_path=root / "peer.log",
                            env=h.peer_env({
                                "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'peer' / 'mlflow.db'}",
                            }))
        bench = Bench(sizes, ours, peer)

        def versions() -> None:
            bench.ours["versions"] = ours.call("info")
            if peer is not None:
                bench.peer["versions"] = {**peer.call("info", timeout=600),
                                          "installed": peer_requirements}

        error = h.run_steps([versions, bench.populate, bench.search, bench.fetch_all,
                             bench.explain, bench.registry_audit], [ours, peer])
        if error is None:
            try:
                audit = audit_benchmark(args.quick, root / "audit")
            except Exception:
                error = traceback.format_exc()
                print(error, file=sys.stderr)
    bench.ours["audit_verify"] = audit
    if audit:
        bench.checks["audit_verify_chain_verified"] = (
            bool(audit.get("checks", {}).get("verified"))
            and audit.get("events") == sizes.audit_events)
    bench.ours["goal_basis"] = (
        "version_search_tag_filter_vs_mlflow: ratio of median first-page times (max_results="
        f"{sizes.page}) of {data.TAG_FILTER!r} over {sizes.models:,} models x {sizes.versions} "
        "versions, MLflow ordered as Shipyard orders (the same 100 versions); the ratio against "
        "MLflow's default order and the all-matches (page-through) ratio are in 'ratios'. "
        "audit_verify_100k_events: median in-process AuditLog.verify of benchmarks/"
        f"audit_verify.py over {sizes.audit_events:,} events")
    if bench.notes:
        bench.ours["notes"] = bench.notes
    h.record_run(bench.ours, bench.checks, started=started, sizes=sizes.__dict__,
                 quick=args.quick, error=error)
    ratios = bench.ratios() if error is None else {}
    verify = audit.get("verify", {}).get("median_s") if audit else None
    goals = {
        "version_search_tag_filter_vs_mlflow": h.goal_at_least(
            SEARCH_GOAL_X, ratios.get("search_tag_first_page")),
        "audit_verify_100k_events": h.goal_below(
            AUDIT_GOAL_S, None if args.quick or verify is None else round(verify, 6), "s"),
    }
    h.log(f"done in {bench.ours['benchmark_wall_s']} s")
    h.emit("registry", machine, bench.ours, None if args.quick else bench.peer, ratios, goals)
    return 1 if error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
