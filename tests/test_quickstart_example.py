"""The quickstart example (examples/quickstart) runs end to end and leaves runs the CLI can
show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import shipyard as sy

DEMO = Path(__file__).resolve().parents[1] / "examples" / "quickstart" / "train_and_compare.py"


def test_quickstart_trains_tracks_and_compares(shipyard_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home)}
    env.pop("SHIPYARD_USER", None)
    result = subprocess.run([sys.executable, str(DEMO)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "Best:" in result.stdout and "shipyard runs compare" in result.stdout
    runs = sy.search_runs(experiments="quickstart-breast-cancer", order_by=["metrics.f1 DESC"])
    assert len(runs) == 4
    assert all(run.info.status == sy.RunStatus.FINISHED for run in runs)
    assert runs[0].data.metrics["f1"] > 0.9
    curve = sy.get_metric_history(
        next(r.run_id for r in runs if r.info.run_name == "boosting-150"),
        "test_accuracy_curve")
    assert len(curve) == 150
    names = {a.path for a in sy.Client().list_artifacts(runs[0].run_id)}
    assert {"confusion.png", "model", "_shipyard"} <= names
    # The governed path to production: data version, approval by a second person, alias.
    assert "approved by ben and in production" in result.stdout
    assert "four eyes" in result.stdout
    production = sy.registry.resolve("models:/breast-cancer-classifier@production")
    assert production.status == "approved" and production.run_id == runs[0].run_id
    assert [a.actor for a in sy.registry.approvals(production.name, production.version)] == [
        "ana", "ben"]
    used = sy.Client().datasets.run_datasets(runs[0].run_id)
    assert [u.ref for u in used] == ["breast-cancer@v1"]
    assert set(sy.registry.reports(production.name, production.version)) == {"evaluation"}
