"""Each benchmark's smoke form runs and prints one well-formed JSON line.

Only ``--quick`` runs here: it shrinks the sizes and never installs or runs the peer. This
checks the benchmark works, not how fast anything is (speed is never a unit test).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.benchmark_support import REQUIRED, check_goals, positive, run_quick


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return run_quick("tracking.py")


def test_last_line_has_the_benchmark_keys(result: dict[str, Any]) -> None:
    assert result.keys() >= REQUIRED
    assert result["benchmark"] == "tracking"
    assert result["machine"]["cpu_count"] >= 1
    assert result["machine"]["sqlite_version"]


def test_quick_skips_the_peer(result: dict[str, Any]) -> None:
    assert result["peer"] is None
    assert result["ratios"] == {}
    for name, goal in result["goals"].items():
        assert {"target", "value", "met"} <= goal.keys(), name
        if goal["value"] is None:
            assert goal["met"] is None, name


def test_our_figures_are_sane(result: dict[str, Any]) -> None:
    ours = result["ours"]
    assert "error" not in ours
    assert all(ours["checks"].values()), ours["checks"]
    (log_metric,) = ours["log_metric"].values()
    assert positive(log_metric["median_s"])
    assert positive(log_metric["points_per_s"])
    assert positive(ours["log_batch"]["points_per_s"])
    (search,) = (v for k, v in ours.items() if k.startswith("search_"))
    assert positive(search["median_s"])
    assert search["results"] > 0
    (fetch,) = (v for k, v in ours.items() if k.startswith("fetch_all_"))
    assert positive(fetch["median_s"])
    assert fetch["runs"] == ours["sizes"]["runs"]
    imported = ours["import"]["import shipyard"]["statement_s"]["median_s"]
    assert positive(imported)
    assert result["goals"]["import_shipyard_s"]["value"] == pytest.approx(imported, abs=1e-3)


def test_tracking_server_quick_prints_one_well_formed_json_line() -> None:
    """``benchmarks/tracking_server.py --quick``: ``shipyard server`` alone, driven by the
    MLflow client of ``.venv``'s mlflow-skinny; the points it logs are read back."""
    parsed = run_quick("tracking_server.py", env_prefixes=("MLFLOW_",))
    assert parsed["benchmark"] == "tracking_server"
    assert parsed["peer"] is None
    assert parsed["ratios"] == {}
    ours = parsed["ours"]
    assert "error" not in ours
    assert ours["checks"]["all_points_read_back"] is True
    assert positive(ours["start"]["health_s"])
    assert positive(ours["start"]["rss_mb"])
    assert positive(ours["log_metric"]["calls_per_s"])
    assert positive(ours["log_batch"]["points_per_s"])
    goals = parsed["goals"]
    check_goals(goals)
    assert goals["health_after_spawn_s"]["value"] == ours["start"]["health_s"]
    assert goals["idle_rss_mb"]["value"] == ours["start"]["rss_mb"]


def test_data_versioning_quick_prints_one_well_formed_json_line() -> None:
    """``benchmarks/data_versioning.py --quick``: Shipyard alone on small sizes (DVC is neither
    installed nor run); a second version with one changed file stores exactly two blobs."""
    parsed = run_quick("data_versioning.py", env_prefixes=("DVC_",))
    assert parsed["benchmark"] == "data_versioning"
    assert parsed["machine"]["cpu_count"] >= 1
    assert parsed["peer"] is None
    assert parsed["ratios"] == {}
    ours = parsed["ours"]
    assert "error" not in ours
    assert all(ours["checks"].values()), ours["checks"]
    sizes = ours["sizes"]
    (add_file,) = (v for k, v in ours.items() if k.startswith("add_file_"))
    (add_folder,) = (v for k, v in ours.items() if k.startswith("add_folder_"))
    assert positive(add_file["median_s"])
    assert add_file["files_hashed"] == 1
    assert positive(add_folder["median_s"])
    assert add_folder["files"] == sizes["folder_files"]
    assert positive(ours["status_cli"]["median_s"])
    assert ours["second_version"]["files_hashed"] == 1
    goals = parsed["goals"]
    check_goals(goals)
    assert goals["add_file_vs_dvc"]["met"] is None
    assert goals["second_version_new_blobs"] == {
        "target": goals["second_version_new_blobs"]["target"], "value": 2, "met": True}


def test_registry_quick_prints_one_well_formed_json_line() -> None:
    """``benchmarks/registry.py --quick``: Shipyard's registry alone on small sizes (MLflow is
    neither installed nor run); every search returns exactly the versions the data says match,
    page by page, and the smaller audit benchmark it runs verifies its chain."""
    parsed = run_quick("registry.py", env_prefixes=("MLFLOW_",))
    assert parsed["benchmark"] == "registry"
    assert parsed["machine"]["cpu_count"] >= 1
    assert parsed["peer"] is None
    assert parsed["ratios"] == {}
    ours = parsed["ours"]
    assert "error" not in ours
    assert ours["checks"] and all(ours["checks"].values()), ours["checks"]
    sizes = ours["sizes"]
    assert ours["populate"]["versions"] == sizes["models"] * sizes["versions"]
    assert ours["store_rows"]["model_version_tags"] == 3 * ours["populate"]["versions"]
    first = ours["search_tag_first_page"]
    assert positive(first["median_s"])
    assert first["results"] == sizes["page"]
    assert first["query_plan"]
    fetched = ours["fetch_all_tag"]
    assert positive(fetched["median_s"])
    assert fetched["pages"] > 1
    assert fetched["matches"] > first["results"]
    assert positive(ours["search_name_and_tag_first_page"]["median_s"])
    assert ours["audit_verify"]["events"] == sizes["audit_events"]
    assert positive(ours["audit_verify"]["verify"]["median_s"])
    goals = parsed["goals"]
    assert goals.keys() == {"version_search_tag_filter_vs_mlflow", "audit_verify_100k_events"}
    for name, goal in goals.items():
        assert {"target", "value", "met"} <= goal.keys(), name
        assert goal["value"] is None, name
        assert goal["met"] is None, name
