"""Optuna's side of the tuning figures of ``benchmarks/pipelines.py``; run with the Python of
``.bench/optuna-*``: ``RandomSampler`` and Optuna's RDB storage on a SQLite file."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optuna
from _harness import serve

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", 0, 3)
    return x * x + y


def info() -> dict[str, Any]:
    return {"optuna": optuna.__version__}


def tune(folder: str, n_trials: int, seed: int, study: str) -> dict[str, Any]:
    storage = f"sqlite:///{Path(folder) / 'optuna.db'}"
    # Create the storage (and its tables) outside the timed part, as Shipyard's store is.
    optuna.storages.RDBStorage(storage)
    started = time.perf_counter()
    found = optuna.create_study(storage=storage, study_name=study, direction="minimize",
                                sampler=optuna.samplers.RandomSampler(seed=seed),
                                load_if_exists=True)
    found.optimize(objective, n_trials=n_trials)
    seconds = time.perf_counter() - started
    complete = [t for t in found.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return {"seconds": seconds, "best_value": found.best_value,
            "complete_in_study": len(complete)}


HANDLERS = {"info": info, "tune": tune}

if __name__ == "__main__":
    serve(HANDLERS)
