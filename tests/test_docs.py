"""Docs that cannot rot: every setting and limit in the code is in the docs, with its value."""

from __future__ import annotations

from pathlib import Path

from shipyard import settings
from shipyard.entities import limits

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text()
    for setting in settings.ALL:
        row = next((line for line in text.splitlines() if f"`{setting.env}`" in line), None)
        assert row is not None, f"{setting.env} is missing from docs/settings.md"
        default = setting.default if setting.default != "" else "(unset)"
        assert f"`{default}`" in row, f"docs/settings.md shows a stale default for {setting.env}"


def test_every_limit_is_documented() -> None:
    text = (DOCS / "limits.md").read_text().replace(",", "")
    for name in ("MAX_EXPERIMENT_NAME", "MAX_RUN_NAME", "MAX_USER", "MAX_KEY", "MAX_PARAM_VALUE",
                 "MAX_TAG_VALUE", "MAX_BATCH_METRICS", "MAX_BATCH_PARAMS", "MAX_SEARCH_RESULTS",
                 "MAX_ARTIFACT_PATH"):
        assert str(getattr(limits, name)) in text, f"docs/limits.md does not state {name}"


def test_limits_are_at_least_mlflows() -> None:
    # MLflow 3: keys 250, param values 6000, tag values 8000, 1000 metrics per batch.
    assert limits.MAX_KEY >= 250
    assert limits.MAX_PARAM_VALUE >= 6000
    assert limits.MAX_TAG_VALUE >= 8000
    assert limits.MAX_BATCH_METRICS >= 1000
