"""Shipyard's side of the tuning figures of ``benchmarks/pipelines.py``: ``sy.tune`` with
Optuna's ``RandomSampler`` and the study (plus one child run per trial) in a SQLite file."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optuna
from _harness import serve

import shipyard as sy


def objective(x: float, y: int) -> float:
    return x * x + y


def info() -> dict[str, Any]:
    return {"shipyard": sy.__version__, "optuna": optuna.__version__}


def tune(folder: str, n_trials: int, seed: int, study: str) -> dict[str, Any]:
    """``n_trials`` trials into the store in ``folder`` (fresh or shared); seconds inside."""
    os.environ["SHIPYARD_TRACKING_URI"] = f"sqlite:///{Path(folder) / 'shipyard.db'}"
    os.environ["SHIPYARD_ARTIFACTS_URI"] = str(Path(folder) / "artifacts")
    space = {"x": sy.tuning.uniform(-10, 10), "y": sy.tuning.integer(0, 3)}
    sy.Client()  # open (and migrate) the store outside the timed part, as Optuna's is below
    started = time.perf_counter()
    result = sy.tune(objective, space, n_trials=n_trials, direction="minimize",
                     study_name=study, sampler=optuna.samplers.RandomSampler(seed=seed))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "best_value": result.best_value,
            "complete_in_study": result.n_complete}


HANDLERS = {"info": info, "tune": tune}

if __name__ == "__main__":
    serve(HANDLERS)
