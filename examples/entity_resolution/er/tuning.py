"""The tuning study of the gradient-boosting matcher: one small function, so the search space
and the budget are easy to change."""

from __future__ import annotations

from typing import Any

import numpy as np

import shipyard as sy
from er.matchers import fit_gradient_boosting
from er.scorers import Matrix


def _f1(truth: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any]) -> float:
    tp = int((truth & predicted).sum())
    wrong = int((truth != predicted).sum())
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0


def tune_gradient_boosting(train: tuple[Matrix, np.ndarray[Any, Any]],
                           validation: tuple[Matrix, np.ndarray[Any, Any]], *,
                           n_trials: int, seed: int, study_name: str,
                           experiment: str) -> dict[str, Any]:
    """The hyperparameters with the best F1 on the ``validation`` pairs after ``n_trials``
    trials. Each trial is a child run of the study's run (``tune:<study_name>``, nested in the
    active run, in ``experiment``) with its params and ``validation_f1``; calling this again
    with the same ``study_name`` adds trials to the same study."""
    x_val, y_val = validation[0], np.asarray(validation[1], dtype=bool)

    def objective(**params: Any) -> float:
        scorer = fit_gradient_boosting(*train, params, seed)
        f1 = _f1(y_val, scorer.match_probability(x_val) >= 0.5)
        sy.log_metric("validation_f1", f1)
        return f1

    result = sy.tune(objective, space={
        "learning_rate": sy.tuning.loguniform(0.02, 0.5),
        "max_depth": sy.tuning.integer(2, 6),
        "max_iter": sy.tuning.integer(20, 120, step=20),
        "loss": ["log_loss"],
    }, n_trials=n_trials, direction="maximize", study_name=study_name, seed=seed,
        experiment=experiment)
    return dict(result.best_params)
