"""The registry's story as two people tell it, on the embedded store: register with an input
example, evaluate with a sensitive feature, a refused promotion, a refused self-approval, an
approval by a second person, the promotion, an audit export, and a tamper that verify finds."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

import shipyard as sy
from shipyard.cli.app import app
from tests.cli_support import ENV

pytest.importorskip("sklearn")
pytest.importorskip("skops")


@pytest.fixture(autouse=True)
def _audit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "walkthrough-audit-key-0123456789")
    monkeypatch.setenv("SHIPYARD_AUDIT_CHECKPOINT", str(tmp_path / "checkpoint.json"))


def as_user(user: str, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={**ENV, "SHIPYARD_USER": user},
                              prog_name="shipyard")


def _data() -> tuple[object, object]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 400
    score = rng.random(n)
    frame = pd.DataFrame({"jaro": score, "same_zip": (rng.random(n) < score).astype(int),
                          "state": rng.choice(["NSW", "VIC"], n)})
    frame["is_match"] = (score > 0.5).astype(int)
    return frame.iloc[:300], frame.iloc[300:]


def test_the_governance_walkthrough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression

    train, holdout = _data()
    features = ["jaro", "same_zip"]
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    model = LogisticRegression().fit(train[features], train["is_match"])  # type: ignore[index]
    mv = sy.log_model(model, "er-matcher", input_example=train[features].head(5))  # type: ignore[index]
    sy.registry.set_policy("er-matcher", {
        "required_reports": ["evaluation", "bias"],
        "thresholds": ["f1 >= 0.8", "demographic_parity_difference <= 0.3"],
        "approvals": 1, "protected_aliases": ["production"]})
    report = sy.evaluate(mv, holdout, target="is_match", sensitive_features=["state"])
    assert report.metrics["f1"] is not None and report.metrics["f1"] >= 0.8
    assert "demographic_parity_difference" in report.metrics
    assert set(sy.registry.reports("er-matcher", mv.version)) == {"evaluation", "bias"}

    refused = as_user("alice", "models", "alias", "set", "er-matcher", "production", "1")
    assert refused.exit_code == 1 and "not approved" in refused.stderr
    sy.registry.request_approval("er-matcher", mv.version, comment="beats v0 on holdout")
    self_approval = as_user("alice", "models", "approve", "er-matcher", "1")
    assert self_approval.exit_code == 1 and "four eyes" in self_approval.stderr
    approved = as_user("bob", "models", "approve", "er-matcher", "1", "-m", "reports reviewed")
    assert approved.exit_code == 0, approved.stderr
    assert as_user("alice", "models", "alias", "set", "er-matcher", "production", "1"
                   ).exit_code == 0
    served = sy.load_model("models:/er-matcher@production")
    assert list(served.predict(holdout[features])) == list(  # type: ignore[index]
        model.predict(holdout[features]))  # type: ignore[index]

    bundle = tmp_path / "er-matcher-audit.zip"
    exported = as_user("carol", "audit", "export", "er-matcher", "-o", str(bundle))
    assert exported.exit_code == 0, exported.stderr
    assert "model dossier" in exported.stdout
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        events = archive.read(next(n for n in names if n.endswith("events.jsonl"))).decode()
        card = archive.read("model/er-matcher/v1/model-card.md").decode()
        version = archive.read("model/er-matcher/v1/version.json").decode()
        bias = archive.read("model/er-matcher/v1/reports/bias.json").decode()
        history = archive.read("model/er-matcher/model.json").decode()
    assert "version.approve" in events and '"bob"' in events and "alias.set" in events
    assert "# Model card: er-matcher v1" in card and "f1 >= 0.8" in card
    assert '"actor": "bob"' in version and '"decision": "approve"' in version
    assert "demographic_parity_difference" in bias
    assert '"alias": "production"' in history
    assert as_user("carol", "audit", "verify").exit_code == 0

    engine = sy.Client().registry.engine
    with engine.begin() as conn:  # someone rewrites who approved, straight in the database
        seq = conn.execute(text("SELECT seq FROM audit_events WHERE action = "
                                "'version.approve'")).scalar_one()
        conn.execute(text("UPDATE audit_events SET actor = 'alice' WHERE seq = :seq"),
                     {"seq": seq})
    tampered = as_user("carol", "audit", "verify")
    assert tampered.exit_code == 1
    assert f"broken at event {seq}" in tampered.stderr
