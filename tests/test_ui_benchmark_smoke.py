"""The web UI benchmark's smoke form runs and prints one well-formed JSON line.

Only ``--quick`` runs here (2,000 runs, a 20,000-point metric): it checks the benchmark works
and what it measures is sane, not how fast anything is (speed is never a unit test).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.benchmark_support import REQUIRED, run_quick


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return run_quick("ui.py", timeout=180)


def test_last_line_has_the_benchmark_keys(result: dict[str, Any]) -> None:
    assert result.keys() >= REQUIRED
    assert result["benchmark"] == "ui"
    assert result["machine"]["cpu_count"] >= 1 and result["machine"]["sqlite_version"]
    assert result["peer"] is None and result["ratios"] == {}


def test_goals_are_well_formed_and_measured(result: dict[str, Any]) -> None:
    goals = result["goals"]
    assert set(goals) == {"runs_page_filtered_sorted_100k_ms", "metric_series_points_sent"}
    for name, goal in goals.items():
        assert {"target", "value", "met"} <= goal.keys(), name
        assert isinstance(goal["value"], int | float) and isinstance(goal["met"], bool), name
    # How many points reach the browser does not depend on the machine: it must hold.
    assert goals["metric_series_points_sent"]["met"] is True


def test_our_figures_are_sane(result: dict[str, Any]) -> None:
    ours = result["ours"]
    assert "error" not in ours
    assert ours["runs"] == 2_000 and ours["checks"] == {"page_has_rows": True,
                                                       "series_total_matches": True}
    assert ours["runs_page"]["rows_shown"] == 50 and ours["runs_page"]["median_s"] > 0
    for series in ("metric_series", "compare_series"):
        assert ours[series]["total_points"] == 20_000, series
        assert 0 < ours[series]["points_sent"] <= 2_000, series
