"""``shipyard models`` end to end: the governance walk-through as two people."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import shipyard as sy
from shipyard.cli.app import app
from tests.cli_support import ENV


@pytest.fixture(autouse=True)
def _audit_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "cli-test-audit-key-0123456789")
    monkeypatch.setenv("SHIPYARD_AUDIT_CHECKPOINT", str(tmp_path / "checkpoint.json"))


def as_user(user: str, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={**ENV, "SHIPYARD_USER": user},
                              prog_name="shipyard")


def test_walkthrough_refusals_name_their_rule(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    v = sy.registry.register_version("er-matcher", "runs:/x/model", flavor="sklearn")
    sy.registry.register_version("er-matcher", "runs:/y/model")
    policy = tmp_path / "policy.yaml"
    policy.write_text("required_reports: []\napprovals: 1\nprotected_aliases: [production]\n")
    assert as_user("admin", "models", "policy", "set", "er-matcher", str(policy)).exit_code == 0

    refused = as_user("alice", "models", "alias", "set", "er-matcher", "production", "1")
    assert refused.exit_code == 1 and "not approved" in refused.stderr
    assert "rule: protected aliases" in refused.stderr
    assert as_user("alice", "models", "request-approval", "er-matcher", "1", "-m",
                   "beats baseline").stdout.strip() == "models:/er-matcher/1: pending"
    self_approval = as_user("alice", "models", "approve", "er-matcher", "1")
    assert self_approval.exit_code == 1 and "four eyes" in self_approval.stderr
    assert "Traceback" not in self_approval.stderr
    assert as_user("bob", "models", "approve", "er-matcher", "1", "-m", "reviewed"
                   ).stdout.strip() == "models:/er-matcher/1: approved"
    assert as_user("alice", "models", "alias", "set", "er-matcher", "production", "1"
                   ).exit_code == 0
    assert sy.registry.resolve("models:/er-matcher@production").version == v.version

    shown = as_user("bob", "models", "show", "er-matcher", "--json")
    assert '"status": "approved"' in shown.stdout and '"production": 1' in shown.stdout
    history = as_user("bob", "models", "alias", "history", "er-matcher", "--json").stdout
    assert '"actor": "alice"' in history and '"version": 1' in history
    listed = as_user("bob", "models", "list").stdout
    assert "er-matcher" in listed and "production=v1" in listed
    gone = as_user("bob", "models", "delete-version", "er-matcher", "1")
    assert gone.exit_code == 1 and "production" in gone.stderr
    assert as_user("bob", "models", "delete-version", "er-matcher", "2").exit_code == 0
    assert "0 approval" not in as_user("bob", "models", "policy", "show", "er-matcher").stdout
