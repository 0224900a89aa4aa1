"""The entity-resolution example (examples/entity_resolution): its scorers agree with the
libraries they were fitted with, and a reduced-scale run of the pipeline links FEBRL 4 records
(F1 >= 0.97) and takes the best matcher to production the governed way."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shipyard as sy

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "entity_resolution"


@pytest.fixture(autouse=True)
def example_on_path() -> Iterator[None]:
    sys.path.insert(0, str(EXAMPLE))  # the example's `er` package, as run_demo.py does
    try:
        yield
    finally:
        sys.path.remove(str(EXAMPLE))


def _toy_pairs(n: int, seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from er.features import FEATURES

    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    x = np.where(y[:, None], rng.beta(8, 1, (n, len(FEATURES))),
                 rng.beta(1, 4, (n, len(FEATURES))))
    return x, y.astype(np.int64)


def test_boosted_trees_scorer_matches_scikit_learn() -> None:
    from er.features import FEATURES
    from er.scorers import BoostedTreesScorer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    x, y = _toy_pairs(400, 0)
    estimator = HistGradientBoostingClassifier(max_iter=15, max_depth=3, random_state=0)
    with threadpool_limits(limits=1, user_api="openmp"):  # OpenMP threads only cost here
        estimator.fit(x, y)
    scorer = BoostedTreesScorer.from_json(
        BoostedTreesScorer.from_estimator(estimator).to_json(), len(FEATURES))
    assert np.allclose(scorer.match_probability(x), estimator.predict_proba(x)[:, 1])
    broken = scorer.to_json()
    broken["trees"][0]["left"][0] = 10**6  # a node pointing outside its tree
    with pytest.raises(ValueError, match="outside"):
        BoostedTreesScorer.from_json(broken, len(FEATURES))


def test_fellegi_sunter_scorer_matches_recordlinkage() -> None:
    import pandas as pd
    import recordlinkage
    from er.features import FEATURES
    from er.matchers import fit_fellegi_sunter

    x, _ = _toy_pairs(600, 1)
    scorer = fit_fellegi_sunter(x)
    agreement = pd.DataFrame((x >= scorer.cutoff).astype(np.int64), columns=list(FEATURES))
    ecm = recordlinkage.ECMClassifier(binarize=None)
    ecm.fit(agreement)  # returns None
    assert np.allclose(scorer.match_probability(x), ecm.prob(agreement).to_numpy(), atol=1e-6)


def test_pairwise_scores_count_blocking_misses_as_false_negatives() -> None:
    from er.evaluation import pairwise_scores

    scores = pairwise_scores(np.array([1, 1, 0]), np.array([1, 0, 1]), true_links=4)
    assert (scores["true_positives"], scores["false_positives"],
            scores["false_negatives"]) == (1, 1, 3)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.25
    assert scores["f1"] == pytest.approx(2 / 6)


@pytest.mark.slow
def test_reduced_scale_pipeline_links_records_and_reaches_production(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from er.governance import review_and_promote
    from er.pipeline import EXPERIMENT, MODEL, held_out, run_training

    monkeypatch.setenv("SHIPYARD_USER", "ana")
    run = run_training({"n_entities": 1000, "n_trials": 4})

    comparison = run.output("compare_matchers")
    assert comparison["blocking"]["pair_completeness"] >= 0.99
    ranking = comparison["ranking"]
    assert {r["matcher"] for r in ranking} == {
        "logistic-regression", "gradient-boosting", "fellegi-sunter-em", "kmeans"}
    best = ranking[0]
    assert best["f1"] >= 0.97, ranking
    assert ranking == sorted(ranking, key=lambda r: -r["f1"])

    # One child run per step, each finished; the tuning study nests under its step.
    children = sy.search_runs(f"attributes.parent_run_id = '{run.run_id}'",
                              experiments=EXPERIMENT)
    assert sorted(c.info.run_name for c in children) == sorted(run.steps)
    assert len(run.steps) == 12
    assert all(c.info.status == sy.RunStatus.FINISHED for c in children)
    trials = sy.search_runs("tags.`shipyard.tune.trial` != ''", experiments=EXPERIMENT)
    assert len(trials) == 4
    assert {d.ref for d in sy.Client().datasets.run_datasets(best["run_id"])} == {
        "febrl4-a@v1", "febrl4-b@v1"}
    assert sy.get_dataset("febrl4-a@v1").row_count == 5000  # the whole source is versioned

    # Registered with its evaluation report; the author's own approval is refused.
    registered = run.output("register_best")
    version = registered["version"]
    refusal = review_and_promote(version, author="ana", reviewer="ben")
    assert "four eyes" in refusal
    production = sy.registry.resolve(f"models:/{MODEL}@production")
    assert production.version == version and production.status == "approved"
    assert production.run_id == best["run_id"]
    assert [a.actor for a in sy.registry.approvals(MODEL, version)] == ["ana", "ben"]
    assert set(sy.registry.reports(MODEL, version)) == {"evaluation"}

    # The production model takes raw record pairs and computes its own features.
    served = sy.load_model(f"models:/{MODEL}@production")
    holdout = held_out(run.output("compute_features"), run.output("split_entities"))
    agreed = (served.predict(holdout) == holdout["match"].to_numpy()).mean()
    assert agreed >= 0.99
