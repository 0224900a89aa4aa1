"""The ``shipyard`` command: the root app, its sub-apps and the error policy (exit codes).

- 0: success.
- 1: a Shipyard error, such as an unknown id, a filter that does not parse or a bad value. The
  message and the field at fault are printed in red on stderr as ``Error: ...``, never a
  traceback.
- 2: a usage error found by the parser: a missing argument, an unknown option or choice.
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from shipyard.cli import (
    audit,
    data,
    env,
    experiments,
    maintenance,
    models,
    pipelines,
    run_data,
    runs,
    server,
    sync,
    tokens,
    users,
    webhooks,
    worker,
)
from shipyard.errors import ShipyardError


def error_text(error: ShipyardError) -> str:
    """``Error: <message> (field: <field>)``; the field goes on the first line, before any
    multi-line detail such as a filter's caret pointer."""
    first, newline, rest = error.message.partition("\n")
    if error.field:
        first += f" (field: {error.field})"
    return f"Error: {first}{newline}{rest}"


def report_error(error: ShipyardError) -> None:
    typer.secho(error_text(error), fg="red", err=True)


class ShipyardGroup(TyperGroup):
    """The root group: a ``ShipyardError`` raised by any command becomes exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ShipyardError as error:
            report_error(error)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="shipyard",
    cls=ShipyardGroup,
    help="Shipyard: track experiments and runs, version datasets. The store comes from "
         "SHIPYARD_TRACKING_URI or SHIPYARD_HOME.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(experiments.app)
runs.app.command("data")(run_data.run_data)
runs.app.command("reproduce")(run_data.reproduce)
app.add_typer(runs.app)
app.add_typer(data.app)
app.add_typer(models.app)
app.add_typer(pipelines.app)
app.command(name="server")(server.serve)
app.add_typer(sync.app)
app.add_typer(env.app)
app.add_typer(audit.app)
app.add_typer(webhooks.app)
app.add_typer(users.app)
app.add_typer(tokens.app)
app.command(name="backup")(maintenance.backup)
app.command(name="restore")(maintenance.restore)
app.command(name="gc")(maintenance.gc)
app.command(name="worker")(worker.worker)
app.command(name="scheduler")(worker.scheduler)


def main() -> None:
    """The console script: run the app; errors end the process with a message, not a trace."""
    try:
        app()
    except ShipyardError as error:  # raised outside a command, e.g. while parsing
        report_error(error)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo(err=True)
        sys.exit(130)
