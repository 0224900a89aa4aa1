"""Hyperparameter tuning on Optuna with every trial tracked: see docs/tuning.md.

    import shipyard as sy

    def objective(C: float, penalty: str) -> float:
        ...  # train, sy.log_metric(...) as usual; return the score
        return f1

    result = sy.tune(objective, {"C": sy.tuning.loguniform(1e-3, 10), "penalty": ["l1", "l2"]},
                     n_trials=30, direction="maximize")
    result.best_params, result.best_value, result.best_run_id
"""

from __future__ import annotations

from shipyard.tuning.space import choice, integer, loguniform, uniform
from shipyard.tuning.study import TuneResult, tune

__all__ = ["TuneResult", "choice", "integer", "loguniform", "tune", "uniform"]
