"""`make demo`'s job: the entity-resolution example end to end on SQLite and local files, from
versioned FEBRL data to a matcher approved by a second person and in production."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import shipyard as sy

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 on import; its TestClient works the same with httpx.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

DEMO = Path(__file__).resolve().parents[1] / "examples" / "entity_resolution" / "run_demo.py"
MATCHERS = {"logistic-regression", "gradient-boosting", "fellegi-sunter-em", "kmeans"}


@pytest.mark.slow
def test_demo_links_records_and_takes_the_best_matcher_to_production(
        shipyard_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home)}
    env.pop("SHIPYARD_USER", None)
    result = subprocess.run([sys.executable, str(DEMO)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for text in ("Best:", "pair completeness", "shipyard pipelines runs er-training", "make ui",
                 "four eyes", "approved by ben and in production"):
        assert text in result.stdout, text

    (pipeline_run,) = sy.search_runs("tags.`shipyard.pipeline` = 'er-training'",
                                     experiments="entity-resolution")
    assert pipeline_run.info.status == sy.RunStatus.FINISHED
    steps = {r.info.run_name: r for r in sy.search_runs(
        f"attributes.parent_run_id = '{pipeline_run.run_id}'", experiments="entity-resolution")}
    assert len(steps) == 12 and all(r.info.status == "FINISHED" for r in steps.values())
    assert steps["assess_blocking"].data.metrics["pair_completeness"] >= 0.99

    matchers = sy.search_runs("params.matcher != ''", experiments="entity-resolution")
    assert {r.data.params["matcher"] for r in matchers} == MATCHERS
    assert max(r.data.metrics["f1"] for r in matchers) >= 0.98
    trials = sy.search_runs("tags.`shipyard.tune.trial` != ''", experiments="entity-resolution")
    assert len(trials) == 20

    assert sy.get_dataset("febrl4-a@v1").row_count == 5000
    assert sy.get_dataset("febrl4-b@v1").row_count == 5000
    production = sy.registry.resolve("models:/er-matcher@production")
    assert production.status == "approved"
    assert production.run_id == steps["compare_matchers"].data.params["best_run_id"]
    assert [a.actor for a in sy.registry.approvals(production.name, production.version)] == [
        "ana", "ben"]
    assert set(sy.registry.reports(production.name, production.version)) == {"evaluation"}
    used = sy.Client().datasets.run_datasets(production.run_id or "")
    assert sorted(u.ref for u in used) == ["febrl4-a@v1", "febrl4-b@v1"]

    # What `make ui` shows afterwards: the same data through the web UI's pages.
    from shipyard.server.app import create_app_from_uris

    app = create_app_from_uris(f"sqlite:///{shipyard_home / 'shipyard.db'}",
                               str(shipyard_home / "artifacts"))
    with TestClient(app) as client:
        experiments = client.get("/ui/experiments")
        assert experiments.status_code == 200 and "entity-resolution" in experiments.text
        compare = client.get("/ui/compare", params=[("run", r.run_id) for r in matchers])
        assert compare.status_code == 200 and "fellegi-sunter-em" in compare.text
        assert "febrl4-a" in client.get("/ui/datasets").text
        model = client.get(f"/ui/models/er-matcher/{production.version}")
        assert model.status_code == 200 and "approved" in model.text and "ben" in model.text
        pipelines = client.get(f"/ui/pipelines/runs/{pipeline_run.run_id}")
        assert pipelines.status_code == 200 and "train_gradient_boosting" in pipelines.text
        audit = client.get("/ui/audit")
        assert audit.status_code == 200 and "er-matcher" in audit.text
