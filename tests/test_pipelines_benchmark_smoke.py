"""``benchmarks/pipelines.py --quick`` runs and prints one well-formed JSON line.

Only the smoke form runs here: 10 steps, 10 tuning trials, and neither Airflow nor the peer
Optuna is installed or run. This checks the benchmark works, not how fast anything is (speed is
never a unit test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"benchmark", "machine", "ours", "peer", "ratios", "goals"}


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_pipelines_quick_prints_one_well_formed_json_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "AIRFLOW"))}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pipelines.py"), "--quick"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "installing peer" not in done.stderr
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed.keys() >= REQUIRED
    assert parsed["benchmark"] == "pipelines"
    assert parsed["machine"]["cpu_count"] >= 1
    assert parsed["peer"] is None
    assert parsed["ratios"] == {}
    ours = parsed["ours"]
    assert "error" not in ours
    assert ours["checks"] and all(ours["checks"].values()), ours["checks"]
    chain = ours["chain"]
    assert chain["steps"] == ours["sizes"]["steps"] == 10
    assert _positive(chain["first_run"]["median_s"])
    assert _positive(chain["cached_rerun"]["median_s"])
    goals = parsed["goals"]
    assert goals.keys() == {"chain_overhead_s", "chain_all_cached_s",
                            "chain_vs_airflow_dag_test", "tune_200_trials_vs_optuna_rdb_sqlite",
                            "two_processes_tune_one_study"}
    for name, goal in goals.items():
        assert {"target", "value", "met"} <= goal.keys(), name
        if goal["value"] is None:
            assert goal["met"] is None, name
    assert goals["chain_overhead_s"]["value"] == chain["first_run"]["median_s"]
    assert goals["chain_all_cached_s"]["value"] == chain["cached_rerun"]["median_s"]
    assert goals["chain_vs_airflow_dag_test"]["value"] is None
    tuning = ours["tuning"]
    assert _positive(tuning["tune_trials"]["median_s"])
    assert tuning["two_processes_one_study"]["errors"] == []
    assert goals["two_processes_tune_one_study"]["met"] is True
