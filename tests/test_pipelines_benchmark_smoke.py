"""``benchmarks/pipelines.py --quick`` runs and prints one well-formed JSON line.

Only the smoke form runs here: 10 steps, 10 tuning trials, and neither Airflow nor the peer
Optuna is installed or run. This checks the benchmark works, not how fast anything is (speed is
never a unit test).
"""

from __future__ import annotations

from tests.benchmark_support import check_goals, positive, run_quick


def test_pipelines_quick_prints_one_well_formed_json_line() -> None:
    parsed = run_quick("pipelines.py", env_prefixes=("AIRFLOW",))
    assert parsed["benchmark"] == "pipelines"
    assert parsed["machine"]["cpu_count"] >= 1
    assert parsed["peer"] is None
    assert parsed["ratios"] == {}
    ours = parsed["ours"]
    assert "error" not in ours
    assert ours["checks"] and all(ours["checks"].values()), ours["checks"]
    chain = ours["chain"]
    assert chain["steps"] == ours["sizes"]["steps"] == 10
    assert positive(chain["first_run"]["median_s"])
    assert positive(chain["cached_rerun"]["median_s"])
    goals = parsed["goals"]
    assert goals.keys() == {"chain_overhead_s", "chain_all_cached_s",
                            "chain_vs_airflow_dag_test", "tune_200_trials_vs_optuna_rdb_sqlite",
                            "two_processes_tune_one_study"}
    check_goals(goals)
    assert goals["chain_overhead_s"]["value"] == chain["first_run"]["median_s"]
    assert goals["chain_all_cached_s"]["value"] == chain["cached_rerun"]["median_s"]
    assert goals["chain_vs_airflow_dag_test"]["value"] is None
    tuning = ours["tuning"]
    assert positive(tuning["tune_trials"]["median_s"])
    assert tuning["two_processes_one_study"]["errors"] == []
    assert goals["two_processes_tune_one_study"]["met"] is True
