"""The UI's browser libraries: pinned in package.json and its lock, copied by
scripts/vendor_ui.py, and never loaded from another site."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.server.ui import templating

ROOT = Path(__file__).resolve().parent.parent


def test_libraries_are_pinned_exactly_and_locked() -> None:
    wanted = json.loads((ROOT / "package.json").read_text())["dependencies"]
    assert re.fullmatch(r"2\.\d+\.\d+", wanted["htmx.org"])
    assert re.fullmatch(r"1\.6\.\d+", wanted["uplot"])
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for name, version in wanted.items():
        assert locked[f"node_modules/{name}"]["version"] == version
        assert locked[f"node_modules/{name}"]["integrity"].startswith("sha512-")


def test_vendor_script_names_the_files_the_pages_load() -> None:
    script = (ROOT / "scripts" / "vendor_ui.py").read_text()
    for name in templating.VENDOR_FILES:
        assert f'"{name}"' in script
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "vendor_ui.py"), "--check"],
                           check=False, capture_output=True, text=True, timeout=60)
    if templating.assets_missing():
        assert check.returncode != 0 and "make ui-assets" in check.stderr
    else:
        assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("folder", ["templates", "static"])
def test_no_page_or_own_asset_points_at_another_site(folder: str) -> None:
    for path in (templating.HERE / folder).glob("*.*"):
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), path
