"""The model pages through the real app in-process, over a real registered model on SQLite with
local artifacts: versions and their review status, alias history, policy, reports and the
model card, approvals (four eyes, roles with ``--auth``, review states) and the audit trail."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from shipyard.entities.policy import Policy
from shipyard.server.app import create_app, create_app_from_uris
from shipyard.services.auth import AuthService
from shipyard.services.evaluation import FAIRNESS_METRICS, evaluate_predictions, report_html
from shipyard.services.registry.service import RegistryService
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from starlette.testclient import TestClient

MODEL = "churn"
SIGNATURE = {"inputs": {"columns": [{"name": "tenure", "type": "double", "nullable": False},
                                    {"name": "plan", "type": "string", "nullable": True}]},
             "outputs": None}


def seed_model(store: SqlTrackingStore, author: str = "carl") -> RegistryService:
    """Model ``churn``: v1 approved (by ``ana``) and aliased ``production``, then moved to
    ``staging``; v2 with evaluation and bias reports, pending review; v3 not yet submitted.
    Every version is registered by ``author``, from a run whose package has a signature."""
    registry = RegistryService(store.engine)
    exp = store.create_experiment("churn-training")
    run = store.create_run(exp, run_name="train", user=author, start_time=1)
    store.log_artifact_bytes(run.run_id, "model/shipyard-model.json", json.dumps(
        {"format_version": 1, "flavor": "sklearn", "signature": SIGNATURE}).encode())
    registry.create_model(MODEL, actor=author, description="Predicts which customers leave")
    for _ in range(3):
        registry.create_version(MODEL, f"runs:/{run.run_id}/model", actor=author,
                                run_id=run.run_id, flavor="sklearn")
    registry.request_approval(MODEL, 1, actor=author)
    registry.approve(MODEL, 1, actor="ana", comment="looks good")
    registry.set_alias(MODEL, "production", 1, actor="ops", reason="first release")
    registry.set_alias(MODEL, "staging", 1, actor="ops")
    registry.set_policy(MODEL, Policy(thresholds=Policy.from_dict(
        {"thresholds": ["accuracy >= 0.7"]}).thresholds), actor="ops")
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 200)
    score = np.clip(truth * 0.4 + rng.random(200) * 0.6, 0, 1)
    report = evaluate_predictions(truth, y_score=score,
                                  sensitive={"region": rng.choice(["eu", "us"], 200)})
    json_blob = store.content.put_bytes(report.to_json().encode())
    html_blob = store.content.put_bytes(report_html(report, title="churn v2").encode())
    # As sy.evaluate attaches them: one report, its quality and fairness metrics apart.
    quality = {k: v for k, v in report.metrics.items()
               if k.split(".", 1)[0] not in FAIRNESS_METRICS}
    fairness = {k: v for k, v in report.metrics.items() if k not in quality}
    for kind, metrics in (("evaluation", quality), ("bias", fairness)):
        registry.attach_report(MODEL, 2, kind, json_digest=json_blob.digest,
                               html_digest=html_blob.digest, metrics=metrics, actor=author)
    registry.request_approval(MODEL, 2, actor=author, comment="ready for review")
    return registry


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "test-audit-key-0123456789abcdef")
    monkeypatch.setenv("SHIPYARD_AUDIT_CHECKPOINT", str(tmp_path / "checkpoint.json"))
    monkeypatch.setenv("SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT", "false")
    monkeypatch.setenv("SHIPYARD_SERVER_AUTH_CACHE_SECONDS", "0")
    monkeypatch.delenv("SHIPYARD_TOKEN", raising=False)
    monkeypatch.delenv("SHIPYARD_USER", raising=False)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    sql = make_store("sqlite", tmp_path)
    assert isinstance(sql, SqlTrackingStore)
    yield sql
    sql.engine.dispose()


@pytest.fixture
def http(store: SqlTrackingStore) -> Iterator[TestClient]:
    seed_model(store)
    with TestClient(create_app(store)) as client:
        yield client


def as_user(user: str) -> dict[str, str]:
    return {"X-Shipyard-User": user}


def status_of(html: str) -> str:
    found = re.search(r'id="version-status">(\w+)<', html)
    assert found is not None
    return found.group(1)


def test_the_list_shows_models_with_latest_version_and_aliases(http: TestClient) -> None:
    page = http.get("/ui/models")
    assert page.status_code == 200
    assert '<a href="/ui/models/churn">churn</a>' in page.text
    assert 'href="/ui/models/churn/3">v3</a>' in page.text
    assert "production → v1" in page.text and "Predicts which customers leave" in page.text


def test_a_model_shows_versions_alias_history_policy_and_audit(http: TestClient) -> None:
    page = http.get("/ui/models/churn")
    assert page.status_code == 200
    text = page.text
    for number, status in ((1, "approved"), (2, "pending"), (3, "none")):
        assert re.search(rf'>v{number}</a></th>\s*<td><span class="status status-{status}">',
                         text), number
    history = text[text.index('id="aliases-h"'):text.index('id="policy-h"')]
    assert history.index("staging") < history.index("production")  # newest first
    assert "first release" in history and "<td>ops</td>" in history
    assert "<code>accuracy &gt;= 0.7</code>" in text
    audit = text[text.index('id="audit-h"'):]
    assert audit.index("version.request") < audit.index("model.create")  # newest first
    assert "alias.set" in audit


def test_a_version_shows_signature_report_card_and_approvals(http: TestClient) -> None:
    page = http.get("/ui/models/churn/2")
    assert page.status_code == 200
    text = page.text
    assert status_of(text) == "pending"
    assert '<th scope="row">tenure</th><td><code>double</code>' in text
    frames = re.findall(r'<iframe class="report-frame" sandbox title="([^"]+)" srcdoc="', text)
    assert frames == ["evaluation report of churn v2", "Model card of churn v2"]
    assert "Its page is the evaluation report's, shown above." in text  # the bias one
    assert "&lt;!doctype html&gt;" in text.lower()  # the report, escaped into srcdoc
    assert re.search(r'<th scope="row">accuracy</th><td class="num">0\.\d+', text)
    assert re.search(r'class="(pass|fail)">(meets|misses)</span> <code>accuracy &gt;= 0.7', text)
    assert "ready for review" in text and 'href="/ui/runs/' in text
    assert 'action="/ui/models/churn/2/approve"' in text and 'name="csrf_token"' in text
    approved = http.get("/ui/models/churn/1").text
    assert "looks good" in approved and "/approve" not in approved
    assert 'action="/ui/models/churn/3/request-approval"' in http.get("/ui/models/churn/3").text


def test_the_author_is_refused_by_four_eyes(http: TestClient) -> None:
    page = http.post("/ui/models/churn/2/approve", data={"comment": "mine"},
                     headers=as_user("carl"))
    assert page.status_code == 403
    refusal = re.search(r'id="refusal"><strong>Refused:</strong> ([^<]+)</p>', page.text)
    assert refusal is not None
    assert refusal.group(1).startswith("four eyes: &#39;carl&#39; registered churn v2")
    assert status_of(page.text) == "pending"


def test_an_approver_approves_and_is_redirected_back(http: TestClient) -> None:
    done = http.post("/ui/models/churn/2/approve", data={"comment": "fine by me"},
                     headers=as_user("ana"), follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/models/churn/2?done=approve"
    page = http.get(done.headers["location"])
    assert status_of(page.text) == "approved" and "fine by me" in page.text
    assert "your approval is recorded" in page.text
    again = http.post("/ui/models/churn/2/reject", headers=as_user("bo"))
    assert again.status_code == 409 and "review is closed" in again.text


def test_request_approval_then_reject(http: TestClient) -> None:
    asked = http.post("/ui/models/churn/3/request-approval", headers=as_user("carl"))
    assert asked.status_code == 200 and status_of(asked.text) == "pending"  # followed
    rejected = http.post("/ui/models/churn/3/reject", data={"comment": "too slow"},
                         headers=as_user("ana"))
    assert status_of(rejected.text) == "rejected" and "too slow" in rejected.text


def test_unknown_and_bad_input(http: TestClient) -> None:
    for url in ("/ui/models/nope", "/ui/models/nope/1", "/ui/models/churn/9"):
        page = http.get(url)
        assert page.status_code == 404 and "<h1>Not found</h1>" in page.text, url
    assert http.post("/ui/models/churn/9/approve").status_code == 404
    bad = http.get("/ui/models/churn/latest")
    assert bad.status_code == 400 and "version must be a version number" in bad.text
    assert http.post("/ui/models/churn/2/promote").status_code == 404
    long = http.post("/ui/models/churn/2/approve", data={"comment": "x" * 3000},
                     headers=as_user("ana"))
    assert long.status_code == 400 and "at most 2000" in long.text


@dataclass
class AuthServer:
    http: TestClient
    tokens: dict[str, str]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


@pytest.fixture
def auth_server(store: SqlTrackingStore, tmp_path: Path) -> Iterator[AuthServer]:
    seed_model(store)
    auth = AuthService(store.engine)
    tokens = {}
    for name, role in (("carl", "contributor"), ("ana", "approver"), ("vera", "viewer")):
        _user, tokens[name] = auth.create_user(name, role=role, actor="ops")
    app = create_app_from_uris(f"sqlite:///{tmp_path / 'meta.db'}", str(tmp_path / "artifacts"),
                               auth=True)
    with TestClient(app) as client:
        yield AuthServer(client, tokens)


def test_with_auth_a_contributor_sees_no_forms_and_is_refused(auth_server: AuthServer) -> None:
    http = auth_server.http
    anonymous = http.get("/ui/models/churn/2", follow_redirects=False)
    assert anonymous.status_code == 303 and "/ui/login?next=" in anonymous.headers["location"]
    page = http.get("/ui/models/churn/2", headers=auth_server.headers("carl"))
    assert page.status_code == 200
    assert "/approve" not in page.text and "needs the approver role" in page.text
    refused = http.post("/ui/models/churn/2/approve", headers=auth_server.headers("carl"))
    assert refused.status_code == 403
    assert "lacks the &#39;approve&#39; permission" in refused.text and status_of(refused.text) == \
        "pending"
    # The contributor may request approval of v3: that form is theirs.
    assert "/3/request-approval" in http.get("/ui/models/churn/3",
                                             headers=auth_server.headers("carl")).text
    viewer = http.get("/ui/models/churn/3", headers=auth_server.headers("vera"))
    assert "request-approval" not in viewer.text


def test_with_auth_an_approver_approves(auth_server: AuthServer) -> None:
    http = auth_server.http
    page = http.get("/ui/models/churn/2", headers=auth_server.headers("ana"))
    assert 'action="/ui/models/churn/2/approve"' in page.text
    # The X-Shipyard-User header names nobody under --auth: the token's user acts.
    done = http.post("/ui/models/churn/2/approve", data={"comment": "ok"},
                     headers={**auth_server.headers("ana"), "X-Shipyard-User": "carl"})
    assert done.status_code == 200 and status_of(done.text) == "approved"
    assert re.search(r'<th scope="row">ana</th><td>approve</td><td>ok</td>', done.text)


def test_with_a_login_session_the_forms_carry_the_csrf_token(auth_server: AuthServer) -> None:
    http = auth_server.http
    login = http.post("/ui/login", data={"token": auth_server.tokens["ana"],
                                         "next": "/ui/models/churn/2"})
    assert login.status_code == 200 and status_of(login.text) == "pending"  # the cookie works
    token = re.search(r'action="/ui/models/churn/2/approve">\s*<input type="hidden" '
                      r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None and token.group(1)
    forged = http.post("/ui/models/churn/2/approve", data={"comment": "from elsewhere"})
    assert forged.status_code == 403 and status_of(
        http.get("/ui/models/churn/2").text) == "pending"
    done = http.post("/ui/models/churn/2/approve",
                     data={"comment": "ok", "csrf_token": token.group(1)})
    assert done.status_code == 200 and status_of(done.text) == "approved"
