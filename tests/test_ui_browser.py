"""The web UI in a real browser: the system Chromium, driven by Playwright, against a real
uvicorn server on loopback with seeded runs. Each step saves a screenshot under
``build/ui-screenshots/``.

Skipped, with the reason, only when no Chromium or no Playwright is installed (see
``tests/ui_support.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.server.app import create_app
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.conftest import make_store
from tests.test_ui_pages import seed
from tests.ui_support import BROWSER_SKIPS, ensure_assets, shot
from tests.uvicorn_support import serving

pytestmark = BROWSER_SKIPS


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, list[str]]]:
    """A server over seeded runs: its URL, the experiment id and the run ids."""
    ensure_assets()
    store = make_store("sqlite", tmp_path_factory.mktemp("ui-browser"))
    assert isinstance(store, SqlTrackingStore)
    exp, ids = seed(store, runs=12, points=3000)
    with serving(create_app(store)) as url:
        yield url, exp, ids
    store.engine.dispose()


def names(page: Any) -> list[str]:
    return [str(n) for n in page.locator("table.runs tbody th a").all_inner_texts()]


def test_filter_and_sort_runs_in_the_browser(page: Any, site: tuple[str, str, list[str]]
                                             ) -> None:
    url, exp, _ = site
    page.goto(url + "/")
    assert page.url.endswith("/ui/experiments")
    page.keyboard.press("Tab")  # the keyboard reaches the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.locator(".banner").count() == 0  # the browser libraries are installed
    shot(page, "experiments")
    page.get_by_role("link", name="churn-model").click()
    page.wait_for_url(re.compile(rf"/ui/experiments/{exp}$"))
    assert names(page)[:2] == ["run-11", "run-10"]
    shot(page, "runs")

    # htmx swaps the table in place: a marker set on the window survives the filter.
    page.evaluate("window.stillHere = true")
    page.get_by_label("Filter runs").fill("params.model = 'gbm'")
    page.get_by_label("Filter runs").press("Enter")
    page.wait_for_function("document.querySelectorAll('table.runs tbody tr').length === 4")
    assert page.evaluate("window.stillHere") is True
    assert "filter=params.model" in page.url  # the URL can be shared and reloaded
    assert names(page) == ["run-09", "run-06", "run-03", "run-00"]

    page.get_by_role("link", name="metrics.f1").click()  # sorts descending
    page.wait_for_selector("th[aria-sort='descending']")
    assert names(page)[0] == "run-09"
    page.get_by_role("link", name="metrics.f1").click()  # and then ascending
    page.wait_for_selector("th[aria-sort='ascending']")
    assert names(page) == ["run-00", "run-03", "run-06", "run-09"]
    shot(page, "runs-filtered-sorted")

    page.get_by_label("Filter runs").fill("metrics.f1 >")
    page.get_by_label("Filter runs").press("Enter")
    error = page.locator("#filter-error")
    error.wait_for()
    assert "expected a number" in error.inner_text()
    assert page.evaluate("window.stillHere") is True
    shot(page, "runs-filter-error")


def test_run_page_draws_metric_charts_and_previews_artifacts(
        page: Any, site: tuple[str, str, list[str]]) -> None:
    url, _, ids = site
    page.goto(f"{url}/ui/runs/{ids[0]}")
    canvases = page.locator(".chart canvas")
    canvases.first.wait_for()
    page.wait_for_function("document.querySelectorAll('.chart canvas').length === 2")
    # uPlot drew something: some pixel of each canvas is not transparent.
    painted = page.evaluate("""() => [...document.querySelectorAll('.chart canvas')].map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; }
        return false; })""")
    assert painted == [True, True]
    notes = page.locator(".chart-note").all_inner_texts()
    assert any("of 3000 points" in n for n in notes), notes  # the loss series was downsampled
    shot(page, "run")

    page.get_by_role("link", name="notes.txt").click()
    page.locator(".preview-text").wait_for()
    assert "hello from the run" in page.locator(".preview-text").inner_text()
    page.get_by_role("link", name="data/").click()
    page.get_by_role("link", name="sample.csv").click()
    page.wait_for_selector(".preview table")
    assert page.locator(".preview tbody tr").count() == 50
    shot(page, "run-artifact-table")
    page.get_by_role("link", name="(root)").click()
    page.get_by_role("link", name="plots/").click()
    page.get_by_role("link", name="roc.png").click()
    image = page.locator("img.preview-image")
    image.wait_for()
    page.wait_for_function("document.querySelector('img.preview-image').naturalWidth > 0")
    shot(page, "run-artifact-image")
