"""The dataset and model pages in a real browser: the system Chromium, driven by Playwright,
against a real uvicorn server on loopback started with ``--auth``, over real dataset versions
and a registered model under review. A contributor sees no approve button and the server
refuses their approval (the contributor's browser sends an API token, as a script would); an
approver logs in on the login page and approves through the form. Each step saves a
screenshot under ``build/ui-screenshots/``.

Skipped, with the reason, only when no Chromium or no Playwright is installed (see
``tests/ui_support.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from shipyard.server.app import create_app_from_uris
from shipyard.services.auth import AuthService
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store
from tests.test_ui_datasets import seed_datasets
from tests.test_ui_models import seed_model
from tests.ui_support import BROWSER_SKIPS, SCREENSHOTS, ensure_assets, shot
from tests.uvicorn_support import serving

pytestmark = BROWSER_SKIPS


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A server with --auth over seeded datasets and a model: its URL and each user's token."""
    ensure_assets()
    root = tmp_path_factory.mktemp("ui-registry")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHIPYARD_HOME", str(root / "home"))
        env.setenv("SHIPYARD_AUDIT_KEY", "test-audit-key-0123456789abcdef")
        env.setenv("SHIPYARD_AUDIT_CHECKPOINT", str(root / "checkpoint.json"))
        env.setenv("SHIPYARD_WEBHOOK_DELIVER_ON_COMMIT", "false")
        env.setenv("SHIPYARD_SERVER_AUTH_CACHE_SECONDS", "0")
        env.delenv("SHIPYARD_TOKEN", raising=False)
        store = make_store("sqlite", root)
        assert isinstance(store, SqlTrackingStore)
        seed_datasets(store, root / "cache")
        seed_model(store, author="carl")
        auth = AuthService(store.engine)
        tokens = {}
        for name, role in (("carl", "contributor"), ("ana", "approver")):
            _user, tokens[name] = auth.create_user(name, role=role, actor="ops")
        app = create_app_from_uris(f"sqlite:///{root / 'meta.db'}", str(root / "artifacts"),
                                   auth=True)
        with serving(app) as url:
            yield url, tokens
        store.engine.dispose()


def sign_in(page: Any, token: str) -> None:
    page.context.set_extra_http_headers({"Authorization": f"Bearer {token}"})


def test_datasets_versions_profiles_and_diff(page: Any, site: tuple[str, dict[str, str]]
                                             ) -> None:
    url, tokens = site
    sign_in(page, tokens["carl"])
    page.goto(url + "/ui/datasets")
    assert page.locator(".banner").count() == 0
    shot(page, "datasets")
    page.get_by_role("link", name="customers", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/datasets/customers$"))
    page.get_by_role("link", name="v2", exact=True).first.click()
    page.wait_for_url(re.compile(r"/ui/datasets/customers/v/2$"))
    histogram = page.get_by_role("img", name=re.compile(r"^Histogram of age"))
    assert histogram.locator("rect").count() > 5
    assert histogram.bounding_box()["height"] > 20
    shot(page, "dataset-version")
    page.get_by_label("From version").select_option("1")
    page.get_by_label("to version").select_option("2")
    page.get_by_role("button", name="Show the diff").click()
    page.wait_for_url(re.compile(r"/ui/datasets/customers/diff\?a=1&b=2$"))
    assert page.locator("tr.drifted th", has_text="age").count() == 1
    shot(page, "dataset-diff")


def test_a_contributor_is_refused_and_an_approver_approves(
        page: Any, site: tuple[str, dict[str, str]]) -> None:
    url, tokens = site
    sign_in(page, tokens["carl"])
    page.goto(url + "/ui/models")
    shot(page, "models")
    page.get_by_role("link", name="churn", exact=True).click()
    page.get_by_role("link", name="v2", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/models/churn/2$"))
    assert page.locator("#version-status").inner_text() == "pending"
    assert page.get_by_role("button", name="Approve").count() == 0
    refused = page.request.post(url + "/ui/models/churn/2/approve", form={"comment": "me"})
    assert refused.status == 403 and "lacks the &#39;approve&#39; permission" in refused.text()

    # The approver logs in on the login page: the session cookie, and the forms' CSRF token.
    page.context.set_extra_http_headers({})
    page.goto(url + "/ui/login?next=" + quote("/ui/models/churn/2", safe=""))
    page.get_by_label("API token").fill(tokens["ana"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/ui/models/churn/2$"))
    report = page.locator("iframe[title='evaluation report of churn v2']")
    assert report.get_attribute("sandbox") == ""  # no scripts, no same origin
    assert "binary task · 200 rows" in report.content_frame.locator("body").inner_text()
    shot(page, "model-version")
    # A full-page screenshot leaves sandboxed frames blank: the report gets its own.
    report.scroll_into_view_if_needed()
    report.screenshot(path=str(SCREENSHOTS / "model-version-report.png"))
    page.get_by_label("Comment (optional)").fill("checked the report")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/ui/models/churn/2\?done=approve$"))
    assert page.locator("#version-status").inner_text() == "approved"
    assert page.get_by_role("status").inner_text().startswith("Done: your approval")
    shot(page, "model-version-approved")
