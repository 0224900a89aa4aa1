"""The tuning figures of ``benchmarks/pipelines.py``: ``sy.tune`` against Optuna's own RDB
storage, both on a SQLite file, both with ``RandomSampler`` and the same trivial objective.

Each side runs in a worker process of its own (ours with ``.venv``'s Python, Optuna 5.0.0
from ``.bench/optuna-5.0.0``); every round uses fresh files and the sides alternate. Then two
processes per side tune one study in one SQLite file at once; the goal is that ours finish
without an error (Optuna's outcome is reported as it happens).
"""

from __future__ import annotations

import statistics
import sys
import threading
from pathlib import Path
from typing import Any

import _harness as h

PEER_VENV = "optuna-5.0.0"
PEER_VARIANTS = [["optuna==5.0.0"]]
PEER_PROBE = "import optuna; assert optuna.__version__ == '5.0.0'"
WORKERS = Path(__file__).resolve().parent / "workers"
GOAL_X = 3.0


def _both(workers: list[h.Worker], folder: Path, n_trials: int) -> list[str]:
    """Each worker tunes the study "shared" in ``folder`` at once; their errors."""
    errors: list[str] = []

    def go(worker: h.Worker, seed: int) -> None:
        try:
            worker.call("tune", timeout=600, folder=str(folder), n_trials=n_trials, seed=seed,
                        study="shared")
        except h.WorkerError as exc:
            errors.append(str(exc).strip().splitlines()[-1])

    threads = [threading.Thread(target=go, args=(w, i)) for i, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def tuning_figures(quick: bool, root: Path) -> dict[str, Any]:
    """``{"ours", "peer", "ratios", "goals"}`` for the tuning part of the benchmark."""
    n_trials, rounds = (10, 1) if quick else (200, 3)
    peer_python = None
    if not quick:
        peer_python, _ = h.ensure_peer_venv(PEER_VENV, PEER_VARIANTS, PEER_PROBE)
    root.mkdir(parents=True, exist_ok=True)

    def worker(name: str, python: Path, script: str, index: int) -> h.Worker:
        return h.Worker(f"{name}-{index}", python, WORKERS / script, cwd=root,
                        env=h.peer_env(), log_path=root / f"{name}-{index}.log")

    ours = [worker("shipyard", Path(sys.executable), "tuning_shipyard.py", i) for i in (0, 1)]
    peer = ([worker("optuna", peer_python, "tuning_optuna.py", i) for i in (0, 1)]
            if peer_python is not None else [])
    ours_s: list[float] = []
    peer_s: list[float] = []
    result: dict[str, Any] = {"ours": {}, "peer": None, "ratios": {}, "goals": {}}
    try:
        result["ours"]["versions"] = ours[0].call("info")
        if peer:
            result["peer"] = {"versions": peer[0].call("info")}
        for turn in range(rounds):
            sides = [("ours", ours[0], ours_s), ("peer", peer[0], peer_s)] if peer else [
                ("ours", ours[0], ours_s)]
            for name, w, samples in sides if turn % 2 == 0 else reversed(sides):
                folder = root / f"{name}-round-{turn}"
                folder.mkdir()
                h.log(f"tuning: {name}, {n_trials} trials, round {turn + 1} of {rounds}")
                answer = w.call("tune", timeout=600, folder=str(folder), n_trials=n_trials,
                                seed=turn, study="bench")
                samples.append(answer["seconds"])
        h.log("tuning: two processes on one study, each side")
        concurrent = max(10, n_trials // 2)
        ours_errors = _both(ours, root / "ours-shared", concurrent)
        result["ours"]["tune_trials"] = h.summary(ours_s) | {"n_trials": n_trials}
        result["ours"]["two_processes_one_study"] = {"trials_each": concurrent,
                                                     "errors": ours_errors}
        if peer:
            (root / "peer-shared").mkdir()
            peer_errors = _both(peer, root / "peer-shared", concurrent)
            result["peer"]["tune_trials"] = h.summary(peer_s) | {"n_trials": n_trials}
            result["peer"]["two_processes_one_study"] = {"trials_each": concurrent,
                                                         "errors": peer_errors}
    finally:
        for w in [*ours, *peer]:
            w.close()
    ratio = h.ratio(statistics.median(peer_s), statistics.median(ours_s)) if peer_s else None
    if peer_s:
        result["ratios"]["tune_200_random_trials_vs_optuna_rdb"] = ratio
    result["goals"]["tune_200_trials_vs_optuna_rdb_sqlite"] = h.goal_at_least(GOAL_X, ratio)
    two = result["ours"]["two_processes_one_study"]["errors"]
    result["goals"]["two_processes_tune_one_study"] = {
        "target": "no error", "value": "no error" if not two else "; ".join(two),
        "met": not two}
    return result
