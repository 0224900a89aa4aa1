"""The pipeline, audit and login pages in a real browser (the system Chromium through
Playwright) against a real uvicorn server on loopback: a pipeline run whose middle step waits
for a file is shown running, then, once the test creates the file, the DAG shows every step
ended without a reload (htmx polling); the audit page; logging in with an API token. Each step
saves a screenshot under ``build/ui-screenshots/``."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from shipyard.pipelines import pipeline, run_pipeline, step
from shipyard.sdk import fluent
from shipyard.server.app import create_app, create_app_from_uris
from shipyard.services.audit.log import AuditLog
from shipyard.services.auth import AuthService
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.ui_support import BROWSER_SKIPS, ensure_assets, shot
from tests.uvicorn_support import serving

pytestmark = BROWSER_SKIPS
WAIT_S = 30.0


@step
def prepare(n: int) -> int:
    return n + 1


@step
def wait_for(x: int, flag: str) -> int:
    """Holds the pipeline run until ``flag`` exists (the test decides when it ends)."""
    deadline = time.monotonic() + WAIT_S
    while not Path(flag).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{flag} never appeared")
        time.sleep(0.05)
    print(f"saw {Path(flag).name}")
    return x * len(Path(flag).name)  # another output per flag: the next step runs again


@step
def publish(x: int) -> int:
    return x + 100


@pipeline(name="ui-waiting")
def waiting(n: int = 1, flag: str = "") -> object:
    return publish(wait_for(prepare(n), flag))


def node_state(page: Any, name: str) -> str:
    return str(page.locator(f'g.node[data-step="{name}"]').get_attribute("data-state"))


def test_a_pipeline_runs_dag_updates_live(page: Any, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_assets()
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "ui-browser-key-0123456789abcdef")
    store = fluent.client().store
    assert isinstance(store, SqlTrackingStore)
    first_flag, flag = tmp_path / "first", tmp_path / "go"
    first_flag.touch()
    run_pipeline(waiting, {"n": 1, "flag": str(first_flag)})  # the DAG to come, for later
    log = AuditLog(store.engine)
    for actor, action, entity in (("ada", "model.create", "fraud"),
                                  ("carl", "version.approve", "fraud/1")):
        log.record(actor=actor, action=action, entity_type="registered_model", entity_id=entity)

    errors: list[BaseException] = []

    def background() -> None:
        try:
            run_pipeline(waiting, {"n": 1, "flag": str(flag)})
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    with serving(create_app(store)) as url:
        worker = threading.Thread(target=background, daemon=True)
        worker.start()
        try:
            run_id = _running_run(store)
            page.goto(f"{url}/ui/pipelines")
            page.get_by_role("link", name="ui-waiting").wait_for()
            shot(page, "pipelines")

            page.goto(f"{url}/ui/pipelines/runs/{run_id}")
            page.wait_for_selector('g.node[data-step="wait_for"][data-state="running"]')
            assert node_state(page, "prepare") == "cached"
            assert node_state(page, "publish") == "not-started"
            assert page.locator("svg.dag path.edge").count() == 2
            page.evaluate("window.stillHere = true")
            shot(page, "pipeline-run-running")

            flag.touch()
            page.wait_for_selector('g.node[data-step="publish"][data-state="finished"]',
                                   timeout=10_000)
            assert node_state(page, "wait_for") == "finished"
            assert page.evaluate("window.stillHere") is True  # updated in place, no reload
            assert page.locator("#pipeline-run[hx-trigger]").count() == 0  # polling stopped
            assert "saw go" in str(page.locator("details.step-log").text_content())
            shot(page, "pipeline-run-finished")
        finally:
            flag.touch()
            worker.join(WAIT_S)
        assert errors == []

        page.goto(f"{url}/ui/audit")
        assert "Chain verified." in page.locator(".chain").inner_text()
        page.get_by_label("Actor").fill("carl")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**actor=carl**")
        assert page.locator("table.audit tbody tr").count() == 1
        shot(page, "audit")


def _running_run(store: SqlTrackingStore) -> str:
    """The id of the pipeline run the background thread started, once it is recorded."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = store.search_runs(None, "tags.`shipyard.pipeline` = 'ui-waiting' and "
                                  "attributes.status = 'RUNNING'", None, 1)
        if found.items:
            return found.items[0].info.run_id
        time.sleep(0.05)
    raise AssertionError("the pipeline run never started")


def test_logging_in_with_a_token(page: Any, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_assets()
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "ui-browser-key-0123456789abcdef")
    db_url = f"sqlite:///{tmp_path / 'auth.db'}"
    app = create_app_from_uris(db_url, str(tmp_path / "artifacts"), auth=True)
    with serving(app) as url:
        page.goto(f"{url}/ui/audit")  # opens the store; its database has users from now on
        page.wait_for_url("**/ui/login?next=%2Fui%2Faudit")
        from shipyard.store.db import create_db_engine

        engine = create_db_engine(db_url)
        _user, token = AuthService(engine).create_user("ada", role="admin", actor="ops")
        page.get_by_label("API token").fill("shy_0123456789ab_" + "0" * 64)
        page.get_by_role("button", name="Log in").click()
        assert "is not valid" in page.get_by_role("alert").inner_text()
        shot(page, "login")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/ui/audit")
        assert page.get_by_role("link", name="ada").is_visible()
        page.get_by_role("link", name="ada").click()
        page.get_by_role("button", name="Create token").click()
        assert page.locator("#new-token").input_value().startswith("shy_")
        shot(page, "tokens")
        page.get_by_role("link", name="Log out").click()
        page.wait_for_url("**/ui/login?logged_out=1")
        engine.dispose()
