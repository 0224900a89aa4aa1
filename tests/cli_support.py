"""Running the ``shipyard`` CLI in-process for tests, and what a clean result looks like."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner, Result

from shipyard.cli.app import app

# Wide, colourless tables so that assertions see whole cells.
ENV: dict[str, str | None] = {"COLUMNS": "220", "FORCE_COLOR": None, "TTY_COMPATIBLE": None,
                              "NO_COLOR": "1"}


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=ENV, prog_name="shipyard")


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def as_json(*args: str) -> Any:
    def no_constants(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(ok(*args, "--json").stdout, parse_constant=no_constants)


def failed(*args: str) -> Result:
    """A clean failure: exit code 1, an 'Error:' line on stderr, no traceback anywhere."""
    result = cli(*args)
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("Error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    return result
