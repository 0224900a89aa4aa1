"""The ``shipyard`` CLI end to end on the embedded store, seeded through the Client."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.sdk.client import Client
from tests.cli_support import as_json, cli, failed, ok


@dataclass
class Seeded:
    experiment_id: str
    ids: dict[str, str]  # run name -> run id


@pytest.fixture
def seeded() -> Seeded:
    """Experiment 'er' with three finished runs (lr-1 oldest, lr-3 newest) and 'other'."""
    c = Client()
    eid = c.create_experiment("er", {"team": "er"})
    ids: dict[str, str] = {}
    for number, (c_value, f1) in enumerate([(1, 0.80), (2, 0.95), (3, 0.90)], start=1):
        run = c.create_run(eid, run_name=f"lr-{number}", start_time=1_700_000_000_000 + number,
                           tags={"stage": "dev"})
        c.log_params(run.run_id, {"C": c_value, "blocking": "postcode"})
        for step, value in enumerate([f1 - 0.2, f1 - 0.1, f1]):
            c.log_metric(run.run_id, "f1", value, step=step)
        c.set_terminated(run.run_id)
        ids[f"lr-{number}"] = run.run_id
    other = c.create_experiment("other")
    ids["solo"] = c.create_run(other, run_name="solo").run_id
    c.flush()
    return Seeded(eid, ids)


# -- experiments -------------------------------------------------------------------------------


def test_experiment_create_prints_the_id_and_list_shows_it() -> None:
    created = ok("experiments", "create", "matching", "--tag", "team=er", "--tag", "note=a=b")
    experiment_id = created.stdout.strip()
    assert experiment_id.isdigit()
    listed = as_json("experiments", "list")["experiments"]
    assert [(e["experiment_id"], e["name"], e["tags"]) for e in listed] == [
        (experiment_id, "matching", {"team": "er", "note": "a=b"})]
    assert listed[0]["creation_time"].endswith("Z") and isinstance(listed[0]["creation_time_ms"],
                                                                      int)
    assert "matching" in ok("experiments", "list").stdout
    doc = as_json("experiments", "create", "second")
    assert doc["name"] == "second" and Client().get_experiment(doc["experiment_id"])


def test_experiment_delete_and_restore_by_name_or_id(seeded: Seeded) -> None:
    ok("experiments", "delete", "er")
    assert [e["name"] for e in as_json("experiments", "list")["experiments"]] == ["other"]
    deleted = as_json("experiments", "list", "--view", "deleted")["experiments"]
    assert [e["name"] for e in deleted] == ["er"]
    assert as_json("runs", "list", "-e", "er")["runs"] == []
    ok("experiments", "restore", seeded.experiment_id)
    assert len(as_json("runs", "list", "-e", "er")["runs"]) == 3


# -- runs list ---------------------------------------------------------------------------------


def test_runs_list_json_is_newest_first_with_full_ids(seeded: Seeded) -> None:
    runs = as_json("runs", "list", "-e", "er")["runs"]
    assert [r["run_name"] for r in runs] == ["lr-3", "lr-2", "lr-1"]
    first = runs[0]
    assert first["run_id"] == seeded.ids["lr-3"]
    assert first["experiment_name"] == "er" and first["status"] == "FINISHED"
    assert first["params"] == {"C": "3", "blocking": "postcode"}
    assert first["metrics"] == {"f1": 0.9} and first["tags"]["stage"] == "dev"
    assert first["start_time"] == "2023-11-14T22:13:20.003Z"
    assert first["start_time_ms"] == 1_700_000_000_003
    assert first["duration_ms"] == first["end_time_ms"] - first["start_time_ms"]
    every = as_json("runs", "list")["runs"]
    assert {r["run_name"] for r in every} == {"lr-1", "lr-2", "lr-3", "solo"}


def test_runs_list_filter_order_and_limit(seeded: Seeded) -> None:
    runs = as_json("runs", "list", "--filter", "metrics.f1 > 0.85",
                   "--order-by", "metrics.f1 DESC")["runs"]
    assert [r["run_name"] for r in runs] == ["lr-2", "lr-3"]
    by_param = as_json("runs", "list", "-f", "params.C = '1'")["runs"]
    assert [r["run_id"] for r in by_param] == [seeded.ids["lr-1"]]
    page = as_json("runs", "list", "-e", seeded.experiment_id, "-o", "metrics.f1", "-n", "2")
    assert [r["run_name"] for r in page["runs"]] == ["lr-1", "lr-3"] and page["truncated"]
    both = as_json("runs", "list", "-e", "er", "-e", "other", "-n", "10")
    assert len(both["runs"]) == 4 and not both["truncated"]


def test_runs_list_table_shows_what_varies(seeded: Seeded) -> None:
    out = ok("runs", "list", "-e", "er").stdout
    assert "Runs of er" in out
    for name, run_id in seeded.ids.items():
        if name != "solo":
            assert run_id[:8] in out and run_id not in out  # short ids only
    assert "lr-2" in out and "FINISHED" in out and "0.95" in out
    assert "f1" in out and "C" in out  # they vary
    assert "blocking" not in out and "postcode" not in out  # the same in every run
    chosen = ok("runs", "list", "-e", "er", "--columns", "params.blocking,tags.stage").stdout
    assert "postcode" in chosen and "dev" in chosen and "0.95" not in chosen


def test_a_single_run_shows_all_its_columns(seeded: Seeded) -> None:
    out = ok("runs", "list", "-f", "params.C = '2'").stdout
    assert "postcode" in out and "0.95" in out


def test_non_finite_metrics_are_strict_json_strings() -> None:
    c = Client()
    run = c.create_run(c.create_experiment("odd"), run_name="odd")
    c.log_batch(run.run_id, params={"p": "x"})
    for key, value in {"nan": math.nan, "up": math.inf, "down": -math.inf, "ok": 1.5}.items():
        c.log_metric(run.run_id, key, value)
    c.flush()
    metrics = as_json("runs", "list")["runs"][0]["metrics"]
    assert metrics == {"nan": "NaN", "up": "Infinity", "down": "-Infinity", "ok": 1.5}
    assert math.isnan(float(metrics["nan"])) and float(metrics["down"]) == -math.inf
    shown = as_json("runs", "show", run.run_id)["run"]["metrics"]
    assert shown["up"] == "Infinity"
    history = as_json("runs", "metric", run.run_id, "nan")["history"]
    assert [p["value"] for p in history] == ["NaN"]
    assert "NaN" in ok("runs", "list").stdout


# -- runs show ---------------------------------------------------------------------------------


def test_runs_show_has_everything(seeded: Seeded, tmp_path: Path) -> None:
    c = Client()
    parent = seeded.ids["lr-1"]
    child = c.create_run(seeded.experiment_id, run_name="child", parent_run_id=parent)
    c.log_params(child.run_id, {"depth": 3})
    c.log_metric(child.run_id, "loss", 0.25)
    c.set_tag(child.run_id, "note", "[bold]not markup[/bold]")
    c.log_text(child.run_id, "hello", "notes/readme.txt")
    c.log_text(child.run_id, "{}", "model.json")
    c.flush()
    doc = as_json("runs", "show", child.run_id)["run"]
    assert doc["run_id"] == child.run_id and doc["run_name"] == "child"
    assert doc["params"] == {"depth": "3"} and doc["metrics"] == {"loss": 0.25}
    assert doc["tags"]["note"] == "[bold]not markup[/bold]"
    assert doc["parent"] == {"run_id": parent, "run_name": "lr-1"}
    assert [(a["path"], a["size"]) for a in doc["artifacts"]] == [
        ("model.json", 2), ("notes/readme.txt", 5)]
    assert doc["status"] == "RUNNING" and doc["end_time"] is None and doc["duration_ms"] is None
    out = ok("runs", "show", child.run_id).stdout
    for text in (child.run_id, "child", "depth", "loss", "0.25", "[bold]not markup[/bold]",
                 "notes/readme.txt", "model.json", parent, "lr-1", "er"):
        assert text in out, text


def test_runs_show_accepts_a_unique_prefix(seeded: Seeded) -> None:
    run_id = seeded.ids["lr-2"]
    assert as_json("runs", "show", run_id[:8])["run"]["run_id"] == run_id
    assert "Artifacts: none" in ok("runs", "show", run_id[:10]).stdout


# -- runs compare ------------------------------------------------------------------------------


def test_runs_compare_marks_what_differs(seeded: Seeded) -> None:
    one, two = seeded.ids["lr-1"], seeded.ids["lr-2"]
    doc = as_json("runs", "compare", one, two)
    assert [r["run_id"] for r in doc["runs"]] == [one, two]
    params = {p["key"]: p for p in doc["params"]}
    assert params["C"] == {"key": "C", "values": ["1", "2"], "differs": True}
    assert params["blocking"]["differs"] is False
    assert doc["metrics"] == [{"key": "f1", "values": [0.8, 0.95], "differs": True}]
    out = ok("runs", "compare", one, two).stdout
    rows = {line.split("│")[2].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "≠" in rows["params.C"] and "≠" in rows["metrics.f1"]
    assert "≠" not in rows["params.blocking"]
    assert one[:8] in out and two[:8] in out


def test_runs_compare_a_run_missing_a_key(seeded: Seeded) -> None:
    doc = as_json("runs", "compare", seeded.ids["lr-1"], seeded.ids["solo"])
    assert {p["key"]: p["values"] for p in doc["params"]} == {
        "C": ["1", None], "blocking": ["postcode", None]}
    assert doc["metrics"][0]["values"] == [0.8, None]


# -- runs delete / restore ---------------------------------------------------------------------


def test_delete_hides_a_run_and_restore_brings_it_back(seeded: Seeded) -> None:
    gone = seeded.ids["lr-2"]
    assert gone in ok("runs", "delete", gone).stdout
    names = [r["run_name"] for r in as_json("runs", "list", "-e", "er")["runs"]]
    assert names == ["lr-3", "lr-1"]
    deleted = as_json("runs", "list", "--view", "deleted")["runs"]
    assert [(r["run_id"], r["lifecycle_stage"]) for r in deleted] == [(gone, "deleted")]
    ok("runs", "restore", gone[:8])
    names = [r["run_name"] for r in as_json("runs", "list", "-e", "er")["runs"]]
    assert names == ["lr-3", "lr-2", "lr-1"]


def test_delete_changes_nothing_when_one_id_is_unknown(seeded: Seeded) -> None:
    result = failed("runs", "delete", seeded.ids["lr-1"], "f" * 32)
    assert "does not exist" in result.stderr
    assert len(as_json("runs", "list", "-e", "er")["runs"]) == 3


# -- runs metric -------------------------------------------------------------------------------


def test_metric_history_with_sparkline(seeded: Seeded) -> None:
    run_id = seeded.ids["lr-2"]
    doc = as_json("runs", "metric", run_id, "f1")
    assert doc["run_id"] == run_id and doc["key"] == "f1"
    assert [p["step"] for p in doc["history"]] == [0, 1, 2]
    assert [round(p["value"], 2) for p in doc["history"]] == [0.75, 0.85, 0.95]
    assert doc["history"][0]["timestamp"].endswith("Z")
    out = ok("runs", "metric", run_id, "f1").stdout
    assert "3 points" in out and "▁▅█" in out and "0.95" in out
    assert "Showing the last 2 of 3" in ok("runs", "metric", run_id, "f1", "--tail", "2").stderr


# -- bad input ---------------------------------------------------------------------------------

UNKNOWN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(("args", "message"), [
    (("runs", "show", UNKNOWN), f"run '{UNKNOWN}' does not exist (field: run_id)"),
    (("runs", "show", "no-such-run"), "run 'no-such-run' does not exist"),
    (("runs", "show", "--json", UNKNOWN), "does not exist"),
    (("runs", "compare", UNKNOWN, UNKNOWN), "does not exist"),
    (("runs", "compare", UNKNOWN), "at least two run ids"),
    (("runs", "delete", UNKNOWN), "does not exist"),
    (("runs", "restore", UNKNOWN), "does not exist"),
    (("runs", "metric", UNKNOWN, "f1"), "does not exist"),
    (("runs", "list", "-e", "nope"), "experiment 'nope' does not exist"),
    (("runs", "list", "-e", "999"), "experiment '999' does not exist"),
    (("experiments", "delete", "nope"), "experiment 'nope' does not exist"),
    (("experiments", "restore", "42"), "experiment '42' does not exist"),
    (("experiments", "create", "x", "--tag", "novalue"), "'novalue' is not KEY=VALUE"),
    (("experiments", "create", "x", "--tag", "=v"), "(field: --tag)"),
    (("experiments", "create", "er"), "already exists"),
    (("runs", "list", "--filter", "metrics.f1 >> 1"), "at position 12 (field: filter)"),
    (("runs", "list", "--filter", "bogus.f1 = 1"), "unknown entity"),
    (("runs", "list", "--order-by", "metrics.f1 sideways"), "got 'sideways'"),
    (("runs", "list", "--max-results", "0"), "max_results must be between"),
    (("runs", "list", "--columns", "f1"), "must be metrics.KEY"),
])
def test_bad_input_is_a_clean_error(seeded: Seeded, args: tuple[str, ...], message: str) -> None:
    result = failed(*args)
    assert message in result.stderr


def test_a_bad_filter_points_at_the_fault(seeded: Seeded) -> None:
    lines = failed("runs", "list", "--filter", "metrics.f1 >> 1").stderr.splitlines()
    assert lines[1].strip() == "metrics.f1 >> 1"
    assert lines[2].index("^") - lines[1].index("m") == 12


def test_an_unknown_metric_names_the_known_ones(seeded: Seeded) -> None:
    result = failed("runs", "metric", seeded.ids["lr-1"], "recall")
    assert "has no metric 'recall' (its metrics: f1)" in result.stderr


def test_an_ambiguous_prefix_asks_for_more(seeded: Seeded) -> None:
    c = Client()
    ids = list(seeded.ids.values())
    while len({run_id[0] for run_id in ids}) == len(ids):  # at most 17 ids: pigeonhole
        ids.append(c.create_run(seeded.experiment_id).run_id)
    firsts = [run_id[0] for run_id in ids]
    first = next(ch for ch in firsts if firsts.count(ch) > 1)
    assert "matches several runs" in failed("runs", "show", first).stderr


def test_usage_errors_exit_2_without_traceback() -> None:
    result = cli("runs", "list", "--view", "sideways")
    assert result.exit_code == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "sideways" in result.stderr


def test_the_console_script_prints_no_traceback(shipyard_home: Path) -> None:
    script = Path(sys.executable).with_name("shipyard")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "shipyard"]
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home), "NO_COLOR": "1"}
    for argv in (command, [sys.executable, "-m", "shipyard"]):
        done = subprocess.run([*argv, "runs", "show", UNKNOWN], capture_output=True, text=True,
                              env=env, timeout=120, check=False)
        assert done.returncode == 1, done
        assert done.stderr.strip() == f"Error: run '{UNKNOWN}' does not exist (field: run_id)"
        assert "Traceback" not in done.stdout + done.stderr


def test_importing_the_cli_loads_no_store() -> None:
    code = ("import sys; import shipyard.cli.app; "
            "print(sorted(m for m in ('sqlalchemy', 'alembic', 'fsspec') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "[]"


# -- helpers -----------------------------------------------------------------------------------


def test_varying_keys_and_the_column_budget() -> None:
    from shipyard.cli.runs import varying_keys

    runs: list[dict[str, object]] = [{"a": 1.0, "b": math.nan, "c": 1.0},
                                     {"a": 1.0, "b": math.nan, "c": 1.0000001, "d": 0.0}]
    assert varying_keys(runs) == ["c", "d"]
    assert varying_keys(runs[:1]) == ["a", "b", "c"]
    from shipyard.cli.runs import auto_budget

    assert auto_budget(80) == 1 and auto_budget(120) == 4 and auto_budget(400) == 8


def test_auto_columns_share_the_budget(seeded: Seeded) -> None:
    from shipyard.cli.runs import auto_columns

    c = Client()
    runs = list(c.search_runs([seeded.experiment_id]))
    assert auto_columns(runs, budget=1) == (["metrics.f1"], 1)
    assert auto_columns(runs, budget=8) == (["metrics.f1", "params.C"], 0)


def test_text_helpers() -> None:
    from shipyard.cli import output
    from shipyard.cli.app import error_text
    from shipyard.errors import FilterSyntaxError, NotFoundError

    assert output.sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert output.sparkline([5.0, math.nan, 5.0]) == "▁ ▁"
    assert len(output.sparkline([float(i) for i in range(1000)], width=60)) == 60
    assert output.duration_text(950) == "950ms" and output.duration_text(61_000) == "1m 01s"
    assert output.duration_text(90_000_000) == "1d 01h"
    assert output.iso_time(0) == "1970-01-01T00:00:00.000Z" and output.iso_time(None) is None
    assert [output.json_number(v) for v in (math.nan, math.inf, -math.inf, 2.0)] == [
        "NaN", "Infinity", "-Infinity", 2.0]
    assert error_text(NotFoundError("no run", field="run_id")) == "Error: no run (field: run_id)"
    syntax = error_text(FilterSyntaxError("bad", text="a >", position=3))
    assert syntax.splitlines() == ["Error: bad at position 3 (field: filter)", "  a >", "     ^"]
