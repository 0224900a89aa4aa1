"""Train a few classifiers on scikit-learn's breast-cancer data and take the best to production
with Shipyard: a versioned dataset, tracked runs, a registered model, an evaluation report, an
approval by a second person, the ``production`` alias, and a verified audit trail.

Run with ``make demo``. Everything lands in ``./shipyard-data`` (SQLite + local files); no
server is needed. Afterwards, look around with ``shipyard runs list``, ``shipyard data ls`` and
``shipyard models show breast-cancer-classifier``.
"""

from __future__ import annotations

import json
import os
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
MODEL = "breast-cancer-classifier"
DATASET = "breast-cancer"

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
        sy.log_input(f"{DATASET}@latest")  # the exact data version this run trained on
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


def promote(console: Console, best: Any, data: tuple[Any, ...]) -> None:
    """Register the best candidate, evaluate it, and take it to production the governed way:
    the author asks, a second person approves, the protected alias moves."""
    x_train, x_test, y_train, y_test = data
    name, (model_cls, params) = best.info.run_name, CANDIDATES[best.info.run_name]
    model = make_pipeline(StandardScaler(), model_cls(**params)).fit(x_train, y_train)
    author, reviewer = os.environ.get("SHIPYARD_USER") or "ana", "ben"
    os.environ["SHIPYARD_USER"] = author
    with sy.start_run(run_id=best.run_id):
        version = sy.log_model(model, MODEL, input_example=x_train.head(5),
                               description=f"{name}, best F1 of the quickstart")
    sy.registry.set_policy(MODEL, {"required_reports": ["evaluation"],
                                   "thresholds": ["f1 >= 0.9"], "approvals": 1,
                                   "protected_aliases": ["production"]})
    holdout = x_test.assign(target=y_test)
    report = sy.evaluate(version, holdout, target="target")
    sy.registry.request_approval(MODEL, version.version, comment=f"f1 {report.metrics['f1']:.3f}")
    try:
        sy.registry.approve(MODEL, version.version)
    except sy.ShipyardError as refused:  # four eyes: the author cannot approve
        console.print(f"[dim]{author} tried to approve: {refused.message}[/]")
    os.environ["SHIPYARD_USER"] = reviewer
    sy.registry.approve(MODEL, version.version, comment="evaluation reviewed")
    sy.registry.set_alias(MODEL, "production", version.version, reason="quickstart")
    os.environ["SHIPYARD_USER"] = author
    served = sy.load_model(f"models:/{MODEL}@production")
    accuracy = (served.predict(x_test) == y_test.to_numpy()).mean()
    console.print(f"\n[bold]{MODEL} v{version.version}[/] approved by {reviewer} and in "
                  f"production; it scores the holdout at accuracy {accuracy:.4f}.")


def main() -> None:
    console = Console()
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    dataset = sy.log_dataset(features.assign(target=target), DATASET)
    console.print(f"data: [bold]{dataset.ref}[/] ({dataset.row_count} rows, "
                  f"digest {dataset.digest[:12]})")
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
    promote(console, best, data)
    console.print("\nWhere to look next:")
    console.print(f"  .venv/bin/shipyard runs list --experiment {EXPERIMENT}")
    console.print(f"  .venv/bin/shipyard runs show {best.run_id}", soft_wrap=True)
    console.print(f"  .venv/bin/shipyard runs compare {runs[0].run_id} {runs[-1].run_id}",
                  soft_wrap=True)
    console.print(f"  .venv/bin/shipyard data ls {DATASET}")
    console.print(f"  .venv/bin/shipyard models show {MODEL}")
    console.print("  .venv/bin/shipyard audit verify")
    console.print("  data: ./shipyard-data (shipyard.db + artifacts/)")


if __name__ == "__main__":
    main()
