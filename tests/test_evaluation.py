"""Evaluation and bias reports: numbers equal scikit-learn's, fairness checked by hand, JSON and
HTML that can be stored and opened anywhere, model cards, and clear errors for bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from shipyard.errors import InvalidInputError
from shipyard.services.evaluation import (
    FAIRNESS_METRICS,
    METRIC_NAMES,
    EvaluationReport,
    evaluate_predictions,
    model_card_html,
    model_card_markdown,
    report_html,
)

EVIL = "<script>alert(1)</script>"


def _binary_data(n: int = 400, seed: int = 1) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return y, score


# -- numbers equal scikit-learn's ------------------------------------------------------------

def test_binary_metrics_equal_scikit_learns() -> None:
    y, score = _binary_data()
    pred = (score >= 0.5).astype(int)
    report = evaluate_predictions(y, y_score=score, task="classification")
    m = report.metrics
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "specificity": skm.recall_score(y, pred, pos_label=0),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, score),
        "pr_auc": skm.average_precision_score(y, score),
        "log_loss": skm.log_loss(y, score),
        "brier": skm.brier_score_loss(y, score),
        "prevalence": y.mean(),
        "positive_rate": pred.mean(),
        "n_samples": len(y),
    }
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, abs=1e-12), name
    assert set(m) <= METRIC_NAMES
    assert report.confusion_matrix == skm.confusion_matrix(y, pred).tolist()
    assert report.labels == [0, 1] and report.positive_label == 1 and report.threshold == 0.5

    fraction, mean_predicted = calibration_curve(y, score, n_bins=10)
    calibration = report.curves["calibration"]
    assert calibration["fraction_positive"] == pytest.approx(fraction.tolist())
    assert calibration["mean_predicted"] == pytest.approx(mean_predicted.tolist())
    counts = np.asarray(calibration["count"], dtype=float)
    ece = np.sum(counts / len(y) * np.abs(fraction - mean_predicted))
    assert m["ece"] == pytest.approx(ece) and counts.sum() == len(y)

    fpr, tpr, _ = skm.roc_curve(y, score)
    assert report.curves["roc"]["fpr"] == pytest.approx(fpr.tolist())
    assert report.curves["roc"]["tpr"] == pytest.approx(tpr.tolist())

    curve = report.curves["threshold"]
    assert curve["threshold"][0] == 0.05 and curve["threshold"][-1] == 0.95
    assert len(curve["threshold"]) == 19
    for i, threshold in enumerate(curve["threshold"]):
        assert threshold is not None
        at = (score >= threshold).astype(int)
        assert curve["recall"][i] == pytest.approx(skm.recall_score(y, at))
        assert curve["f1"][i] == pytest.approx(skm.f1_score(y, at))
        if at.any():
            assert curve["precision"][i] == pytest.approx(skm.precision_score(y, at))


def test_binary_string_labels_with_given_predictions() -> None:
    y = np.array(["match", "no", "match", "no", "no", "match"])
    pred = np.array(["match", "no", "no", "no", "match", "match"])
    report = evaluate_predictions(y, pred, positive_label="match")
    assert report.task == "binary" and report.threshold is None
    assert report.labels == ["no", "match"] and report.positive_label == "match"
    assert report.metrics["f1"] == pytest.approx(skm.f1_score(y, pred, pos_label="match"))
    assert report.confusion_matrix == skm.confusion_matrix(y, pred,
                                                           labels=["no", "match"]).tolist()
    assert "roc_auc" not in report.metrics  # no scores, no ranking metrics


def test_predict_proba_columns_are_accepted() -> None:
    y, score = _binary_data(100)
    proba = np.column_stack([1 - score, score])
    assert evaluate_predictions(y, y_score=proba).metrics == \
        evaluate_predictions(y, y_score=score).metrics


def test_multiclass_metrics_equal_scikit_learns() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    logits = rng.random((300, 3)) + np.eye(3)[y] * 0.8
    proba = logits / logits.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    report = evaluate_predictions(y, y_score=proba)
    m = report.metrics
    assert report.task == "multiclass"
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    for average in ("macro", "weighted"):
        assert m[f"precision_{average}"] == pytest.approx(
            skm.precision_score(y, pred, average=average))
        assert m[f"recall_{average}"] == pytest.approx(skm.recall_score(y, pred, average=average))
        assert m[f"f1_{average}"] == pytest.approx(skm.f1_score(y, pred, average=average))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert report.confusion_matrix == skm.confusion_matrix(y, pred).tolist()
    assert report.per_class["1"]["recall"] == pytest.approx(
        skm.recall_score(y, pred, average=None)[1])
    assert set(m) <= METRIC_NAMES


def test_regression_metrics_equal_scikit_learns() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(50, 10, 200)
    pred = y + rng.normal(0, 3, 200)
    report = evaluate_predictions(y, pred)
    m = report.metrics
    assert report.task == "regression"
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m["mse"] == pytest.approx(skm.mean_squared_error(y, pred))
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert m["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))
    assert m["max_error"] == pytest.approx(skm.max_error(y, pred))
    residuals = report.curves["residuals"]
    counts, edges = np.histogram(y - pred, bins=20)
    assert residuals["counts"] == counts.tolist() and residuals["edges"] == edges.tolist()
    assert set(m) <= METRIC_NAMES


def test_regression_guards_zeros_and_constants() -> None:
    report = evaluate_predictions([0.0, 2.0, 4.0], [1.0, 2.0, 5.0], task="regression")
    assert report.metrics["mape"] == pytest.approx((0 + 0.25) / 2)
    assert any("mape leaves out the 1 row" in w for w in report.warnings)
    flat = evaluate_predictions([3.0, 3.0], [3.0, 2.5], task="regression")
    assert flat.metrics["r2"] is None and any("r2 is undefined" in w for w in flat.warnings)


# -- fairness, checked by hand -----------------------------------------------------------------

def _two_groups() -> tuple[list[int], list[int], dict[str, list[str]]]:
    # group a: 5 positives (4 predicted), 5 negatives (1 predicted) -> selection 0.5,
    #          TPR 0.8, FPR 0.2.  group b: 5 positives (2 predicted), 5 negatives (0
    #          predicted) -> selection 0.2, TPR 0.4, FPR 0.0
    y = [1] * 5 + [0] * 5 + [1] * 5 + [0] * 5
    pred = [1, 1, 1, 1, 0, 1, 0, 0, 0, 0,  # group a
            1, 1, 0, 0, 0, 0, 0, 0, 0, 0]  # group b
    # region x: rows 0-4 and 10-14 (all positives): selection 0.6, TPR 0.6
    # region y: the negatives: selection 0.1, FPR 0.1 (no TPR: no positive row)
    region = (["x"] * 5 + ["y"] * 5) * 2
    return y, pred, {"sex": ["a"] * 10 + ["b"] * 10, "region": region}


def test_fairness_numbers_by_hand() -> None:
    y, pred, sensitive = _two_groups()
    report = evaluate_predictions(y, pred, sensitive=sensitive, min_group_size=5)
    sex = next(f for f in report.fairness if f.feature == "sex")
    a, b = sex.groups
    assert (a.group, a.count, b.group, b.count) == ("a", 10, "b", 10)
    assert a.rates == {"selection_rate": 0.5, "base_rate": 0.5, "tpr": 0.8, "fpr": 0.2,
                       "precision": 0.8, "accuracy": 0.8}
    assert b.rates == {"selection_rate": 0.2, "base_rate": 0.5, "tpr": 0.4, "fpr": 0.0,
                       "precision": 1.0, "accuracy": 0.7}
    m = report.metrics
    assert m["demographic_parity_difference.sex"] == pytest.approx(0.3)
    assert m["demographic_parity_ratio.sex"] == pytest.approx(0.4)
    assert m["disparate_impact_ratio.sex"] == pytest.approx(0.4)
    assert m["equal_opportunity_difference.sex"] == pytest.approx(0.4)
    assert m["equalized_odds_difference.sex"] == pytest.approx(0.4)  # max(0.4, 0.2)
    # region: selection 0.6 vs 0.1; TPR defined for x only, FPR for y only -> no gap
    assert m["demographic_parity_difference.region"] == pytest.approx(0.5)
    assert m["demographic_parity_ratio.region"] == pytest.approx(0.1 / 0.6)
    assert m["equalized_odds_difference.region"] is None
    assert any("tpr is undefined for group(s) 'y'" in w for w in report.warnings)
    # the headline value is the worst over features: largest difference, smallest ratio;
    # undefined for one feature leaves the worst case undefined
    assert m["demographic_parity_difference"] == pytest.approx(0.5)
    assert m["demographic_parity_ratio"] == pytest.approx(0.1 / 0.6)
    assert m["equalized_odds_difference"] is None
    assert set(FAIRNESS_METRICS) <= set(m)
    assert not any(g.small for f in report.fairness for g in f.groups)


def test_small_groups_are_flagged_but_counted() -> None:
    y, pred, sensitive = _two_groups()
    report = evaluate_predictions(y, pred, sensitive={"sex": sensitive["sex"]})
    assert all(g.small for g in report.fairness[0].groups)  # 10 rows < 30
    assert report.metrics["demographic_parity_difference"] == pytest.approx(0.3)
    assert any("fewer than 30 rows" in w for w in report.warnings)


def test_sensitive_features_from_a_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    y, pred, sensitive = _two_groups()
    frame = pd.DataFrame(sensitive)
    report = evaluate_predictions(pd.Series(y), pd.Series(pred), sensitive=frame)
    assert [f.feature for f in report.fairness] == ["sex", "region"]
    assert report.metrics["demographic_parity_difference.sex"] == pytest.approx(0.3)


def test_non_binary_tasks_get_per_group_results_only() -> None:
    report = evaluate_predictions([1.0, 2.5, 3.0, 4.5], [1.5, 2.5, 2.0, 4.5],
                                  sensitive={"g": ["a", "a", "b", "b"]})
    assert [g.rates for g in report.fairness[0].groups] == [{"mae": 0.25}, {"mae": 0.5}]
    assert not any(name in report.metrics for name in FAIRNESS_METRICS)


# -- JSON ------------------------------------------------------------------------------------

def test_undefined_values_are_null_with_a_reason() -> None:
    report = evaluate_predictions([0, 0, 0], y_score=[0.1, 0.7, 0.2])
    assert report.metrics["roc_auc"] is None and report.metrics["pr_auc"] is None
    assert report.metrics["recall"] is None
    assert any("roc_auc is undefined" in w for w in report.warnings)
    body = json.loads(report.to_json())
    assert body["format"] == 1 and body["metrics"]["roc_auc"] is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1), st.sampled_from(["a", "b", EVIL])),
                min_size=1, max_size=60))
def test_json_round_trip(rows: list[tuple[bool, float, str]]) -> None:
    y, score, group = (list(column) for column in zip(*rows, strict=True))
    report = evaluate_predictions(y, y_score=score, sensitive={"group": group},
                                  dataset="test@v1")
    text = report.to_json()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert EvaluationReport.from_json(text) == report
    assert EvaluationReport.from_dict(report.to_dict()).to_json() == text
    assert all(v is None or math.isfinite(v) for v in report.metrics.values())


def test_an_unknown_format_is_refused() -> None:
    body = evaluate_predictions([0, 1], [0, 1]).to_dict()
    body["format"] = 2
    with pytest.raises(InvalidInputError) as info:
        EvaluationReport.from_dict(body)
    assert info.value.field == "format"


# -- HTML and model cards --------------------------------------------------------------------

def _no_url(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page


def test_html_has_a_chart_each_and_escapes_user_strings() -> None:
    y, score = _binary_data(200)
    groups = np.where(np.arange(200) % 3 == 0, EVIL, "plain")
    report = evaluate_predictions(y, y_score=score, sensitive={EVIL: groups, "other": groups})
    page = report_html(report, title=f"model {EVIL}")
    _no_url(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # ROC, PR, reliability, threshold, confusion matrix, one bar chart per feature
    assert page.count("<svg") == 7 and page.count("</svg>") == 7
    for title in ("ROC curve", "Precision-recall curve", "Reliability diagram",
                  "Metrics by threshold", "Confusion matrix"):
        assert title in page
    labels = evaluate_predictions([EVIL, "b", "c", "b"], ["b", "b", "c", EVIL])
    _no_url(report_html(labels))


def test_html_for_regression_and_multiclass() -> None:
    regression = report_html(evaluate_predictions([1.0, 2.0, 3.5], [1.1, 2.2, 3.0]))
    assert regression.count("<svg") == 1 and "Residuals" in regression
    multiclass = report_html(evaluate_predictions([0, 1, 2, 2], [0, 2, 2, 1]))
    assert multiclass.count("<svg") == 1 and "Per class" in multiclass
    _no_url(regression)
    _no_url(multiclass)


def _card_inputs() -> dict[str, Any]:
    y, pred, sensitive = _two_groups()
    report = evaluate_predictions(y, pred, sensitive={"sex": sensitive["sex"]},
                                  dataset="holdout@v2")
    return {
        "name": "matcher", "version": 3, "description": None,
        "manifest": {"flavor": "sklearn", "created_time": 1_700_000_000_000,
                     "created_by": "ana", "run_id": "run-1", "digest": "d1g",
                     "signature": {"inputs": {"columns": [
                         {"name": EVIL, "type": "string", "nullable": True}]},
                         "outputs": None}},
        "reports": [report],
        "lineage": {"datasets": [{"name": "train", "version": 7, "digest": "abc123",
                                  "role": "training"}], "code": {"git_commit": "f00"}},
        "thresholds": ["f1 >= 0.95", "demographic_parity_difference <= 0.1"],
    }


def test_model_card_markdown() -> None:
    card = model_card_markdown(**_card_inputs())
    for text in ("# Model card: matcher v3", "## Model details", "## Intended use",
                 "## Training data", "## Evaluation results", "## Fairness", "## Caveats",
                 "| flavor | sklearn |", "| author | ana |", "train@v7", "abc123",
                 "2023-11-14", "run-1", "Not described yet", "holdout@v2", "git\\_commit"):
        assert text in card, text
    f1 = next(line for line in card.splitlines() if line.startswith("| `f1` |"))
    assert "(FAIL)" in f1 and "`f1 >= 0.95`" in f1
    parity = next(line for line in card.splitlines()
                  if line.startswith("| `demographic_parity_difference` |"))
    assert "0.3 (FAIL)" in parity
    assert EVIL not in card and "fewer than 30 rows" in card


def test_model_card_html_is_self_contained() -> None:
    inputs = _card_inputs() | {"description": f"Links records. {EVIL}"}
    page = model_card_html(**inputs)
    _no_url(page)
    assert "Links records. &lt;script&gt;" in page and "<h2>Fairness</h2>" in page
    assert model_card_markdown(**inputs).count("Links records.") == 1


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "field", "words"), [
    ({"y_true": [0, 1, 1], "y_pred": [0, 1]}, "y_pred", ["3", "2"]),
    ({"y_true": [0, 1], "y_score": [0.2, 0.4, 0.1]}, "y_score", ["2", "(3,)"]),
    ({"y_true": [0, 1], "y_score": [0.2, 1.3]}, "y_score", ["[0, 1]", "1.3"]),
    ({"y_true": [0, 1], "y_score": [-0.1, 0.3]}, "y_score", ["[0, 1]"]),
    ({"y_true": ["a", "b"], "y_pred": ["a", "a"], "task": "regression"}, "task", ["numeric"]),
    ({"y_true": [0.5, 1.7], "y_pred": [0, 1], "task": "classification"}, "task",
     ["continuous"]),
    ({"y_true": [1.0, 2.0], "y_pred": [1.0, 2.0], "task": "clustering"}, "task", ["clustering"]),
    ({"y_true": [0, 1], "y_pred": [0, 1], "sensitive": {"sex": ["f"]}}, "sensitive.sex",
     ["2", "1"]),
    ({"y_true": [0, 1], "y_pred": [0, 1], "sensitive": ["f", "m"]}, "sensitive", ["DataFrame"]),
    ({"y_true": []}, "y_true", ["empty"]),
    ({"y_true": [0, 1]}, "y_pred", ["y_score"]),
    ({"y_true": ["yes", "no"], "y_pred": ["yes", "yes"]}, "positive_label", ["positive_label"]),
    ({"y_true": [0, 1], "y_pred": [0, 1], "positive_label": 2}, "positive_label", ["2"]),
    ({"y_true": [0, 1, None], "y_pred": [0, 1, 1]}, "y_true", ["missing"]),
    ({"y_true": [0, 1], "y_score": [0.3, 0.6], "threshold": 1.5}, "threshold", ["[0, 1]"]),
    ({"y_true": [0, 1, 2], "y_score": [0.3, 0.6, 0.2]}, "y_score", ["3 classes"]),
    ({"y_true": [0, 1, 2], "y_score": [[0.5, 0.4, 0.4]] * 3}, "y_score", ["sum to 1"]),
    ({"y_true": [1.0, 2.0], "y_pred": [1.0, 2.0], "y_score": [0.1, 0.2],
      "task": "regression"}, "y_score", ["y_pred"]),
])
def test_bad_input_names_the_field(kwargs: dict[str, Any], field: str,
                                   words: list[str]) -> None:
    with pytest.raises(InvalidInputError) as info:
        evaluate_predictions(**kwargs)
    assert info.value.field == field
    for word in words:
        assert word in info.value.message, info.value.message


def test_importing_the_package_stays_light() -> None:
    code = ("import sys, shipyard.services.evaluation; "
            "print(sorted(m for m in ('numpy', 'sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
