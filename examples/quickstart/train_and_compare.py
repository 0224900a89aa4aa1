"""Train a few classifiers on scikit-learn's breast-cancer data and track them with Shipyard.

Run with ``make demo``. Everything lands in ``./shipyard-data`` (SQLite + local files); no
server is needed. Afterwards, look at the runs with ``shipyard runs list``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard as sy

EXPERIMENT = "quickstart-breast-cancer"

CANDIDATES: dict[str, tuple[Any, dict[str, Any]]] = {
    "logreg-C0.1": (LogisticRegression, {"C": 0.1, "max_iter": 2000}),
    "logreg-C1": (LogisticRegression, {"C": 1.0, "max_iter": 2000}),
    "forest-100": (RandomForestClassifier, {"n_estimators": 100, "max_depth": 6,
                                            "random_state": 0}),
    "boosting-150": (GradientBoostingClassifier, {"n_estimators": 150, "learning_rate": 0.1,
                                                  "random_state": 0}),
}


def train_one(name: str, model_cls: Any, params: dict[str, Any], data: tuple[Any, ...],
              batch: str) -> str:
    x_train, x_test, y_train, y_test = data
    with sy.start_run(experiment=EXPERIMENT, run_name=name,
                      tags={"dataset": "sklearn.breast_cancer", "batch": batch}) as run:
        sy.log_params({"model": model_cls.__name__, **params})
        model = make_pipeline(StandardScaler(), model_cls(**params))
        started = time.perf_counter()
        model.fit(x_train, y_train)
        sy.log_metric("train_seconds", time.perf_counter() - started)
        estimator = model[-1]
        if hasattr(estimator, "staged_predict"):  # a learning curve, one point per stage
            scaled = model[0].transform(x_test)
            for step, predicted in enumerate(estimator.staged_predict(scaled)):
                sy.log_metric("test_accuracy_curve", accuracy_score(y_test, predicted), step=step)
        predicted = model.predict(x_test)
        scores = model.predict_proba(x_test)[:, 1]
        sy.log_metrics({
            "accuracy": accuracy_score(y_test, predicted),
            "f1": f1_score(y_test, predicted),
            "roc_auc": roc_auc_score(y_test, scores),
        })
        figure, axes = plt.subplots(figsize=(4, 4))
        ConfusionMatrixDisplay.from_predictions(y_test, predicted, ax=axes, colorbar=False)
        axes.set_title(name)
        sy.log_figure(figure, "confusion.png")
        plt.close(figure)
        sy.log_text(json.dumps(params, indent=2), "model/params.json")
        return run.run_id


def main() -> None:
    console = Console()
    features, target = load_breast_cancer(return_X_y=True)
    data = train_test_split(features, target, test_size=0.3, random_state=42, stratify=target)
    batch = time.strftime("%Y%m%dT%H%M%S")  # tells this invocation's runs from earlier ones
    with console.status("training candidates…"):
        for name, (model_cls, params) in CANDIDATES.items():
            train_one(name, model_cls, params, data, batch)
    runs = sy.search_runs(f"tags.batch = '{batch}'", experiments=EXPERIMENT,
                          order_by=["metrics.f1 DESC"])
    table = Table(title=f"Experiment {EXPERIMENT!r}, best F1 first")
    for column in ("run", "model", "accuracy", "f1", "roc_auc", "run id"):
        table.add_column(column, justify="right" if column in ("accuracy", "f1", "roc_auc")
                         else "left", no_wrap=True)
    for run in runs:
        m = run.data.metrics
        model = run.data.params["model"].removesuffix("Classifier")
        table.add_row(run.info.run_name, model, f"{m['accuracy']:.4f}",
                      f"{m['f1']:.4f}", f"{m['roc_auc']:.4f}", run.run_id[:8])
    console.print(table)
    best = runs[0]
    console.print(f"\nBest: [bold]{best.info.run_name}[/] (f1 {best.data.metrics['f1']:.4f})")
    console.print("\nWhere to look next:")
    console.print(f"  .venv/bin/shipyard runs list --experiment {EXPERIMENT}")
    console.print(f"  .venv/bin/shipyard runs show {best.run_id}", soft_wrap=True)
    console.print(f"  .venv/bin/shipyard runs compare {runs[0].run_id} {runs[-1].run_id}",
                  soft_wrap=True)
    console.print("  data: ./shipyard-data (shipyard.db + artifacts/)")


if __name__ == "__main__":
    main()
