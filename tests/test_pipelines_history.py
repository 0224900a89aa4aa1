"""``shipyard pipelines runs / show / resume``: a pipeline whose middle step fails once."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli_support import as_json, cli, failed, ok

FLOW = """
    from pathlib import Path

    from shipyard.pipelines import pipeline, step

    HERE = Path(__file__).parent

    def _count(name: str) -> None:
        with open(HERE / "calls.txt", "a") as f:
            f.write(name + "\\n")

    @step
    def make(n: int) -> list[int]:
        _count("make")
        return list(range(n))

    @step
    def double(xs: list[int]) -> list[int]:
        _count("double")
        if (HERE / "fail.flag").exists():
            raise RuntimeError("double failed on purpose")
        return [2 * x for x in xs]

    @step
    def total(xs: list[int], offset: float) -> float:
        _count("total")
        return sum(xs) + offset

    @pipeline(name="resume-flow")
    def flow(n: int, offset: float = 0.5) -> object:
        return total(double(make(n)), offset)
"""


@pytest.fixture
def flow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, "sy_resume_flow", None)  # restored after the test
    path = tmp_path / "sy_resume_flow.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def _calls(flow_file: Path) -> list[str]:
    path = flow_file.parent / "calls.txt"
    calls = path.read_text().split() if path.exists() else []
    path.unlink(missing_ok=True)
    return calls


def test_runs_show_and_resume(flow_file: Path) -> None:
    flag = flow_file.parent / "fail.flag"
    flag.touch()
    result = cli("pipelines", "run", f"{flow_file}:flow", "-p", "n=4", "-p", "offset=1")
    assert result.exit_code != 0
    assert _calls(flow_file) == ["make", "double"]

    runs = as_json("pipelines", "runs", "resume-flow")["pipeline_runs"]
    assert len(runs) == 1
    failed_run = runs[0]
    assert failed_run["status"] == "FAILED"
    assert failed_run["steps_count"] == {"done": 1, "cached": 0, "failed": 1}
    assert failed_run["ref"] == f"{flow_file}:flow"
    run_id = failed_run["run_id"]

    shown = as_json("pipelines", "show", run_id[:10])["pipeline_run"]
    assert [(s["name"], s["status"], s["cache_hit"]) for s in shown["steps"]] == [
        ("make", "FINISHED", False), ("double", "FAILED", False)]
    assert shown["steps"][0]["output_kind"] == "json"
    assert [s["upstream"] for s in shown["steps"]] == [[], ["make"]]
    lines = ok("pipelines", "show", run_id).stdout.splitlines()
    assert "resume-flow" in lines[0] and "FAILED" in lines[0]
    make_line = next(line for line in lines if "make" in line)
    double_line = next(line for line in lines if "double" in line)
    assert "FINISHED" in make_line and "FAILED" in double_line and "output=json" in make_line
    # the tree nests double under make, the step it takes input from
    assert double_line.index("double") > make_line.index("make")

    flag.unlink()
    resumed = as_json("pipelines", "resume", run_id)["pipeline_run"]
    assert resumed["status"] == "FINISHED"
    assert resumed["resumed_from"] == run_id
    assert [(s["name"], s["cache_hit"]) for s in resumed["steps"]] == [
        ("make", True), ("double", False), ("total", False)]
    assert _calls(flow_file) == ["double", "total"]  # only the failed and downstream steps

    runs = as_json("pipelines", "runs", "resume-flow")["pipeline_runs"]
    assert [r["run_id"] for r in runs] == [resumed["run_id"], run_id]  # newest first
    assert runs[0]["steps_count"] == {"done": 3, "cached": 1, "failed": 0}
    assert runs[0]["resumed_from"] == run_id
    table = ok("pipelines", "runs", "resume-flow").stdout
    assert resumed["run_id"][:8] in table and "FAILED" in table

    assert "nothing to resume" in failed("pipelines", "resume", resumed["run_id"]).stderr


def test_unknown_run_is_a_clean_error(flow_file: Path) -> None:
    failed("pipelines", "show", "0123456789abcdef0123456789abcdef")
    failed("pipelines", "resume", "deadbeef")
    assert as_json("pipelines", "runs", "no-such-pipeline") == {"pipeline_runs": []}
