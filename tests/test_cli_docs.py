"""docs/cli.md is generated from the CLI's code and must match it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "gen_cli_docs.py"
    spec = importlib.util.spec_from_file_location("gen_cli_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    expected = _generator().render()
    actual = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert actual == expected, (
        "docs/cli.md is stale: regenerate it with `.venv/bin/python scripts/gen_cli_docs.py`"
    )


def test_cli_reference_covers_every_command() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in ("experiments list", "experiments create", "experiments delete",
                    "experiments restore", "runs list", "runs show", "runs compare",
                    "runs delete", "runs restore", "runs metric"):
        assert f"### `shipyard {command}`" in text, command
    assert "--json" in text and "--filter" in text
