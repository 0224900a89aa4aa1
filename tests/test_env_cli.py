"""``shipyard env show`` / ``env diff`` on real runs, and the command line a run records."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping

import pytest

import shipyard as sy
from shipyard.entities import run_tags
from shipyard.sdk import run_context
from shipyard.sdk.client import Client
from shipyard.services.environment_diff import Environment, diff_environments
from tests.cli_support import as_json, failed, ok


def _run_with_environment(environment: Mapping[str, object]) -> str:
    """A run whose environment record is exactly ``environment`` (as the SDK writes it)."""
    c = Client()
    experiment_id = c.get_or_create_experiment("envs").experiment_id
    run_id = c.create_run(experiment_id).run_id
    c.log_text(run_id, json.dumps(environment, indent=1, sort_keys=True),
               run_tags.ENVIRONMENT_FILE)
    from shipyard.services.run_context import requirements_lock

    c.log_text(run_id, requirements_lock(environment), run_tags.REQUIREMENTS_FILE)
    return run_id


OLD = {"python": "3.11.7", "implementation": "CPython", "platform": "Linux-6.1-x86_64",
       "machine": "x86_64",
       "packages": {"numpy": "1.26.4", "pandas": "2.2.0", "scikit-learn": "1.4.0", "six": "1.16"}}
NEW = {"python": "3.12.1", "implementation": "CPython", "platform": "Linux-6.1-x86_64",
       "machine": "x86_64",
       "packages": {"numpy": "2.1.0", "pandas": "2.2.0", "scikit-learn": "1.5.2", "polars": "1.9"}}


def test_the_sdk_re_exports_the_shared_names() -> None:
    assert run_context.ENVIRONMENT_FILE == run_tags.ENVIRONMENT_FILE
    assert run_context.REQUIREMENTS_FILE == run_tags.REQUIREMENTS_FILE


def test_env_show_of_a_real_run_lists_this_interpreter() -> None:
    with sy.start_run(experiment="env") as run:
        pass
    document = as_json("env", "show", run.run_id[:10])["environment"]
    assert document["run_id"] == run.run_id
    assert document["python"] == f"{sys.version_info.major}.{sys.version_info.minor}." \
                                 f"{sys.version_info.micro}"
    assert document["package_count"] == len(document["packages"]) > 5
    assert "sqlalchemy" in document["packages"]
    text = ok("env", "show", run.run_id).stdout
    assert "sqlalchemy" in text and document["packages"]["sqlalchemy"] in text
    assert str(document["package_count"]) in text


def test_env_show_requirements_prints_the_lock() -> None:
    run_id = _run_with_environment(OLD)
    assert ok("env", "show", run_id, "--requirements").stdout == (
        "numpy==1.26.4\npandas==2.2.0\nscikit-learn==1.4.0\nsix==1.16\n")


def test_requirements_are_rebuilt_when_only_the_environment_record_exists() -> None:
    c = Client()
    run_id = c.create_run(c.get_or_create_experiment("envs").experiment_id).run_id
    c.log_text(run_id, json.dumps(OLD), run_tags.ENVIRONMENT_FILE)
    assert ok("env", "show", run_id, "--requirements").stdout.splitlines()[0] == "numpy==1.26.4"


def test_env_diff_reports_added_removed_changed_and_python() -> None:
    a, b = _run_with_environment(OLD), _run_with_environment(NEW)
    document = as_json("env", "diff", a, b)
    assert document["run_a"] == a and document["run_b"] == b
    assert document["identical"] is False
    assert document["facts"] == [{"field": "python", "a": "3.11.7", "b": "3.12.1"}]
    assert document["added"] == [{"name": "polars", "version": "1.9"}]
    assert document["removed"] == [{"name": "six", "version": "1.16"}]
    assert document["changed"] == [{"name": "numpy", "a": "1.26.4", "b": "2.1.0"},
                                   {"name": "scikit-learn", "a": "1.4.0", "b": "1.5.2"}]
    assert document["unchanged_count"] == 1
    text = ok("env", "diff", a, b).stdout  # differences are not a failure: exit 0
    for expected in ("polars", "six", "1.26.4", "2.1.0", "3.12.1"):
        assert expected in text


def test_env_diff_of_identical_environments() -> None:
    a, b = _run_with_environment(OLD), _run_with_environment(OLD)
    assert as_json("env", "diff", a, b)["identical"] is True
    assert "identical" in ok("env", "diff", a, b).stdout


def test_diff_environments_is_symmetric_in_added_and_removed() -> None:
    a = Environment("a", {"python": "3.11"}, {"x": "1", "y": "2"})
    b = Environment("b", {"python": "3.11"}, {"y": "3", "z": "1"})
    forward, backward = diff_environments(a, b), diff_environments(b, a)
    assert forward.added == backward.removed == (("z", "1"),)
    assert forward.removed == backward.added == (("x", "1"),)
    assert [(c.name, c.a, c.b) for c in forward.changed] == [("y", "2", "3")]
    assert forward.facts == ()


def test_run_without_environment_record_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_CAPTURE_ENVIRONMENT", "false")
    with sy.start_run(experiment="bare") as run:
        pass
    for args in (("env", "show", run.run_id), ("env", "show", run.run_id, "--requirements"),
                 ("env", "diff", run.run_id, _run_with_environment(OLD))):
        message = failed(*args).stderr
        assert run.run_id in message and "SHIPYARD_CAPTURE_ENVIRONMENT" in message


def test_unknown_run_is_a_clear_error() -> None:
    assert "does not exist" in failed("env", "show", "0" * 32).stderr
    a = _run_with_environment(OLD)
    assert "ffffffff" in failed("env", "diff", a, "ffffffff").stderr


def test_damaged_environment_record_is_a_clear_error() -> None:
    c = Client()
    run_id = c.create_run(c.get_or_create_experiment("envs").experiment_id).run_id
    c.log_text(run_id, "not json", run_tags.ENVIRONMENT_FILE)
    assert "damaged" in failed("env", "show", run_id).stderr


def test_a_run_records_its_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["train.py", "--data", "my folder/x.csv", "--lr=0.1"]
    monkeypatch.setattr(sys, "argv", argv)
    with sy.start_run(experiment="cmd") as run:
        pass
    recorded = sy.get_run(run.run_id).data.tags[run_context.TAG_COMMAND]
    assert recorded == "train.py --data 'my folder/x.csv' --lr=0.1"
    assert shlex.split(recorded) == argv


def test_a_long_command_line_is_cut_to_the_tag_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.entities.limits import MAX_TAG_VALUE

    monkeypatch.setattr(sys, "argv", ["train.py", *(f"--x{i}=1" for i in range(3000))])
    with sy.start_run(experiment="cmd") as run:
        pass
    recorded = sy.get_run(run.run_id).data.tags[run_context.TAG_COMMAND]
    assert len(recorded) == MAX_TAG_VALUE
    assert recorded.startswith("train.py --x0=1 --x1=1")
    assert recorded.endswith(run_context.COMMAND_TRUNCATED_MARKER)


def test_new_commands_are_in_the_references() -> None:
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    reference = (docs / "cli.md").read_text()
    for command in ("env show", "env diff", "backup", "restore", "gc"):
        assert f"`shipyard {command}`" in reference, command
    assert "shipyard.source.command" in (docs / "environments.md").read_text()
    maintenance = (docs / "maintenance.md").read_text()
    assert "pg_dump" in maintenance and "REFERENCE_SOURCES" in maintenance
