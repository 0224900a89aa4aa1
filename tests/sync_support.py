"""Helpers of the sync tests: a seeded Shipyard store, a full dump of a store, and a store that
fails on purpose (a real exception raised in-process at the Nth write)."""

from __future__ import annotations

import math
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from shipyard.artifacts import open_content_store
from shipyard.entities import Metric, RunStatus, ViewType
from shipyard.errors import BackendError
from shipyard.services.sync_source import search_all_runs, walk_artifacts
from shipyard.store.db import create_db_engine
from shipyard.store.tracking.protocol import TrackingStore
from shipyard.store.tracking.sql import SqlTrackingStore

WRITES = ("create_experiment", "set_experiment_tag", "delete_experiment", "restore_experiment",
          "create_run", "update_run", "delete_run", "restore_run", "log_batch",
          "log_artifact_file", "log_artifact_bytes")


def sqlite_store(folder: Path) -> SqlTrackingStore:
    """A store in ``folder`` laid out as an embedded store: shipyard.db and artifacts/."""
    return SqlTrackingStore(create_db_engine(f"sqlite:///{folder / 'shipyard.db'}"),
                            open_content_store((folder / "artifacts").as_uri()))


class FailingStore(SqlTrackingStore):
    """A SQLite store whose ``fail_at``-th write raises ``BackendError`` — before the write
    happens, or after it committed (``after``), as a connection lost at the wrong moment
    would. ``writes`` counts every write call."""

    def __init__(self, folder: Path, fail_at: int | None = None, after: bool = False) -> None:
        super().__init__(create_db_engine(f"sqlite:///{folder / 'shipyard.db'}"),
                         open_content_store((folder / "artifacts").as_uri()))
        self.fail_at = fail_at
        self.after = after
        self.writes = 0
        self._lock = threading.Lock()  # syncs copy runs in several threads
        for name in WRITES:
            setattr(self, name, self._counted(getattr(self, name)))

    def _counted(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.writes += 1
                failing = self.writes == self.fail_at
            if failing and not self.after:
                raise BackendError(f"injected failure before write {self.writes}")
            result = method(*args, **kwargs)
            if failing:
                raise BackendError(f"injected failure after write {self.writes}")
            return result

        return call


def seed(store: TrackingStore, prefix: str | None = None) -> list[str]:
    """Experiments and runs covering what a sync must copy; returns the experiment names."""
    prefix = prefix or f"sync-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-alpha", f"{prefix}-beta", f"{prefix}-gone"]
    alpha = store.create_experiment(names[0], tags={"team": "er", "note": "baseline"})
    lr = store.create_run(alpha, run_name="lr", user="ana", start_time=1_000,
                          tags={"stage": "dev"}).run_id
    points = [Metric("loss", 1.0 / (i + 1), i, 10_000 + i) for i in range(30)]
    points += [Metric("f1", 0.5, 3, 20_000), Metric("f1", 0.6, 3, 20_001),  # one step twice
               Metric("f1", 0.6, 3, 20_001),  # an exact duplicate point
               Metric("odd", math.nan, 0, 1), Metric("odd", math.inf, 1, 2),
               Metric("odd", -math.inf, 2, 3)]
    store.log_batch(lr, metrics=points, params={"C": "1.0", "blocking": "postcode"},
                    tags={"mlflow.note.content": "long " * 100})
    store.log_artifact_bytes(lr, "model/weights.bin", os.urandom(300_000))
    store.log_artifact_bytes(lr, "plots/roc.png", b"\x89PNG not really")
    store.log_artifact_bytes(lr, "notes.txt", b"")
    store.update_run(lr, status=RunStatus.FINISHED, end_time=9_000)

    child = store.create_run(alpha, run_name="lr-child", user="ana", start_time=1_100,
                             parent_run_id=lr).run_id
    store.log_batch(child, metrics=[Metric("loss", 0.25, 0, 1_200)], params={"fold": "1"})
    store.log_artifact_bytes(child, "notes.txt", b"same bytes as another run")
    store.update_run(child, status=RunStatus.FAILED, end_time=9_500)

    live = store.create_run(alpha, run_name="live", user="bo", start_time=2_000).run_id
    store.log_batch(live, metrics=[Metric("loss", 0.9, i, 2_000 + i) for i in range(5)])

    killed = store.create_run(alpha, run_name="killed", user="bo", start_time=3_000).run_id
    store.update_run(killed, status=RunStatus.KILLED, end_time=3_500)

    dropped = store.create_run(alpha, run_name="dropped", user="bo", start_time=4_000).run_id
    store.log_batch(dropped, params={"x": "1"})
    store.update_run(dropped, status=RunStatus.FINISHED, end_time=4_100)
    store.delete_run(dropped)

    beta = store.create_experiment(names[1])
    big = store.create_run(beta, run_name="big", user="cy", start_time=5_000).run_id
    store.log_batch(big, metrics=[Metric("x", float(i), i, 5_000 + i) for i in range(900)],
                    params={f"p{i}": str(i) for i in range(5)},
                    tags={f"t{i}": str(i) for i in range(5)})
    store.log_artifact_bytes(big, "a/b/c/deep.txt", b"deep")
    store.log_artifact_bytes(big, "other.txt", b"same bytes as another run")
    store.update_run(big, status=RunStatus.FINISHED, end_time=6_000)

    gone = store.create_experiment(names[2], tags={"why": "old"})
    old = store.create_run(gone, run_name="old", user="cy", start_time=7_000).run_id
    store.log_batch(old, metrics=[Metric("m", 1.0, 0, 7_001)], params={"y": "2"})
    store.update_run(old, status=RunStatus.FINISHED, end_time=7_100)
    store.delete_experiment(gone)
    return names


def dump(store: TrackingStore, names: Iterable[str]) -> dict[str, Any]:
    """Everything a sync copies, per experiment name (ids of experiments differ by store)."""
    found: dict[str, Any] = {}
    for name in names:
        experiment = store.get_experiment_by_name(name)
        if experiment is None:
            continue
        runs: dict[str, Any] = {}
        for run in search_all_runs(store, experiment.experiment_id, ViewType.ALL):
            info, data = run.info, run.data
            artifacts = {}
            for entry in walk_artifacts(store, run.run_id):
                with store.open_artifact(run.run_id, entry.path) as stream:
                    artifacts[entry.path] = (entry.size, entry.digest, stream.read())
            runs[run.run_id] = {
                "info": (info.run_name, info.user, str(info.status), info.start_time,
                         info.end_time, str(info.lifecycle_stage), info.parent_run_id),
                "params": dict(data.params),
                "tags": dict(data.tags),
                "metrics": {key: sorted((m.step, m.timestamp, repr(m.value))
                                        for m in store.get_metric_history(run.run_id, key))
                            for key in sorted(data.metrics)},
                "artifacts": artifacts,
            }
        found[name] = {"stage": str(experiment.lifecycle_stage), "tags": dict(experiment.tags),
                       "runs": runs}
    return found


def totals(snapshot: dict[str, Any]) -> dict[str, int]:
    """How many runs, params, tags, points and artifact files a dump holds."""
    runs = [run for experiment in snapshot.values() for run in experiment["runs"].values()]
    return {
        "experiments": len(snapshot),
        "runs": len(runs),
        "params": sum(len(run["params"]) for run in runs),
        "tags": sum(len(run["tags"]) for run in runs)
        + sum(len(e["tags"]) for e in snapshot.values()),
        "metric_points": sum(len(h) for run in runs for h in run["metrics"].values()),
        "artifacts": sum(len(run["artifacts"]) for run in runs),
    }
