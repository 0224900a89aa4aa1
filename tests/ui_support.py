"""What the UI's browser tests share: the system Chromium driven by Playwright, a page that
fails the test on a script error, screenshots under ``build/ui-screenshots/``.

``tests/conftest.py`` loads this module as a plugin, so the ``browser`` and ``page``
fixtures are there for every test module; a browser test module starts with::

    from tests.ui_support import BROWSER_SKIPS, ensure_assets, shot
    pytestmark = BROWSER_SKIPS

Browser tests skip, with the reason, only when no Chromium is installed (``make unit``
installs Debian's ``chromium`` when run as root) or Playwright's Python package is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.server.ui.templating import assets_missing

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "ui-screenshots"
CHROMIUM = os.environ.get("SHIPYARD_TEST_CHROMIUM") or shutil.which("chromium") or next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)

BROWSER_SKIPS = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed: `apt-get install -y "
                       "chromium` (make unit does it as root) to run the UI's browser tests"),
    pytest.mark.skipif(shutil.which("npm") is None and bool(assets_missing()),
                       reason="the UI's browser libraries are missing and npm is not "
                       "installed to fetch them (make ui-assets)"),
]


def ensure_assets() -> None:
    """Fetch the UI's browser libraries when a checkout has not built them yet."""
    if assets_missing():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "vendor_ui.py")], check=True,
                       timeout=300)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is "
                                     "not installed (the dev extra has it)")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(10_000)
    yield opened
    context.close()
    assert errors == [], f"the page's scripts failed: {errors}"


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
