"""``shipyard tokens``: the API tokens of `shipyard server --auth`.

Run on the server's host, like `shipyard users`. A token's secret is printed once, when it is
created; the database keeps only its SHA-256, so a lost token is revoked and replaced.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag
from shipyard.cli.users import print_new_token, service, token_json

app = typer.Typer(name="tokens", help="API tokens of `shipyard server --auth`.",
                  no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The user the token acts as.")],
    expires_in_days: Annotated[float | None, typer.Option(
        "--expires-in-days", min=0.0, help="Refuse the token after this many days "
                                           "(default: never).")] = None,
    description: Annotated[str | None, typer.Option(
        "--description", help="What the token is for, e.g. 'CI on er-matcher'.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API token for a user; prints it once, never again."""
    from shipyard import settings

    token, secret_token = service().create_token(
        name, actor=settings.current_user(), expires_in_days=expires_in_days,
        description=description)
    print_new_token(token, secret_token, as_json)


@app.command("list")
def list_tokens(
    name: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List API tokens (ids and state, never secrets), oldest first."""
    found = service().list_tokens(name)
    now = time.time_ns() // 1_000_000
    if as_json:
        output.emit_json({"tokens": [token_json(tok, now) for tok in found]})
        return
    table = output.new_table("id", "user", "state", "created", "expires", "last used",
                             "description",
                             no_wrap=("id", "state", "created", "expires", "last used"))
    for tok in found:
        output.add_row(table, tok.id, tok.user, tok.state(now),
                       output.local_time(tok.created_time, seconds=False),
                       output.local_time(tok.expires_time, seconds=False),
                       output.local_time(tok.last_used_time, seconds=False),
                       output.clip(tok.description or "", 60))
    output.print_table(table)


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (`shipyard tokens list`).")],
) -> None:
    """Revoke a token: it is refused from now on and stays listed as revoked."""
    from shipyard import settings

    found = service().revoke_token(token_id, actor=settings.current_user())
    output.done(f"token {found.id} of {found.user} revoked")
