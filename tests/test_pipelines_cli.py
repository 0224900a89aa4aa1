"""``shipyard pipelines run file.py:function --param k=v [--no-cache]``."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli_support import as_json, failed

FLOW = """
    from shipyard.pipelines import pipeline, step

    @step
    def make(n: int) -> list[int]:
        return list(range(n))

    @step
    def total(xs: list[int], offset: float) -> float:
        return sum(xs) + offset

    @pipeline(name="cli-flow")
    def flow(n: int, offset: float = 0.5) -> object:
        return total(make(n), offset)
"""


@pytest.fixture
def flow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, "sy_cli_flow", None)  # restored after the test
    path = tmp_path / "sy_cli_flow.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def test_run_then_cached_then_no_cache(flow_file: Path) -> None:
    ref = f"{flow_file}:flow"
    first = as_json("pipelines", "run", ref, "--param", "n=4", "-p", "offset=1")["pipeline_run"]
    assert first["status"] == "FINISHED"
    assert [(s["name"], s["cache_hit"]) for s in first["steps"]] == [("make", False),
                                                                    ("total", False)]
    second = as_json("pipelines", "run", ref, "--param", "n=4", "-p", "offset=1")
    assert all(s["cache_hit"] for s in second["pipeline_run"]["steps"])
    third = as_json("pipelines", "run", ref, "--param", "n=4", "-p", "offset=1", "--no-cache")
    assert not any(s["cache_hit"] for s in third["pipeline_run"]["steps"])


def test_bad_params_are_clean_errors(flow_file: Path) -> None:
    ref = f"{flow_file}:flow"
    assert "needs parameter 'n'" in failed("pipelines", "run", ref).stderr
    assert "not a valid int" in failed("pipelines", "run", ref, "--param", "n=x").stderr
    assert "is not name=value" in failed("pipelines", "run", ref, "--param", "n").stderr
    assert "not a @pipeline" in failed("pipelines", "run", f"{flow_file}:make").stderr
    missing = flow_file.parent / "nowhere.py"
    assert f"no file '{missing}'" in failed("pipelines", "run", f"{missing}:flow").stderr
    assert "is not file.py:function" in failed("pipelines", "run", "flow").stderr


def test_schedule_by_pipeline_name_takes_the_file_of_its_newest_run(flow_file: Path) -> None:
    err = failed("pipelines", "schedule", "cli-flow", "--every", "1h").stderr
    assert "no run of pipeline 'cli-flow'" in err and "--ref" in err
    as_json("pipelines", "run", f"{flow_file}:flow", "--param", "n=2")
    made = as_json("pipelines", "schedule", "cli-flow", "--every", "1h", "--param", "n=3")
    assert made["schedule"]["pipeline_ref"] == f"{flow_file}:flow"
    assert made["schedule"]["params"] == {"n": 3}


def test_worker_refuses_an_unknown_executor() -> None:
    err = failed("worker", "--once", "--executor", "ray://x").stderr
    assert "--executor 'ray://x': use local or dask://host:port" in err
